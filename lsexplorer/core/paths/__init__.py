"""Minimum-energy paths: NEB and AutoNEB, saddle searches, and certified highest points."""
