"""A panel's background computation where only the newest request counts: :class:`LatestJob`.

Panels recompute when the selection, a slider or a resolution changes, often faster than a result
arrives. :class:`LatestJob` is the one place that decides what happens then, so panels hold no
workers, tokens or wait loops of their own:

- :meth:`LatestJob.start` supersedes the job before it: that one is asked to stop (a generator
  stops at its next ``yield``; a plain function runs to its end) and its records and result are
  dropped. The new job starts once the old one's thread has ended, so a panel never runs more
  than one thread; requests made meanwhile coalesce, only the newest of them runs.
- Records, the result, an error and ``on_done`` reach the callbacks on the GUI thread, for the
  newest job only.
- :meth:`LatestJob.cancel` drops the job and any waiting request; :attr:`LatestJob.busy` says
  whether a job still runs or waits; :meth:`LatestJob.wait` blocks, processing events, until none
  does (tests and the headless export, never normal GUI code paths).

A job given a ``task`` label is registered with the window's :class:`~.workers.TaskRegistry`, so it
shows in the status bar and Cancel stops it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QElapsedTimer, QObject

from .workers import TaskRegistry, Worker, default_progress


@dataclass
class _Request:
    """One requested computation and where its outcome goes."""

    func: Callable[..., Any]
    args: tuple
    on_record: Callable[[Any], None] | None
    on_result: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    on_done: Callable[[], None] | None
    task: str | None
    progress: Callable[[object], tuple[int, int, str]]


class LatestJob(QObject):
    """Runs a panel's computations off the GUI thread, one at a time, delivering the newest one's only."""

    def __init__(self, tasks: TaskRegistry | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks
        #: The worker whose thread runs now (newest or superseded), None when no thread runs.
        self._running: Worker | None = None
        #: The worker of the newest job while it runs; None once superseded, cancelled or finished.
        self._current: Worker | None = None
        #: The newest request, waiting for the running thread to end.
        self._waiting: _Request | None = None

    @property
    def busy(self) -> bool:
        """A job's thread still runs, or a request waits for it."""
        return self._running is not None or self._waiting is not None

    def start(self, func: Callable[..., Any], *args: Any,
              on_record: Callable[[Any], None] | None = None,
              on_result: Callable[[Any], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              on_done: Callable[[], None] | None = None,
              task: str | None = None,
              progress: Callable[[object], tuple[int, int, str]] = default_progress) -> None:
        """Compute ``func(*args)`` (a generator is iterated) in place of whatever this job computed.

        ``on_record`` gets every yielded record, ``on_result`` the return value, ``on_error`` the
        exception, ``on_done`` is called when the thread has ended (whatever the outcome, cancelling
        from the status bar included); none of them for a job superseded or cancelled meanwhile.
        ``task``: the status bar's label (and ``progress`` its adapter); None keeps it out of there.
        """
        self.cancel()
        request = _Request(func, args, on_record, on_result, on_error, on_done, task, progress)
        if self._running is None:
            self._launch(request)
        else:
            self._waiting = request

    def cancel(self) -> None:
        """Drop the newest job (asked to stop, nothing of it delivered) and any waiting request."""
        self._waiting = None
        if self._current is not None:
            self._current.quit()
            self._current = None

    def wait(self, msecs: int = 30_000) -> bool:
        """Block, processing events (at least once), until no job runs or waits; False on timeout."""
        timer = QElapsedTimer()
        timer.start()
        while True:
            QCoreApplication.processEvents()
            if not self.busy or timer.elapsed() >= msecs:
                return not self.busy
            if self._running is not None:
                self._running.wait(min(50, max(1, msecs - timer.elapsed())))

    def _launch(self, request: _Request) -> None:
        worker = Worker(request.func, *request.args)
        self._running = self._current = worker

        def deliver(callback: Callable | None, *value: Any) -> None:
            if callback is not None and worker is self._current:
                callback(*value)

        worker.yielded.connect(lambda record: deliver(request.on_record, record))
        worker.returned.connect(lambda result: deliver(request.on_result, result))
        worker.errored.connect(lambda exc: deliver(request.on_error, exc))
        worker.finished.connect(lambda: self._finished(worker, request))
        if self._tasks is not None and request.task is not None:
            self._tasks.start(worker, request.task, request.progress)
        else:
            worker.start()

    def _finished(self, worker: Worker, request: _Request) -> None:
        newest = worker is self._current
        if worker is self._running:
            self._running = None
        if newest:
            self._current = None
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            self._launch(waiting)
        if newest and request.on_done is not None:
            request.on_done()


__all__ = ["LatestJob"]
