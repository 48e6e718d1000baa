"""Curvature plane panel: the loss around the selected point along its two softest Hessian directions.

Left: ``L(θ + t e1)`` and ``L(θ + t e2)`` (``e1``, ``e2`` the eigenvectors of the two smallest Hessian
eigenvalues). Right: ``log10 L`` on the plane ``θ + u e1 + v e2`` with a colour bar, the point, and the
training trajectory projected onto the plane by least squares. The loss is the session's landscape
(``relu_gaussian_session.session_landscape``): the data's mean squared error, or the population loss
of a ``relu-gaussian`` session, so this panel works for every session, unlike the saddle-line slices.
Computed in the panel's :class:`~lsexplorer.gui.background.LatestJob`, the image row by row, only
once the panel is painted (a Hessian per selection would otherwise cost every click); the resolution
and half-width controls restart it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QLabel,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...core.base.kinds import kind_label
from ...core.landscape.curvature_plane import CurvaturePlane, curvature_plane
from ...core.landscape.slices import PlaneRow, project
from ...core.population.relu_gaussian_session import session_landscape
from ...figures.curvature_plane import HALF_WIDTH, RESOLUTION
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..style import (
    SELECTION_COLOR,
    fmt,
    legend_below,
    log_loss_line_plot,
    plain_axes,
)
from .base import PanelBase, Table
from .slices import SIDE_BY_SIDE_FROM, plane_progress


def curvature_work(landscape, theta, half_width: float, resolution: int, trajectory):
    """Worker generator: the :class:`CurvaturePlane` (with the trajectory's projection), then the rows."""
    gen = curvature_plane(landscape, theta, half_width, resolution)
    setup = next(gen)
    proj = None
    if trajectory is not None:
        proj = project(np.vstack([np.asarray(trajectory, dtype=np.float64), setup.theta]), setup.theta, setup.basis)
    yield setup, proj
    return (yield from gen)


class QtCurvaturePlanePanel(PanelBase):
    """Panel: 1D and 2D loss slices through the selected point along its softest Hessian directions."""

    title = "Curvature plane"

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.setup: CurvaturePlane | None = None
        self.plane_values: np.ndarray | None = None
        self.rows_done = 0
        self.job = self.new_job()
        self._stale = True
        self._drawn_half_width: float | None = None
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel()
        self.header.setWordWrap(True)
        layout.addWidget(self.header)  # a line of its own: beside the controls it squeezed them off the dock
        row = QtFlowLayout()
        row.addWidget(QLabel("half-width"))
        self.half_width = QDoubleSpinBox()
        self.half_width.setRange(1e-4, 100.0)
        self.half_width.setDecimals(4)
        self.half_width.setValue(HALF_WIDTH)
        self.half_width.setToolTip("The plane spans ±this along each direction (parameter units)")
        self.half_width.editingFinished.connect(self._on_half_width_edited)
        row.addWidget(self.half_width)
        row.addWidget(QLabel("resolution"))
        self.resolution = QSpinBox()
        self.resolution.setRange(11, 401)
        self.resolution.setSingleStep(10)
        self.resolution.setValue(RESOLUTION)
        self.resolution.valueChanged.connect(lambda _: self._start())
        row.addWidget(self.resolution)
        layout.addLayout(row)

        self.line_widget, self.line_plot = log_loss_line_plot("t  (θ + t·e)")
        legend_below(self.line_plot, columns=2)
        self.line_u = pg.PlotDataItem(pen=pg.mkPen("#0072B2", width=1.5), name="e1 (smallest λ)")
        self.line_v = pg.PlotDataItem(pen=pg.mkPen("#D55E00", width=1.5), name="e2")
        self.line_plot.addItem(self.line_u)
        self.line_plot.addItem(self.line_v)

        self.plane_widget = pg.PlotWidget()
        self.plane_plot = self.plane_widget.getPlotItem()
        plain_axes(self.plane_plot)
        self.plane_plot.setLabel("bottom", "u  (along e1)")
        self.plane_plot.setLabel("left", "v  (along e2)")
        self.image = pg.ImageItem(axisOrder="col-major")
        self.plane_plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-6, 0), colorMap="viridis", label="log10 loss", interactive=False)
        self.colorbar.setImageItem(self.image, insert_in=self.plane_plot)
        legend_below(self.plane_plot, columns=2, brush=pg.mkBrush("#3b3b3b"), labelTextColor="w")  # white samples
        self.trajectory_item = pg.PlotDataItem(pen=pg.mkPen("#ff6666", width=1.5), symbol="o", symbolSize=4,
                                               symbolBrush="#ff6666", symbolPen=None, name="trajectory")
        self.point_item = pg.ScatterPlotItem(size=14, symbol="star", pen=pg.mkPen("k"),
                                             brush=pg.mkBrush(SELECTION_COLOR), name="selected point")
        self.plane_plot.addItem(self.trajectory_item)
        self.plane_plot.addItem(self.point_item)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        self.split = split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.line_widget)
        split.addWidget(self.plane_widget)
        split.setSizes([430, 570])
        layout.addWidget(split, 1)
        layout.addWidget(self.note)
        self.set_content(box)
        self.on_session_changed()

    def resizeEvent(self, event) -> None:
        """The line and plane slices side by side in a wide dock, one above the other in a narrow one."""
        wide = event.size().width() >= SIDE_BY_SIDE_FROM
        self.split.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        super().resizeEvent(event)

    def on_session_changed(self) -> None:
        self._start()

    def on_current_changed(self, index: int) -> None:
        self._start()

    def _on_half_width_edited(self) -> None:
        # Qt also reports an edit when the box merely loses focus (e.g. the panel closing): redraw on a new value only.
        if self._drawn_half_width is not None and self.half_width.value() != self._drawn_half_width:
            self._start()

    def paintEvent(self, event) -> None:
        # A tabbed dock's hidden page still counts as visible to Qt; being painted is being seen.
        super().paintEvent(event)
        if self._stale and not self.visibleRegion().isEmpty():
            self._stale = False
            QTimer.singleShot(0, self._start)

    def _start(self) -> None:
        """(Re)compute the slices of the current run; while the panel is hidden, only when shown."""
        s, row = self.model.session, self.model.current
        self.job.cancel()
        self._stale = not self.isVisible() or self.visibleRegion().isEmpty()
        if self._stale:
            self.update()
            return
        self.setup, self.plane_values, self.rows_done = None, None, 0
        self.image.clear()
        for item in (self.line_u, self.line_v, self.trajectory_item):
            item.setData([], [])
        self.point_item.setData([], [])
        if s is None or row < 0 or not np.isfinite(s.runs.theta[row]).all():
            self.header.setText("" if s is None or row < 0 else f"Run {row}: its point is not finite.")
            return
        traj = s.runs.trajectory
        self._drawn_half_width = self.half_width.value()
        self.header.setText(f"Run {row} (seed {int(s.runs.seed[row])}): computing the Hessian…")
        self.job.start(curvature_work, session_landscape(s), s.runs.theta[row], self.half_width.value(),
                       self.resolution.value(), traj.theta[row] if traj is not None else None,
                       on_record=self._record,
                       on_error=lambda exc: self.model.error.emit("Curvature plane failed",
                                                                  f"{type(exc).__name__}: {exc}"),
                       task=f"Curvature plane of seed {int(s.runs.seed[row])}", progress=plane_progress)

    def _record(self, record) -> None:
        if isinstance(record, PlaneRow):
            self.plane_values[record.row] = record.loss
            self.rows_done = record.row + 1
            self._draw_image()
            return
        setup, proj = record
        self.setup = setup
        s, row = self.model.session, self.model.current
        self.plane_values = np.full((setup.vs.size, setup.us.size), np.nan)
        self.line_u.setData(setup.line_u.ts, setup.line_u.loss)
        self.line_v.setData(setup.line_v.ts, setup.line_v.loss)
        self.line_plot.enableAutoRange()
        self.point_item.setData([0.0], [0.0])
        us, vs = setup.us, setup.vs
        du, dv = us[1] - us[0], vs[1] - vs[0]
        self._rect = QRectF(us[0] - du / 2, vs[0] - dv / 2, du * us.size, dv * vs.size)
        self.header.setText(f"Run {row} (seed {int(s.runs.seed[row])}), {kind_label(s.runs.kind[row])}: "
                            f"λ1 = {fmt(setup.eigvals[0])}, λ2 = {fmt(setup.eigvals[1])}")
        note = ""
        if proj is not None:
            self.trajectory_item.setData(proj.coords[:, 0], proj.coords[:, 1])
            note = (f"The trajectory's snapshots are projected onto the plane by least squares; they lie "
                    f"{fmt(proj.residual.min(), 2)} to {fmt(proj.residual.max(), 2)} out of it.")
        self.note.setText(note)
        self.plane_plot.setRange(xRange=(us[0], us[-1]), yRange=(vs[0], vs[-1]), padding=0.02)

    def _draw_image(self) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            logv = np.log10(np.where(self.plane_values > 0, self.plane_values, np.nan))
        finite = logv[np.isfinite(logv)]
        if finite.size == 0:
            return
        lo, hi = float(finite.min()), float(finite.max())
        self.image.setImage(logv.T, autoLevels=False)
        self.image.setRect(self._rect)
        self.colorbar.setLevels((lo, max(hi, lo + 1e-9)))

    @property
    def complete(self) -> bool:
        return self.setup is not None and self.rows_done == self.setup.vs.size

    def figures(self) -> dict[str, QWidget]:
        return {"softest_lines": self.line_widget, "softest_plane": self.plane_widget}

    def tables(self) -> dict[str, Table]:
        setup = self.setup
        if setup is None:
            return {}
        out = {"softest_lines": Table(["t", "loss_e1", "loss_e2"],
                                      [[t, a, b] for t, a, b in zip(setup.line_u.ts, setup.line_u.loss,
                                                                    setup.line_v.loss)])}
        if self.plane_values is not None:
            out["softest_plane"] = Table(["u", "v", "loss"], [[u, v, self.plane_values[r, c]]
                                                              for r, v in enumerate(setup.vs)
                                                              for c, u in enumerate(setup.us)])
        return out
