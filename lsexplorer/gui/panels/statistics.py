"""Statistics panel: the outcome table (thesis Table 6.1), λ_min versus loss (Fig 6.3), the
nearest-neuron-distance histogram (Fig 6.7) and the closest-saddle-distance histogram (Fig 6.9).

The scatter plots one point per run, coloured by kind, on log axes: the loss spans 1e-32 (global
minima) to 1e-3, the smallest eigenvalue 1e-16 to 1e-2. On the log axis the modulus ``|λ_min|`` is
plotted and negative values (saddles) are drawn as downward triangles; the linear option shows the
signed value. Zero losses or eigenvalues, which a log axis cannot show, are placed one decade below
the smallest positive value and said so. Clicking a point selects its run; the selected run is
ringed. The histogram counts, for the runs of a chosen kind, the distance between the two closest
incoming vectors (``symmetry.nearest_neuron_pair``); the selected run's value is a vertical line.
The saddle-distance histogram counts ``/analyses/closest_saddle/summary/distance`` in log10 bins
(distances span 1e-16 for symmetry-induced minima to 1e2 where the narrower point did not converge),
optionally only the runs whose narrower point converged.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QHeaderView,
    QLabel,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.analyses import closest_saddle
from ...core.base.kinds import KINDS
from ...figures.statistics import (
    BINS,
    MIXED_COLOR,
    default_nearest_choice,
    log_positions,
    nearest_choices,
    nearest_color,
    nearest_histogram,
    nearest_values,
    saddle_distances,
    saddle_histogram,
)
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..style import (
    KIND_COLORS,
    KIND_LABELS,
    KIND_PLURALS,
    SELECTION_COLOR,
    LogAxis,
    fmt,
    legend_below,
    plain_axes,
)
from .base import PanelBase, Table
from .run_table import IRREDUCIBLE, symmetry_types, type_label

#: Smallest height of a plot here, and the panel width from which the two histograms sit side by side.
PLOT_MIN_HEIGHT = 150
SIDE_BY_SIDE_FROM = 640


def _boxed(controls: list[QWidget], plot: QWidget, footer: QWidget | None = None) -> QWidget:
    """A row of controls above a plot (and an optional note below it)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    row = QtFlowLayout()
    for w in controls:
        row.addWidget(w)
    layout.addLayout(row)
    plot.setMinimumHeight(PLOT_MIN_HEIGHT)  # the dock scrolls rather than squash a plot's labels
    layout.addWidget(plot, 1)
    if footer is not None:
        if isinstance(footer, QLabel):
            footer.setWordWrap(True)  # a long note wraps instead of widening the dock
        layout.addWidget(footer)
    return box


class QtStatisticsPanel(PanelBase):
    """Panel: outcome counts, λ_min vs loss scatter (clickable) and nearest-neuron distances."""

    title = "Statistics"

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.histogram: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(1))
        self._positions: tuple[np.ndarray, np.ndarray] | None = None
        content = QSplitter(Qt.Orientation.Vertical)
        content.addWidget(self._build_outcome_table())
        content.addWidget(self._build_scatter())
        self.histograms = histograms = QSplitter(Qt.Orientation.Horizontal)
        histograms.addWidget(self._build_histogram())
        histograms.addWidget(self._build_saddle_histogram())
        content.addWidget(histograms)
        content.setStretchFactor(1, 3)
        content.setStretchFactor(2, 2)
        content.setSizes([self.outcome_table.maximumHeight(), 420, 300])
        model.analysis.finished.connect(lambda *_: self._draw_saddle_histogram())
        self.set_content(content)
        model.runsChanged.connect(self.on_session_changed)
        self.on_session_changed()

    def _build_outcome_table(self) -> QWidget:
        """Table 6.1: one row per kind and a total; columns count, symmetry-induced, other."""
        table = self.outcome_table = QTableWidget(len(KINDS) + 1, 3)
        table.setHorizontalHeaderLabels(["Count", "Symmetry-\ninduced", "Other"])  # two lines: fits a narrow dock
        table.setVerticalHeaderLabels([KIND_PLURALS[k] for k in KINDS] + ["Total"])
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setDefaultSectionSize(22)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setFixedHeight(table.horizontalHeader().sizeHint().height() + 22 * (len(KINDS) + 1) + 6)
        # the symmetry types below it, one row each: a column of them would not fit a narrow dock
        types = self.type_table = QTableWidget(0, 2)
        types.setHorizontalHeaderLabels(["Runs", "Of which"])
        types.horizontalHeaderItem(0).setToolTip("Analysed runs of this symmetry type (closest-saddle analysis)")
        types.horizontalHeaderItem(1).setToolTip("Their kinds")
        types.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        types.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        types.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        types.verticalHeader().setDefaultSectionSize(22)
        types.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        types.setFixedHeight(types.horizontalHeader().sizeHint().height() + 6)  # no rows until a session has types
        types.hide()
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(table)
        layout.addWidget(types)
        return box

    def _build_scatter(self) -> QWidget:
        """Fig 6.3: one clickable point per run and kind, the selected run ringed."""
        self.scatter_widget = pg.PlotWidget(axisItems={"bottom": LogAxis("bottom"), "left": LogAxis("left")})
        self.scatter_plot = self.scatter_widget.getPlotItem()
        plain_axes(self.scatter_plot)
        self.scatter_plot.showGrid(x=True, y=True, alpha=0.2)
        legend_below(self.scatter_plot, beside=True)
        self.kind_items: dict[str, pg.ScatterPlotItem] = {}
        for kind in KINDS:
            item = pg.ScatterPlotItem(size=8, pen=pg.mkPen("#333333", width=0.5), brush=pg.mkBrush(KIND_COLORS[kind]),
                                      hoverable=True, tip=self._tip)
            item.sigClicked.connect(self._points_clicked)
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # the ring moves, points stay
            self.scatter_plot.addItem(item)
            self.kind_items[kind] = item
        self.selected_item = pg.ScatterPlotItem(size=18, pen=pg.mkPen(SELECTION_COLOR, width=2.5),
                                                brush=pg.mkBrush(None))
        self.scatter_plot.addItem(self.selected_item)
        self.y_mode = QComboBox()
        self.y_mode.addItem("|λ_min|, log axis", "log")
        self.y_mode.addItem("λ_min, linear axis", "linear")
        self.y_mode.currentIndexChanged.connect(self._draw_scatter)
        self.scatter_note = QLabel()
        self.scatter_note.setStyleSheet("color: #666;")
        return _boxed([QLabel("Smallest eigenvalue vs loss:"), self.y_mode], self.scatter_widget, self.scatter_note)

    def _build_histogram(self) -> QWidget:
        """Fig 6.7: nearest-neuron distances of the runs of one kind, the selected run marked."""
        self.hist_widget = pg.PlotWidget()
        self.hist_plot = self.hist_widget.getPlotItem()
        plain_axes(self.hist_plot)
        self.hist_plot.showGrid(x=False, y=True, alpha=0.2)
        self.hist_plot.setLabel("bottom", "min ‖w_i − w_j‖")
        self.hist_plot.setLabel("left", "runs")
        self.hist_item = pg.PlotDataItem(stepMode="center", fillLevel=0, pen=pg.mkPen("#333333"),
                                         brush=pg.mkBrush(KIND_COLORS["local_min"]))
        self.hist_plot.addItem(self.hist_item)
        self.hist_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(SELECTION_COLOR, width=2), label="selected run",
                                           labelOpts={"position": 0.92, "color": SELECTION_COLOR})
        self.hist_plot.addItem(self.hist_marker)
        self.hist_kind = QComboBox()
        self.hist_kind.currentIndexChanged.connect(self._draw_histogram)
        self.bins_spin = QSpinBox()
        self.bins_spin.setRange(2, 500)
        self.bins_spin.setValue(BINS)
        self.bins_spin.valueChanged.connect(self._draw_histogram)
        self.layer_spin = QSpinBox()
        self.layer_spin.setMinimum(1)
        self.layer_spin.valueChanged.connect(self._draw_histogram)
        self.layer_label = QLabel("layer")
        return _boxed([QLabel("Nearest neurons:"), self.hist_kind, QLabel("bins"), self.bins_spin,
                       self.layer_label, self.layer_spin], self.hist_widget)

    def _build_saddle_histogram(self) -> QWidget:
        """Fig 6.9: distance from each analysed local minimum to its closest saddle, log10 bins."""
        self.saddle_hist: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(1))
        self.saddle_widget = pg.PlotWidget(axisItems={"bottom": LogAxis("bottom")})
        self.saddle_plot = self.saddle_widget.getPlotItem()
        plain_axes(self.saddle_plot)
        self.saddle_plot.setLogMode(x=True, y=False)
        self.saddle_plot.showGrid(x=True, y=True, alpha=0.2)
        self.saddle_plot.setLabel("bottom", "‖θ(μ*) − θ_min‖")
        self.saddle_plot.setLabel("left", "runs")
        self.saddle_item = pg.PlotDataItem(stepMode="center", fillLevel=0, pen=pg.mkPen("#333333"),
                                           brush=pg.mkBrush(MIXED_COLOR))  # analysed runs of every kind
        self.saddle_plot.addItem(self.saddle_item)
        self.saddle_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(SELECTION_COLOR, width=2), label="selected run",
                                             labelOpts={"position": 0.92, "color": SELECTION_COLOR})
        self.saddle_plot.addItem(self.saddle_marker)
        self.saddle_converged = QComboBox()
        self.saddle_converged.addItem("all analysed runs", False)
        self.saddle_converged.addItem("converged narrower only", True)
        self.saddle_converged.currentIndexChanged.connect(self._draw_saddle_histogram)
        for combo in (self.saddle_converged, self.hist_kind):  # two histograms side by side: stay narrow
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        self.saddle_bins = QSpinBox()
        self.saddle_bins.setRange(2, 500)
        self.saddle_bins.setValue(BINS)
        self.saddle_bins.valueChanged.connect(self._draw_saddle_histogram)
        self.saddle_note = QLabel()
        self.saddle_note.setStyleSheet("color: #666;")
        return _boxed([QLabel("Saddle distance:"), self.saddle_converged, QLabel("bins"), self.saddle_bins],
                      self.saddle_widget, self.saddle_note)

    def saddle_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, distances)`` the Fig 6.9 histogram counts (finite, filtered; polished points sit at 0)."""
        return saddle_distances(self.model.session, bool(self.saddle_converged.currentData()))

    def _draw_saddle_histogram(self) -> None:
        counts, edges = self.saddle_hist = saddle_histogram(self.saddle_distances()[1], self.saddle_bins.value())
        # The axis is in log mode, which takes log10 of the data itself: hand it the bin edges' distances.
        self.saddle_item.setData(10.0 ** edges if counts.size else [], counts)
        s = self.model.session
        analysed = closest_saddle.read_table(s) is not None
        self.saddle_plot.setTitle(f"{int(counts.sum())} runs" if analysed else "no closest saddles in this session",
                                  size="9pt")
        self.saddle_note.setText("" if analysed else "lsexplorer analyze SESSION (or the Saddle line panel's "
                                 "Compute) finds them")
        self._mark_saddle()
        self.saddle_plot.enableAutoRange()

    def _mark_saddle(self) -> None:
        rows, d = self.saddle_distances()
        hit = np.flatnonzero(rows == self.model.current)
        if hit.size:
            self.saddle_marker.setValue(log_positions(d)[0][hit[0]])
            self.saddle_marker.show()
        else:
            self.saddle_marker.hide()

    # ---------------------------------------------------------------- model -> view
    def resizeEvent(self, event) -> None:
        """The two histograms side by side in a wide dock, one above the other in a narrow one."""
        side_by_side = sum(self.histograms.widget(i).minimumSizeHint().width() for i in range(2))
        wide = event.size().width() >= max(SIDE_BY_SIDE_FROM, side_by_side + 20)
        self.histograms.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        super().resizeEvent(event)

    def on_session_changed(self) -> None:
        s = self.model.session
        spec = self.model.spec
        n_hidden = len(spec.hidden_widths) if spec is not None else 1
        self.layer_spin.blockSignals(True)
        self.layer_spin.setMaximum(max(1, n_hidden))
        self.layer_spin.setValue(1)
        self.layer_spin.blockSignals(False)
        self.layer_spin.setVisible(n_hidden > 1)
        self.layer_label.setVisible(n_hidden > 1)
        self.hist_kind.blockSignals(True)
        self.hist_kind.clear()
        for label, choice in nearest_choices():
            self.hist_kind.addItem(label, choice)
        if s is not None:
            self.hist_kind.setCurrentIndex(self.hist_kind.findData(default_nearest_choice(s)))
        self.hist_kind.blockSignals(False)
        self._fill_outcomes()
        self._draw_scatter()
        self._draw_histogram()
        self._draw_saddle_histogram()

    def on_current_changed(self, index: int) -> None:
        self._mark_current()
        self._mark_saddle()

    def _fill_outcomes(self) -> None:
        s = self.model.session
        counts = s.outcome_counts() if s is not None else {"runs": 0}
        for row, kind in enumerate(KINDS):
            n = counts.get(kind, 0)
            sym = int(np.count_nonzero((s.runs.kind == kind) & s.runs.symmetry_induced)) if s is not None else 0
            self._set_cell(row, (n, sym, n - sym))
        sym_all = counts.get("symmetry_induced", 0)
        self._set_cell(len(KINDS), (counts["runs"], sym_all, counts["runs"] - sym_all))
        self._fill_types()

    def _set_cell(self, row: int, values) -> None:
        for col, value in enumerate(values):
            item = QTableWidgetItem(str(value))
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.outcome_table.setItem(row, col, item)

    def type_rows(self) -> list[tuple[str, int, dict[str, int]]]:
        """``(symmetry type, runs, {kind: runs})`` of the analysed runs, most frequent first."""
        s = self.model.session
        if s is None:
            return []
        kinds = {}
        for kind, found in zip(s.runs.kind, symmetry_types(s)):
            if found:
                kinds.setdefault(found, {}).setdefault(str(kind), 0)
                kinds[found][str(kind)] += 1
        rows = [(found, sum(by_kind.values()), by_kind) for found, by_kind in kinds.items()]
        return sorted(rows, key=lambda row: (row[0] == IRREDUCIBLE, -row[1], row[0]))

    def _fill_types(self) -> None:
        rows = self.type_rows()
        table = self.type_table
        table.setRowCount(len(rows))
        table.setVerticalHeaderLabels([type_label(found) for found, _, _ in rows])
        for row, (found, n, by_kind) in enumerate(rows):
            count = QTableWidgetItem(str(n))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(row, 0, count)
            table.setItem(row, 1, QTableWidgetItem(", ".join(f"{k} {KIND_PLURALS.get(kind, kind).lower()}"
                                                             for kind, k in by_kind.items())))
            table.verticalHeaderItem(row).setToolTip(found.replace("+", " + "))
        table.setVisible(bool(rows))
        table.setFixedHeight(table.horizontalHeader().sizeHint().height() + 22 * len(rows) + 6)

    def _draw_scatter(self) -> None:
        s = self.model.session
        log_y = self.y_mode.currentData() == "log"
        self.scatter_plot.setLogMode(x=True, y=log_y)
        self.scatter_plot.setLabel("bottom", "loss")
        self.scatter_plot.setLabel("left", "|λ_min|" if log_y else "λ_min")
        notes = []
        if s is None:
            for item in self.kind_items.values():
                item.setData(x=[], y=[])
            self.scatter_note.setText("")
            self._mark_current()
            return
        r = s.runs
        finite = np.isfinite(r.loss) & np.isfinite(r.lambda_min)
        x, zero_loss = log_positions(r.loss)
        if log_y:
            y, zero_eig = log_positions(np.abs(r.lambda_min))
        else:
            y, zero_eig = r.lambda_min.astype(float), False
        self.scatter_plot.legend.clear()
        for kind, item in self.kind_items.items():
            rows = np.flatnonzero(finite & (r.kind == kind))
            symbols = ["t" if (log_y and r.lambda_min[i] < 0) else "o" for i in rows]
            item.setData(x=x[rows], y=y[rows], data=rows, symbol=symbols)
            if rows.size:
                self.scatter_plot.legend.addItem(item, f"{KIND_LABELS[kind]} ({rows.size})")
        if zero_loss:
            notes.append("zero losses are drawn one decade below the smallest positive loss")
        if zero_eig:
            notes.append("λ_min = 0 drawn one decade below the smallest |λ_min|")
        if log_y and np.any(r.lambda_min[finite] < 0):
            notes.append("▼ negative λ_min")
        if (~finite).any():
            notes.append(f"{int((~finite).sum())} run(s) without finite loss/λ_min not shown")
        self.scatter_note.setText(" · ".join(notes))
        self._positions = (x, y)
        self._mark_current()
        self.scatter_plot.enableAutoRange()

    def _mark_current(self) -> None:
        s, i = self.model.session, self.model.current
        pos = self._positions
        if s is None or i < 0 or pos is None or not (np.isfinite(pos[0][i]) and np.isfinite(pos[1][i])):
            self.selected_item.setData(x=[], y=[])
        else:
            self.selected_item.setData(x=[pos[0][i]], y=[pos[1][i]])
        d = self.model.nearest_neuron_distances(self.layer_spin.value()) if s is not None else None
        if d is not None and i >= 0 and np.isfinite(d[i]):
            self.hist_marker.setValue(d[i])
            self.hist_marker.show()
        else:
            self.hist_marker.hide()

    def histogram_values(self) -> np.ndarray:
        """The distances the histogram counts: finite values of the runs of the chosen kind."""
        s = self.model.session
        if s is None or self.model.spec.widths[self.layer_spin.value()] < 2:
            return np.zeros(0)
        d = self.model.nearest_neuron_distances(self.layer_spin.value())
        return nearest_values(s, d, self.hist_kind.currentData())

    def _draw_histogram(self) -> None:
        values = self.histogram_values()
        counts, edges = self.histogram = nearest_histogram(values, self.bins_spin.value())
        self.hist_item.setBrush(pg.mkBrush(nearest_color(self.hist_kind.currentData())))
        self.hist_item.setData(edges if counts.size else [], counts)
        self.hist_plot.setTitle(f"{values.size} runs", size="9pt")
        self._mark_current()
        self.hist_plot.enableAutoRange()

    # ---------------------------------------------------------------- view -> model
    def _points_clicked(self, item, points, ev) -> None:
        if len(points):
            self.model.select(int(points[0].data()))

    def _tip(self, x: float, y: float, data) -> str:
        r = self.model.session.runs
        i = int(data)
        return (f"seed {int(r.seed[i])} ({KIND_LABELS.get(str(r.kind[i]), r.kind[i])})\n"
                f"loss {fmt(r.loss[i], 5)}\nλ_min {fmt(r.lambda_min[i], 5)}\nclick to select")

    # ---------------------------------------------------------------- export
    def figures(self) -> dict[str, QWidget]:
        return {"lambda_min_vs_loss": self.scatter_widget, "nearest_neuron_distance": self.hist_widget,
                "saddle_distance": self.saddle_widget}

    def tables(self) -> dict[str, Table]:
        s = self.model.session
        if s is None:
            return {}
        r = s.runs
        scatter = [[int(r.seed[i]), str(r.kind[i]), r.loss[i], r.lambda_min[i]] for i in range(r.n_runs)]
        counts, edges = self.histogram
        hist = [[edges[k], edges[k + 1], int(counts[k])] for k in range(len(counts))]
        outcome = []
        for row in range(self.outcome_table.rowCount()):
            label = self.outcome_table.verticalHeaderItem(row).text()
            outcome.append([label] + [int(self.outcome_table.item(row, c).text()) for c in range(3)])
        return {"lambda_min_vs_loss": Table(["seed", "kind", "loss", "lambda_min"], scatter),
                "nearest_neuron_distance": Table(["bin_start", "bin_end", "count"], hist),
                "outcomes": Table(["outcome", "count", "symmetry_induced", "other"], outcome),
                "symmetry_types": Table(["symmetry_type", "runs", "kinds"],
                                        [[found, n, "; ".join(f"{kind} {k}" for kind, k in by_kind.items())]
                                         for found, n, by_kind in self.type_rows()]),
                "saddle_distance": Table(["log10_bin_start", "log10_bin_end", "count"],
                                         [[e0, e1, int(n)] for e0, e1, n in zip(self.saddle_hist[1][:-1],
                                                                                  self.saddle_hist[1][1:],
                                                                                  self.saddle_hist[0])])}
