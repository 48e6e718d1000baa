"""Slices panel (thesis Fig 6.10): the loss from the closest saddle to the minimum, and on the plane
spanned by the saddle line and the minimum.

The numbers come from ``core.saddles.saddle_slices``. Left: ``L`` along ``θ(μ*) + t (θ_min − θ(μ*))``
(t = 0 the saddle, t = 1 the minimum). Right: ``log10 L`` on the plane of ``slices.saddle_plane`` —
u along the saddle line (``u = (μ − μ*)·‖direction‖``), v towards the minimum — with a colour bar, the saddle line (v = 0),
the saddle, the minimum and the training trajectory projected onto the plane. The projection is
least squares; how far the snapshots lie *out of* the plane is said in the legend, because a path
drawn in a 2D slice of a 15-dimensional space can mislead. Minima lying on their saddle line
(symmetry-induced, distance at rounding level) get the smallest Hessian eigenvector as second axis.

Everything is computed in the panel's :class:`~lsexplorer.gui.background.LatestJob`: plane, line
slice and projection first, then the image row by row, drawn as the rows arrive. The resolution
control restarts it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QLabel,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...core.base.kinds import kind_label, kind_phrase
from ...core.landscape.slices import PlaneRow
from ...core.population.relu_gaussian_session import is_population, session_landscape
from ...core.saddles.closest_saddle import ClosestSaddle
from ...core.saddles.saddle_slices import SaddleSlices, saddle_slices
from ..analysis import analysable, closest_saddle_of
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..roundoff import plot_unless_roundoff
from ..style import (
    SELECTION_COLOR,
    fmt,
    legend_below,
    log_loss_line_plot,
    plain_axes,
)
from .base import AnalysisPanelBase, Table

#: Why a population (relu-gaussian) session has no saddle-line slices.
POPULATION_REASON = ("Slices through the closest saddle follow a neuron split into two, which needs free output "
                     "weights; in this landscape they are fixed to 1.\n\nThe Curvature plane panel slices it "
                     "along the Hessian's softest directions.")


def plane_progress(record) -> tuple[int, int, str]:
    """The status bar's ``(done, total, text)`` of a plane's computation: its rows."""
    return (record.row + 1, record.rows, "slice") if isinstance(record, PlaneRow) else (0, 1, "slice")


#: Panel width from which the 1D and 2D slices sit side by side.
SIDE_BY_SIDE_FROM = 720


#: The least span of the colour bar, in decades of loss: a plane flatter than this is drawn in one
#: colour under a colour bar that still has tick labels.
MIN_DECADES = 0.1


class QtSlicesPanel(AnalysisPanelBase):
    """Panel: 1D loss saddle → minimum, and the 2D plane of saddle line and minimum (log colour)."""

    title = "Slices"
    analyses = ("closest_saddle",)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.saddle: ClosestSaddle | None = None
        self.setup: SaddleSlices | None = None
        #: Epochs of the trajectory's snapshots (the plane_trajectory table), None without a trajectory.
        self.epochs: np.ndarray | None = None
        self.plane_values: np.ndarray | None = None
        self.rows_done = 0
        self.job = self.new_job()
        self.install_pages()

    def _build_plots(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel()
        self.header.setWordWrap(True)
        layout.addWidget(self.header)  # a line of its own: beside the controls it squeezed them off the dock
        row = QtFlowLayout()
        row.addWidget(QLabel("resolution"))
        self.resolution = QSpinBox()
        self.resolution.setRange(11, 401)
        self.resolution.setSingleStep(10)
        self.resolution.setValue(61)
        self.resolution.setToolTip("Grid points per side of the 2D slice (computed row by row in the background)")
        self.resolution.valueChanged.connect(lambda _: self._start())
        row.addWidget(self.resolution)
        layout.addLayout(row)

        self.line_widget, self.line_plot = log_loss_line_plot("t  (saddle → minimum)")
        self.line_plot.setTitle("saddle → minimum", size="9pt")
        self.line_item = pg.PlotDataItem(pen=pg.mkPen("#333333", width=1.5))
        self.line_plot.addItem(self.line_item)
        for t, text, at in ((0.0, "saddle", 0.95), (1.0, "minimum", 0.85)):
            self.line_plot.addItem(pg.InfiniteLine(t, angle=90, pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine),
                                                   label=text, labelOpts={"position": at, "color": "#555555"}))

        self.plane_widget = pg.PlotWidget()
        self.plane_plot = self.plane_widget.getPlotItem()
        plain_axes(self.plane_plot)
        self.plane_plot.setLabel("bottom", "u  (along the saddle line)")
        self.plane_plot.setLabel("left", "v  (towards the minimum)")
        self.image = pg.ImageItem(axisOrder="col-major")
        self.plane_plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-6, 0), colorMap="viridis", label="log10 loss", interactive=False)
        self.colorbar.setImageItem(self.image, insert_in=self.plane_plot)
        legend_below(self.plane_plot, columns=1, brush=pg.mkBrush("#3b3b3b"), labelTextColor="w")  # white samples
        self.saddle_line_item = pg.PlotDataItem(pen=pg.mkPen("w", width=2.5, style=Qt.PenStyle.DashLine),
                                                name="saddle line")
        self.trajectory_item = pg.PlotDataItem(pen=pg.mkPen("#ff6666", width=1.5), symbol="o", symbolSize=4,
                                               symbolBrush="#ff6666", symbolPen=None, name="trajectory")
        self.saddle_item = pg.ScatterPlotItem(size=13, symbol="x", pen=pg.mkPen("w", width=2), brush=pg.mkBrush("w"),
                                              name="saddle θ(μ*)")
        self.minimum_item = pg.ScatterPlotItem(size=14, symbol="star", pen=pg.mkPen("k"),
                                               brush=pg.mkBrush(SELECTION_COLOR), name="local minimum")
        for item in (self.saddle_line_item, self.trajectory_item, self.saddle_item, self.minimum_item):
            self.plane_plot.addItem(item)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")

        self.split = split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.line_widget)
        split.addWidget(self.plane_widget)
        split.setSizes([430, 570])
        layout.addWidget(split, 1)
        layout.addWidget(self.note)
        return box

    def resizeEvent(self, event) -> None:
        """The 1D and 2D slices side by side in a wide dock, one above the other in a narrow one."""
        wide = event.size().width() >= SIDE_BY_SIDE_FROM
        self.split.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        super().resizeEvent(event)

    def _load(self) -> None:
        s, row = self.model.session, self.model.current
        self.saddle = closest_saddle_of(s, row)
        if s is None or row < 0:
            self.job.cancel()
            return
        if self.saddle is None and is_population(s):
            self.job.cancel()
            self.missing.show_reason(POPULATION_REASON, False, False)
            self._pages.setCurrentIndex(0)
            return
        if self.saddle is None:
            self.job.cancel()
            can = analysable(s, row)
            running = self.model.analysis.pending(row, "closest_saddle")
            text = (f"Run {row} (seed {int(s.runs.seed[row])}) has no closest saddle yet; the slices need it." if can
                    else f"Run {row} (seed {int(s.runs.seed[row])}) {kind_phrase(s.runs.kind[row])}: "
                    "slices through the closest saddle are drawn for local minima.\n\n"
                    "Select a local minimum (Go ▸ Next local minimum).")
            self.missing.show_reason(text, can, running)
            self._pages.setCurrentIndex(0)
            return
        self._pages.setCurrentIndex(1)
        c = self.saddle
        warn = "" if c.narrower.kind != "not_converged" else " — the narrower point did not converge, so this " \
                                                             "line is not a line of critical points"
        self.header.setText(f"Run {row} (seed {int(s.runs.seed[row])}): closest saddle at μ* = {fmt(c.mu)}, "
                            f"distance {fmt(c.distance)}{warn}")
        self._start()

    def compute(self) -> None:
        if self.model.session is not None and self.model.current >= 0:
            self.model.analysis.request(self.model.current, self.analyses)
            self._load()

    def _start(self) -> None:
        """(Re)compute the slices of the current run at the chosen resolution."""
        s, row, c = self.model.session, self.model.current, self.saddle
        self.job.cancel()
        self.setup = None
        self.plane_values = None
        self.rows_done = 0
        self.image.clear()
        for item in (self.line_item, self.saddle_line_item, self.trajectory_item):
            item.setData([], [])
        self.saddle_item.setData([], [])
        self.minimum_item.setData([], [])
        if s is None or c is None:
            return
        traj = s.runs.trajectory
        snaps = traj.theta[row] if traj is not None else None
        self.epochs = traj.epochs if traj is not None else None
        self.job.start(saddle_slices, session_landscape(s), s.runs.theta[row], c, snaps, self.resolution.value(),
                       on_record=self._record,
                       on_error=lambda exc: self.model.error.emit("Slice failed", f"{type(exc).__name__}: {exc}"),
                       task=f"Slicing seed {int(s.runs.seed[row])}", progress=plane_progress)

    def _record(self, record) -> None:
        if isinstance(record, SaddleSlices):
            self._show_setup(record)
        else:
            self.plane_values[record.row] = record.loss
            self.rows_done = record.row + 1
            self._draw_image()

    def _show_setup(self, setup: SaddleSlices) -> None:
        self.setup = setup
        c, plane = self.saddle, setup.plane
        self.plane_values = np.full((setup.vs.size, setup.us.size), np.nan)
        loss = np.asarray(setup.line.loss, dtype=float)
        self.line_note = plot_unless_roundoff(self.line_plot, self.line_item, setup.line.ts, loss, loss,
                                              float(np.nanmax(np.abs(loss), initial=0.0)),
                                              "the loss from the saddle to the minimum")
        self.line_plot.enableAutoRange()
        mus = np.linspace(min(0.0, c.mu) - 0.5, max(1.0, c.mu) + 0.5, 200)
        xy = plane.line_coords(mus)
        self.saddle_line_item.setData(xy[:, 0], xy[:, 1])
        self.saddle_item.setData([0.0], [0.0])
        self.minimum_item.setData([plane.minimum[0]], [plane.minimum[1]])
        row = self.model.current
        if self.model.session is not None and row >= 0:  # the run's own kind: not every run is a minimum
            kind = kind_label(self.model.session.runs.kind[row])
            self.plane_plot.legend.getLabel(self.minimum_item).setText(f"run {row} ({kind})")
        us, vs = setup.us, setup.vs
        du, dv = us[1] - us[0], vs[1] - vs[0]
        self._rect = QRectF(us[0] - du / 2, vs[0] - dv / 2, du * us.size, dv * vs.size)
        notes = []
        if setup.trajectory is not None:
            coords, res = setup.trajectory.coords, setup.trajectory.residual
            self.trajectory_item.setData(coords[:, 0], coords[:, 1])
            extent = float(np.hypot(us[-1] - us[0], vs[-1] - vs[0]))
            label = f"trajectory (off-plane ≤ {fmt(res.max(), 2)})"
            self.plane_plot.legend.getLabel(self.trajectory_item).setText(label)
            notes.append(f"The trajectory's {len(res) - 1} snapshots and the refined point are projected onto "
                         f"the plane by least squares; their distance out of it is {fmt(res.min(), 2)} to "
                         f"{fmt(res.max(), 2)} (the plane shown spans {fmt(extent, 3)}), so the drawn path "
                         "is a shadow of the real one.")
        if setup.fallback_used:
            notes.append("The minimum lies on its saddle line (symmetry-induced); v is the Hessian's smallest "
                         "eigenvector at the minimum instead.")
        notes.append(f"Minimum at distance {fmt(plane.distance)} from the line.")
        self.note.setText(" ".join(notes))
        self.plane_plot.setRange(xRange=(us[0], us[-1]), yRange=(vs[0], vs[-1]), padding=0.02)

    def _draw_image(self) -> None:
        values = self.plane_values
        with np.errstate(divide="ignore", invalid="ignore"):
            logv = np.log10(np.where(values > 0, values, np.nan))
        finite = logv[np.isfinite(logv)]
        if finite.size == 0:
            return
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < MIN_DECADES:  # a plane flat to round-off: a colour bar with ticks, one colour
            mid = 0.5 * (lo + hi)
            lo, hi = mid - MIN_DECADES / 2, mid + MIN_DECADES / 2
        self.image.setImage(logv.T, autoLevels=False)
        self.image.setRect(self._rect)  # after setImage: the transform depends on the image's size
        self.colorbar.setLevels((lo, hi))

    def image_values(self) -> np.ndarray:
        """``(V, U)`` log10 loss the image shows (row r at v = vs[r]); NaN where not computed yet."""
        return np.asarray(self.image.image, dtype=float).T

    @property
    def complete(self) -> bool:
        """Every row of the current slice is drawn."""
        return self.setup is not None and self.rows_done == self.setup.vs.size

    # ---------------------------------------------------------------- export
    def figures(self) -> dict[str, QWidget]:
        return {"saddle_to_minimum": self.line_widget, "plane": self.plane_widget}

    def tables(self) -> dict[str, Table]:
        setup = self.setup
        if setup is None:
            return {}
        line = setup.line
        out = {"saddle_to_minimum": Table(["t", "loss"], [[t, v] for t, v in zip(line.ts, line.loss)])}
        if self.plane_values is not None:
            out["plane"] = Table(["u", "v", "loss"], [[u, v, self.plane_values[r, c]]
                                                       for r, v in enumerate(setup.vs) for c, u in enumerate(setup.us)])
        if setup.trajectory is not None:
            epochs = list(self.epochs) + ["refined"] if self.epochs is not None else [""] * len(setup.trajectory.residual)
            out["plane_trajectory"] = Table(["epoch", "u", "v", "out_of_plane"],
                                            [[e, *xy, r] for e, xy, r in zip(epochs, setup.trajectory.coords,
                                                                             setup.trajectory.residual)])
        return out
