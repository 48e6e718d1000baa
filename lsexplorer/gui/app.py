"""The main window: dockable panels around one :class:`SessionModel`, menus, status bar, run_gui.

Files are read and written in a :class:`Worker` thread (a session of 1000 runs with trajectories is
several MB), so the GUI thread never waits on disk. A file that cannot be opened shows an error
and leaves the current session as it was. Closing the window while work runs asks first, stops the
work and waits for its thread; saving is atomic, so a stopped save leaves the old file intact.

The window layout (dock positions, sizes, visibility) and the recent files are remembered with
QSettings under :data:`ORGANIZATION` / :data:`APPLICATION`; tests pass their own settings object.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
)

from .._version import __version__
from ..core.analyses.opening import open_session
from ..core.base.errors import InputError
from ..core.store.samples import bundled_samples, sample_session_path
from ..core.store.session import Session, SessionError, save_session
from ..figures.files import IMAGE_FORMATS
from ..figures.style import PaperStyle
from .export import ExportError, write_csv
from .figure_export import figure_spec, replace_context_export, write_panel_figure
from .icon import app_icon
from .layout import Role, arrange_docks, dock_role, fitted_size, make_dock, new_window_size
from .model import SessionModel, derived_data
from .panels import PANELS
from .panels.base import PanelBase
from .plot_navigation import QtPlotNavigation
from .remembered import last_folder, remember_folder
from .style import configure_pyqtgraph
from .sweep_view import QtSweepView
from .workers import GuiThreadGarbageCollector, Worker

if TYPE_CHECKING:  # imported when the dialog opens
    from .figure_export_dialog import QtFigureExportDialog

log = logging.getLogger(__name__)

ORGANIZATION = "lsexplorer"
APPLICATION = "lsexplorer"
#: The session opened when no file is given (a checkout's sample_data/, or installed with the wheel).
SAMPLE_SESSION = sample_session_path()
MAX_RECENT = 8
#: Bumped when the dock set changes, so an old saved layout is not applied to new docks.
LAYOUT_VERSION = 5
SESSION_FILTER = "lsexplorer sessions (*.h5 *.hdf5);;All files (*)"
#: What Help ▸ About asks users to cite: the thesis whose methods the tool implements (README).
CITATION = ("T. Stoican, <i>An Empirical Investigation of the Failure Mode of Training in Mildly "
            "Over-parameterized Neural Networks</i>, Master's thesis, Technical University of Munich, 2022.")


def docs_url() -> QUrl:
    """Help ▸ Documentation: the docs/ folder of the checkout the package runs from, else its README."""
    root = Path(__file__).resolve().parents[2]
    target = root / "docs" if (root / "docs").is_dir() else root / "README.md"
    return QUrl.fromLocalFile(str(target))


def load_with_derived_data(path: Path) -> tuple[Session, dict]:
    """Worker-thread part of opening a file: read and validate it, and compute what panels cache."""
    session = open_session(path)
    return session, derived_data(session)


def _once(fn):
    """``fn`` wrapped so that only its first call does anything (a closure, not a method: it may
    run from ``destroyed``, when the window's Python wrapper is already gone)."""
    pending = [True]

    def call(*_args) -> None:
        if pending:
            pending.clear()
            fn()
    return call


def dropped_sessions(mime) -> list[Path]:
    """The local ``.h5``/``.hdf5`` files among dragged ``mime`` data."""
    urls = mime.urls() if mime is not None and mime.hasUrls() else []
    paths = [Path(url.toLocalFile()) for url in urls if url.isLocalFile()]
    return [p for p in paths if p.suffix.lower() in (".h5", ".hdf5")]


def about_text() -> str:
    """Help ▸ About's text: version, what the tool is, what to cite, links."""
    return (f"<h3>lsexplorer {__version__}</h3>"
            "<p>Loss landscapes of small neural networks: teacher–student training, certified critical points, "
            "saddle lines, channels to infinity.</p>"
            f"<p><b>Cite:</b> {CITATION}</p>"
            f"<p>Documentation: <a href='{docs_url().toString()}'>{docs_url().toLocalFile()}</a></p>")


def default_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class MainWindow(QMainWindow):
    """The docks of :data:`~lsexplorer.gui.panels.PANELS` around one selection."""

    def __init__(self, model: SessionModel | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        configure_pyqtgraph()
        self._release_gc = _once(GuiThreadGarbageCollector.release)
        GuiThreadGarbageCollector.acquire()  # released when the window closes (or is destroyed)
        self.destroyed.connect(self._release_gc)
        self.model = model or SessionModel(self)
        self.settings = settings if settings is not None else default_settings()
        self.error_box: QMessageBox | None = None
        self.setDockNestingEnabled(True)
        self.setDockOptions(QMainWindow.DockOption.AllowTabbedDocks | QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)

        self.panels: list[PanelBase] = []
        self.roles: dict[str, Role] = {}
        for spec in PANELS:
            panel = spec.panel_class(self.model)
            setattr(self, spec.attribute, panel)
            self.panels.append(panel)
            self.roles[panel.title] = dock_role(panel.title)
        self.docks: dict[str, QDockWidget] = {p.title: make_dock(self, p) for p in self.panels}
        self.resize(new_window_size(self._available_geometry()))
        arrange_docks(self, self.docks)

        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)  # a session file dropped on the window opens
        self._build_status_bar()
        self._build_menus()
        self._offer_figure_export_on_right_click()
        self.plot_navigation = QtPlotNavigation(self)  # wheel scrolls panels; Ctrl+wheel zooms; Back, Reset view
        for panel in self.panels:
            self.plot_navigation.install(panel)
        self.model.sessionChanged.connect(self._update_title)
        self.model.pathChanged.connect(self._update_title)
        # Every session shown from a file — opened, saved as, or written by a finished training — is recent.
        self.model.pathChanged.connect(lambda path: self.add_recent(path) if path else None)
        self.model.modifiedChanged.connect(self._update_title)
        self.model.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.model.error.connect(self.show_error)
        self.model.tasks.changed.connect(self._tasks_changed)
        self.model.tasks.progress.connect(self._task_progress)
        self.training.started.connect(lambda: self.show_dock("Training"))
        self.paths.openPoint.connect(self.open_point_window)
        self._restore_layout()
        self._update_title()

    # ------------------------------------------------------------------ construction
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.session_label = QLabel()
        self.task_label = QLabel()
        self.task_progress = QProgressBar()
        self.task_progress.setMaximumWidth(220)
        self.task_progress.setTextVisible(True)
        self.task_cancel = QPushButton("Cancel")
        self.task_cancel.setToolTip("Stop the running background task")
        self.task_cancel.clicked.connect(self.model.tasks.cancel_all)
        for w in (self.session_label, self.task_label, self.task_progress, self.task_cancel):
            bar.addPermanentWidget(w)
        self._tasks_changed()

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.new_action = self._action("&New experiment…", self.new_experiment, "Ctrl+N",
                                       "Train students from a preset and certify their end points")
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.save_action = self._action("&Save", self.save, QKeySequence.StandardKey.Save,
                                        "Save the open session to its file (Save As… if it has none)")
        self.save_as_action = self._action("Save &As…", self.save_as_dialog, QKeySequence.StandardKey.SaveAs)
        self.open_sweep_action = self._action("Open s&weep…", self.open_sweep_dialog, None,
                                              "Outcome fractions against width of a sweep folder (lsexplorer sweep)")
        self.import_action = self._action("&Import students…", self.import_dialog, None,
                                          "Build a session from students trained elsewhere (.npz/.npy/.csv/PyTorch)")
        menu.addActions([self.new_action, self.import_action, self.open_action, self.open_sweep_action])
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.sample_menu = menu.addMenu("Open &sample")
        self.sample_menu.aboutToShow.connect(self._fill_samples)
        menu.addActions([self.save_action, self.save_as_action])
        menu.addSeparator()
        self.export_figure_menu = menu.addMenu("Export &figure")
        self.export_figure_menu.aboutToShow.connect(lambda: self._fill_export_menu(self.export_figure_menu, True))
        self.export_data_menu = menu.addMenu("Export &data (CSV)")
        self.export_data_menu.aboutToShow.connect(lambda: self._fill_export_menu(self.export_data_menu, False))
        menu.addSeparator()
        menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        go = self.menuBar().addMenu("&Go")
        self.next_local_action = self._action("Next local minimum", lambda: self.model.step(+1, "local_min"),
                                              "Ctrl+Down")
        self.prev_local_action = self._action("Previous local minimum", lambda: self.model.step(-1, "local_min"),
                                              "Ctrl+Up")
        self.next_same_action = self._action("Next run of the same kind", lambda: self._step_same_kind(+1),
                                             "Ctrl+Shift+Down")
        self.prev_same_action = self._action("Previous run of the same kind", lambda: self._step_same_kind(-1),
                                             "Ctrl+Shift+Up")
        self.go_to_action = self._action("Go to &seed or run…", self.go_to_dialog, "Ctrl+G",
                                         "Select the run of a seed (or a row number: #12)")
        go.addActions([self.next_local_action, self.prev_local_action, self.next_same_action, self.prev_same_action,
                       self.go_to_action])
        self.addActions(go.actions())  # window-wide shortcuts, whichever panel has the focus

        self.path_action = self._action("Path to nearest global minimum", self._path_from_selection,
                                        tip="Minimum-energy path (NEB) from the selected run, in the Paths panel")
        self.run_table.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.run_table.view.addAction(self.path_action)

        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction(self._action("&Reset layout", self.reset_layout))

        help_menu = self.menuBar().addMenu("&Help")
        self.docs_action = self._action("&Documentation", lambda: QDesktopServices.openUrl(docs_url()),
                                        QKeySequence.StandardKey.HelpContents, "The user guide (docs/)")
        self.about_action = self._action("&About lsexplorer", self.show_about)
        help_menu.addActions([self.docs_action, self.about_action])

    def open_point_window(self, session) -> MainWindow:
        """A window of its own on the in-memory one-run ``session`` (a path's saddle); Save As stores it."""

        window = MainWindow(settings=self.settings)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.model.set_session(session, None, modified=True, derived=derived_data(session))
        self.point_windows = [w for w in getattr(self, "point_windows", []) if w.isVisible()] + [window]
        window.show()
        return window

    def _path_from_selection(self) -> None:
        self.docks["Paths"].raise_()
        self.paths.target.setCurrentIndex(0)
        self.paths.compute()

    # ------------------------------------------------------------------ prompts (tests replace these)
    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", self._last_dir(), SESSION_FILTER)
        return path or None

    def ask_save_path(self, caption: str, suggested: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, caption, suggested, file_filter)
        return path or None

    def new_experiment(self) -> None:
        """File ▸ New experiment…; a finished training replaces the open session, so unsaved changes
        to it are confirmed first."""
        if self.model.has_session and self.model.modified:
            buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
            answer = self.ask_question(
                "Unsaved changes", "The open session has unsaved changes. A new experiment replaces it in this "
                "window when its training finishes (its own file is kept). Start a new experiment anyway?",
                buttons, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.training.new_experiment()

    def ask_question(self, title: str, text: str, buttons: QMessageBox.StandardButton,
                     default: QMessageBox.StandardButton) -> QMessageBox.StandardButton:
        return QMessageBox.question(self, title, text, buttons, default)

    def show_error(self, title: str, text: str) -> QMessageBox:
        """A window-modal error box that does not block the event loop (kept in ``error_box``)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_box = box
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0] if text else ''}", 10000)
        return box

    def _last_dir(self) -> str:
        if self.model.path is not None:
            return str(self.model.path.parent)
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        path = self.ask_open_path()
        if path:
            self.open_session(path)

    def ask_sweep_folder(self) -> str | None:
        return QFileDialog.getExistingDirectory(self, "Open sweep folder", self._last_dir()) or None

    def open_sweep_dialog(self) -> None:
        folder = self.ask_sweep_folder()
        if folder:
            self.open_sweep(folder)

    def open_sweep(self, folder: str | Path) -> QtSweepView:
        """A Sweep window on ``folder``; clicking a width there opens its session here."""
        view = QtSweepView(self, self.settings)
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.openSession.connect(self.open_session)
        view.failed.connect(lambda text: self.show_error("Cannot open sweep", text))
        self.sweep_views = [v for v in getattr(self, "sweep_views", []) if v.isVisible()] + [view]
        view.open_folder(folder)
        view.show()
        return view

    def open_session(self, path: str | Path) -> Worker:
        """Load ``path`` in the background; on success it replaces the session, else an error shows."""
        path = Path(path)
        worker = Worker(load_with_derived_data, path)
        # Reading cannot be interrupted; Cancel means "do not show it" once it is read.
        worker.returned.connect(lambda loaded: None if worker.abort_requested else self._opened(*loaded, path))
        worker.errored.connect(lambda exc: self._io_failed("Cannot open session", exc))
        self.statusBar().showMessage(f"Opening {path}…")
        self.model.tasks.start(worker, f"Opening {path.name}")
        return worker

    def _opened(self, session, derived: dict, path: Path) -> None:
        self.model.set_session(session, path, derived=derived)
        self.add_recent(path)
        self.statusBar().showMessage(f"Opened {path} ({session.runs.n_runs} runs)", 8000)

    def _io_failed(self, title: str, exc: BaseException) -> None:
        if isinstance(exc, (SessionError, OSError)):
            self.show_error(title, str(exc))
        else:  # a bug: the user gets one line, the log the whole story
            log.error("%s\n%s", title, getattr(exc, "worker_traceback", ""))
            self.show_error(title, f"{type(exc).__name__}: {exc}")

    def import_dialog(self):
        """File ▸ Import students…: the (non-blocking) dialog; accepting it starts :meth:`import_students`."""
        from ..core.experiment.experiment import PRESETS
        from .import_dialog import QtImportDialog

        self.import_box = QtImportDialog(self, list(PRESETS), self.model.path, Path(self._last_dir()))
        self.import_box.accepted.connect(lambda: self.import_students(*self.import_box.job()))
        self.import_box.open()
        return self.import_box

    def import_students(self, files: list[str], source: dict, refine: bool, path: str | Path) -> Worker:
        """Import ``files`` in the background, save the session to ``path`` and open it."""
        import threading

        from .import_dialog import import_and_save

        path = Path(path)
        worker = Worker(import_and_save, files, source, refine, path, threading.Event())
        worker.returned.connect(lambda saved: None if worker.abort_requested else self.open_session(saved))
        worker.errored.connect(self._import_failed)
        self.model.tasks.start(worker, f"Importing {len(files)} file(s)")
        return worker

    def _import_failed(self, exc: BaseException) -> None:
        from ..core.base.errors import InputError

        if isinstance(exc, InputError):  # the importer's, the config's and the session's one-line reasons
            self.show_error("Cannot import students", str(exc))
        else:
            self._io_failed("Cannot import students", exc)

    def save(self) -> Worker | None:
        """File ▸ Save: the open session to its own file; one without a file asks where (Save As)."""
        if self.model.has_session and self.model.path is not None:
            return self.save_session_as(self.model.path)
        self.save_as_dialog()
        return None

    def ask_text(self, title: str, label: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label)
        return text if ok else None

    def go_to_dialog(self) -> None:
        text = self.ask_text("Go to seed or run", "Seed (or #row for a row of the run table):")
        if text is not None:
            self.go_to(text)

    def go_to(self, text: str) -> bool:
        """Select the run of seed ``text`` (``#N``: row N); False, with a message saying why, if there is none."""
        if not self.model.has_session:
            self.statusBar().showMessage("No session is open", 8000)
            return False
        runs, text = self.model.session.runs, text.strip()
        try:
            number = int(text.lstrip("#"))
        except ValueError:
            self.statusBar().showMessage(f"Go to: {text!r} is not a seed or #row number", 8000)
            return False
        if text.startswith("#"):
            row = number if 0 <= number < runs.n_runs else -1
        else:
            rows = [int(r) for r in (runs.seed == number).nonzero()[0]]
            row = rows[0] if rows else -1
        if row < 0:
            self.statusBar().showMessage(f"Go to: no {'row' if text.startswith('#') else 'seed'} {number} "
                                         "in this session", 8000)
            return False
        if row not in self.model.view_order():
            self.run_table.set_kind_filter(None)  # the run must be listed to be shown
        self.model.select(row)
        return True

    def show_about(self) -> QMessageBox:
        """Help ▸ About: the version, what to cite and where the documentation is (non-blocking)."""
        box = QMessageBox(QMessageBox.Icon.Information, "About lsexplorer", about_text(), QMessageBox.StandardButton.Ok,
                          self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.about_box = box
        return box

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event) -> None:
        if dropped_sessions(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        """A session file dropped on the window opens (the first, if several are dropped)."""
        files = dropped_sessions(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.open_session(files[0])

    def save_as_dialog(self) -> None:
        if not self.model.has_session:
            self.show_error("Nothing to save", "No session is open.")
            return
        suggested = str(self.model.path) if self.model.path else str(Path(self._last_dir()) / "session.h5")
        path = self.ask_save_path("Save session as", suggested, SESSION_FILTER)
        if path:
            self.save_session_as(path if Path(path).suffix else path + ".h5")

    def save_session_as(self, path: str | Path) -> Worker:
        """Save the open session to ``path`` (atomically, in the background) and make it its file."""
        path = Path(path)
        worker = Worker(save_session, self.model.session, path)
        worker.returned.connect(lambda _: self._saved(path))
        worker.errored.connect(lambda exc: self._io_failed("Cannot save session", exc))
        self.model.tasks.start(worker, f"Saving {path.name}")
        return worker

    def _saved(self, path: Path) -> None:
        self.model.set_path(path, modified=False)
        self.add_recent(path)
        self.statusBar().showMessage(f"Saved {path}", 8000)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        files = [path] + [f for f in self.recent_files() if f != path]
        self.settings.setValue("recent_files", files[:MAX_RECENT])

    def _fill_samples(self) -> None:
        self.sample_menu.clear()
        samples = bundled_samples()
        for title, path in samples:
            action = self.sample_menu.addAction(title)
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.open_session(p))
        if not samples:
            self.sample_menu.addAction("(none installed)").setEnabled(False)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for f in files:
            action = self.recent_menu.addAction(f)
            action.triggered.connect(lambda _=False, f=f: self.open_session(f))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # ------------------------------------------------------------------ export
    def _fill_export_menu(self, menu, figures: bool) -> None:
        menu.clear()
        for spec, panel in zip(PANELS, self.panels):
            items = [n for n in panel.figures() if figure_spec(spec.slug, n)] if figures else list(panel.tables())
            for name in items:
                action = menu.addAction(f"{panel.title}: {name.replace('_', ' ')}")
                action.triggered.connect(lambda _=False, p=panel, n=name, f=figures:
                                         self.export_figure_dialog(p, n) if f else self.export_data_dialog(p, n))
        if menu.isEmpty():
            menu.addAction("(nothing to export)").setEnabled(False)

    def _offer_figure_export_on_right_click(self) -> None:
        """Every plot's right-click menu exports its paper figure; a plot without one offers no export
        (pyqtgraph's own exporter would copy the screen's plot, not draw a figure for a page)."""
        offered = set()
        for spec, panel in zip(PANELS, self.panels):
            for name, view in panel.figures().items():
                if isinstance(view, pg.GraphicsView) and figure_spec(spec.slug, name) is not None:
                    replace_context_export(view, lambda p=panel, n=name: self.export_figure_dialog(p, n))
                    offered.add(id(view))
        for view in self.findChildren(pg.GraphicsView):
            if id(view) not in offered:
                view.scene().contextMenu = []

    def _export_dir(self) -> Path:
        """Where the last export went (else next to the session, a recent file, or home)."""
        return last_folder(self.settings, "export") or Path(self._last_dir())

    def _slug(self, panel: PanelBase) -> str:
        return next(spec.slug for spec, p in zip(PANELS, self.panels) if p is panel)

    def export_figure_dialog(self, panel: PanelBase, name: str) -> QtFigureExportDialog:
        """File ▸ Export figure: the (non-blocking) dialog for where, the size on paper, the style and the
        formats; accepting it writes the paper figure of the selected run and remembers the choices."""
        from .figure_export_dialog import QtFigureExportDialog

        spec = figure_spec(self._slug(panel), name)
        run = self.model.current
        stem = spec.file_stem(run if run >= 0 else None) if spec is not None else name
        self.figure_box = QtFigureExportDialog(
            self, self._export_dir() / stem, self.settings,
            lambda current: self.ask_save_path("Export figure", current, "Figure name (*)"))
        self.figure_box.accepted.connect(lambda box=self.figure_box: self._export_accepted(panel, name, box))
        self.figure_box.open()
        return self.figure_box

    def _export_accepted(self, panel: PanelBase, name: str, box) -> None:
        if self.export_figure(panel, name, box.path, box.style, box.formats):
            remember_folder(self.settings, "export", box.path)

    def export_figure(self, panel: PanelBase, name: str, path: str | Path, style: PaperStyle | None = None,
                      formats: tuple[str, ...] = IMAGE_FORMATS) -> list[Path]:
        """Write the paper figure of ``panel``'s plot ``name`` for the selected run and the panel's choices
        as ``path.<format>`` for each of ``formats``, ``path.csv`` and ``path.py``; the files written, or
        none and a message saying why."""
        path = Path(path)
        if path.suffix.lower() in {f".{f}" for f in IMAGE_FORMATS} | {".csv", ".py"}:
            path = path.with_suffix("")
        if not self.model.has_session:
            self.show_error("Cannot export the figure", "no session is open")
            return []
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = write_panel_figure(panel, self._slug(panel), name, path, style or PaperStyle(), formats)
        except InputError as exc:
            where = str(self.model.path) if self.model.path is not None else "SESSION"
            self.show_error("Cannot export the figure", str(exc).replace("SESSION", where))
            return []
        finally:
            QApplication.restoreOverrideCursor()
        self.statusBar().showMessage(f"Wrote {', '.join(p.name for p in written)} to {path.parent}", 8000)
        return written

    def export_data_dialog(self, panel: PanelBase, name: str) -> None:
        path = self.ask_save_path("Export data", str(self._export_dir() / f"{name}.csv"), "CSV (*.csv)")
        if path:
            table = panel.tables()[name]
            try:
                write_csv(path if Path(path).suffix else path + ".csv", table.columns, table.rows)
                remember_folder(self.settings, "export", path)
                self.statusBar().showMessage(f"Wrote {path}", 8000)
            except ExportError as exc:
                self.show_error("Cannot export the data", str(exc))

    # ------------------------------------------------------------------ layout, status, title
    def _available_geometry(self):
        screen = self.screen() or QApplication.primaryScreen()
        return screen.availableGeometry()

    def _restore_layout(self) -> None:
        """The saved geometry and docks, the window shrunk to the screen if it was saved on a larger one."""
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
            self.resize(fitted_size(self.size(), self._available_geometry()))
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        """Every dock shown and docked where it starts, arranged for the window shrunk to the current screen."""
        if not (self.isMaximized() or self.isFullScreen()):
            self.resize(fitted_size(self.size(), self._available_geometry()))
        arrange_docks(self, self.docks)

    def show_dock(self, title: str) -> None:
        """Show dock ``title`` and bring it to the front of its tab group."""
        self.docks[title].show()
        self.docks[title].raise_()

    def _step_same_kind(self, step: int) -> None:
        if self.model.has_session and self.model.current >= 0:
            self.model.step(step, str(self.model.session.runs.kind[self.model.current]))

    def _tasks_changed(self) -> None:
        busy = bool(self.model.tasks.active)
        self.task_label.setText(self.model.tasks.label)
        for w in (self.task_label, self.task_progress, self.task_cancel):
            w.setVisible(busy)
        if busy:
            self.task_progress.setRange(0, 0)  # busy indicator until the first record
            self.task_progress.setFormat("")

    def _task_progress(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.task_progress.setRange(0, total)
            self.task_progress.setValue(min(done, total))
            self.task_progress.setFormat(f"{text} %p%" if text else "%p%")

    def _update_title(self, *args) -> None:
        path = self.model.path
        name = path.name if path else ("unsaved session" if self.model.has_session else "no session")
        self.setWindowTitle(f"lsexplorer — {name}[*]")
        self.setWindowModified(self.model.modified)
        spec = self.model.spec
        self.session_label.setText(f"{spec.describe()} · {self.model.n_runs} runs" if spec is not None else
                                   "No session: File ▸ Open… or File ▸ New experiment…")

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:
        if self.model.tasks.active:
            answer = self.ask_question(
                "Work in progress", f"{self.model.tasks.label} is still running. Stop it and quit?\n\n"
                "Files already saved are kept; an unfinished training is discarded.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.model.tasks.cancel_all()
            if not self.model.tasks.wait_all(30_000):
                self.show_error("Cannot quit yet", "The background work did not stop within 30 s.")
                event.ignore()
                return
        if self.model.modified and self.model.has_session:
            text = (f"{self.model.path.name} has changes that are not saved. Save them before quitting?"
                    if self.model.path is not None else
                    "The open session has never been saved to a file. Save it before quitting?")
            answer = self.ask_question(
                "Unsaved changes", text,
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                path = self.model.path or self.ask_save_path(
                    "Save session as", str(Path(self._last_dir()) / "session.h5"), SESSION_FILTER)
                if not path:
                    event.ignore()
                    return
                worker = self.save_session_as(path)
                worker.wait(60_000)
                if self.model.modified:  # saving failed; the error box says why
                    event.ignore()
                    return
        self.save_layout()
        self._release_gc()
        event.accept()


def leave_a_core_for_the_gui() -> None:
    """Let torch use one core fewer than the machine has (at least one).

    With every core busy in torch's intra-op pool, the GUI thread waits for a core: on 2 cores,
    dragging μ measured 54 ms of event processing per mouse move and 200 ms until the spectrum showed
    with torch's default two threads, 26 ms and 22 ms with one.
    """
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def run_gui(path: str | Path | None = None) -> int:
    """Open the main window on ``path`` (else the bundled sample session) and run the event loop.

    Returns the application's exit status. Without a file and without the sample session the
    window opens empty and says how to get a session.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    leave_a_core_for_the_gui()
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName("lsexplorer")  # Wayland: the desktop entry, and with it the icon
    app.setWindowIcon(app_icon())
    window = MainWindow()
    window.show()
    target = Path(path) if path else SAMPLE_SESSION
    if path or SAMPLE_SESSION.exists():
        QTimer.singleShot(0, lambda: window.open_session(target))
    else:
        window.statusBar().showMessage(
            f"The sample session {SAMPLE_SESSION} is not installed; open a session (File ▸ Open…) "
            "or train one (File ▸ New experiment…).")
    return app.exec()


__all__ = ["APPLICATION", "ORGANIZATION", "SAMPLE_SESSION", "MainWindow", "default_settings", "run_gui"]
