"""The version of lsexplorer, kept apart from the package's ``__init__`` (the public API), so that the
core and the figures can name it without importing the API above them."""

__version__ = "0.1.0"
