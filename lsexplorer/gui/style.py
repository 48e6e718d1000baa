"""Shared look of every panel: kind colours, colour maps, plot defaults, number format.

One table here, so a local minimum is the same orange in the run table, the λ_min-vs-loss scatter
and the legend, and figures exported from different panels match.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QSizePolicy

from ..core.base.kinds import Kind
from ..figures.colors import KIND_COLORS, TEACHER_COLOR


#: Singular labels and capitalised plural labels by kind name, from the core's one definition.
KIND_LABELS = {k.value: k.label for k in Kind}
KIND_PLURALS = {k.value: k.plural.capitalize() for k in Kind}

SELECTION_COLOR = "#D55E00"
#: Diverging map for signed quantities (outgoing weights): blue negative, white 0, red positive.
DIVERGING_CMAP = "CET-D1"


def plain_axes(plot: pg.PlotItem) -> None:
    """Axes as every plot here wants them: no SI-prefix factor, drawn from a pixmap cache.

    Every quantity is dimensionless, so an automatic "(x0.001)" only misleads. The cache matters for
    speed: axes with grid lines cost 3–9 ms to repaint in software rendering, and every selection
    repaints every visible plot; cached, an unchanged axis is a pixmap copy (export bypasses it).
    """
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.enableAutoSIPrefix(False)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def legend_below(plot: pg.PlotItem, columns: int = 3, text_size: str = "8pt", beside: bool = False,
                 **options) -> pg.LegendItem:
    """A legend in ``plot``'s own layout under its x axis (``beside``: right of the data, in one
    column, for short wide plots), where it never covers data or a cursor.

    It becomes ``plot.legend``, so items added with a ``name`` list themselves as with ``addLegend``;
    ``options`` go to :class:`pyqtgraph.LegendItem` (e.g. a dark ``brush`` for white samples).
    """
    legend = pg.LegendItem(colCount=1 if beside else columns, labelTextSize=text_size, **options)
    if beside:
        plot.layout.addItem(legend, 2, 3)
        # As tall as its rows, at the top of the plot's height (stretched, its rows drift apart).
        legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        plot.layout.setAlignment(legend, Qt.AlignmentFlag.AlignTop)
    else:
        plot.layout.addItem(legend, 4, 1)
    plot.legend = legend
    return legend


def configure_pyqtgraph() -> None:
    """White figures with black text, antialiased: readable on screen and in papers."""
    pg.setConfigOptions(background="w", foreground="k", antialias=True)


def diverging_colormap() -> pg.ColorMap:
    return pg.colormap.get(DIVERGING_CMAP)


def symmetric_limits(values: np.ndarray) -> tuple[float, float]:
    """``(-a, a)`` with ``a`` the largest finite ``|value|`` (1 when there is none), so 0 is the map's middle."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    a = float(np.max(np.abs(v))) if v.size else 1.0
    return (-a, a) if a > 0 else (-1.0, 1.0)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def decade_label(exponent: int) -> str:
    """``10⁻³`` for -3; ``1`` and ``10`` for 0 and 1."""
    if exponent == 0:
        return "1"
    if exponent == 1:
        return "10"
    return "10" + str(exponent).translate(_SUPERSCRIPT)


class LogAxis(pg.AxisItem):
    """An axis that, in log mode, labels whole decades only and never with an SI-prefix factor.

    pyqtgraph's log axis labels 2·10ᵏ … 9·10ᵏ as well, which collide on axes spanning a few
    decades, and its automatic SI prefix adds a misleading "(x1e-06)" to the label. Here majors are
    decades (every n-th when there are many), minors are the other decades or 2..9·10ᵏ.
    """

    def __init__(self, orientation: str, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickValues(self, minVal: float, maxVal: float, size: float):
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        lo, hi = (minVal, maxVal) if minVal <= maxVal else (maxVal, minVal)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return []
        first, last = math.ceil(lo), math.floor(hi)
        room = size / (40.0 if self.orientation in ("bottom", "top") else 28.0)
        step = max(1, math.ceil((last - first + 1) / max(2.0, room)))
        majors = [float(d) for d in range(first, last + 1) if d % step == 0]
        if step == 1 and hi - lo <= 8:
            minors = [math.log10(k) + d for d in range(math.floor(lo), last + 1) for k in range(2, 10)
                      if lo <= math.log10(k) + d <= hi]
        else:
            minors = [float(d) for d in range(first, last + 1) if d % step]
        self._decades = bool(majors)
        if not majors:  # less than one decade visible: pyqtgraph's 2·10ᵏ … ticks are what is left
            return super().tickValues(minVal, maxVal, size)
        return [(float(step), majors), (0.5, minors)]

    def tickStrings(self, values, scale, spacing):
        if not self.logMode or not getattr(self, "_decades", False):
            return super().tickStrings(values, scale, spacing)
        if spacing < 1:
            return ["" for _ in values]
        return [decade_label(round(v)) for v in values]


def fmt(value: float, digits: int = 4) -> str:
    """Compact number for tables and tooltips: ``3.142``, ``1.2e-17``, ``nan``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:.{digits}g}"
    return f"{v:.{max(1, digits - 2)}e}"


__all__ = [
    "KIND_COLORS",
    "KIND_LABELS",
    "KIND_PLURALS",
    "SELECTION_COLOR",
    "TEACHER_COLOR",
    "LogAxis",
    "configure_pyqtgraph",
    "decade_label",
    "diverging_colormap",
    "fmt",
    "legend_below",
    "plain_axes",
    "symmetric_limits",
]


def log_loss_line_plot(x_label: str) -> tuple[pg.PlotWidget, pg.PlotItem]:
    """A plot of the loss (log scale, decades labelled 10^k) along a line in parameter space."""
    widget = pg.PlotWidget(axisItems={"left": LogAxis("left")})
    plot = widget.getPlotItem()
    plain_axes(plot)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLogMode(x=False, y=True)
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", "loss")
    return widget, plot

