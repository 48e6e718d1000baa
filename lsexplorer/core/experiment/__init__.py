"""Experiments: presets and TOML configs into one config, run into a session; importing students."""
