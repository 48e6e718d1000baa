"""Saddle line panel (thesis Fig 6.17): the Hessian spectrum along the closest saddle's line θ(μ).

For the selected local minimum's closest saddle (``/analyses/closest_saddle``), the narrower point
θ* with one neuron duplicated at share μ gives the line θ(μ). The top plot shows ``k`` eigenvalues
of the stored sweep (``/analyses/mu_sweep``; the smallest, or from a chosen ascending index: at a
saddle the ones that cross zero follow its negative ones) against μ with a draggable cursor kept in
sync with the μ slider. At the cursor's μ the exact spectrum is computed live (``core.saddles.line_spectrum``:
duplicate the neuron, exact Hessian, eigh) in the panel's :class:`~lsexplorer.gui.background.LatestJob` — ~15–80 ms on
the toy on a loaded 2-core machine, too slow for the GUI thread's budget — which coalesces requests
that arrive while one runs: only the newest μ is computed next. Beside it: Y's eigenvalues, the loss along μ, and
measured versus Theorem 3's predicted inertia at the current μ. Runs without the analysis show why and a Compute button.
The line shown, the eigenvalues drawn and their colours are :mod:`lsexplorer.figures.saddle_line`'s, which draws the
same plots for papers.

Source "expand a neuron of this run" (any depth, issue 5): the line is instead the selected run's own
point θ with neuron ``j`` of hidden layer ``l`` (both chosen in spin boxes) duplicated at share μ; its
sweep (``core.inertia.mu_sweep`` on :attr:`QtSaddleLinePanel.expand_mus`) is computed on request in
a second job (a status-bar task, cancellable) and kept in memory per (row, layer, neuron) for the open
session only; it is not written to the session file.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...core.base.classify import Tolerances
from ...core.base.kinds import kind_label, kind_phrase
from ...core.population.relu_gaussian_session import is_population
from ...core.saddles.inertia import MuSweep, mu_sweep
from ...core.saddles.line_spectrum import LineSpectra, SpectrumAtMu
from ...figures.catalog import FigureOptions
from ...figures.saddle_line import EIGENVALUE_COLORS, SaddleLine, closest_line, drawn_indices, expanded_line
from ..analysis import analysable, closest_saddle_of, mu_sweep_of
from ..flow_layout import QtFlowLayout
from ..model import SessionModel
from ..roundoff import plot_unless_roundoff
from ..style import SELECTION_COLOR, LogAxis, fmt, legend_below, plain_axes
from .base import AnalysisPanelBase, Table

SLIDER_STEPS = 1000
#: How many eigenvalues a new "expand a neuron" sweep shows around the first one that reaches zero.
WINDOW = 4


def touching_window(eigvals: np.ndarray, below: int = 2, rtol: float = 1e-10) -> int | None:
    """The 1-based first eigenvalue to draw so that the window shows, with ``below`` smaller ones, the
    smallest eigenvalue that is zero somewhere along the line and not zero elsewhere (it touches or
    crosses zero: where the inertia changes); None if none does. ``eigvals (n_mu, k)``, ascending in each row.

    Zero is ``|λ| ≤ rtol · max|λ|`` over the sweep (the classification's ``eig_rtol``), so eigenvalues that
    are zero all along the line (flat directions of the duplication) do not count.
    """
    ev = np.asarray(eigvals, dtype=float)
    if ev.ndim != 2 or not np.isfinite(ev).any():
        return None
    size = np.abs(ev)
    tol = rtol * float(np.nanmax(size))
    zero_somewhere = np.nanmin(size, axis=0) <= tol
    crosses = (np.nanmin(ev, axis=0) < -tol) & (np.nanmax(ev, axis=0) > tol)
    reaches = np.flatnonzero((zero_somewhere & (np.nanmax(size, axis=0) > tol)) | crosses)
    return max(1, int(reaches[0]) + 1 - below) if reaches.size else None
#: Least heights of the "eigenvalues of Y" and "loss along θ(μ)" plots (title, three ticks, x axis)
#: and of the eigenvalues-along-μ plot (with its legend), so none is squashed on a laptop screen.
SMALL_PLOT_MIN_HEIGHT = 110
MAIN_PLOT_MIN_HEIGHT = 190


def _plot(left_log: bool = False) -> pg.PlotWidget:
    widget = pg.PlotWidget(axisItems={"left": LogAxis("left")} if left_log else None)
    plain_axes(widget.getPlotItem())
    widget.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
    return widget


class QtSaddleLinePanel(AnalysisPanelBase):
    """Panel: eigenvalues versus μ with a μ slider and cursor, the live spectrum, Y, inertia, loss."""

    title = "Saddle line"
    analyses = ("closest_saddle", "mu_sweep")

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(model, parent)
        self.saddle = None
        self.sweep = None
        self.line: SaddleLine | None = None
        #: μ grid of "expand a neuron" sweeps; None: ``core.inertia.default_mu_grid()``.
        self.expand_mus: np.ndarray | None = None
        self._expand_cache: dict[tuple[int, int, int], MuSweep] = {}
        self._cache_session = None
        #: The expand sweep whose eigenvalue window was last chosen (a sweep chooses it once).
        self._window_key: tuple[int, int, int] | None = None
        self.sweep_job = self.new_job()
        self._sweep_key: tuple[int, int, int] | None = None
        self.live: SpectrumAtMu | None = None
        self._spectra: LineSpectra | None = None
        self.mu = 0.0
        self.mu_range = (-1.0, 2.0)
        self.update_seconds: list[float] = []
        self.live_job = self.new_job()
        self._syncing = False

        self._build_source_bar()
        self.install_pages()

    def _build_source_bar(self) -> None:
        self.source_bar = QWidget()
        row = QtFlowLayout(self.source_bar)
        row.setContentsMargins(4, 2, 4, 2)
        self.source_combo = QComboBox()
        self.source_combo.addItem("closest saddle", "closest")
        self.source_combo.addItem("expand a neuron of this run", "expand")
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_combo.setMinimumContentsLength(10)
        self.source_combo.setToolTip("Closest saddle: the stored analysis of a local minimum. Expand a neuron: "
                                     "duplicate neuron j of hidden layer l of the selected run's point")
        self.layer_spin = QSpinBox()
        self.layer_spin.setRange(1, 1)
        self.layer_spin.setToolTip("Hidden layer (1 = first)")
        self.neuron_spin = QSpinBox()
        self.neuron_spin.setRange(0, 0)
        self.neuron_spin.setToolTip("Neuron of that layer (0-based, as the CLI's --expand-neuron)")
        self.sweep_button = QPushButton("Sweep μ")
        self.sweep_button.setToolTip("Compute the eigenvalues along θ(μ) in the background")
        self.sweep_button.clicked.connect(self.compute)
        for w in (QLabel("Line:"), self.source_combo, QLabel("layer"), self.layer_spin, QLabel("neuron"),
                  self.neuron_spin, self.sweep_button):
            row.addWidget(w)
        self.source_combo.currentIndexChanged.connect(lambda _: self._load())
        self.layer_spin.valueChanged.connect(lambda _: self._load())
        self.neuron_spin.valueChanged.connect(lambda _: self._load())
        self._update_source_widgets()

    def set_content(self, widget: QWidget) -> None:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.source_bar)
        layout.addWidget(widget, 1)
        super().set_content(box)

    @property
    def source(self) -> str:
        return self.source_combo.currentData()

    def _update_source_widgets(self) -> None:
        expand = self.source == "expand"
        for w in (self.layer_spin, self.neuron_spin, self.sweep_button):
            w.setEnabled(expand)
        spec = self.model.spec
        if spec is None:
            return
        hidden = spec.hidden_widths
        for spin, hi in ((self.layer_spin, len(hidden)), (self.neuron_spin, None)):
            spin.blockSignals(True)
            try:
                spin.setMaximum(hi if hi is not None else hidden[self.layer_spin.value() - 1] - 1)
            finally:
                spin.blockSignals(False)

    # ---------------------------------------------------------------- construction
    def _build_plots(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.header = QLabel()
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.valueChanged.connect(self._slider_moved)
        # The slider moves μ quickly; the spin box sets it exactly (a pixel of slider is a large step of μ).
        self.mu_spin = QDoubleSpinBox()
        self.mu_spin.setDecimals(4)
        self.mu_spin.setSingleStep(0.01)
        self.mu_spin.setKeyboardTracking(False)
        self.mu_spin.setPrefix("μ = ")
        self.mu_spin.setToolTip("μ along the line θ(μ); type a value or step with the arrows")
        self.mu_spin.valueChanged.connect(self._spin_changed)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 64)
        self.k_spin.setValue(6)
        self.k_spin.setToolTip("How many of the smallest eigenvalues to draw")
        self.k_spin.valueChanged.connect(self._draw_curves)
        self.first_spin = QSpinBox()
        self.first_spin.setRange(1, 64)
        self.first_spin.setToolTip("Ascending index of the first eigenvalue drawn (1: the smallest). At a saddle "
                                   "the eigenvalues that cross zero at μ = 0 and 1 follow its negative ones")
        self.first_spin.valueChanged.connect(self._draw_curves)
        self.scale = QComboBox()
        self.scale.addItem("linear", "linear")
        self.scale.addItem("symlog", "symlog")
        self.scale.setToolTip("symlog: sign(λ)·log10(1 + |λ|/10⁻⁸), to see eigenvalues near 0 cross")
        self.scale.currentIndexChanged.connect(self._draw_curves)
        for w in (QLabel("μ"), self.slider, self.mu_spin):
            row.addWidget(w)
        row.setStretch(1, 1)
        layout.addLayout(row)
        choices = QtFlowLayout()  # a line of its own, wrapped in a narrow dock
        for w in (QLabel("smallest"), self.k_spin, QLabel("from λ"), self.first_spin, self.scale):
            choices.addWidget(w)
        layout.addLayout(choices)

        self.eig_widget = _plot()
        self.eig_plot = self.eig_widget.getPlotItem()
        self.eig_plot.setLabel("bottom", "μ")
        self.eig_plot.setTitle("Hessian eigenvalues along θ(μ)", size="9pt")
        legend_below(self.eig_plot, columns=4)
        self.curve_items: list[pg.PlotDataItem] = []
        self.live_item = pg.ScatterPlotItem(size=9, symbol="o", pen=pg.mkPen(SELECTION_COLOR, width=1.5),
                                            brush=pg.mkBrush(None))
        self.eig_plot.addItem(self.live_item)
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(SELECTION_COLOR, width=2),
                                      hoverPen=pg.mkPen(SELECTION_COLOR, width=4), label="μ={value:.3f}",
                                      labelOpts={"position": 0.95, "color": SELECTION_COLOR})
        self.cursor.setZValue(10)
        self.cursor.sigPositionChanged.connect(lambda line: self._cursor_moved(line.value()))
        self.eig_plot.addItem(self.cursor)
        self.zero_line = pg.InfiniteLine(angle=0, pos=0, pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))
        self.eig_plot.addItem(self.zero_line)

        self.spec_widget = _plot(left_log=True)
        self.spec_plot = self.spec_widget.getPlotItem()
        self.spec_plot.setLogMode(x=False, y=True)
        self.spec_plot.setLabel("bottom", "index")
        self.spec_plot.setLabel("left", "|λ|  (▼ λ &lt; 0)")  # axis labels are HTML
        self.spec_pos = pg.ScatterPlotItem(size=8, symbol="o", brush=pg.mkBrush("#0072B2"), pen=None)
        self.spec_neg = pg.ScatterPlotItem(size=10, symbol="t", brush=pg.mkBrush("#D55E00"), pen=None)
        self.spec_plot.addItem(self.spec_pos)
        self.spec_plot.addItem(self.spec_neg)

        self.y_widget = _plot()
        self.y_plot = self.y_widget.getPlotItem()
        self.y_plot.setTitle("eigenvalues of Y", size="9pt")
        self.y_plot.setLabel("bottom", "index")
        self.y_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush="#56B4E9")
        self.y_plot.addItem(self.y_bars)

        self.loss_widget = _plot()
        self.loss_plot = self.loss_widget.getPlotItem()
        self.loss_plot.setTitle("loss along θ(μ) − L(θ*)", size="9pt")
        self.loss_plot.setLabel("left", "L(θ(μ)) − L(θ*)")
        self.loss_plot.setLabel("bottom", "μ")
        self.loss_item = pg.PlotDataItem(pen=pg.mkPen("#333333", width=1.5), symbol="o", symbolSize=4)
        self.loss_plot.addItem(self.loss_item)
        self.loss_cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(SELECTION_COLOR, width=2))
        self.loss_cursor.sigPositionChanged.connect(lambda line: self._cursor_moved(line.value()))
        self.loss_plot.addItem(self.loss_cursor)

        self.inertia_label = QLabel()
        self.inertia_label.setTextFormat(Qt.TextFormat.RichText)
        self.inertia_label.setWordWrap(True)
        for small in (self.y_widget, self.loss_widget):
            small.setMinimumHeight(SMALL_PLOT_MIN_HEIGHT)  # tick labels of a shorter plot collide
        self.eig_widget.setMinimumHeight(MAIN_PLOT_MIN_HEIGHT)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.y_widget)
        right.addWidget(self.loss_widget)
        right.setSizes([200, 200])
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.spec_widget)
        bottom.addWidget(right)
        bottom.setSizes([500, 500])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.eig_widget)
        split.addWidget(bottom)
        split.setSizes([440, 360])
        layout.addWidget(split, 1)
        layout.addWidget(self.inertia_label)
        return box

    def _load(self) -> None:
        """Read the selected run's closest saddle and sweep; show the plots or say what is missing."""
        s, row = self.model.session, self.model.current
        self.live_job.cancel()
        self._spectra = None
        self.live = None
        self.line = None
        if s is not self._cache_session:
            self._expand_cache.clear()
            self._cache_session = s
            self._window_key = None
            self._open_on_the_deep_result(s)
        self._update_source_widgets()
        if s is not None and is_population(s):
            self.saddle = self.sweep = None
            self.missing.show_reason("Saddle lines split a neuron's outgoing weight between two copies; in this "
                                     "landscape the output weights are fixed to 1, so there are none.", False)
            self._pages.setCurrentIndex(0)
            return
        if self.source == "expand":
            self.saddle = None
            self._load_expand()
            return
        self.saddle = closest_saddle_of(s, row)
        self.sweep = mu_sweep_of(s, row)
        if s is None or row < 0:
            return
        queue = self.model.analysis
        running = queue.pending(row, "closest_saddle") or queue.pending(row, "mu_sweep")
        if self.saddle is None:
            kind = str(s.runs.kind[row])
            can = analysable(s, row)
            text = (f"Run {row} (seed {int(s.runs.seed[row])}) has no closest saddle yet." if can else
                    f"Run {row} (seed {int(s.runs.seed[row])}) {kind_phrase(kind)}: the app computes closest saddles "
                    "for local minima only (lsexplorer analyze SESSION --closest-saddle does every certified "
                    "point).\n\nSelect a local minimum (Go ▸ Next local minimum).")
            self.missing.show_reason(text, can, running)
            self._pages.setCurrentIndex(0)
            return
        if self.saddle.narrower.kind == "not_converged":
            self.missing.show_reason(
                f"Run {row}: the narrower point of its closest saddle did not converge "
                f"(‖∇L‖ = {fmt(self.saddle.narrower.grad_norm)}), so θ(μ) is not a line of critical points.",
                False)
            self._pages.setCurrentIndex(0)
            return
        if self.sweep is None and not analysable(s, row):
            kind = str(s.runs.kind[row])
            self.missing.show_reason(
                f"Run {row} {kind_phrase(kind)}: its closest saddle is {fmt(self.saddle.distance)} away; μ sweeps are "
                "computed for local minima only.\n\nSelect a local minimum (Go ▸ Next local minimum).", False)
            self._pages.setCurrentIndex(0)
            return
        if self.sweep is None:
            self.missing.show_reason(f"Run {row} has a closest saddle but no μ sweep yet.", True, running)
            self._pages.setCurrentIndex(0)
            return
        c = self.saddle
        self._show(closest_line(c),
                   f"Run {row} (seed {int(s.runs.seed[row])}): narrower point {c.narrower.spec.describe()} "
                   f"({kind_label(c.narrower.kind)}, loss {fmt(c.narrower.loss)}), neuron {c.neuron} of layer "
                   f"{c.layer} duplicated; closest saddle at μ* = {fmt(c.mu)}, distance {fmt(c.distance)}.")

    def _show(self, line: SaddleLine, header: str) -> None:
        """Plot ``self.sweep`` along ``line`` and put the cursor at ``line.mu0``."""
        self._pages.setCurrentIndex(1)
        self.line, sw = line, self.sweep
        s = self.model.session
        self._spectra = LineSpectra(line.line, s.x, s.y, Tolerances.from_dict(s.config.get("tolerances", {})))
        lo = min(float(sw.mus.min()), line.mu0 - 0.25)
        hi = max(float(sw.mus.max()), line.mu0 + 0.25)
        self.mu_range = (lo, hi)
        self.k_spin.setMaximum(sw.eigvals.shape[1])
        self.first_spin.setMaximum(sw.eigvals.shape[1])
        self.header.setText(header)
        self.y_bars.setOpts(x=np.arange(sw.y_eigvals.size), height=sw.y_eigvals, width=0.6)
        self.y_plot.enableAutoRange()
        # θ(μ) is a line of critical points of one loss value: what is left is rounding (or, for a
        # narrower point that is not exactly critical, the real change).
        self.loss_note = plot_unless_roundoff(self.loss_plot, self.loss_item, sw.mus, sw.loss - line.base_loss,
                                              sw.loss, line.base_loss, "the loss along θ(μ)")
        self.loss_plot.enableAutoRange()
        self._draw_curves()
        self.set_mu(line.mu0)

    def expand_key(self) -> tuple[int, int, int]:
        """(row, layer, neuron) of the "expand a neuron" line now selected."""
        return int(self.model.current), int(self.layer_spin.value()), int(self.neuron_spin.value())

    def _load_expand(self) -> None:
        s, row = self.model.session, self.model.current
        self.sweep = None
        if s is None or row < 0:
            return
        key = self.expand_key()
        _, layer, neuron = key
        theta = s.runs.theta[row]
        kind = str(s.runs.kind[row])
        if not np.isfinite(theta).all():
            self.missing.show_reason(f"Run {row}: its point is not finite, so it has no line to expand.", False)
            self._pages.setCurrentIndex(0)
            return
        self.sweep = self._expand_cache.get(key)
        if self.sweep is None:
            running = self.sweep_job.busy and self._sweep_key == key
            self.missing.show_reason(
                f"Run {row} ({kind_label(kind)}): no μ sweep yet for neuron {neuron} of hidden layer {layer} "
                "duplicated.\n\nCompute draws the Hessian eigenvalues along the line (in the background; a "
                "minute or more for a deep net) and opens on the first eigenvalue that reaches zero.",
                not self.sweep_job.busy or running, running)
            self._pages.setCurrentIndex(0)
            return
        loss = float(s.runs.loss[row])
        note = "" if kind in ("local_min", "global_min") else \
            f" The point {kind_phrase(kind)}: θ(μ) need not be a line of critical points."
        if self._window_key != key:  # a new sweep opens on the eigenvalues that reach zero along the line
            self._window_key = key
            first = touching_window(self.sweep.eigvals)
            if first is not None:
                self.first_spin.setMaximum(max(self.first_spin.maximum(), self.sweep.eigvals.shape[1]))
                self.first_spin.setValue(first)
                self.k_spin.setValue(WINDOW)
        self._show(expanded_line(s.spec, theta, loss, layer, neuron, self.sweep),
                   f"Run {row} (seed {int(s.runs.seed[row])}, {kind_label(kind)}, loss {fmt(loss)}): "
                   f"{s.spec.describe()}, neuron {neuron} of hidden layer {layer} duplicated at share μ.{note}")

    def _open_on_the_deep_result(self, s) -> None:
        """A deep session opens on "expand a neuron" of its last hidden layer: there its points show an
        eigenvalue reaching zero along the line (thesis §6.3), which a closest saddle does not."""
        if s is None or is_population(s) or len(s.spec.hidden_widths) < 2:
            return
        self.source_combo.blockSignals(True)
        self.layer_spin.blockSignals(True)
        try:
            self.source_combo.setCurrentIndex(self.source_combo.findData("expand"))
            self.layer_spin.setMaximum(len(s.spec.hidden_widths))
            self.layer_spin.setValue(len(s.spec.hidden_widths))
        finally:
            self.source_combo.blockSignals(False)
            self.layer_spin.blockSignals(False)

    def _start_expand(self) -> None:
        s, row = self.model.session, self.model.current
        if s is None or row < 0 or self.sweep_job.busy:
            return
        key = self.expand_key()
        if key in self._expand_cache:
            self._load()
            return
        tolerances = Tolerances.from_dict(s.config.get("tolerances", {}))
        self._sweep_key = key
        session = s

        def arrived(sweep: MuSweep) -> None:
            if self.model.session is session and not sweep.stopped:
                self._expand_cache[key] = sweep

        def finished() -> None:
            self._sweep_key = None
            self._load()

        self.sweep_job.start(mu_sweep, s.spec, np.asarray(s.runs.theta[row], dtype=np.float64), s.x, s.y, key[1],
                             key[2], self.expand_mus,
                             tolerances, on_result=arrived, on_done=finished,
                             on_error=lambda exc: self.model.message.emit(f"μ sweep failed: {exc}"),
                             task=f"μ sweep: run {key[0]}, layer {key[1]}, neuron {key[2]}")
        self._load()

    def compute(self) -> None:
        """Queue the missing closest saddle and μ sweep of the selected run."""
        row = self.model.current
        if self.model.session is None or row < 0:
            return
        if self.source == "expand":
            self._start_expand()
            return
        missing = self.analyses if self.saddle is None else ("mu_sweep",)
        self.model.analysis.request(row, missing)
        self._load()

    def _transform(self, values: np.ndarray) -> np.ndarray:
        if self.scale.currentData() == "symlog":
            return np.sign(values) * np.log10(1.0 + np.abs(values) / 1e-8)
        return values

    def _drawn(self, n: int) -> np.ndarray:
        """Ascending indices of the eigenvalues drawn: ``k`` of them from the "from λ" index, within ``n``."""
        return drawn_indices(self.first_spin.value(), self.k_spin.value(), n)

    def _draw_curves(self) -> None:
        sw = self.sweep
        for item in self.curve_items:
            self.eig_plot.removeItem(item)
        self.curve_items = []
        self.eig_plot.legend.clear()
        if sw is None:
            return
        for i in self._drawn(sw.eigvals.shape[1]):
            item = pg.PlotDataItem(sw.mus, self._transform(sw.eigvals[:, i]),
                                   pen=pg.mkPen(EIGENVALUE_COLORS[i % len(EIGENVALUE_COLORS)], width=1.5))
            self.eig_plot.addItem(item)
            self.eig_plot.legend.addItem(item, f"λ{i + 1}")
            self.curve_items.append(item)
        symlog = self.scale.currentData() == "symlog"
        self.eig_plot.setLabel("left", "sign(λ)·log10(1+|λ|/10⁻⁸)" if symlog else "λ")
        self._draw_live()
        self.eig_plot.enableAutoRange()

    # ---------------------------------------------------------------- μ
    def set_mu(self, mu: float) -> None:
        """Move the slider and both cursors to ``mu`` and ask for the spectrum there."""
        lo, hi = self.mu_range
        self.mu = float(mu)
        self._syncing = True
        try:
            self.slider.setValue(round((self.mu - lo) / (hi - lo) * SLIDER_STEPS))
            self.cursor.setValue(self.mu)
            self.loss_cursor.setValue(self.mu)
            self.mu_spin.setRange(min(lo, self.mu), max(hi, self.mu))
            self.mu_spin.setValue(self.mu)
        finally:
            self._syncing = False
        self._request_live(self.mu)

    def _slider_moved(self, value: int) -> None:
        if not self._syncing:
            lo, hi = self.mu_range
            self.set_mu(lo + (hi - lo) * value / SLIDER_STEPS)

    def _spin_changed(self, mu: float) -> None:
        if not self._syncing and float(mu) != self.mu:
            self.set_mu(float(mu))

    def _cursor_moved(self, mu: float) -> None:
        if not self._syncing and float(mu) != self.mu:
            self.set_mu(float(mu))

    def _request_live(self, mu: float) -> None:
        if self._spectra is None or self.model.session is None:
            return
        requested = time.perf_counter()
        self.live_job.start(self._spectra.at, mu, on_result=lambda live: self._live_arrived(live, requested),
                            on_error=lambda exc: self.model.message.emit(f"Spectrum at μ = {mu:g} failed: {exc}"))

    def _live_arrived(self, live: SpectrumAtMu, requested: float) -> None:
        self.live = live
        self.update_seconds.append(time.perf_counter() - requested)
        self._draw_live()

    def _draw_live(self) -> None:
        live = self.live
        if live is None:
            self.live_item.setData(x=[], y=[])
            self.spec_pos.setData(x=[], y=[])
            self.spec_neg.setData(x=[], y=[])
            self.inertia_label.setText("")
            return
        drawn = self._drawn(live.eigvals.size)
        self.live_item.setData(x=np.full(drawn.size, live.mu), y=self._transform(live.eigvals[drawn]))
        ev = live.eigvals
        idx = np.arange(1, ev.size + 1)
        mag = np.log10(np.maximum(np.abs(ev), 1e-300))
        self.spec_pos.setData(x=idx[ev >= 0], y=mag[ev >= 0])
        self.spec_neg.setData(x=idx[ev < 0], y=mag[ev < 0])
        self.spec_plot.setTitle(f"spectrum at μ = {live.mu:.3f}", size="9pt")
        m, p = live.measured, live.predicted
        agree = "agree" if m == p else "<b style='color:#D55E00'>differ</b>"
        self.inertia_label.setText(
            f"inertia (−, 0, +): measured <b>{m.as_tuple()}</b> · Theorem 3 predicts <b>{p.as_tuple()}</b> — "
            f"{agree}<br>loss {fmt(live.loss, 6)} · ‖∇L‖ {fmt(live.grad_norm)} · zero tolerance {fmt(live.zero_tol)}"
            f" · computed in {live.seconds * 1e3:.0f} ms")

    def spectrum_values(self) -> np.ndarray:
        """The eigenvalues the spectrum plot shows, ascending (from its two scatter items)."""
        pos = 10.0 ** np.asarray(self.spec_pos.getData()[1], dtype=float)
        neg = -(10.0 ** np.asarray(self.spec_neg.getData()[1], dtype=float))
        return np.sort(np.concatenate([neg, pos]))

    # ---------------------------------------------------------------- export
    def figure_options(self) -> FigureOptions:
        """The μ shown, the eigenvalues drawn (from λ, how many) and the line: the closest saddle's, or
        the expanded neuron's."""
        expand = None
        if self.source_combo.currentData() == "expand":
            expand = (self.layer_spin.value(), self.neuron_spin.value())
        return FigureOptions(mu=self.mu, eigs=(self.first_spin.value(), self.k_spin.value()), expand=expand)

    def figures(self) -> dict[str, QWidget]:
        return {"eigenvalues_vs_mu": self.eig_widget, "spectrum_at_mu": self.spec_widget,
                "y_eigenvalues": self.y_widget, "loss_along_mu": self.loss_widget}

    def tables(self) -> dict[str, Table]:
        sw, live = self.sweep, self.live
        if sw is None:
            return {}
        drawn = self._drawn(sw.eigvals.shape[1])
        out = {
            "eigenvalues_vs_mu": Table(["mu"] + [f"lambda_{i + 1}" for i in drawn],
                                       [[sw.mus[j], *sw.eigvals[j, drawn]] for j in range(sw.mus.size)]),
            "y_eigenvalues": Table(["index", "eigenvalue"], [[i, v] for i, v in enumerate(sw.y_eigvals)]),
            "loss_along_mu": Table(["mu", "loss", "grad_norm", "measured_neg", "measured_zero", "measured_pos",
                                    "predicted_neg", "predicted_zero", "predicted_pos"],
                                   [[sw.mus[j], sw.loss[j], sw.grad_norm[j], *sw.measured[j], *sw.predicted[j]]
                                    for j in range(sw.mus.size)]),
        }
        if live is not None:
            out["spectrum_at_mu"] = Table(["mu", "index", "eigenvalue"],
                                          [[live.mu, i + 1, v] for i, v in enumerate(live.eigvals)])
        return out

    def stop(self) -> None:
        """Cancel the μ sweep and the spectrum requests and wait for their threads (closing, tests)."""
        for job in (self.sweep_job, self.live_job):
            job.cancel()
            job.wait(10_000)
