"""Shared vocabulary: errors, progress, kinds and classification, the spec, config schema, estimates."""
