"""Plots whose values are round-off say so in words instead of drawing noise.

Along a line of critical points the loss is constant: what a plot of it shows is float64 rounding (±4e-20
around a loss of 1e-4), which autoscaling blows up into a curve that looks like data. The test is the paper
figures' (:func:`lsexplorer.figures.available.is_roundoff`), so the screen and the exported figure agree.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..figures.available import is_roundoff, roundoff_note


def plot_unless_roundoff(plot: pg.PlotItem, item: pg.PlotDataItem, x: np.ndarray, y: np.ndarray, shown: np.ndarray,
                         scale: float, what: str) -> str:
    """Draw ``item`` at ``(x, y)``, unless the plotted quantity ``shown`` is round-off of size-``scale``
    numbers: then draw nothing, say so in words in the plot and (in full) in its tooltip. Returns the
    note ("" when the values were drawn)."""
    box = plot.getViewBox()
    label = getattr(box, "_roundoff_label", None)
    if label is None:  # in the box's own pixels: it never widens the plot, whatever the text
        label = box._roundoff_label = pg.TextItem(anchor=(0, 0), color="#8a6d00")
        label.setParentItem(box)
        label.setPos(6, 6)
    if is_roundoff(shown, scale):
        note = roundoff_note(what, shown, scale)
        item.setData([], [])
        label.setText("round-off only:\nflat to float64\nprecision, not drawn")
        label.show()
        box.setToolTip(note[0].upper() + note[1:] + ".")
        return note
    item.setData(x, y)
    label.hide()
    box.setToolTip("")
    return ""


__all__ = ["plot_unless_roundoff"]
