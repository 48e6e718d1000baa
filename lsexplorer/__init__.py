"""lsexplorer: explore the loss landscapes of small neural networks and their critical points."""

__version__ = "0.1.0"
