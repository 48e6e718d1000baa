"""The Sweep view: outcome fractions against width, with binomial 95 % intervals, for a sweep folder.

One window per opened sweep. The plot shows, per outcome group (global, local, channel where the
sessions have it, saddle, not converged, any other stored kind), the fraction of seeds at each
width with its Wilson 95 % interval; the table below lists the same numbers. Clicking a width
(a plotted point or a table row) asks the main window to open that width's session. Figures and
their data export like every panel's (:mod:`lsexplorer.gui.export`).

The folder is read on a :class:`~lsexplorer.gui.workers.Worker` thread; only the kind strings of
each session are read, so this stays fast for thousands of seeds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.base.errors import InputError
from ..core.sweep.outcomes import SweepOutcomes, read_sweep_outcomes
from ..figures.files import IMAGE_FORMATS, write_figure
from ..figures.style import PaperStyle
from ..figures.sweep import group_color, outcome_fractions
from .export import ExportError, write_csv
from .figure_export import replace_context_export
from .figure_export_dialog import QtFigureExportDialog
from .panels.base import Table
from .style import legend_below, plain_axes
from .workers import Worker

#: pyqtgraph symbols of the outcome groups (the paper figure's matplotlib markers are in figures.sweep).
GROUP_SYMBOLS = {"global": "o", "local": "s", "channel": "t", "saddle": "d", "not converged": "x"}


class QtSweepView(QWidget):
    """A sweep folder's over-parameterization curve and table; ``openSession(path)`` on a click."""

    openSession = Signal(str)
    loaded = Signal()
    failed = Signal(str)

    title = "Sweep"

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        #: Where the export dialog remembers its size on paper (the main window's settings when opened there).
        self.settings = settings if settings is not None else QSettings()
        self.figure_box: QtFigureExportDialog | None = None
        self.outcomes: SweepOutcomes | None = None
        self.folder: Path | None = None
        self._worker: Worker | None = None
        self.resize(1100, 760)
        self.setWindowTitle("Sweep — lsexplorer")

        self.header = QLabel("No sweep open.")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lr_label = QLabel("Learning rate:")
        self.lr_choice = QComboBox()
        self.lr_choice.currentIndexChanged.connect(self._redraw)
        self.open_button = QPushButton("Open session in main window")
        self.open_button.setToolTip("Open the session of the selected width (or click a width in the plot)")
        self.open_button.clicked.connect(self._open_selected)
        self.export_button = QPushButton("Export figure…")
        self.export_button.clicked.connect(self.export_figure_dialog)
        self.export_data_button = QPushButton("Export data…")
        self.export_data_button.clicked.connect(self.export_data_dialog)

        self.plot = pg.PlotWidget()
        replace_context_export(self.plot, self.export_figure_dialog)
        item = self.plot.getPlotItem()
        plain_axes(item)
        item.showGrid(x=False, y=True, alpha=0.25)
        item.setLabel("bottom", "hidden width (neurons)")
        item.setLabel("left", "fraction of seeds (95 % Wilson interval)")
        item.setYRange(0.0, 1.0, padding=0.02)
        item.setMouseEnabled(x=False, y=False)
        self.legend = legend_below(item, columns=5, text_size="9pt")  # under the axis: never on the data

        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.cellDoubleClicked.connect(lambda row, _col: self._open_row(row))

        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.lr_label)
        top.addWidget(self.lr_choice)
        top.addWidget(self.open_button)
        top.addWidget(self.export_button)
        top.addWidget(self.export_data_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        split.addWidget(self.table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._set_lr_choices([])

    # ------------------------------------------------------------------ loading
    def open_folder(self, folder: str | Path) -> Worker:
        """Read ``folder`` in the background; ``loaded`` or ``failed(message)`` follows."""
        self.folder = Path(folder)
        self.header.setText(f"Reading {self.folder}…")
        worker = Worker(read_sweep_outcomes, self.folder)
        worker.returned.connect(self.set_outcomes)
        worker.errored.connect(lambda exc: self._failed(exc))
        self._worker = worker
        worker.start()
        return worker

    def _failed(self, exc: BaseException) -> None:
        self.header.setText(f"Cannot open {self.folder}: {exc}")
        self.failed.emit(str(exc))

    @Slot(object)
    def set_outcomes(self, outcomes: SweepOutcomes) -> None:
        """Show ``outcomes`` (the folder's points and their counts)."""
        self.outcomes = outcomes
        self.folder = outcomes.folder
        cfg = outcomes.config
        train = cfg.get("train", {})
        seeds = {p.n_asked for p in outcomes.points}
        done = sum(p.n_done for p in outcomes.points)
        asked = sum(p.n_asked for p in outcomes.points)
        unfinished = [p.name for p in outcomes.points if not p.complete]
        self.header.setText(
            f"<b>{outcomes.folder.name}</b> — {cfg.get('preset', '?')} preset, widths "
            f"{', '.join(str(w) for w in sorted({p.width for p in outcomes.points}))}, "
            f"{'/'.join(map(str, sorted(seeds)))} seeds each, {train.get('optimizer', '?')} "
            f"{train.get('epochs', '?')} epochs; {done} of {asked} seeds done"
            + (f" (unfinished: {', '.join(unfinished)})" if unfinished else "")
            + ". Click a point, or double-click a row, to open that width's session.")
        self.setWindowTitle(f"Sweep {outcomes.folder} — lsexplorer")
        self._set_lr_choices(sorted({p.lr for p in outcomes.points}))
        self._redraw()
        self.loaded.emit()

    def _set_lr_choices(self, lrs: list[float]) -> None:
        self.lr_choice.blockSignals(True)
        self.lr_choice.clear()
        for lr in lrs:
            self.lr_choice.addItem(f"{lr:g}", lr)
        self.lr_choice.blockSignals(False)
        several = len(lrs) > 1
        self.lr_label.setVisible(several)
        self.lr_choice.setVisible(several)

    def shown_points(self) -> list:
        """The points of the chosen learning rate, by width."""
        if self.outcomes is None:
            return []
        lr = self.lr_choice.currentData()
        points = [p for p in self.outcomes.points if lr is None or p.lr == lr]
        return sorted(points, key=lambda p: p.width)

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        self.legend.clear()
        points = self.shown_points()
        if not points:
            self._fill_table([])
            return
        groups = self.outcomes.groups
        widths = np.array([p.width for p in points], dtype=float)
        step = np.min(np.diff(widths)) if len(widths) > 1 else 1.0
        offsets = (np.arange(len(groups)) - (len(groups) - 1) / 2) * 0.06 * step
        for gi, group in enumerate(groups):
            frac = np.array([p.fraction(group) for p in points])  # (n, 3): fraction, low, high
            ok = ~np.isnan(frac[:, 0])
            if not ok.any():
                continue
            color = group_color(group, gi)
            x = widths[ok] + offsets[gi]
            y, lo, hi = frac[ok, 0], frac[ok, 1], frac[ok, 2]
            item.addItem(pg.ErrorBarItem(x=x, y=y, top=hi - y, bottom=y - lo, beam=0.04 * step,
                                         pen=pg.mkPen(color, width=1.5)))
            curve = pg.PlotDataItem(x, y, pen=pg.mkPen(color, width=2), symbol=GROUP_SYMBOLS.get(group, "h"),
                                    symbolSize=9, symbolBrush=color, symbolPen=pg.mkPen(color), name=group)
            curve.setData(x, y, data=[p.name for p, keep in zip(points, ok) if keep])
            curve.sigPointsClicked.connect(self._points_clicked)
            item.addItem(curve)
        item.getAxis("bottom").setTicks([[(w, str(int(w))) for w in widths]])
        item.setXRange(widths.min() - 0.5 * step, widths.max() + 0.5 * step, padding=0)
        item.setYRange(0.0, 1.0, padding=0.02)
        self._fill_table(points)

    def _fill_table(self, points: list) -> None:
        groups = self.outcomes.groups if self.outcomes else []
        headers = ["width", "lr", "seeds"] + groups
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(points))
        for row, p in enumerate(points):
            cells = [str(p.width), f"{p.lr:g}", f"{p.n_done}/{p.n_asked}"]
            for g in groups:
                f, lo, hi = p.fraction(g)
                n = p.groups().get(g, 0)
                cells.append("—" if math.isnan(f) else f"{f:.3f}  [{lo:.3f}, {hi:.3f}]  ({n})")
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setTextAlignment((Qt.AlignmentFlag.AlignRight if col < 3 else Qt.AlignmentFlag.AlignHCenter)
                                      | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, cell)
        header = self.table.horizontalHeader()
        for col in range(len(headers)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents if col < 3
                                        else QHeaderView.ResizeMode.Stretch)
        # Room for every row up to eight without scrolling; the plot takes the rest.
        shown = min(max(len(points), 1), 8)
        self.table.setMinimumHeight(header.sizeHint().height() + shown * self.table.verticalHeader()
                                    .defaultSectionSize() + 2 * self.table.frameWidth() + 2)

    # ------------------------------------------------------------------ opening a width
    def _points_clicked(self, curve, spots, *_args) -> None:
        if len(spots):
            name = spots[0].data()
            self.open_point(name)

    def _open_row(self, row: int) -> None:
        points = self.shown_points()
        if 0 <= row < len(points):
            self.open_point(points[row].name)

    def _open_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        self._open_row(rows[0].row() if rows else 0)

    def open_point(self, name: str) -> None:
        """Ask (``openSession``) for point ``name``'s session; says why in the header when it is not written yet."""
        point = next((p for p in self.shown_points() if p.name == name), None)
        if point is None:
            return
        if not point.session.exists():
            self.header.setText(f"{point.name}: its session is not assembled yet ({point.n_done} of "
                                f"{point.n_asked} seeds done); run the sweep command again to finish it")
            return
        self.openSession.emit(str(point.session))

    # ------------------------------------------------------------------ export
    def ask_save_path(self, caption: str, suggested: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, caption, suggested, file_filter)
        return path or None

    def _suggested(self, name: str) -> str:
        return str((self.folder or Path.home()) / name)

    def export_figure_dialog(self) -> QtFigureExportDialog:
        """The (non-blocking) dialog for where, the size on paper, the style and the formats, shared with
        the main window's figures; accepting it writes the paper figure of the learning rate shown."""
        self.figure_box = box = QtFigureExportDialog(
            self, Path(self._suggested("sweep_outcome_fractions")), self.settings,
            lambda current: self.ask_save_path("Export figure", current, "Figure name (*)"))
        box.accepted.connect(lambda: self.export_figure(box.path, box.style, box.formats))
        box.open()
        return box

    def export_figure(self, path: str | Path, style: PaperStyle | None = None,
                      formats: tuple[str, ...] = IMAGE_FORMATS) -> list[Path]:
        """Write the outcome-fractions figure as ``path.<format>``, ``path.csv`` and ``path.py`` in ``style``
        (default one journal column); the files, or none and a message saying why."""
        path = Path(path)
        if path.suffix.lower() in {f".{f}" for f in IMAGE_FORMATS} | {".csv", ".py"}:
            path = path.with_suffix("")
        try:
            if self.outcomes is None:
                raise InputError("no sweep is open")
            plot = outcome_fractions(self.outcomes, self.lr_choice.currentData())
            return write_figure(plot, path.parent, style or PaperStyle(), formats, name=path.name)
        except InputError as exc:
            self.header.setText(f"Cannot export the figure: {exc}")
            return []

    def export_data_dialog(self) -> None:
        path = self.ask_save_path("Export data", self._suggested("outcome_fractions.csv"), "CSV (*.csv)")
        if path:
            self.export_data(path)

    def export_data(self, path: str | Path) -> Path | None:
        """Write the table behind the plot to ``path`` as CSV; None and a message on failure."""
        path = Path(path) if Path(path).suffix else Path(str(path) + ".csv")
        table = self.tables()["outcome_fractions"]
        try:
            return write_csv(path, table.columns, table.rows)
        except ExportError as exc:
            self.header.setText(f"Cannot export the data: {exc}")
            return None

    def figures(self) -> dict[str, QWidget]:
        """The on-screen plot, whose right-click menu exports the paper figure."""
        return {"outcome_fractions": self.plot}

    def tables(self) -> dict[str, Table]:
        points = self.shown_points()
        groups = self.outcomes.groups if self.outcomes else []
        columns = ["name", "width", "lr", "seeds_done", "seeds_asked"]
        for g in groups:
            key = g.replace(" ", "_")
            columns += [f"{key}_count", f"{key}_fraction", f"{key}_ci95_low", f"{key}_ci95_high"]
        rows = []
        for p in points:
            row = [p.name, p.width, p.lr, p.n_done, p.n_asked]
            for g in groups:
                f, lo, hi = p.fraction(g)
                row += [p.groups().get(g, 0), f, lo, hi]
            rows.append(row)
        return {"outcome_fractions": Table(columns, rows)}
