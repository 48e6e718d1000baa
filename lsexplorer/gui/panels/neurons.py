"""Neurons panel (thesis Fig 6.4): incoming weights of every hidden neuron of the selected run.

Each student neuron ``j`` is a circle at its incoming vector ``w_j``, filled with the colour of its
outgoing weight ``a_j`` (diverging map with a colour bar, 0 in the middle); the teacher's neurons
are stars coloured the same way. A grey line follows each neuron from initialisation through the
stored trajectory snapshots to the refined point. Inputs wider than two are shown through a chosen
pair of coordinates or the first two principal directions of all runs' incoming vectors
(uncentred, so the origin — the centre of the sign symmetry — stays at the origin).

"Sign-flipped representatives": a sigmoid neuron may have learnt ``-w`` where the teacher has
``w`` (``sigma(-z) = 1 - sigma(z)``, thesis section 6.2.2). With the option on, neurons that
:func:`~lsexplorer.core.symmetry.operations.match_to_teacher` finds flipped are drawn at ``(-w_j, -a_j)`` as
squares, trajectory included, so they land next to the teacher neuron they represent.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.base.kinds import kind_label
from ...figures.catalog import FigureOptions
from ...figures.neurons import (
    axis_choices,
    channel_group,
    colour_levels,
    flip_possible,
    neuron_data,
    path_lines,
    pca_basis,
    projection,
)
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..style import SELECTION_COLOR, TEACHER_COLOR, diverging_colormap, fmt, plain_axes
from .base import PanelBase, Table


class QtNeuronPanel(PanelBase):
    """Panel: student neurons (circles), teacher (stars), trajectories, for the selected run."""

    title = "Neurons"

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.layer_spin = QSpinBox()
        self.layer_spin.setMinimum(1)
        self.layer_spin.setToolTip("Hidden layer whose neurons are shown")
        self.axes_label = QLabel("Axes:")
        self.axes_combo = QComboBox()
        self.axes_combo.setToolTip("Which two directions of the incoming vectors are plotted")
        self.trajectory_check = QCheckBox("Trajectories")
        self.trajectory_check.setChecked(True)
        self.flip_check = QCheckBox("Sign-flipped representatives")
        self.flip_check.setToolTip("Draw neurons that match a teacher neuron with the opposite sign at (−w, −a)")
        self.layer_spin.valueChanged.connect(self._controls_changed)
        self.axes_combo.currentIndexChanged.connect(self._controls_changed)
        self.trajectory_check.toggled.connect(self._controls_changed)
        self.flip_check.toggled.connect(self._controls_changed)

        self.plot_widget = pg.GraphicsLayoutWidget()
        self.plot = self.plot_widget.addPlot()
        plain_axes(self.plot)  # no grid: its lines cost ~2 ms per axis and per run shown (thesis Fig 6.4 has none)
        self.plot.setAspectLocked(True)
        self.trajectory_item = pg.PlotCurveItem(pen=pg.mkPen("#888888", width=1.2), connect="finite")
        self.init_item = pg.ScatterPlotItem(symbol="o", size=5, pen=pg.mkPen("#666666"), brush=pg.mkBrush(None))
        self.teacher_item = pg.ScatterPlotItem(symbol="star", size=20, pen=pg.mkPen(TEACHER_COLOR, width=1.2),
                                               hoverable=True, tip=self._tip)
        self.student_item = pg.ScatterPlotItem(symbol="o", size=13, pen=pg.mkPen("#222222", width=1),
                                               hoverable=True, tip=self._tip)
        self.flipped_item = pg.ScatterPlotItem(symbol="s", size=12, pen=pg.mkPen("#222222", width=1.4),
                                               hoverable=True, tip=self._tip)
        # A run in a flat channel to infinity: its group's neurons ringed, their paths drawn in colour.
        self.channel_path_item = pg.PlotCurveItem(pen=pg.mkPen(SELECTION_COLOR, width=2), connect="finite")
        self.channel_item = pg.ScatterPlotItem(symbol="o", size=24, pen=pg.mkPen(SELECTION_COLOR, width=2.5),
                                               brush=pg.mkBrush(None))
        # Teacher stars above students, half transparent: a student sitting on its teacher stays visible.
        # A sign-flipped square lands on the teacher neuron it represents, so it goes above the star.
        for z, item in enumerate((self.trajectory_item, self.channel_path_item, self.init_item, self.student_item,
                                  self.channel_item, self.teacher_item, self.flipped_item)):
            item.setZValue(z)
            self.plot.addItem(item)
        # The legend sits below the plot, where it never hides a neuron, and lists only what is drawn.
        self.legend = pg.LegendItem(colCount=2, labelTextSize="9pt")
        self.plot_widget.addItem(self.legend, row=1, col=0, colspan=2)
        self._legend_samples = {
            "teacher": pg.ScatterPlotItem(symbol="star", size=15, pen=pg.mkPen(TEACHER_COLOR),
                                          brush=pg.mkBrush("#dddddd")),
            "student": pg.ScatterPlotItem(symbol="o", size=11, pen=pg.mkPen("#222222"), brush=pg.mkBrush("#dddddd")),
            "sign-flipped (−w, −a)": pg.ScatterPlotItem(symbol="s", size=11, pen=pg.mkPen("#222222"),
                                                         brush=pg.mkBrush("#dddddd")),
            "trajectory from init (○)": self.trajectory_item,
            "group running into a channel to ∞": self.channel_item}
        self._legend_shown: tuple[str, ...] = ()
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=diverging_colormap(), interactive=False,
                                        label="outgoing weight a", width=14, colorMapMenu=False)
        self.colorbar.setMinimumWidth(80)  # room for the tick labels however narrow the dock
        self.plot_widget.addItem(self.colorbar, row=0, col=1)

        self.message = QLabel()
        self.message.setStyleSheet("color: #666;")
        self.message.setWordWrap(True)  # a long note wraps instead of widening the dock
        controls = QtFlowLayout()
        self.layer_label = QLabel("Layer:")
        for w in (self.layer_label, self.layer_spin, self.axes_label, self.axes_combo, self.trajectory_check,
                  self.flip_check):
            controls.addWidget(w)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.message)
        self.set_content(content)
        self._pca: dict[int, np.ndarray] = {}
        self._levels: dict[int, tuple[float, float]] = {}
        self._data: dict = {}
        self.on_session_changed()

    # ---------------------------------------------------------------- session / controls
    def on_session_changed(self) -> None:
        self._pca.clear()
        self._levels.clear()
        spec = self.model.spec
        n_hidden = len(spec.hidden_widths) if spec is not None else 1
        for w in (self.layer_spin, self.axes_combo, self.flip_check):
            w.blockSignals(True)
        self.layer_spin.setMaximum(max(1, n_hidden))
        self.layer_spin.setValue(1)
        self.layer_spin.setVisible(n_hidden > 1)
        self.layer_label.setVisible(n_hidden > 1)
        self._fill_axes()
        can_flip = self._flip_possible()
        self.flip_check.setEnabled(can_flip)
        if not can_flip:
            self.flip_check.setChecked(False)
        for w in (self.layer_spin, self.axes_combo, self.flip_check):
            w.blockSignals(False)
        self.redraw()

    def on_current_changed(self, index: int) -> None:
        self.redraw()

    def _controls_changed(self, *args) -> None:
        if self.sender() is self.layer_spin:
            self.axes_combo.blockSignals(True)
            self._fill_axes()
            self.axes_combo.blockSignals(False)
        self.redraw()

    def _fill_axes(self) -> None:
        """Coordinate pairs of the incoming vector, plus PCA when it has more than two entries."""
        self.axes_combo.clear()
        if self.model.session is not None:
            choices, default = axis_choices(self.model.session, self.layer_spin.value())
            for label, choice in choices:
                self.axes_combo.addItem(label, choice)
            self.axes_combo.setCurrentIndex(default)
        self.axes_combo.setVisible(self.axes_combo.count() > 1)
        self.axes_label.setVisible(self.axes_combo.count() > 1)

    def _flip_possible(self) -> bool:
        s = self.model.session
        return s is not None and flip_possible(s)

    def projection(self) -> tuple[np.ndarray, tuple[str, str]]:
        """``(k, 2)`` matrix mapping incoming vectors to the plotted plane, and the axis labels."""
        layer = self.layer_spin.value()
        choice = self.axes_combo.currentData()
        if choice == "pca" and layer not in self._pca:
            self._pca[layer] = pca_basis(self.model.session, layer)
        return projection(self.model.session, layer, choice, self._pca.get(layer))

    # ---------------------------------------------------------------- drawing
    def neuron_data(self, i: int) -> dict:
        """What the plot shows for run ``i``, as plain arrays (also the CSV export's content): see
        :func:`lsexplorer.figures.neurons.neuron_data`."""
        basis, labels = self.projection()
        return neuron_data(self.model.session, i, self.layer_spin.value(), basis, labels,
                           self.flip_check.isChecked() and self.flip_check.isEnabled())

    def redraw(self) -> None:
        """Recompute the plotted arrays of the current run and hand them to the plot items."""
        s, i = self.model.session, self.model.current
        if s is None or i < 0:
            for item in (self.init_item, self.teacher_item, self.student_item, self.flipped_item, self.channel_item):
                item.setData(x=[], y=[])
            self.trajectory_item.setData([], [])
            self.channel_path_item.setData([], [])
            self._data = {}
            return
        d = self._data = self.neuron_data(i)
        teacher = d["teacher_v"] is not None
        lo, hi = self.colour_levels()
        self.colorbar.setLevels((lo, hi))
        bar_label = "outgoing weight a" if d["single_output"] else "‖outgoing weights‖"
        if self.colorbar.getAxis("left").labelText != bar_label:
            self.colorbar.getAxis("left").setLabel(bar_label)
        cmap = self.colorbar.colorMap()

        def brushes(values: np.ndarray, alpha: int = 255) -> list:
            t = np.clip((np.asarray(values) - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
            colors = cmap.map(np.nan_to_num(t, nan=0.5), mode="qcolor")
            for color in colors:
                color.setAlpha(alpha)
            return [pg.mkBrush(color) for color in colors]

        names, xy, flipped = d["names"], d["xy"], d["flipped"]
        tips = [self._neuron_text(f"student neuron {j + 1}" + (" (sign-flipped: −w, −a)" if flipped[j] else ""),
                                  d["v"][j], names, d["value"][j]) for j in range(len(xy))]
        brush = brushes(d["value"])
        for item, rows in ((self.student_item, ~flipped), (self.flipped_item, flipped)):
            item.setData(x=xy[rows, 0], y=xy[rows, 1], brush=[b for b, r in zip(brush, rows) if r],
                         data=[t for t, r in zip(tips, rows) if r])
        if teacher:
            txy = d["teacher_xy"]
            ttips = [self._neuron_text(f"teacher neuron {t + 1}", d["teacher_v"][t], names, d["teacher_value"][t])
                     for t in range(len(txy))]
            self.teacher_item.setData(x=txy[:, 0], y=txy[:, 1], brush=brushes(d["teacher_value"], 150), data=ttips)
        else:
            self.teacher_item.setData(x=[], y=[])
        if self.trajectory_check.isChecked():
            pxy = d["path"]
            lines = path_lines(pxy)  # one NaN-separated line per neuron
            self.trajectory_item.setData(lines[:, 0], lines[:, 1])
            self.init_item.setData(x=pxy[0, :, 0], y=pxy[0, :, 1])
        else:
            self.trajectory_item.setData([], [])
            self.init_item.setData(x=[], y=[])
        group = channel_group(s, i, len(xy), self.layer_spin.value())
        self.channel_item.setData(x=xy[group, 0], y=xy[group, 1])
        if group.size and self.trajectory_check.isChecked():
            lines = path_lines(d["path"][:, group])
            self.channel_path_item.setData(lines[:, 0], lines[:, 1])
        else:
            self.channel_path_item.setData([], [])
        for side, text in zip(("bottom", "left"), d["labels"]):
            if self.plot.getAxis(side).labelText != text:  # a new label re-lays out the plot
                self.plot.setLabel(side, text)
        self.plot.setTitle(f"seed {int(s.runs.seed[i])} — {kind_label(s.runs.kind[i])}", size="10pt")
        self.plot.enableAutoRange()
        self.message.setText(self._note(i, flipped))
        self._show_legend(("teacher",) * teacher + ("student",) * bool((~flipped).any())
                          + ("sign-flipped (−w, −a)",) * bool(flipped.any())
                          + ("trajectory from init (○)",) * self.trajectory_check.isChecked()
                          + ("group running into a channel to ∞",) * bool(group.size))

    def _show_legend(self, names: tuple[str, ...]) -> None:
        if names != self._legend_shown:
            self.legend.clear()
            for name in names:
                self.legend.addItem(self._legend_samples[name], name)
            self._legend_shown = names

    def colour_levels(self) -> tuple[float, float]:
        """The colour bar's range for the shown layer, the same for every run of the session
        (:func:`lsexplorer.figures.neurons.colour_levels`)."""
        layer = self.layer_spin.value()
        if layer not in self._levels:
            self._levels[layer] = colour_levels(self.model.session, layer)
        return self._levels[layer]

    def _note(self, i: int, flipped: np.ndarray) -> str:
        r = self.model.session.runs
        parts = [f"loss {fmt(r.loss[i], 4)}", f"‖∇L‖ {fmt(r.grad_norm[i], 2)}", f"λ_min {fmt(r.lambda_min[i], 3)}"]
        if r.trajectory is None:
            parts.append("no stored trajectory: lines join init, end of training and refined point")
        if flipped.any():
            parts.append(f"{int(flipped.sum())} neuron(s) drawn sign-flipped (squares)")
        return " · ".join(parts)

    @staticmethod
    def _neuron_text(title: str, v: np.ndarray, names: list[str], value: float) -> str:
        coords = ", ".join(f"{n} = {fmt(x, 5)}" for n, x in zip(names, v))
        return f"{title}\n{coords}\noutgoing {fmt(value, 5)}"

    @staticmethod
    def _tip(x: float, y: float, data) -> str:
        return str(data) if data is not None else f"({fmt(x)}, {fmt(y)})"

    # ---------------------------------------------------------------- export
    def figure_options(self) -> FigureOptions:
        """Whether sign-flipped neurons are drawn at (−w, −a), as on screen."""
        return FigureOptions(flip=self.flip_check.isChecked() and self.flip_check.isEnabled())

    def figures(self) -> dict[str, QWidget]:
        return {"neurons": self.plot_widget}

    def tables(self) -> dict[str, Table]:
        d = self._data
        if not d:
            return {}
        names = d["names"]
        cols = ["role", "neuron", "x", "y", "outgoing", "sign_flipped"] + names
        rows = [["student", j + 1, *d["xy"][j], d["value"][j], bool(d["flipped"][j]), *d["v"][j]]
                for j in range(len(d["xy"]))]
        if d["teacher_v"] is not None:
            rows += [["teacher", t + 1, *d["teacher_xy"][t], d["teacher_value"][t], False, *d["teacher_v"][t]]
                     for t in range(len(d["teacher_v"]))]
        path = d["path"]
        traj = [[j + 1, k, *path[k, j]] for j in range(path.shape[1]) for k in range(path.shape[0])]
        return {"neurons": Table(cols, rows), "neuron_trajectories": Table(["neuron", "step", "x", "y"], traj)}
