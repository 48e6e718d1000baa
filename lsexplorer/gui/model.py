"""The GUI's one source of truth: the open session, where it lives, and the selected run.

Every panel is given a :class:`SessionModel` and nothing else; it reads the session from it and
subscribes to its signals (napari style: the model does not know its views). Selecting a run
anywhere — a table row, a scatter point, a keyboard shortcut — goes through :meth:`SessionModel.select`,
so all panels follow one selection.

Derived per-session data that several panels need (nearest-neuron distances) is computed once and
cached here, and dropped when the session changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.base.kinds import kind_label
from ..core.landscape.nets import MLPSpec
from ..core.store.session import Session
from ..core.symmetry import operations as symmetry
from .analysis import AnalysisQueue
from .workers import TaskRegistry


class SessionModel(QObject):
    """The open :class:`~lsexplorer.core.store.session.Session` (or none) and the current run.

    Signals
    -------
    sessionChanged()
        A different session was set (or cleared); ``currentChanged`` follows.
    runsChanged()
        The open session's per-run labels changed in place (an escape search turned a local minimum
        into a non-strict saddle, the closest saddle marked runs symmetry-induced).
    currentChanged(int)
        The selected run's row index into ``session.runs`` (``-1``: none).
    pathChanged(str)
        The file the session was loaded from or saved to ('' when it has none).
    modifiedChanged(bool)
        Whether the session holds anything not saved to ``path``.
    message(str)
        A one-line note for the status bar.
    error(str, str)
        Something the user must see (title, text); the main window shows it in a dialog.
    """

    sessionChanged = Signal()
    runsChanged = Signal()
    currentChanged = Signal(int)
    pathChanged = Signal(str)
    modifiedChanged = Signal(bool)
    message = Signal(str)
    error = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session: Session | None = None
        self._path: Path | None = None
        self._current = -1
        self._modified = False
        self._order: np.ndarray | None = None
        self._cache: dict = {}
        #: Background tasks the user sees in the status bar and can cancel.
        self.tasks = TaskRegistry(self)
        #: Missing analyses, computed on request in the background (``analysis.finished`` after).
        self.analysis = AnalysisQueue(self)

    # ------------------------------------------------------------------ state
    @property
    def session(self) -> Session | None:
        return self._session

    @property
    def has_session(self) -> bool:
        return self._session is not None

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def modified(self) -> bool:
        return self._modified

    @property
    def current(self) -> int:
        """Row of the selected run in ``session.runs``, ``-1`` when nothing is selected."""
        return self._current

    @property
    def n_runs(self) -> int:
        return self._session.runs.n_runs if self._session is not None else 0

    @property
    def spec(self) -> MLPSpec | None:
        return self._session.spec if self._session is not None else None

    @property
    def teacher_spec(self) -> MLPSpec | None:
        return self._session.teacher_spec if self._session is not None else None

    def set_session(self, session: Session | None, path: str | Path | None = None, modified: bool = False,
                    derived: dict | None = None) -> None:
        """Show ``session`` (None: empty state); the first run becomes the current one.

        ``derived`` is :func:`derived_data` of the session when a worker thread computed it already
        (opening a file, training), so the GUI thread does not.
        """
        self._session = session
        self._cache = dict(derived or {})
        self._order = None
        self._current = 0 if session is not None and session.runs.n_runs else -1
        self.set_path(path, modified)
        self.sessionChanged.emit()
        self.currentChanged.emit(self._current)

    def set_path(self, path: str | Path | None, modified: bool = False) -> None:
        """Record where the session is stored (after Save As) and whether it differs from that file."""
        new = Path(path) if path else None
        if new != self._path:
            self._path = new
            self.pathChanged.emit(str(new) if new else "")
        self.set_modified(modified)

    def set_modified(self, modified: bool) -> None:
        if bool(modified) != self._modified:
            self._modified = bool(modified)
            self.modifiedChanged.emit(self._modified)

    # ------------------------------------------------------------------ selection
    def select(self, index: int) -> None:
        """Make run ``index`` (a row of ``session.runs``) the current one, or none with -1; out-of-range is
        ignored."""
        index = int(index)
        if not -1 <= index < self.n_runs or index == self._current:
            return
        self._current = index
        self.currentChanged.emit(index)

    def set_view_order(self, rows: np.ndarray | None) -> None:
        """The run rows in the order the run table shows them (sorted, filtered), for stepping."""
        self._order = None if rows is None else np.asarray(rows, dtype=int)

    def view_order(self) -> np.ndarray:
        return self._order if self._order is not None else np.arange(self.n_runs)

    def step(self, step: int, kind: str | None = None) -> int:
        """Select the next (``step=+1``) or previous (``-1``) run of ``kind`` (any kind when None).

        Walks the run table's visible order and wraps around at its ends. Returns the new current
        row, or ``-1`` (selection unchanged, a message emitted) when no such run is visible.
        """
        if self._session is None:
            return -1
        order = self.view_order()
        matches = np.flatnonzero(self._session.runs.kind[order] == kind) if kind else np.arange(order.size)
        if matches.size == 0:
            what = f"no {kind_label(kind)}" if kind else "no run"
            self.message.emit(f"{what} in the run table")
            return -1
        here = np.flatnonzero(order == self._current)
        if step > 0:
            pos = here[0] if here.size else -1
            later = matches[matches > pos]
            target = later[0] if later.size else matches[0]
        else:
            pos = here[0] if here.size else order.size
            earlier = matches[matches < pos]
            target = earlier[-1] if earlier.size else matches[-1]
        self.select(int(order[target]))
        return self._current

    # ------------------------------------------------------------------ derived data
    def nearest_neuron_distances(self, layer: int = 1) -> np.ndarray:
        """``(S,)`` distance of the two closest incoming vectors of hidden ``layer`` in each run (Fig 6.7).

        NaN for runs whose point is not finite or whose layer has a single neuron. Cached per session.
        """
        key = ("nearest", layer)
        if key not in self._cache:
            self._cache[key] = nearest_neuron_distances(self._session, layer)
        return self._cache[key]


def nearest_neuron_distances(session: Session | None, layer: int) -> np.ndarray:
    """``(S,)`` nearest-neuron distance of hidden ``layer`` per run (NaN where undefined), from core."""
    if session is None:
        return np.zeros(0)
    return symmetry.nearest_neuron_distances(session.spec, session.runs.theta, layer)


def derived_data(session: Session) -> dict:
    """Everything :class:`SessionModel` caches per session, computed up front.

    Plain numpy, safe to call in a worker thread: the file-opening and training workers call it so
    that showing a large session does not compute ~40 ms of distances on the GUI thread.
    """
    return {("nearest", layer): nearest_neuron_distances(session, layer)
            for layer in range(1, len(session.spec.hidden_widths) + 1)}


__all__ = ["SessionModel", "derived_data", "nearest_neuron_distances"]
