"""A panel's on-screen plot exported as its paper figure: the same data function as ``lsexplorer export``.

The on-screen plots stay pyqtgraph; File ▸ Export figure and a plot's right-click "Export figure…"
draw the figure of the selected run with :mod:`lsexplorer.figures` (the panel's current choices, e.g.
the μ of the saddle line, come from :meth:`~lsexplorer.gui.panels.base.PanelBase.figure_options`),
so the app and the CLI write the same file for the same figure, run and choices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtGui import QAction

from ..figures.catalog import FigureSpec
from ..figures.files import write_figure
from ..figures.registry import FIGURES
from ..figures.style import PaperStyle
from .panels.base import PanelBase


def figure_spec(slug: str, view: str) -> FigureSpec | None:
    """The paper figure of panel ``slug``'s on-screen plot ``view``, if it has one."""
    return next((s for s in FIGURES.values() if s.panel == slug and s.panel_view() == view), None)


def write_panel_figure(panel: PanelBase, slug: str, view: str, stem: Path, style: PaperStyle,
                       formats: Sequence[str]) -> list[Path]:
    """Draw the figure of ``view`` for the panel's session, selected run and choices, and write it as
    ``stem.<format>``, ``stem.csv`` and ``stem.py``. Raises the figure's one-line InputError
    (:class:`~lsexplorer.figures.available.FigureUnavailable`, a write error)."""
    spec = figure_spec(slug, view)
    if spec is None:
        raise LookupError(f"{slug} has no paper figure {view}")
    model = panel.model
    plot = spec.build(model.session, model.current, panel.figure_options())
    return write_figure(plot, stem.parent, style, formats, name=stem.name)


def replace_context_export(view: pg.GraphicsView, export: Callable[[], object]) -> None:
    """Make the right-click menu of pyqtgraph ``view`` offer "Export figure…" (``export``) in place of
    pyqtgraph's own exporter, which would draw the screen's plot rather than the paper figure."""
    scene = view.scene()
    action = QAction("Export figure…", scene)
    action.triggered.connect(lambda _=False: export())
    scene.contextMenu = [action]


__all__ = ["figure_spec", "replace_context_export", "write_panel_figure"]
