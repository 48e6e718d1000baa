"""Training panel: a new experiment trains in the background with live loss curves and progress.

``run_experiment`` (train every seed, then certify every end point) runs in a :class:`Worker`
thread; its progress records carry the current loss of every seed, which the panel collects and
redraws on a timer (ScopeFoundry's ``update_display``), as the median with a 10–90 % band or as all
seeds. When it returns, the worker thread also saves the session (atomically) to the file chosen in
the dialog, and the session opens in the app. *Stop early* ends training at the next chunk and
still certifies and saves what was reached; *Cancel* abandons the run at the next progress record
(within ~0.1 s while training) and keeps nothing. With no training running, the panel shows the
open session's stored loss curves, the selected run highlighted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.base.config_schema import is_flow
from ...core.base.estimates import format_seconds
from ...core.store.session import Session, SessionError, save_session
from ...figures.training import band
from ..experiment_dialog import QtExperimentDialog, experiment_module
from ..model import SessionModel, derived_data
from ..style import SELECTION_COLOR, LogAxis, fmt, legend_below, plain_axes
from ..workers import Worker
from .base import PanelBase, Table

log = logging.getLogger(__name__)

#: Redraw interval of the live curves, ms.
REDRAW_MS = 250
#: Progress records kept for the live curves; older ones are thinned to every other one.
MAX_HISTORY = 2000


@dataclasses.dataclass
class TrainingOutcome:
    """What the training worker returns: the session, where it was saved, or why saving failed."""

    session: Session
    path: Path | None
    save_error: str | None
    elapsed: float
    derived: dict


def time_left(record) -> str:
    """", about 3 min left" for a training progress record, from its epoch rate (else its average pace);
    empty before there is a rate to go by. A record with a ``share`` of its work done (gradient flow) goes by that."""
    share = getattr(record, "share", None)
    if share is not None:
        return f", about {format_seconds(record.elapsed * (1 - share) / share)} left" \
            if 0 < share < 1 and record.elapsed > 0 else ""
    left = int(record.total) - int(record.done)
    if left <= 0 or record.done <= 0:
        return ""
    rate = record.epochs_per_s or (record.done / record.elapsed if record.elapsed > 0 else 0.0)
    return f", about {format_seconds(left / rate)} left" if rate > 0 else ""


def train_and_save(runner: Callable, config: dict, stop: threading.Event, path: Path):
    """Generator run in the worker thread: yields ``runner``'s progress, then saves the session."""
    started = time.perf_counter()
    session = yield from runner(config, stop)
    derived = derived_data(session)
    try:
        save_session(session, path)
    except SessionError as exc:
        return TrainingOutcome(session, None, str(exc), time.perf_counter() - started, derived)
    return TrainingOutcome(session, Path(path), None, time.perf_counter() - started, derived)


class QtTrainingPanel(PanelBase):
    """Panel: New experiment…, Stop early, Cancel, progress, and the loss curves."""

    title = "Training"
    needs_session = False
    #: A training has started (the window raises this panel).
    started = Signal()

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        #: ``(config, stop) -> generator`` returning a Session; tests may swap in a stand-in.
        self.experiment_runner: Callable | None = None
        self.worker: Worker | None = None
        self.dialog: QtExperimentDialog | None = None
        self._stop = threading.Event()
        self._epochs: list[int] = []
        self._flow = False   # the running experiment follows gradient flow: its "epochs" are times
        self._losses: list[np.ndarray] = []
        self._dirty = False

        self.new_button = QPushButton("New experiment…")
        self.new_button.clicked.connect(self.new_experiment)
        self.stop_button = QPushButton("Stop early")
        self.stop_button.setToolTip("End training now; certify and save the points reached so far")
        self.stop_button.clicked.connect(self.stop_early)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Abandon this training; nothing is saved")
        self.cancel_button.clicked.connect(self.cancel)
        self.mode = QComboBox()
        self.mode.addItem("median and 10–90 % band", "band")
        self.mode.addItem("all seeds", "all")
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(10)
        self.mode.currentIndexChanged.connect(self.redraw)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("No training running.")

        self._build_plot()

        buttons = QHBoxLayout()
        for w in (self.new_button, self.stop_button, self.cancel_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        status_row = QHBoxLayout()  # status beside the curve choice: the panel fits a narrow column
        self.status.setWordWrap(True)
        status_row.addWidget(self.status, 1)
        status_row.addWidget(QLabel("Show:"))
        status_row.addWidget(self.mode)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addLayout(status_row)
        layout.addWidget(self.plot_widget, 1)
        self.set_content(content)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw_if_dirty)
        self._set_running(False)
        self.redraw()

    def _build_plot(self) -> None:
        """Log-log loss curves: median with a 10–90 % band, or every seed; the selected run on top."""
        self.plot_widget = pg.PlotWidget(axisItems={"bottom": LogAxis("bottom"), "left": LogAxis("left")})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLogMode(x=True, y=True)
        plain_axes(self.plot)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "training loss")
        legend_below(self.plot)
        self.all_item = pg.PlotDataItem(pen=pg.mkPen((70, 110, 170, 60), width=1), connect="finite")
        self.low_item = pg.PlotDataItem(pen=pg.mkPen((70, 110, 170, 90)))
        self.high_item = pg.PlotDataItem(pen=pg.mkPen((70, 110, 170, 90)))
        self.band_item = pg.FillBetweenItem(self.low_item, self.high_item, brush=pg.mkBrush(70, 110, 170, 60))
        self.median_item = pg.PlotDataItem(pen=pg.mkPen("#1f4e99", width=2), name="median over seeds")
        self.selected_item = pg.PlotDataItem(pen=pg.mkPen(SELECTION_COLOR, width=2), name="selected run")
        for item in (self.all_item, self.low_item, self.high_item, self.band_item, self.median_item,
                     self.selected_item):
            self.plot.addItem(item)
        # Curves that do not change with the selection are kept as pixmaps: selecting a run then
        # repaints the highlighted curve only, not the (costly, translucent) band and 1000 seeds.
        for item in (self.all_item.curve, self.band_item, self.median_item.curve, self.low_item.curve,
                     self.high_item.curve):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    # ---------------------------------------------------------------- starting and stopping
    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def new_experiment(self) -> QtExperimentDialog:
        """Open the (non-blocking) dialog; accepting it starts the training."""
        # The folder of the last new experiment, not of the open session; the window's settings if any.
        self.dialog = QtExperimentDialog(self.window(), None, getattr(self.window(), "settings", None))
        self.dialog.accepted.connect(lambda: self.start(self.dialog.config, self.dialog.output_path))
        self.dialog.open()
        return self.dialog

    def start(self, config: dict, path: str | Path) -> Worker:
        """Train ``config`` in the background and save the session to ``path`` when done."""
        if self.running:
            raise RuntimeError("a training is already running")
        runner = self.experiment_runner or experiment_module().run_experiment
        self._stop = threading.Event()
        self._epochs, self._losses = [], []
        self._flow = is_flow(config)
        self._total_epochs = int(config["train"]["t_max"] if self._flow else config["train"]["epochs"])
        self._n_seeds = len(config["seeds"])
        self.worker = Worker(train_and_save, runner, config, self._stop, Path(path))
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.aborted.connect(self._on_aborted)
        self.worker.finished.connect(self._on_finished)
        self._set_running(True)
        length = f"gradient flow to t = {self._total_epochs:,}" if self._flow else f"{self._total_epochs:,} epochs"
        self.status.setText(f"Starting: {self._n_seeds} seeds, {length} → {Path(path).name}")
        self.model.tasks.start(self.worker, "Training")
        self.started.emit()
        self._timer.start()
        self.redraw()
        return self.worker

    def stop_early(self) -> None:
        """End training at the next chunk; what was reached is certified and saved."""
        self._stop.set()
        self.status.setText("Stopping training; certifying the points reached…")

    def cancel(self) -> None:
        """Abandon the run at its next progress record; nothing is saved."""
        if self.worker is not None:
            self.worker.quit()
            self.status.setText("Cancelling…")

    def _set_running(self, running: bool) -> None:
        self.new_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if not running:
            self._timer.stop()

    # ---------------------------------------------------------------- worker -> view
    def _on_progress(self, record) -> None:
        self.progress.setRange(0, max(1, int(record.total)))
        self.progress.setValue(int(record.done))
        if record.stage == "train":
            if record.loss is not None:
                self._epochs.append(int(record.done))
                self._losses.append(np.asarray(record.loss, dtype=float).copy())
                if len(self._epochs) > MAX_HISTORY:
                    self._epochs, self._losses = self._epochs[::2], self._losses[::2]
                self._dirty = True
            rate = f", {record.epochs_per_s:,.0f} epochs/s" if record.epochs_per_s else ""
            median = f", median loss {fmt(np.nanmedian(record.loss), 3)}" if record.loss is not None else ""
            self.progress.setFormat("gradient flow: t = %v of %m" if self._flow else "training: epoch %v of %m (%p%)")
            self.status.setText(f"Training {self._n_seeds} seeds: {record.elapsed:.1f} s{rate}{median}"
                                f"{time_left(record)}")
        else:
            self.progress.setFormat("certifying: point %v of %m")
            self.status.setText(f"Certifying the end points: {record.done} of {record.total}")

    def _on_returned(self, outcome: TrainingOutcome) -> None:
        self.model.set_session(outcome.session, outcome.path, modified=outcome.path is None, derived=outcome.derived)
        if outcome.save_error:
            self.model.error.emit("Training finished but the session was not saved",
                                  f"{outcome.save_error}\n\nUse File ▸ Save As… to keep it.")
            self.status.setText("Training finished; the session is NOT saved (File ▸ Save As…).")
        else:
            self.status.setText(f"Training finished in {outcome.elapsed:.1f} s; saved to {outcome.path}")
            self.model.message.emit(f"Saved the new session to {outcome.path}")
        self._epochs, self._losses = [], []

    def _on_errored(self, exc: BaseException) -> None:
        log.error("training failed\n%s", getattr(exc, "worker_traceback", ""))
        self._epochs, self._losses = [], []
        self.status.setText(f"Training failed: {exc}")
        self.model.error.emit("Training failed", f"{type(exc).__name__}: {exc}")

    def _on_aborted(self) -> None:
        self.status.setText("Training cancelled; nothing was saved.")
        self.model.message.emit("Training cancelled")
        self._epochs, self._losses = [], []

    def _on_finished(self) -> None:
        self._set_running(False)
        self.redraw()

    # ---------------------------------------------------------------- drawing
    def on_session_changed(self) -> None:
        if not self.running:
            self.status.setText("No training running.")  # what the last training said is about another session
            self.redraw()

    def on_current_changed(self, index: int) -> None:
        if not self.running:
            self._draw_selected()

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self.redraw()

    def curves(self) -> tuple[np.ndarray, np.ndarray]:
        """``(epochs (n,), losses (n, S))`` on show: the live history while training, else the session's."""
        if self.running:
            if not self._epochs:
                return np.zeros(0), np.zeros((0, 0))
            return np.asarray(self._epochs, dtype=float), np.stack(self._losses)
        s = self.model.session
        if s is None or s.runs.loss_curve is None:
            return np.zeros(0), np.zeros((0, 0))
        return s.runs.loss_curve.epochs.astype(float), s.runs.loss_curve.loss.T

    def _time_axis_label(self) -> str:
        """``time t`` for a gradient-flow run (times stand where epochs do), else ``epoch``."""
        s = self.model.session
        flow = self._flow if self.running else (s is not None and is_flow(s.config))
        return "time t" if flow else "epoch"

    def redraw(self) -> None:
        self._dirty = False
        self.plot.setLabel("bottom", self._time_axis_label())
        epochs, losses = self.curves()
        keep = epochs > 0  # epoch 0 has no place on a log axis
        epochs, losses = epochs[keep], losses[keep]
        show_all = self.mode.currentData() == "all"
        if epochs.size == 0:
            for item in (self.all_item, self.low_item, self.high_item, self.median_item):
                item.setData([], [])
        elif show_all:
            S = losses.shape[1]
            x = np.concatenate([np.tile(epochs, (S, 1)), np.full((S, 1), np.nan)], axis=1).ravel()
            y = np.concatenate([losses.T, np.full((S, 1), np.nan)], axis=1).ravel()
            y = np.where(y > 0, y, np.nan)
            self.all_item.setData(x, y)
            for item in (self.low_item, self.high_item, self.median_item):
                item.setData([], [])
        else:
            median, low, high = band(np.where(losses > 0, losses, np.nan))
            self.all_item.setData([], [])
            self.median_item.setData(epochs, median)
            self.low_item.setData(epochs, low)
            self.high_item.setData(epochs, high)
        self.band_item.setVisible(not show_all)
        live = self.running
        source = "live" if live else ("stored in the session" if self.model.has_session else "")
        self.plot.setTitle(f"Training loss ({source})" if source else "Training loss", size="10pt")
        self._draw_selected()

    def _draw_selected(self) -> None:
        s, i = self.model.session, self.model.current
        if self.running or s is None or i < 0 or s.runs.loss_curve is None:
            self.selected_item.setData([], [])
            self._legend_lists_selected(False)
            return
        c = s.runs.loss_curve
        keep = (c.epochs > 0) & (c.loss[i] > 0) & np.isfinite(c.loss[i])
        self.selected_item.setData(c.epochs[keep].astype(float), c.loss[i][keep])
        self._legend_lists_selected(bool(keep.any()))

    def _legend_lists_selected(self, shown: bool) -> None:
        """The legend names the selected run's curve only while it is drawn."""
        legend = self.plot.legend
        listed = any(sample.item is self.selected_item for sample, _ in legend.items)
        if shown and not listed:
            legend.addItem(self.selected_item, "selected run")
        elif listed and not shown:
            legend.removeItem(self.selected_item)

    # ---------------------------------------------------------------- export
    def figures(self) -> dict[str, QWidget]:
        return {"training_loss": self.plot_widget}

    def tables(self) -> dict[str, Table]:
        epochs, losses = self.curves()
        if epochs.size == 0:
            return {}
        s = self.model.session
        seeds = s.runs.seed if (s is not None and not self.running and losses.shape[1] == s.runs.n_runs) \
            else np.arange(losses.shape[1])
        cols = ["epoch"] + [f"seed_{int(k)}" for k in seeds]
        return {"training_loss": Table(cols, [[int(e), *row] for e, row in zip(epochs, losses)])}
