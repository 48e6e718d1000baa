"""What every panel shares: the model it observes, an empty state, and its exportable figures/tables."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from ...figures.catalog import FigureOptions
from ..background import LatestJob
from ..model import SessionModel

#: Shown by panels that need a session while none is open.
NO_SESSION_TEXT = ("No session open.\n\nFile \u25b8 Open\u2026 loads a session file;\n"
                   "File \u25b8 New experiment\u2026 trains one.")


class Table(tuple):
    """``(columns, rows)``: CSV-ready data behind a figure; rows are sequences of numbers or str."""

    def __new__(cls, columns, rows):
        return super().__new__(cls, (list(columns), list(rows)))

    @property
    def columns(self) -> list[str]:
        return self[0]

    @property
    def rows(self) -> list:
        return self[1]


class PanelBase(QWidget):
    """A dockable panel that observes a :class:`SessionModel`.

    Subclasses build their content widget, pass it to :meth:`set_content`, and override
    :meth:`on_session_changed` and :meth:`on_current_changed`. Panels with ``needs_session`` show
    :data:`NO_SESSION_TEXT` instead of their content while no session is open. ``figures()`` and
    ``tables()`` name what File ▸ Export offers; the names are stable (they become file names).
    Background computations go through :meth:`new_job`; :attr:`jobs` lists them, so the export and
    tests wait for a panel's work without knowing what it computes.
    """

    #: Title of the dock and the View menu entry.
    title = "Panel"
    #: Show the empty state instead of the content while no session is open.
    needs_session = True
    #: The registered analyses (``core.analyses.REGISTRY``) the panel shows; its Compute button requests them.
    analyses: tuple[str, ...] = ()

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        #: The panel's background computations (:meth:`new_job`).
        self.jobs: list[LatestJob] = []
        self._stack = QStackedLayout(self)
        self._empty = QLabel(NO_SESSION_TEXT)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setStyleSheet("color: #666;")
        self._stack.addWidget(self._empty)
        model.sessionChanged.connect(self._session_changed)
        model.currentChanged.connect(self._current_changed)

    def new_job(self) -> LatestJob:
        """A background computation of this panel whose status-bar tasks go to the model's registry."""
        job = LatestJob(self.model.tasks, self)
        self.jobs.append(job)
        return job

    def set_content(self, widget: QWidget) -> None:
        self._content = widget
        self._stack.addWidget(widget)
        self._update_page()

    def _update_page(self) -> None:
        show_content = self.model.has_session or not self.needs_session
        self._stack.setCurrentIndex(1 if show_content and self._stack.count() > 1 else 0)

    def _session_changed(self) -> None:
        self._update_page()
        self.on_session_changed()

    def _current_changed(self, index: int) -> None:
        self.on_current_changed(index)

    # ---------------------------------------------------------------- overridables
    def on_session_changed(self) -> None:
        """A new session (or none) is in the model."""

    def on_current_changed(self, index: int) -> None:
        """Run ``index`` became the selection (-1: none)."""

    def figures(self) -> dict[str, QWidget]:
        """On-screen plots by stable name (each exports as the paper figure of the same name)."""
        return {}

    def figure_options(self) -> FigureOptions:
        """The panel's current choices that its paper figures draw (e.g. the saddle line's μ)."""
        return FigureOptions()

    def tables(self) -> dict[str, Table]:
        """Data of each figure (and any other table) by stable name, for CSV export."""
        return {}


class MissingAnalysis(QWidget):
    """Shown instead of a panel's plots when the selected run lacks an analysis: why, and a Compute button.

    ``compute`` is the button (panels connect it); :meth:`show_reason` sets the text and whether the
    button is offered (``can_compute``) or a computation is already under way (``running``).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QPushButton, QVBoxLayout

        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setStyleSheet("color: #444;")
        layout.addWidget(self.label)
        self.compute = QPushButton("Compute")
        self.compute.setToolTip("Compute the missing analysis in the background (File ▸ Save As keeps it)")
        layout.addWidget(self.compute, 0, Qt.AlignmentFlag.AlignHCenter)
        #: Offered where the panel shows local minima only and the text says to select one.
        self.next_local = QPushButton("Next local minimum")
        self.next_local.setToolTip("Select the next local minimum in the run table (Go ▸ Next local minimum)")
        layout.addWidget(self.next_local, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)

    def show_reason(self, text: str, can_compute: bool, running: bool = False) -> None:
        self.label.setText(text + ("\n\nComputing in the background…" if running else ""))
        self.compute.setVisible(can_compute)
        self.compute.setEnabled(can_compute and not running)
        self.next_local.setVisible(not can_compute and "Next local minimum" in text)


class AnalysisPanelBase(PanelBase):
    """A panel that plots one stored analysis of the current run, or says why it cannot and offers
    to compute it. Subclasses implement ``_build_plots()``, ``_load()`` and ``compute()`` and call
    :meth:`install_pages` at the end of their constructor."""

    def install_pages(self) -> None:
        """Stack the Compute page and the plots, and reload when an analysis of the current run lands."""
        outer = QWidget()
        self._pages = QStackedLayout(outer)
        self.missing = MissingAnalysis()
        self.missing.compute.clicked.connect(self.compute)
        self.missing.next_local.clicked.connect(lambda: self.model.step(+1, "local_min"))
        self._pages.addWidget(self.missing)
        self._pages.addWidget(self._build_plots())
        self.set_content(outer)
        self.model.analysis.finished.connect(lambda row, names: row == self.model.current and self._load())
        self.on_session_changed()

    def on_session_changed(self) -> None:
        self._load()

    def on_current_changed(self, index: int) -> None:
        self._load()

