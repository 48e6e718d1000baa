"""Channel panel: a run that ran off to infinity, seen as a flat channel towards its certified limit.

Three figures from ``/analyses/channels/points/<row>`` (``core/channels/flat_channel.py``):

* ``approach``: ``L - L_inf`` against the norm of the outgoing weights ``||a||``, log-log: the
  training trajectory's snapshots and the trained and refined points (the measured history), and
  the path ``channel_model.realise`` builds towards the certified limit (``L - L_inf ~ ||a||^-p``);
* ``unit``: the limit unit ``c sigma(u.x) + (v.x) sigma'(u.x)`` of the chosen group over the input
  plane (two-dimensional inputs), next to the group's own output at the end point against the unit
  at every data point (they agree to ``O(1/A^2)``);
* ``spectrum``: the limit model's exact Hessian eigenvalues, ``log10 |lambda|`` coloured by sign.

A run without the analysis (a ``not_converged`` row of an older session) offers to compute it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QSplitter, QVBoxLayout, QWidget

from ...core.analyses import channels as channel_analysis
from ...core.base.kinds import kind_phrase
from ...core.channels.flat_channel import ChannelResult
from ...core.channels.limit_model import unpack
from ...core.store.run_names import run_title
from ...figures.channel import (
    approach,
    group_output,
    limit_unit,
    unit_formula,
    unit_gate,
    unit_is_affine,
    unit_plane,
)
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..style import (
    KIND_COLORS,
    KIND_LABELS,
    SELECTION_COLOR,
    LogAxis,
    diverging_colormap,
    fmt,
    legend_below,
    plain_axes,
)
from .base import AnalysisPanelBase, Table
from .slices import SIDE_BY_SIDE_FROM

_CHANNEL_ROWS = ("not_converged", "channel", "channel_saddle")


class QtChannelPanel(AnalysisPanelBase):
    """Panel: approach of the loss to L∞ along the channel, the limit unit, the limit spectrum."""

    title = "Channel"
    analyses = ("channels",)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.result: ChannelResult | None = None
        self._approach: dict = {}
        self._scatter: dict = {}
        self.install_pages()

    # ---------------------------------------------------------------- widgets
    def _build_plots(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("font-size: 9pt;")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.summary)
        controls = QtFlowLayout()
        controls.addWidget(QLabel("Group (neurons from 0):"))
        self.group_combo = QComboBox()
        self.group_combo.setToolTip("Which group of neurons (limit unit) the middle plots show")
        self.group_combo.currentIndexChanged.connect(self._draw_unit)
        controls.addWidget(self.group_combo)
        layout.addLayout(controls)

        self.approach_widget = pg.GraphicsLayoutWidget()
        self.approach_plot = self.approach_widget.addPlot(axisItems={"left": LogAxis("left"),
                                                                     "bottom": LogAxis("bottom")})
        self.approach_plot.setLogMode(x=True, y=True)
        plain_axes(self.approach_plot)
        self.approach_plot.showGrid(x=True, y=True, alpha=0.2)
        self.approach_plot.setLabel("bottom", "‖a‖  (outgoing weights)")
        self.approach_plot.setLabel("left", "L − L∞")
        legend_below(self.approach_plot, columns=2)
        self.path_item = self.approach_plot.plot(pen=pg.mkPen("#0072B2", width=1.5), name="channel towards the limit")
        self.trajectory_item = self.approach_plot.plot(pen=None, symbol="o", symbolSize=5, symbolBrush="#999999",
                                                       symbolPen=None, name="training snapshots")
        self.history_item = self.approach_plot.plot(pen=None, symbol="s", symbolSize=9,
                                                    symbolBrush=SELECTION_COLOR, symbolPen="#222222",
                                                    name="trained → refined point")

        self.unit_widget = pg.GraphicsLayoutWidget()
        self.unit_plot = self.unit_widget.addPlot(row=0, col=0)
        plain_axes(self.unit_plot)
        self.unit_image = pg.ImageItem()
        self.unit_plot.addItem(self.unit_image)
        self.unit_bar = pg.ColorBarItem(values=(-1, 1), colorMap=diverging_colormap(), interactive=False,
                                        label="limit unit", width=12, colorMapMenu=False)
        self.unit_bar.setImageItem(self.unit_image)
        self.unit_widget.addItem(self.unit_bar, row=0, col=1)
        self.gate_item = pg.PlotCurveItem(pen=pg.mkPen("#222222", width=1.2, style=Qt.PenStyle.DashLine))
        self.unit_plot.addItem(self.gate_item)
        self.match_widget = pg.GraphicsLayoutWidget()
        self.match_plot = self.match_widget.addPlot()
        plain_axes(self.match_plot)
        self.match_plot.showGrid(x=True, y=True, alpha=0.2)
        self.match_plot.setLabel("bottom", "limit unit g(x_i)")
        self.match_plot.setLabel("left", "group output (end point)")
        self.match_item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(0, 114, 178, 120))
        self.diag_item = pg.PlotCurveItem(pen=pg.mkPen("#888888", style=Qt.PenStyle.DotLine))
        self.match_plot.addItem(self.diag_item)
        self.match_plot.addItem(self.match_item)

        self.spectrum_widget = pg.GraphicsLayoutWidget()
        self.spectrum_plot = self.spectrum_widget.addPlot()
        plain_axes(self.spectrum_plot)
        self.spectrum_plot.showGrid(x=True, y=True, alpha=0.2)
        self.spectrum_plot.setLabel("bottom", "eigenvalue index (ascending)")
        self.spectrum_plot.setLabel("left", "log10 |λ|  (limit model)")
        self.spectrum_item = pg.ScatterPlotItem(size=9, pen=pg.mkPen("#222222"))
        self.spectrum_plot.addItem(self.spectrum_item)

        # The limit unit and its match with the group side by side in a wide dock, stacked in a narrow one.
        self.unit_split = QSplitter(Qt.Orientation.Horizontal)
        self.unit_split.addWidget(self.unit_widget)
        self.unit_split.addWidget(self.match_widget)
        # Heights below which a plot is no longer readable: a short dock scrolls instead of squashing them.
        for widget, height in ((self.approach_widget, 260), (self.unit_widget, 220), (self.match_widget, 200),
                               (self.spectrum_widget, 170)):
            widget.setMinimumHeight(height)
        splitter = QSplitter(Qt.Orientation.Vertical)
        for widget, stretch in ((self.approach_widget, 3), (self.unit_split, 3), (self.spectrum_widget, 2)):
            splitter.addWidget(widget)
            splitter.setStretchFactor(splitter.count() - 1, stretch)
        layout.addWidget(splitter, 1)
        return box

    def resizeEvent(self, event) -> None:
        wide = event.size().width() >= SIDE_BY_SIDE_FROM
        self.unit_split.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        super().resizeEvent(event)

    # ---------------------------------------------------------------- data
    def _load(self) -> None:
        s, row = self.model.session, self.model.current
        self.result = result = channel_analysis.read(s, row)
        if s is None or row < 0:
            return
        if result is None or not result.structure:
            kind = str(s.runs.kind[row])
            can = kind in _CHANNEL_ROWS and result is None
            if result is not None:
                text = f"{run_title(s, row)} is not in a flat channel: {result.reason}."
            elif can:
                text = (f"{run_title(s, row)} did not converge and has no channel analysis yet: "
                        "is it running off along a flat channel to a minimum at infinity?")
            else:
                text = (f"{run_title(s, row)} {kind_phrase(kind)}, a finite critical point.\n\n"
                        "Channels are analysed for runs that ran off to infinity.")
            self.missing.show_reason(text, can, self.model.analysis.pending(row, "channels"))
            self._pages.setCurrentIndex(0)
            return
        self._pages.setCurrentIndex(1)
        self._write_summary(row)
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        for g, members in enumerate(result.groups()):
            affine = unit_is_affine(result, g)
            names = "+".join(str(k) for k in members)
            self.group_combo.addItem(f"neurons {names}" + (" (w → 0: affine)" if affine else ""), g)
        self.group_combo.blockSignals(False)
        self._draw_approach(row)
        self._draw_unit()
        self._draw_spectrum()

    def _write_summary(self, row: int) -> None:
        r, s = self.result, self.model.session
        color = KIND_COLORS.get(r.kind, "#000000")
        reason = r.reason.split(": ", 1)[-1]
        lines = [f"<b style='color:{color}'>{KIND_LABELS.get(r.kind, r.kind)}</b>: {reason}",
                 f"L∞ = {fmt(r.loss_limit, 8)} (end point {fmt(r.network_loss, 8)}, "
                 f"trained {fmt(s.runs.train_loss[row], 8)}); limit ‖∇‖ = {fmt(r.grad_norm_limit, 2)}, "
                 f"λ_min = {fmt(r.lambda_min, 3)}, {len(r.eigvals)} params; "
                 f"L − L∞ ∝ ‖a‖^−{fmt(r.approach_exponent, 3)} along the channel"]
        tip = ""
        if r.approach_grad.size:
            lines[-1] += f", network ‖∇L‖ {fmt(r.approach_grad[-1], 2)} at A = {r.grad_amplitude[-1]:g}"
            tip = ("The network along the channel, at the point's own width, corrected at each amplitude A so that "
                   "it is stationary in every direction the realisation spans: ‖∇L‖ = "
                   + ", ".join(f"{fmt(g, 2)} at A = {a:g}" for a, g in zip(r.grad_amplitude, r.approach_grad))
                   + "; plainly realised: "
                   + ", ".join(f"{fmt(g, 2)} at A = {a:g}" for a, g in zip(r.grad_amplitude, r.plain_grad)))
        self.summary.setToolTip(tip)
        p = unpack(r.limit_structure, r.phi)
        for g in range(len(p.c)):
            lines.append(f"unit {g + 1}: u = {np.array2string(p.u[g], precision=4)}, c = {fmt(p.c[g], 5)}, "
                         f"v = {np.array2string(p.v[g], precision=4)}")
        owner, signs = np.array(r.limit_structure.curvature_owner), r.limit_structure.curvature_signs
        for q in range(r.limit_structure.n_second):
            terms = ", ".join(f"m = {np.array2string(p.m2[j], precision=4)}, s = {signs[j]:+d}"
                              for j in np.flatnonzero(owner == q))
            lines.append(f"unit {len(p.c) + q + 1} (second order): u = {np.array2string(p.u2[q], precision=4)}, "
                         f"c = {fmt(p.c2[q], 5)}, v = {np.array2string(p.v2[q], precision=4)}, {terms}")
        if r.limit_structure.constant or r.limit_structure.linear:
            lines.append(f"affine part: b = {fmt(p.b, 5)}, l = {np.array2string(p.l, precision=4)}")
        self.summary.setText("<br>".join(lines))

    def _draw_approach(self, row: int) -> None:
        self._approach = curves = approach(self.model.session, row, self.result)
        for item, name in ((self.path_item, "path"), (self.trajectory_item, "trajectory"),
                           (self.history_item, "history")):
            x, y = curves[name]
            keep = (y > 0) & (x > 0)
            item.setData(x[keep], y[keep])
        self.approach_plot.setTitle("loss along the channel approaching L∞", size="9pt")
        self.approach_plot.enableAutoRange()

    def _draw_unit(self, *args) -> None:
        r, s = self.result, self.model.session
        if r is None or s is None or self.group_combo.count() == 0:
            return
        g = max(self.group_combo.currentIndex(), 0)
        affine = unit_is_affine(r, g)
        d = s.spec.d_in
        group_out = group_output(s, self.model.current, r, g)
        limit_at_data = limit_unit(r, g, s.x)
        self.match_item.setData(limit_at_data, group_out)
        lo, hi = float(min(limit_at_data.min(), group_out.min())), float(max(limit_at_data.max(), group_out.max()))
        self.diag_item.setData([lo, hi], [lo, hi])
        self.match_plot.setTitle(f"max |difference| {fmt(np.abs(group_out - limit_at_data).max(), 2)}", size="9pt")
        self._scatter = {"limit": limit_at_data, "group": group_out}
        if d == 2:
            (x0, y0), (x1, y1) = s.x.min(axis=0), s.x.max(axis=0)
            values = unit_plane(s, r, g)[2]
            self.unit_image.setImage(values)
            self.unit_image.setRect(x0, y0, x1 - x0, y1 - y0)
            top = float(np.abs(values).max()) or 1.0
            self.unit_bar.setLevels((-top, top))
            gate = unit_gate(r, g)
            if not affine and np.linalg.norm(gate) > 0:  # the gate's centre line u.x = 0
                u = gate / np.linalg.norm(gate)
                t = np.linspace(-10, 10, 2)
                self.gate_item.setData(-u[1] * t, u[0] * t)
            else:
                self.gate_item.setData([], [])
            self.unit_plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            self.unit_plot.setLabel("bottom", "x₁")
            self.unit_plot.setLabel("left", "x₂")
            self.unit_plot.setTitle(f"limit unit {unit_formula(r, g)}", size="9pt")
        self.unit_plot.setVisible(d == 2)

    def _draw_spectrum(self) -> None:
        eig = self.result.eigvals
        tol = max(1e-10 * float(np.abs(eig).max(initial=0.0)), 1e-14)
        colors = ["#D55E00" if v < -tol else "#999999" if abs(v) <= tol else "#0072B2" for v in eig]
        self.spectrum_item.setData(np.arange(len(eig)), np.log10(np.maximum(np.abs(eig), 1e-300)),
                                   brush=[pg.mkBrush(c) for c in colors])
        self.spectrum_plot.setTitle("limit model Hessian: blue positive, grey ≈ 0, orange negative", size="9pt")
        self.spectrum_plot.enableAutoRange()

    # ---------------------------------------------------------------- actions and export
    def compute(self) -> None:
        if self.model.session is not None and self.model.current >= 0:
            self.model.analysis.request(self.model.current, self.analyses)
            self._load()

    def figures(self) -> dict[str, QWidget]:
        return {"approach": self.approach_widget, "unit": self.unit_widget, "match": self.match_widget,
                "spectrum": self.spectrum_widget}

    def tables(self) -> dict[str, Table]:
        if self.result is None or not self.result.structure:
            return {}
        rows = []
        for source, (xs, ys) in self._approach.items():
            rows += [[source, float(u), float(v)] for u, v in zip(xs, ys)]
        out = {"approach": Table(["source", "norm_a", "loss_minus_limit"], rows),
               "spectrum": Table(["index", "eigenvalue"], [[i, float(v)] for i, v in enumerate(self.result.eigvals)])}
        if self._scatter:
            out["unit"] = Table(["limit_unit", "group_output"],
                                [[float(u), float(v)] for u, v in zip(self._scatter["limit"], self._scatter["group"])])
        return out
