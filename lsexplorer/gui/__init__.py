"""The lsexplorer desktop app (PySide6 + pyqtgraph); only this package imports Qt.

``run_gui(path)`` opens the main window; see :mod:`lsexplorer.gui.app`.
"""

from __future__ import annotations

from pathlib import Path

from ._pyside_fix import guard_singleton_refcounts

# Before any widget exists: PySide6 6.12 on CPython 3.11 drops references to None and True
# (see _pyside_fix); without this the app aborts after some thousand Qt calls.
guard_singleton_refcounts()


def run_gui(path: str | Path | None = None) -> int:
    """Open the main window on ``path`` (else the sample session); returns the exit status."""
    from .app import run_gui as _run_gui

    return _run_gui(path)


__all__ = ["run_gui"]
