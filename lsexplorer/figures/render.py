"""A :class:`~.plot.Plot` drawn as a matplotlib figure for a page: constrained layout, legend below.

The figure is a bare :class:`matplotlib.figure.Figure` with an Agg canvas (no pyplot, no GUI), sized
by the :class:`~.style.PaperStyle`. Axes sit side by side; the legend gathers every labelled layer
once and goes below the axes, outside the data ("outside lower center", which constrained layout
makes room for). A note (e.g. "round-off only") is written in the middle of its axes, wrapped to fit.
"""

from __future__ import annotations

import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .plot import Axes, Plot
from .style import MM_PER_INCH, PaperStyle


def draw(plot: Plot, style: PaperStyle | None = None) -> Figure:
    """``plot`` as a figure drawn in ``style`` (default: one column, 8 pt)."""
    style = style or PaperStyle()
    with style.applied():
        fig = Figure(figsize=style.size_inches(plot.aspect), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(plot.axes), squeeze=False)[0]
        for ax, spec in zip(axes, plot.axes):
            _draw_axes(fig, ax, spec, style, len(plot.axes))
        handles = legend_handles(axes)
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=min(plot.legend_columns, len(handles)))
    return fig


def _draw_axes(fig: Figure, ax, spec: Axes, style: PaperStyle, count: int) -> None:
    for layer in spec.layers:
        layer.draw(ax, fig)
    if spec.xscale == "symlog":
        ax.set_xscale("symlog", linthresh=spec.linthresh)
    else:
        ax.set_xscale(spec.xscale)
    if spec.yscale == "symlog":
        ax.set_yscale("symlog", linthresh=spec.linthresh)
    else:
        ax.set_yscale(spec.yscale)
    if spec.xlim is not None:
        ax.set_xlim(*spec.xlim)
    if spec.ylim is not None:
        ax.set_ylim(*spec.ylim)
    if spec.xticks is not None:
        ax.set_xticks(spec.xticks)
    if spec.equal:
        ax.set_aspect("equal", adjustable="datalim")
    if spec.integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    if spec.title:
        ax.set_title(spec.title)
    if spec.note:
        ax.text(0.5, 0.5, wrap_note(spec.note, style, count), transform=ax.transAxes, ha="center", va="center",
                fontsize=style.small_pt, color="0.25")


def wrap_note(note: str, style: PaperStyle, axes_count: int) -> str:
    """``note`` broken into lines that fit the width of one of ``axes_count`` axes side by side."""
    width_pt = style.width_mm / MM_PER_INCH * 72 / axes_count * 0.75
    chars = max(12, int(width_pt / (0.55 * style.small_pt)))
    return "\n".join(textwrap.wrap(note, chars, break_on_hyphens=False))  # keep "round-off" whole


def legend_handles(axes) -> list:
    """Every labelled artist of ``axes`` once, by label, in drawing order."""
    seen: dict[str, object] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels):
            seen.setdefault(label, handle)
    return list(seen.values())


__all__ = ["draw", "legend_handles", "wrap_note"]
