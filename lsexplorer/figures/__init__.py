"""Figures for papers: what each panel of the app shows, drawn with matplotlib (no Qt).

Each figure has a data function ``(session, run, options) -> Plot`` (:mod:`.plot`: the arrays drawn
and how), listed by name in :data:`FIGURES`; :func:`draw` makes the matplotlib figure of a ``Plot`` in
a :class:`PaperStyle` (width in mm, fonts in pt, a user style sheet on top), and :func:`write_figure`
writes it as PDF, SVG and PNG with the CSV of its data and a script that redraws it.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from ..core.store.session import Session
from .available import FigureUnavailable
from .catalog import FigureOptions, FigureSpec
from .files import IMAGE_FORMATS, write_figure
from .plot import Plot
from .registry import FIGURES, get
from .render import draw
from .style import ONE_COLUMN_MM, TWO_COLUMNS_MM, PaperStyle


def plot(name: str, session: Session, run: int | None = None, options: FigureOptions | None = None) -> Plot:
    """The data of figure ``name`` for ``run`` of ``session`` (FigureUnavailable says what is missing)."""
    session = getattr(session, "core", session)  # an lsexplorer.Session (the public API's) wraps the core one
    spec = get(name)
    if spec.per_run and run is None:
        raise ValueError(f"figure {name} is drawn for one run: give run=")
    return spec.build(session, run, options or FigureOptions())


def figure(name: str, session: Session, run: int | None = None, options: FigureOptions | None = None,
           style: PaperStyle | None = None) -> Figure:
    """Figure ``name`` of ``run`` of ``session`` as a matplotlib figure in ``style`` (one column by default)."""
    return draw(plot(name, session, run, options), style)


__all__ = ["FIGURES", "IMAGE_FORMATS", "ONE_COLUMN_MM", "TWO_COLUMNS_MM", "FigureOptions", "FigureSpec",
           "FigureUnavailable", "PaperStyle", "Plot", "draw", "figure", "get", "plot", "write_figure"]
