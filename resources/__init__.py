"""Data files the app ships: its icon, its desktop entry and its default window layouts.

The repository keeps them in the top-level ``resources/`` folder; pyproject.toml installs that folder
as the package ``lsexplorer.resources`` (in a wheel and in an editable install alike), so they are
read with :mod:`importlib.resources` wherever lsexplorer runs: see :mod:`lsexplorer.app_resources`.
"""
