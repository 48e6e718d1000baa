"""Flat channels to infinity: recognising them, their finite limit models, how deep nets run off."""
