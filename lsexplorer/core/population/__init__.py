"""Gaussian-input population losses (Safran & Shamir's ReLU landscape) as sessions."""
