"""Escape panel (thesis Fig 6.6): Algorithm 1's scan along the smallest Hessian eigenvector.

Three stacked plots share the ε axis: the loss along ``θ + ε v``, the smallest Hessian eigenvalue
λ_min and the gradient norm ‖∇L‖ (``/analyses/escape/points/<row>/scan``). The starting point
(ε = 0) and the nearest escape, if any, are marked. Algorithm 2's outcome (the flat-direction
search) is given as text. A run without the analysis offers to compute it (``analyze_session``'s
``escape``, a few seconds on the toy).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...core.base.kinds import kind_label, kind_phrase
from ..analysis import analysable, escape_of
from ..model import SessionModel
from ..style import SELECTION_COLOR, LogAxis, fmt, plain_axes
from .base import AnalysisPanelBase, Table


class QtEscapePanel(AnalysisPanelBase):
    """Panel: loss, λ_min and ‖∇L‖ versus ε from Algorithm 1, Algorithm 2's outcome as text."""

    title = "Escape"
    analyses = ("escape",)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.scan = None
        self.flat = None
        self.install_pages()

    def _build_plots(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.widget = pg.GraphicsLayoutWidget()
        self.loss_plot = self.widget.addPlot(row=0, col=0, axisItems={"left": LogAxis("left")})
        self.lambda_plot = self.widget.addPlot(row=1, col=0)
        self.grad_plot = self.widget.addPlot(row=2, col=0, axisItems={"left": LogAxis("left")})
        self.loss_plot.setLogMode(x=False, y=True)
        self.grad_plot.setLogMode(x=False, y=True)
        for plot, label in ((self.loss_plot, "loss"), (self.lambda_plot, "λ_min"), (self.grad_plot, "‖∇L‖")):
            plain_axes(plot)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", label)
            plot.getAxis("left").setWidth(62)
            plot.addItem(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine)))
        for plot in (self.lambda_plot, self.grad_plot):
            plot.setXLink(self.loss_plot)
        self.loss_plot.setTitle("Algorithm 1: θ + ε·v along the smallest Hessian eigenvector v", size="9pt")
        self.loss_plot.hideAxis("bottom")
        self.lambda_plot.hideAxis("bottom")
        self.grad_plot.setLabel("bottom", "ε  (θ + ε·v, v the eigenvector of λ_min)")
        self.lambda_plot.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("#888888", style=Qt.PenStyle.DotLine)))
        self.loss_item = self.loss_plot.plot(pen=pg.mkPen("#0072B2", width=1.5))
        self.lambda_item = self.lambda_plot.plot(pen=pg.mkPen("#009E73", width=1.5))
        self.grad_item = self.grad_plot.plot(pen=pg.mkPen("#D55E00", width=1.5))
        self.loss0_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#555555", style=Qt.PenStyle.DotLine))
        self.loss_plot.addItem(self.loss0_line)
        self.escape_marks = [pg.InfiniteLine(angle=90, pen=pg.mkPen(SELECTION_COLOR, width=2), label="escape",
                                             labelOpts={"position": 0.85, "color": SELECTION_COLOR})
                             for _ in range(3)]
        for plot, mark in zip((self.loss_plot, self.lambda_plot, self.grad_plot), self.escape_marks):
            plot.addItem(mark)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.outcome)
        return box

    def _load(self) -> None:
        s, row = self.model.session, self.model.current
        found = escape_of(s, row)
        self.scan, self.flat = (found[0], found[1]) if found else (None, None)
        if s is None or row < 0:
            return
        if found is None:
            can = analysable(s, row)
            kind = str(s.runs.kind[row])
            text = (f"Run {row} (seed {int(s.runs.seed[row])}) has no escape analysis yet." if can else
                    f"Run {row} (seed {int(s.runs.seed[row])}) {kind_phrase(kind)}: the escape algorithms run at local "
                    "minima.\n\nSelect a local minimum (Go ▸ Next local minimum).")
            self.missing.show_reason(text, can, self.model.analysis.pending(row, "escape"))
            self._pages.setCurrentIndex(0)
            return
        self._pages.setCurrentIndex(1)
        scan, flat, before = found
        self.loss_item.setData(scan.eps, scan.loss)
        self.lambda_item.setData(scan.curvature_eps, scan.lambda_min)
        self.grad_item.setData(scan.eps, scan.grad_norm)
        self.loss0_line.setValue(np.log10(scan.loss0) if scan.loss0 > 0 else 0.0)
        for mark in self.escape_marks:
            mark.setVisible(bool(scan.escape))
            if scan.escape:
                mark.setValue(scan.escape_eps)
        for plot in (self.loss_plot, self.lambda_plot, self.grad_plot):
            plot.enableAutoRange()
        alg1 = (f"<b>Algorithm 1</b> (λ_min = {fmt(scan.lambda_min0)} at ε = 0, loss {fmt(scan.loss0, 6)}): "
                + (f"escapes at ε = {fmt(scan.escape_eps)}" if scan.escape else
                   f"lower loss found at ε = {fmt(scan.best_eps)} but only over a barrier" if scan.found_lower else
                   "no lower loss along ±v") + f" ({scan.stop_reason}).")
        alg2 = (f"<b>Algorithm 2</b> (flat directions, {flat.nodes_expanded} nodes, farthest "
                f"{fmt(flat.max_distance)}): "
                + ("escapes: a lower point reached through flat nodes" if flat.escape else
                   f"lower point found (loss {fmt(flat.lower_loss)}) but not without climbing" if flat.found_lower else
                   "no lower point") + f" — stopped: {flat.stop_reason}.")
        kind_now = kind_label(s.runs.kind[row])
        verdict = (f"Kind before the search: {kind_label(before)}; now: <b>{kind_now}</b>." if before else "")
        self.outcome.setText(f"{alg1}<br>{alg2}<br>{verdict}")

    def compute(self) -> None:
        if self.model.session is not None and self.model.current >= 0:
            self.model.analysis.request(self.model.current, self.analyses)
            self._load()

    def figures(self) -> dict[str, QWidget]:
        return {"escape": self.widget}

    def tables(self) -> dict[str, Table]:
        scan = self.scan
        if scan is None:
            return {}
        lam = np.full(scan.eps.size, np.nan)
        idx = np.searchsorted(scan.eps, scan.curvature_eps)
        ok = (idx < scan.eps.size) & (scan.eps[np.minimum(idx, scan.eps.size - 1)] == scan.curvature_eps)
        lam[idx[ok]] = scan.lambda_min[ok]
        return {"escape": Table(["eps", "loss", "grad_norm", "lambda_min"],
                                [[e, v, g, m] for e, v, g, m in zip(scan.eps, scan.loss, scan.grad_norm, lam)])}
