"""Flat channels to infinity: recognising them, their finite limit models, and how deep nets run off."""
