"""Background work for the GUI: core generators run in a QThread, results come back as signals.

The core's long computations are plain generators that yield small progress records and return a
result (``run_experiment``, ``train``, analyses). :class:`Worker` runs one of them (or a plain
function) in its own ``QThread``, superqt style: ``yielded`` for every record, then exactly one of
``returned`` (the result), ``errored`` (the exception) or ``aborted``, then ``finished`` once the
thread has ended. :meth:`Worker.quit` asks for an abort, which is honoured at the generator's next
``yield`` (the generator is closed, so its ``finally`` blocks run in the worker thread) — a
computation that never yields cannot be cancelled, which is why core loops yield per chunk.

Threading rules (DESIGN.md): the function runs in the worker thread and must not touch widgets;
records and results are plain Python/numpy and cross the thread boundary through queued signals.
All of :class:`Worker`'s own signals are emitted on the GUI thread — an internal runner object
lives in the worker thread and its signals are connected to the Worker's (queued) — so any
callable, lambdas included, may be connected to them safely.

:class:`TaskRegistry` keeps the workers the user can see and cancel (status bar, close prompt).
"""

from __future__ import annotations

import gc
import threading
import traceback
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QElapsedTimer,
    QObject,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)

from ..core.landscape.autodiff import FORWARD_AD_LOCK

#: The core's lock around torch's forward-mode derivatives (:mod:`lsexplorer.core.landscape.autodiff`). Core
#: takes it itself wherever it enters forward mode, so worker code needs no lock of its own; it is
#: named here for code that wants to keep the core's derivative computations out for a while.
TORCH_AUTODIFF_LOCK = FORWARD_AD_LOCK



def autodiff_locked(gen: Generator):
    """``gen``'s records and result, with :data:`TORCH_AUTODIFF_LOCK` held while ``gen`` computes.

    Not needed for core computations, which take the lock themselves where it matters; kept for
    code outside core that enters torch's forward mode. Released at every yield.
    """
    try:
        while True:
            with TORCH_AUTODIFF_LOCK:
                try:
                    record = next(gen)
                except StopIteration as stop:
                    return stop.value
            yield record
    finally:
        with TORCH_AUTODIFF_LOCK:
            gen.close()


#: Workers whose thread was started and has not finished; holding them here keeps them (and their
#: QThread) alive until then, whoever else drops them.
_LIVE: set[Worker] = set()


def running_threads() -> list[QThread]:
    """Worker threads that are still running (for shutdown and for tests)."""
    return [w._thread for w in list(_LIVE) if w._thread is not None and w._thread.isRunning()]


def stop_all_workers(msecs: int = 5000) -> bool:
    """Abort every live worker and wait for its thread (for shutdown and tests); False on timeout."""
    workers = list(_LIVE)
    for worker in workers:
        worker.quit()
    return all(worker.wait(msecs) for worker in workers)


class _Runner(QObject):
    """Lives in the worker thread and drives the function; talks to its Worker only via signals."""

    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    aborted = Signal()
    done = Signal()

    def __init__(self, func: Callable[..., Any], args: tuple, kwargs: dict, abort: threading.Event) -> None:
        super().__init__()
        self._func, self._args, self._kwargs, self._abort = func, args, kwargs, abort

    @Slot()
    def run(self) -> None:
        try:
            result = self._func(*self._args, **self._kwargs)
            if isinstance(result, Generator):
                result = self._drive(result)
            if result is _ABORTED:
                self.aborted.emit()
            else:
                self.returned.emit(result)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI thread
            # The traceback's frames hold the worker's locals (tensors among them); only its text
            # goes to the GUI thread, as ``exc.worker_traceback``.
            exc.worker_traceback = traceback.format_exc()
            self.errored.emit(exc.with_traceback(None))
        finally:
            self._func = self._args = self._kwargs = None
            self.done.emit()

    def _drive(self, gen):
        """Run ``gen`` to its end, emitting every record; abort is checked at every yield."""
        try:
            while True:
                if self._abort.is_set():
                    return _ABORTED
                try:
                    record = next(gen)
                except StopIteration as stop:
                    return stop.value
                if self._abort.is_set():
                    return _ABORTED
                self.yielded.emit(record)
        finally:
            gen.close()


_ABORTED = object()


class Worker(QObject):
    """Runs ``func(*args, **kwargs)`` in a new QThread; a generator is iterated, a function called.

    Signals (all emitted on the GUI thread): ``started()``, ``yielded(record)``, ``returned(result)``,
    ``errored(exception)`` (its traceback as text in ``exception.worker_traceback``), ``aborted()``
    and finally ``finished()`` when the thread has stopped.
    """

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    aborted = Signal()
    finished = Signal()

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._abort = threading.Event()
        self._thread: QThread | None = None
        self._runner: _Runner | None = _Runner(func, args, kwargs, self._abort)
        self._is_running = False
        self._started = False
        self._name = getattr(func, "__name__", "work")

    @property
    def is_running(self) -> bool:
        """True from :meth:`start` until ``finished`` has been emitted."""
        return self._is_running

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def start(self) -> None:
        """Start the thread; call once, from the GUI thread."""
        if self._started:
            raise RuntimeError("a Worker can be started only once")
        self._started = True
        thread = QThread()
        thread.setObjectName(f"lsexplorer-{self._name}")
        self._thread = thread
        runner = self._runner
        runner.moveToThread(thread)
        # Queued to this object's (the GUI) thread, in emission order; ``finished`` comes last.
        runner.yielded.connect(self.yielded)
        runner.returned.connect(self.returned)
        runner.errored.connect(self.errored)
        runner.aborted.connect(self.aborted)
        # quit() is thread-safe; calling it directly ends the event loop even while the GUI waits.
        runner.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.started.connect(runner.run)
        thread.finished.connect(self._on_thread_finished)
        _LIVE.add(self)
        self._is_running = True
        thread.start()
        self.started.emit()

    def quit(self) -> None:
        """Ask the work to stop at its next yield; ``aborted`` (or a result) and ``finished`` follow."""
        self._abort.set()

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the thread has stopped and ``finished`` was delivered; False on timeout.

        Events are processed meanwhile, so the last records arrive. Meant for shutdown and tests,
        not for normal GUI code paths.
        """
        timer = QElapsedTimer()
        timer.start()
        while self._is_running and timer.elapsed() < msecs:
            if self._thread is not None:
                self._thread.wait(20)
            QCoreApplication.processEvents()
        return not self._is_running

    @Slot()
    def _on_thread_finished(self) -> None:
        # ``finished`` is emitted just before the thread ends; wait out its last instructions, then
        # both objects are idle and Python may free them here, on the GUI thread.
        self._thread.wait()
        self._thread = self._runner = None
        self._is_running = False
        _LIVE.discard(self)
        self.finished.emit()


class GuiThreadGarbageCollector(QObject):
    """Python's cyclic garbage collection, on the GUI thread only, while worker threads exist.

    CPython collects in whichever thread happens to allocate past the threshold. A worker thread
    that allocates a lot (torch compiling its jvp decompositions, say) then frees the GUI's
    cyclic garbage — widgets and plot items of closed windows — off the GUI thread, and Qt aborts
    (seen here: "Fatal Python error: Aborted" with the worker thread "Garbage-collecting"). Like
    pyqtgraph's ``GarbageCollector``, this turns automatic collection off and collects from a
    timer on the GUI thread instead. :meth:`acquire` / :meth:`release` count users, so that
    automatic collection comes back when the last main window closes.
    """

    _instance: GuiThreadGarbageCollector | None = None
    _users = 0

    def __init__(self, interval_ms: int = 500) -> None:
        super().__init__()
        self._threshold = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect)

    @classmethod
    def acquire(cls) -> None:
        """Start collecting on the GUI thread (call there); nested calls are counted."""
        if cls._instance is None:
            cls._instance = cls()
        if cls._users == 0:
            gc.disable()
            cls._instance._timer.start()
        cls._users += 1

    @classmethod
    def release(cls) -> None:
        """Undo one :meth:`acquire`; the last one collects once and turns automatic collection back on."""
        if cls._users == 0:
            return
        cls._users -= 1
        if cls._users == 0 and cls._instance is not None:
            cls._instance._timer.stop()
            gc.collect()
            gc.enable()

    def collect(self) -> None:
        """Collect the generations that are due, as CPython itself would have."""
        counts = gc.get_count()
        for generation in range(3):
            if counts[generation] <= self._threshold[generation]:
                break
            gc.collect(generation)


#: Status-bar words of progress stages that read better than their names.
STAGE_WORDS = {"train": "training", "certify": "certifying"}


def default_progress(record: object) -> tuple[int, int, str]:
    """``(done, total, text)`` of a core :class:`~lsexplorer.core.base.progress.Progress` record, the one
    adapter from core progress to the status bar; records without those fields count as nothing."""
    done = int(getattr(record, "done", 0) or 0)
    total = int(getattr(record, "total", 0) or 0)
    stage = str(getattr(record, "stage", "") or "")
    return done, total, STAGE_WORDS.get(stage, stage.replace("_", " "))


class TaskRegistry(QObject):
    """The user-visible background tasks: one progress line in the status bar, cancel, close prompt.

    ``changed()`` when a task starts or ends; ``progress(done, total, text)`` for the newest task.
    """

    changed = Signal()
    progress = Signal(int, int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: list[tuple[Worker, str, Callable[[object], tuple[int, int, str]]]] = []

    def start(self, worker: Worker, label: str,
              progress: Callable[[object], tuple[int, int, str]] = default_progress) -> Worker:
        """Register ``worker`` under ``label`` and start it."""
        entry = (worker, label, progress)
        self._tasks.append(entry)
        worker.yielded.connect(lambda record, e=entry: self._on_record(e, record))
        worker.finished.connect(lambda e=entry: self._on_finished(e))
        worker.start()
        self.changed.emit()
        return worker

    @property
    def active(self) -> list[Worker]:
        return [w for w, _, _ in self._tasks]

    @property
    def label(self) -> str:
        """Label of the newest running task, '' when idle."""
        return self._tasks[-1][1] if self._tasks else ""

    def cancel_all(self) -> None:
        for worker in self.active:
            worker.quit()

    def wait_all(self, msecs: int = 10_000) -> bool:
        """Block (processing events) until every task has finished; False on timeout."""
        timer = QElapsedTimer()
        timer.start()
        for worker in self.active:
            if not worker.wait(max(1, msecs - timer.elapsed())):
                return False
        return True

    def _on_record(self, entry, record: object) -> None:
        if self._tasks and self._tasks[-1] is entry:
            done, total, text = entry[2](record)
            self.progress.emit(done, total, text)

    def _on_finished(self, entry) -> None:
        if entry in self._tasks:
            self._tasks.remove(entry)
        self.changed.emit()


__all__ = [
    "TORCH_AUTODIFF_LOCK",
    "GuiThreadGarbageCollector",
    "TaskRegistry",
    "Worker",
    "autodiff_locked",
    "default_progress",
    "running_threads",
    "stop_all_workers",
]
