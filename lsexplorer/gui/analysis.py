"""Stored analyses of the open session, and computing missing ones in the background.

Readers (:func:`closest_saddle_of`, :func:`mu_sweep_of`, :func:`escape_of`) are the core registry's
(:mod:`lsexplorer.core.analyses`): the core's result objects, None where absent.

:class:`AnalysisQueue` computes what a panel asks for with :func:`lsexplorer.core.analyses.analyze.analyze_session`
in a :class:`~lsexplorer.gui.workers.Worker`. The worker never touches the shown session: it works on a
copy whose ``analyses`` tree and ``runs.kind`` are its own (the only things ``analyze_session`` writes),
and on the GUI thread the copy's tree and kinds replace the session's. Requests run one at a time, so
each copy already holds every earlier result and nothing is lost; the session is marked modified so
Save keeps the results.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.analyses import REGISTRY, closest_saddle, escape, mu_sweep
from ..core.analyses.analyze import FAILED, analyze_session
from ..core.analyses.escape import EscapeResult
from ..core.base.kinds import Kind
from ..core.saddles.closest_saddle import ClosestSaddle
from ..core.saddles.inertia import MuSweep
from ..core.store.run_names import run_name
from ..core.store.session import Session
from .workers import Worker


def requestable() -> tuple[str, ...]:
    """Analyses a panel may request for one run: every one in :data:`lsexplorer.core.analyses.REGISTRY`
    (as registered now), in the registry's order."""
    return tuple(REGISTRY)


def closest_saddle_of(session: Session | None, row: int) -> ClosestSaddle | None:
    """The stored closest saddle of run ``row``, None if it was not analysed."""
    return closest_saddle.read(session, row)


def mu_sweep_of(session: Session | None, row: int) -> MuSweep | None:
    """The stored Theorem 3 sweep along run ``row``'s closest saddle line, None if absent."""
    return mu_sweep.read(session, row)


def escape_of(session: Session | None, row: int) -> EscapeResult | None:
    """Algorithm 1's scan, Algorithm 2's search and the kind before them for run ``row``, None if absent."""
    return escape.read(session, row)


def analysable(session: Session | None, row: int) -> bool:
    """``analyze_session`` analyses local minima only (and rows whose escape turned them into saddles)."""
    if session is None or row < 0:
        return False
    return session.runs.kind[row] == Kind.LOCAL_MIN or int(row) in escape.analysed_rows(session)


def _working_copy(session: Session) -> Session:
    """A session sharing the read-only arrays but owning the parts ``analyze_session`` writes."""
    runs = dataclasses.replace(session.runs, kind=session.runs.kind.copy(),
                               symmetry_induced=np.array(session.runs.symmetry_induced, copy=True))
    return dataclasses.replace(session, runs=runs, analyses=copy.deepcopy(session.analyses))


def _analyze(work: Session, row: int, names: tuple[str, ...]):
    """Worker generator: ``analyze_session`` on the copy (core takes its own autodiff lock)."""
    result = yield from analyze_session(work, [row], names)
    return work, result


class AnalysisQueue(QObject):
    """Computes requested analyses of the model's session, one request at a time, in a Worker.

    ``finished(row, names)`` after results were stored into the session (GUI thread).
    """

    finished = Signal(int, object)

    def __init__(self, model, parent: QObject | None = None) -> None:
        super().__init__(parent or model)
        self._model = model
        self._queue: list[tuple[int, tuple[str, ...]]] = []
        self._worker: Worker | None = None
        self._running: tuple[int, tuple[str, ...]] | None = None
        model.sessionChanged.connect(self._queue.clear)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def pending(self, row: int, name: str) -> bool:
        """Is ``name`` for run ``row`` queued or being computed?"""
        jobs = self._queue + ([self._running] if self._running else [])
        return any(r == row and name in names for r, names in jobs)

    def request(self, row: int, names) -> None:
        """Queue ``names`` (registered analyses, :func:`requestable`) for run ``row``; duplicates are ignored."""
        names = tuple(n for n in requestable() if n in set(names))
        if not names or all(self.pending(row, n) for n in names):
            return
        self._queue.append((int(row), names))
        self._next()

    def _next(self) -> None:
        if self._worker is not None or not self._queue or self._model.session is None:
            return
        row, names = self._running = self._queue.pop(0)
        session = self._model.session
        worker = self._worker = Worker(_analyze, _working_copy(session), row, names)
        worker.returned.connect(lambda out: self._store(session, row, names, *out))
        worker.errored.connect(lambda exc: self._model.error.emit(
            "Analysis failed", f"{', '.join(names)} of {run_name(session, row)}: {type(exc).__name__}: {exc}"))
        worker.finished.connect(self._done)
        seed = int(session.runs.seed[row])
        self._model.tasks.start(worker, f"Analysing seed {seed} ({', '.join(n.replace('_', ' ') for n in names)})")

    def _store(self, session: Session, row: int, names: tuple[str, ...], work: Session, summary: dict) -> None:
        if session is not self._model.session:  # another session was opened meanwhile
            return
        for name, runs in summary.get(FAILED, {}).items():
            self._model.error.emit("Analysis failed",
                                   f"{name.replace('_', ' ')} of {run_name(session, row)}: {runs[row]}")
        relabelled = not (np.array_equal(session.runs.kind, work.runs.kind)
                          and np.array_equal(session.runs.symmetry_induced, work.runs.symmetry_induced))
        session.analyses.clear()
        session.analyses.update(work.analyses)
        session.runs.kind[:] = work.runs.kind
        session.runs.symmetry_induced[:] = work.runs.symmetry_induced
        self._model.set_modified(True)
        if relabelled:
            self._model.runsChanged.emit()
        self._model.message.emit(f"Computed {', '.join(names)} for {run_name(session, row)}; "
                                 "save the session to keep them")
        self.finished.emit(row, names)

    def _done(self) -> None:
        self._worker = None
        self._running = None
        self._next()

    def wait(self, msecs: int = 60_000) -> bool:
        """Block (processing events) until the queue is empty; for tests and headless export."""
        from PySide6.QtCore import QCoreApplication, QElapsedTimer

        timer = QElapsedTimer()
        timer.start()
        while (self._worker is not None or self._queue) and timer.elapsed() < msecs:
            if self._worker is not None:
                self._worker.wait(max(1, msecs - timer.elapsed()))
            QCoreApplication.processEvents()
        return self._worker is None and not self._queue


__all__ = ["AnalysisQueue", "analysable", "closest_saddle_of", "escape_of", "mu_sweep_of", "requestable"]
