"""Paths panel: the minimum-energy path from the selected run, its barrier and its certified saddle.

Three plots: the loss along the band (NEB or AutoNEB images, by normalised arc length) against the
straight line between the same ends, with both barriers; the band projected on the plane through
source, aligned target and saddle, over the loss on that plane (log colour); and the exact Hessian
spectrum of the refined highest image. The target is the nearest global minimum (after symmetry
alignment) or a chosen run; the run table's context menu starts the same computation. The path is
computed in a background worker with progress and Cancel, and stored under
``/analyses/paths/<from>_to_<to>`` (Save As keeps it).

What the highest point is (:class:`~lsexplorer.core.paths.path_saddle.SaddleOutcome`: a finite saddle, a
symmetry-induced one, a saddle at infinity in a flat channel, or not certified) is written under the
plots, and the spectrum plot shows the certified point's (the limit model's for a channel). Clicking
the saddle's star, or **Open saddle**, emits :attr:`QtPathsPanel.openPoint` with a one-run session
holding it (:func:`~lsexplorer.core.paths.path_points.saddle_session`); the main window opens that in a
window of its own, where every point view shows it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...core.analyses import paths as stored_paths
from ...core.base.classify import Tolerances
from ...core.base.kinds import kind_label
from ...core.paths.minimum_energy import PathConfig, PathResult, minimum_energy_path, nearest_global_minimum
from ...core.paths.neb import NEBConfig
from ...core.paths.path_points import saddle_session
from ...core.paths.path_saddle import outcome_label
from ...core.paths.saddle_search import SaddleConfig
from ...figures.paths import highest_index, highest_point, loss_floor, plane_loss
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..style import SELECTION_COLOR, LogAxis, fmt, legend_below, plain_axes
from ..workers import Worker, autodiff_locked
from .base import PanelBase, Table


def compute_path(session, row: int, target, config: PathConfig):
    """Worker body: the path (nearest global minimum when ``target`` is None) and the loss on its plane.

    Touches only copies of the session's arrays; returns ``(result, plane_u, plane_v, plane_loss)``.
    """
    to_global = target is None
    if to_global:
        target, _ = nearest_global_minimum(session, row)
    tolerances = Tolerances.from_dict(session.config.get("tolerances", {}))
    result = yield from minimum_energy_path(session.spec, session.x, session.y, session.runs.theta[row],
                                            session.runs.theta[target], config, tolerances, run_from=row,
                                            run_to=target, to_global=to_global)
    return (result, *plane_loss(session, result))


class QtPathsPanel(PanelBase):
    """Panel: loss along the minimum-energy path and the straight line, the band on its plane, the saddle's spectrum."""

    title = "Paths"
    #: A one-run session holding the path's certified saddle, to be shown like any other point.
    openPoint = Signal(object)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.result: PathResult | None = None
        self.plane_data = None
        self.worker: Worker | None = None
        #: Step budgets of the band and the saddle search (``NEBConfig`` / ``SaddleConfig`` fields).
        self.budget = {"max_steps": NEBConfig.max_steps, "follow_steps": SaddleConfig.follow_steps,
                       "newton_steps": SaddleConfig.newton_steps, "lm_steps": SaddleConfig.lm_steps,
                       "channel_steps": SaddleConfig.channel_steps}
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        controls = QtFlowLayout()  # wraps in a narrow dock: Compute path stays in sight
        self.target = QComboBox()
        self.target.addItem("nearest global minimum", None)
        self.target.setToolTip("Where the path goes: the global minimum nearest after permutation/sign alignment, "
                               "or any run")
        self.target_run = QSpinBox()
        self.target_run.setPrefix("run ")
        self.target.addItem("run…", "run")
        self.target.currentIndexChanged.connect(lambda: self.target_run.setEnabled(self.target.currentData() == "run"))
        self.target_run.setEnabled(False)
        self.auto = QCheckBox("AutoNEB")
        self.auto.setToolTip("Start with few images and insert where the path is poorly resolved (Draxler et al.)")
        self.images = QSpinBox()
        self.images.setRange(3, 64)
        self.images.setValue(16)
        self.images.setPrefix("images ")
        self.compute_button = QPushButton("Compute path")
        self.compute_button.clicked.connect(lambda: self.compute())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.open_button = QPushButton("Open saddle")
        self.open_button.setToolTip("Open the certified highest point in a window of its own, like any other point "
                                    "(or click its star)")
        self.open_button.clicked.connect(lambda: self.open_saddle())
        self.open_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        for w in (QLabel("to"), self.target, self.target_run, self.auto, self.images, self.compute_button,
                  self.cancel_button, self.open_button, self.progress):
            controls.addWidget(w)
        layout.addLayout(controls)
        # Three figures of their own (each exports at a column's width): the loss along the path on top,
        # the band's plane and the saddle's spectrum side by side below.
        self.loss_view, self.plane_view, self.spectrum_view = (pg.GraphicsLayoutWidget() for _ in range(3))
        self.loss_plot = self.loss_view.addPlot(axisItems={"left": LogAxis("left")})
        self.loss_plot.setLogMode(x=False, y=True)
        self.plane_plot = self.plane_view.addPlot()
        self.spectrum_plot = self.spectrum_view.addPlot()
        below = QSplitter(Qt.Orientation.Horizontal)
        below.addWidget(self.plane_view)
        below.addWidget(self.spectrum_view)
        self.widget = QSplitter(Qt.Orientation.Vertical)
        self.widget.addWidget(self.loss_view)
        self.widget.addWidget(below)
        for split in (below, self.widget):
            split.setChildrenCollapsible(False)
        for plot in (self.loss_plot, self.plane_plot, self.spectrum_plot):
            plain_axes(plot)
            plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_plot.setLabel("bottom", "normalised arc length along the path (straight line: t)")
        self.loss_plot.setLabel("left", "loss")
        legend_below(self.loss_plot, columns=2)
        self.straight_item = self.loss_plot.plot(pen=pg.mkPen("#999999", width=1.5, style=Qt.PenStyle.DashLine),
                                                 name="straight line")
        self.band_item = self.loss_plot.plot(pen=pg.mkPen("#0072B2", width=2), symbol="o", symbolSize=5,
                                             symbolBrush="#0072B2", name="band")
        self.saddle_item = self.loss_plot.plot(pen=None, symbol="star", symbolSize=16, symbolBrush=SELECTION_COLOR,
                                               name="refined saddle")
        self.plane_plot.setLabel("bottom", "→ aligned target")
        self.plane_plot.setLabel("left", "→ saddle (orthogonal part)")
        self.image = pg.ImageItem(axisOrder="col-major")
        self.plane_plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-6, 0), colorMap="viridis", label="log10 loss", interactive=False)
        self.colorbar.setImageItem(self.image, insert_in=self.plane_plot)
        self.plane_straight = self.plane_plot.plot(pen=pg.mkPen("#ffffff", width=1, style=Qt.PenStyle.DashLine))
        self.plane_band = self.plane_plot.plot(pen=pg.mkPen("#ffffff", width=2), symbol="o", symbolSize=5,
                                               symbolBrush="#ffffff")
        self.plane_ends = self.plane_plot.plot(pen=None, symbol="s", symbolSize=9, symbolBrush="#000000")
        self.plane_saddle = self.plane_plot.plot(pen=None, symbol="star", symbolSize=16, symbolBrush=SELECTION_COLOR)
        for item in (self.saddle_item, self.plane_saddle):
            item.sigPointsClicked.connect(lambda *_: self.open_saddle())
        self.spectrum_plot.setLabel("bottom", "index")  # short: the plot may be a third of a narrow dock
        self.spectrum_plot.setLabel("left", "sign(λ) log10(1 + |λ|/1e-12)")
        self.spectrum_item = pg.ScatterPlotItem(size=8)
        self.spectrum_plot.addItem(self.spectrum_item)
        self.spectrum_plot.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("#888888", style=Qt.PenStyle.DotLine)))
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.widget, 1)
        layout.addWidget(self.summary)
        self.set_content(content)
        self.on_session_changed()

    # ---------------------------------------------------------------- model -> view
    def on_session_changed(self) -> None:
        self.target_run.setRange(0, max(self.model.n_runs - 1, 0))
        self._load()

    def on_current_changed(self, index: int) -> None:
        self._load()

    def _stored(self) -> PathResult | None:
        s, row = self.model.session, self.model.current
        if s is None or row < 0:
            return None
        if self.target.currentData() == "run":
            return stored_paths.read(s, row, self.target_run.value())
        return stored_paths.to_global(s, row)

    def _load(self) -> None:
        result = self._stored()
        if result is None or (self.result is not None and result.key != self.result.key):
            self.plane_data = None
        self.result = result
        self.open_button.setEnabled(self._openable(result))
        self.widget.setVisible(result is not None)  # no empty plots: the line below says what to do
        if result is None:
            row = self.model.current
            self._clear()
            self.summary.setText(f"Run {row}: no path computed yet. <b>Compute path</b> builds it in the background."
                                 if row >= 0 else "Select a run.")
            return
        self._show(result)

    def _clear(self) -> None:
        for item in (self.straight_item, self.band_item, self.saddle_item, self.plane_band, self.plane_straight,
                     self.plane_ends, self.plane_saddle):
            item.setData([], [])
        self.spectrum_item.setData([], [])
        self.image.clear()

    def _show(self, r: PathResult) -> None:
        self.widget.setVisible(True)
        arc = r.arc / r.arc[-1] if r.arc[-1] > 0 else r.arc
        floor = loss_floor(r.values)

        def clip(v):
            return np.maximum(v, floor)

        self.straight_item.setData(r.straight_t, clip(r.straight_values))
        self.band_item.setData(arc, clip(r.values))
        o = r.outcome if r.outcome is not None and r.outcome.certified else None
        point = highest_point(r, self.model.session)
        if point is not None:
            self.saddle_item.setData([arc[highest_index(r)]], clip(np.array([point.loss])))
            lam, cut = point.eigvals, point.zero_tol
            y = np.sign(lam) * np.log10(1 + np.abs(lam) / 1e-12)
            colors = [pg.mkBrush(SELECTION_COLOR if v < -cut else "#888888" if abs(v) <= cut else "#0072B2")
                      for v in lam]
            self.spectrum_item.setData(np.arange(len(lam)), y, brush=colors)
            # Two short lines: the plot may be half of a narrow dock.
            self.spectrum_plot.setTitle(f"Hessian: {point.n_negative} negative, {point.n_zero} zero<br>"
                                        f"at the {point.where}", size="9pt")
        else:
            self.saddle_item.setData([], [])
            self.spectrum_item.setData([], [])
        self.loss_plot.setTitle(f"run {r.run_from} → run {r.run_to}: barrier {fmt(r.barrier)} "
                                f"(straight line {fmt(r.straight_barrier)})", size="9pt")
        p = r.plane
        self.plane_band.setData(p.coords[:, 0], p.coords[:, 1])
        self.plane_straight.setData([0.0, p.target[0]], [0.0, p.target[1]])
        self.plane_ends.setData([0.0, p.target[0]], [0.0, p.target[1]])
        self.plane_saddle.setData([p.saddle[0]], [p.saddle[1]])
        if self.plane_data is None and self.model.session is not None:
            self.plane_data = plane_loss(self.model.session, r)
        if self.plane_data is not None:
            u, v, loss = self.plane_data
            logl = np.log10(np.maximum(loss, 1e-300))
            self.image.setImage(logl)
            self.image.setRect(pg.QtCore.QRectF(u[0], v[0], u[-1] - u[0], v[-1] - v[0]))
            lo, hi = float(np.percentile(logl, 1)), float(np.percentile(logl, 99))
            self.colorbar.setLevels((lo, hi if hi > lo else lo + 1))
        else:
            self.image.clear()
        for plot in (self.loss_plot, self.plane_plot, self.spectrum_plot):
            plot.enableAutoRange()
        s = r.saddle
        cert = ("—" if s is None else
                f"loss {fmt(s.loss, 6)}, ‖∇L‖ = {s.grad_norm:.1e}, λ_min = {fmt(float(s.eigvals[0]))}, "
                f"<b>{'certified index-1 saddle' if s.index1 else kind_label(s.kind)}</b>"
                f" ({s.n_negative} negative eigenvalue{'s' if s.n_negative != 1 else ''}"
                + (f"; found on a saddle line, {s.route}" if s.route != "direct" else "") + ")")
        residual = float(p.residual.max()) / max(float(np.linalg.norm(p.target)), 1e-300)
        self.summary.setText(
            f"<b>{r.method.upper()}</b>, {len(r.images)} images, {r.stop_reason} after {r.steps} steps · "
            f"alignment: distance {fmt(r.alignment.distance_before)} → {fmt(r.alignment.distance_after)} · "
            f"barrier <b>{fmt(r.barrier)}</b> vs straight line {fmt(r.straight_barrier)}<br>"
            f"Highest image refined: {cert}<br>"
            f"Highest point: <b>{outcome_label(r.outcome)}</b>"
            + ("" if o is None else f" · loss {fmt(o.loss, 6)}, ‖∇L‖ = {o.grad_norm:.1e}, finite-difference check: "
               f"Hessian error {o.fd_hessian_error:.0e}, {o.fd_index} negative") + "<br>"
            f"Band drawn on the plane through source, aligned target and saddle (largest out-of-plane part "
            f"{residual:.0%} of the source–target distance).")

    # ---------------------------------------------------------------- computing
    def compute(self, row: int | None = None, target: int | None = None) -> Worker | None:
        """Start the path from ``row`` (default: the selection) to ``target`` (default: the panel's choice)."""
        s = self.model.session
        row = self.model.current if row is None else row
        if s is None or row < 0 or (self.worker is not None and self.worker.is_running):
            return None
        if target is None and self.target.currentData() == "run":
            target = self.target_run.value()
        if target == row:
            self.model.error.emit("Paths", f"a path needs two different runs (both are run {row})")
            return None
        config = PathConfig(auto=self.auto.isChecked(),
                            neb=NEBConfig(images=self.images.value(), auto_max_images=max(self.images.value(), 4),
                                          max_steps=self.budget["max_steps"]),
                            saddle=SaddleConfig(follow_steps=self.budget["follow_steps"],
                                                newton_steps=self.budget["newton_steps"],
                                                lm_steps=self.budget.get("lm_steps", SaddleConfig.lm_steps),
                                                channel_steps=self.budget.get("channel_steps",
                                                                              SaddleConfig.channel_steps)))
        copy = type(s)(s.config, s.x.copy(), s.y.copy(), None, s.runs)
        worker = Worker(lambda: autodiff_locked(compute_path(copy, row, target, config)))
        worker.yielded.connect(self._progress)
        worker.returned.connect(self._finished)
        worker.errored.connect(lambda exc: self.model.error.emit("Paths", str(exc)))
        worker.finished.connect(self._idle)
        self.worker = worker
        self.compute_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.model.tasks.start(worker, f"path from run {row}")
        return worker

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()

    def _progress(self, record) -> None:
        self.progress.setRange(0, max(int(record.total), 1))
        self.progress.setValue(int(record.done))
        self.summary.setText(f"{record.stage}: step {record.done}, {record.images} images, largest force "
                             f"{fmt(record.max_force)}, barrier {fmt(record.barrier)}")

    def _finished(self, payload) -> None:
        result, u, v, loss = payload
        s = self.model.session
        if s is None:
            return
        stored_paths.write(s, result)
        self.model.set_modified(True)
        if self.model.current == result.run_from:
            self.result, self.plane_data = result, (u, v, loss)
            self.open_button.setEnabled(self._openable(result))
            self._show(result)

    def _idle(self) -> None:
        self.compute_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        if self.result is None:
            self._load()

    # ---------------------------------------------------------------- opening the saddle
    @staticmethod
    def _openable(result: PathResult | None) -> bool:
        return result is not None and result.outcome is not None and result.outcome.certified

    def open_saddle(self):
        """Emit :attr:`openPoint` with the shown path's certified saddle as a one-run session; None if there is none."""
        s, r = self.model.session, self.result
        if s is None or not self._openable(r):
            if r is not None:
                self.model.message.emit(f"Path {r.key}: {outcome_label(r.outcome)}; nothing to open")
            return None
        point = saddle_session(s, r)
        self.openPoint.emit(point)
        return point

    # ---------------------------------------------------------------- export
    def figures(self) -> dict[str, QWidget]:
        return {"loss_along_path": self.loss_view, "band_plane": self.plane_view,
                "saddle_spectrum": self.spectrum_view}

    def tables(self) -> dict[str, Table]:
        r = self.result
        if r is None:
            return {}
        arc = r.arc / r.arc[-1] if r.arc[-1] > 0 else r.arc
        out = {"path": Table(["image", "arc", "loss", "force", "plane_u", "plane_v"],
                             [[i, a, v, f, c[0], c[1]] for i, (a, v, f, c) in
                              enumerate(zip(arc, r.values, r.forces, r.plane.coords))]),
               "straight": Table(["t", "loss"], [[t, v] for t, v in zip(r.straight_t, r.straight_values)])}
        if r.outcome is not None and r.outcome.certified:
            out["certified_spectrum"] = Table(["index", "eigenvalue"], [[i, e] for i, e in enumerate(r.outcome.eigvals)])
        if r.saddle is not None:
            out["saddle_spectrum"] = Table(["index", "eigenvalue"], [[i, e] for i, e in enumerate(r.saddle.eigvals)])
        return out
