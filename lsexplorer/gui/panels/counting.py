"""Counting panel (thesis ch. 4, Fig 4.4): how many affine subspaces symmetry builds.

``T(r*, m)`` counts the subspaces of global minima of a width-``r*`` teacher in a width-``m``
student; ``G(r, m)`` those of critical points induced by an irreducible width-``r`` critical point.
The top shows both, exactly, for the chosen sizes; the plot shows ``G(r, m) / T(r*, m)`` against
``m`` for every narrower ``r`` (grey, darker for larger ``r``) and their sum (blue), on a log axis —
Fig 4.4 with ``r* = 30``. The numbers come from :mod:`lsexplorer.core.symmetry.counting`; sizes are capped so
that a recomputation stays well inside one GUI frame (≈20 ms at ``r* = 60``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.symmetry.counting import ZERO_TYPES, G, RatioCurve, T, ratio_curve
from ...figures.counting import M_MAX, R_STAR, TOTAL_COLOR, grey
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..style import LogAxis, legend_below, plain_axes
from .base import PanelBase, Table

MAX_R_STAR = 60
MAX_M = 200


def short_int(n: int) -> str:
    """An exact integer, with its magnitude when it is long: ``12345678901234 (≈1.2e13)``."""
    s = str(n)
    return s if len(s) <= 12 else f"{s[:4]}…{s[-4:]} ({len(s)} digits, ≈{float(n):.3e})"


class QtCountingPanel(PanelBase):
    """Panel: exact T and G for chosen sizes, and the ratio plot of Fig 4.4."""

    title = "Counting"
    needs_session = False

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.r_star = QSpinBox()
        self.r_star.setRange(2, MAX_R_STAR)
        self.r_star.setValue(R_STAR)
        self.r_star.setToolTip("r*: irreducible width of the teacher")
        self.m_max = QSpinBox()
        self.m_max.setRange(3, MAX_M)
        self.m_max.setValue(M_MAX)
        self.m_max.setToolTip("Largest student width m of the plot (it starts at r*)")
        self.zero_type = QComboBox()
        for z in ZERO_TYPES:
            self.zero_type.addItem(z, z)
        self.zero_type.setToolTip("groups: zero-type neurons may share an incoming vector (every maximal "
                                  "subspace); single: each zero-type neuron alone (docs/counting.md)")
        self.r = QSpinBox()
        self.r.setRange(1, MAX_M)
        self.r.setValue(R_STAR - 1)
        self.r.setToolTip("r: width of the narrower critical point for G(r, m)")
        self.m = QSpinBox()
        self.m.setRange(1, MAX_M)
        self.m.setValue(R_STAR + 1)
        self.m.setToolTip("m: student width")
        self.t_label = QLabel()
        self.g_label = QLabel()
        self.ratio_label = QLabel()
        for label in (self.t_label, self.g_label, self.ratio_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for spin in (self.r_star, self.m_max, self.r, self.m):
            spin.valueChanged.connect(self.recompute)
        self.zero_type.currentIndexChanged.connect(self.recompute)

        self.plot_widget = pg.PlotWidget(axisItems={"left": LogAxis("left")})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLogMode(x=False, y=True)
        plain_axes(self.plot)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "student width m")
        self.plot.setLabel("left", "G(r, m) / T(r*, m)")
        legend_below(self.plot)
        self.total_item = pg.PlotDataItem(pen=pg.mkPen(TOTAL_COLOR, width=2.5), name="Σ_r G(r, m) / T(r*, m)")
        self.plot.addItem(self.total_item)
        self.r_items: list[pg.PlotDataItem] = []

        sizes = QVBoxLayout()  # two short rows: the panel fits a narrow secondary column
        for group in ((("r*", self.r_star), ("m up to", self.m_max), ("zero-type", self.zero_type)),
                      (("r", self.r), ("m", self.m))):
            row = QtFlowLayout()
            for text, spin in group:
                row.addWidget(QLabel(text))
                row.addWidget(spin)
            sizes.addLayout(row)
        values = QFormLayout()
        values.addRow("T(r*, m)", self.t_label)
        values.addRow("G(r, m)", self.g_label)
        values.addRow("G / T", self.ratio_label)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(sizes)
        layout.addLayout(values)
        layout.addWidget(self.plot_widget, 1)
        self.set_content(content)
        self.curve: RatioCurve | None = None
        self.recompute()

    def recompute(self) -> None:
        """Exact T and G for (r*, r, m), and the ratio curves for m = r* .. m_max."""
        r_star, r, m = self.r_star.value(), self.r.value(), self.m.value()
        zero_type = self.zero_type.currentData()
        t, g = T(r_star, m, zero_type), G(r, m)
        self.t_label.setText(short_int(t) + ("  (m < r*: no global minimum)" if t == 0 else ""))
        self.g_label.setText(short_int(g) + ("  (m < r)" if g == 0 else ""))
        self.ratio_label.setText(f"{g / t:.6g}" if t else "—")
        self.t_label.setToolTip(str(t))
        self.g_label.setToolTip(str(g))
        self.values = {"T": t, "G": g}

        m_max = max(self.m_max.value(), r_star)
        self.curve = ratio_curve(r_star, np.arange(r_star, m_max + 1), zero_type)
        for item in self.r_items:
            self.plot.removeItem(item)
        self.r_items = []
        c = self.curve
        for k, rr in enumerate(c.r):
            y = np.where(c.ratio[k] > 0, c.ratio[k], np.nan)  # an underflowed ratio has no log
            item = pg.PlotDataItem(c.m.astype(float), y, pen=pg.mkPen(grey(k, len(c.r)), width=1))
            self.plot.addItem(item)
            self.r_items.append(item)
        self.total_item.setData(c.m.astype(float), c.total)
        self.total_item.setZValue(10)
        self.plot.setTitle(f"r* = {r_star}: one grey curve per r = 1 … {r_star - 1} (darker: larger r)",
                           size="9pt")

    def figures(self) -> dict[str, QWidget]:
        return {"counting_ratio": self.plot_widget}

    def tables(self) -> dict[str, Table]:
        c = self.curve
        cols = ["m", "total"] + [f"r_{int(r)}" for r in c.r]
        rows = [[int(m), c.total[k], *c.ratio[:, k]] for k, m in enumerate(c.m)]
        counts = [[int(m), str(T(c.r_star, int(m), c.zero_type))] + [str(G(int(r), int(m))) for r in c.r]
                  for m in c.m]
        return {"counting_ratio": Table(cols, rows),
                "counting_T_G": Table(["m", f"T_rstar_{c.r_star}"] + [f"G_r_{int(r)}" for r in c.r], counts)}
