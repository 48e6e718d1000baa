"""The per-run computations of one analysis, on every usable core: processes, results kept per run.

Runs are independent within an analysis, so :func:`computed_rows` hands them to a pool of worker
processes (``forkserver``: a clean process with the numerics imported once, never a fork of a
threaded GUI) and yields each run's result as it completes; the caller stores them by run, so the
stored results do not depend on the completion order. Each worker computes with one intra-op thread,
as the serial path does, so a run's numbers are the same on one core or many.

Processes, not threads: much of a run is thousands of small steps (an optimiser's Python
callbacks, the dispatch of torch operations on tensors of a few thousand entries) that hold the
interpreter lock, and forward-mode autodiff takes a process-wide lock, so threads would take turns
where processes run side by side. One worker, fewer than :data:`MIN_PARALLEL_RUNS` runs, or a
computation that cannot be sent to another process (a closure) computes in this process, with no
pool (the app's one-run requests, tests).

A run whose numerics fail is reported as that run's failure (the others go on), as in the serial
loop. ``ctx.stop`` or Ctrl-C ends the batch at the next completed run: runs not started are
dropped, running workers are terminated, and what completed is kept. Workers ignore SIGINT; the
parent process alone decides what a Ctrl-C means.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from multiprocessing import forkserver
from typing import Any

import torch

from ..base.heap import retain_freed_memory
from ..base.numerical_failure import failure_reason, is_numerical_failure
from ..base.threads import INTRA_OP_VARIABLES, parallel_threads
from .base import Analysis, Compute, Context, drive

#: Fewer runs than this are computed in this process: a pool's start-up would cost more than it gives.
MIN_PARALLEL_RUNS = 4
#: Seconds between looks at the running runs: the reaction time to ``ctx.stop``.
POLL_SECONDS = 0.1
#: Modules the pool's server imports once, so that each worker starts without importing them
#: (a run's computation is sent by name and imported where it is not among them). torch loads its
#: forward-mode rules on the first forward-mode derivative; loaded here, no worker pays for it.
PRELOAD = ["lsexplorer.core.analyses.analyze", "torch._decomp.decompositions_for_jvp"]

#: One ``(row, result, failure)`` per run: ``result`` (None when nothing is stored) or ``failure``
#: (the one-line reason of a numerical failure).
RowOutcome = tuple[int, Any, str | None]


class _Failed:
    """A run's numerical failure, sent back as its reason (the exception itself may not pickle)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def workers_for(rows: int, workers: int | None = None) -> int:
    """Processes to use for ``rows`` runs: ``workers`` (default: every usable core, or ``--threads``),
    at most one per run, and 1 (this process) below :data:`MIN_PARALLEL_RUNS` runs."""
    n = parallel_threads() if workers is None else int(workers)
    if rows < MIN_PARALLEL_RUNS:
        return 1
    return max(1, min(n, rows))


def computed_rows(analysis: Analysis, ctx: Context, rows: Sequence[int], workers: int | None = None
                  ) -> Generator[RowOutcome, None, None]:
    """Compute ``analysis`` for every run of ``rows``; yield ``(row, result, failure)`` as each completes
    (in this process, in order, when one worker suffices). Errors other than a run's numerical
    failure escape, as in the serial loop."""
    n = workers_for(len(rows), workers)
    if n == 1 or not _sendable(analysis.compute):
        yield from _serial(analysis, ctx, rows)
    else:
        yield from _parallel(analysis, ctx, rows, n)


def _serial(analysis: Analysis, ctx: Context, rows: Sequence[int]) -> Generator[RowOutcome, None, None]:
    for row in rows:
        if ctx.stopped():
            return
        try:
            result = drive(analysis.compute(ctx, row))
        except Exception as exc:
            if not is_numerical_failure(exc):
                raise
            yield row, None, failure_reason(exc)
        else:
            yield row, result, None


def _parallel(analysis: Analysis, ctx: Context, rows: Sequence[int], n: int
              ) -> Generator[RowOutcome, None, None]:
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(PRELOAD)
    # The context as the workers need it, pickled once: no stop event (the parent stops them), and no
    # training history (no analysis reads it; it can outweigh the rest of the session many times).
    session = ctx.session
    session = dataclasses.replace(session, runs=dataclasses.replace(session.runs, trajectory=None, loss_curve=None))
    payload = pickle.dumps(Context(session=session, tolerances=ctx.tolerances, rows=ctx.rows, local=ctx.local,
                                   options=dict(ctx.options)), protocol=pickle.HIGHEST_PROTOCOL)
    pool = cf.ProcessPoolExecutor(max_workers=n, mp_context=mp, initializer=_start_worker, initargs=(payload,))
    finished = False
    try:
        with _main_hidden(), _one_thread_pools():
            # The forkserver first, with the stops let through: every worker is forked from it, with its signal mask.
            forkserver.ensure_running()
            with _stops_held():  # the workers start while submitting; a stop waits until each is registered
                futures = {pool.submit(_compute_row, analysis.compute, int(row)): int(row) for row in rows}
        pending = set(futures)
        while pending and not ctx.stopped():
            # A timeout, so that a stop set while long runs compute ends them within POLL_SECONDS.
            done, pending = cf.wait(pending, timeout=POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=futures.__getitem__):
                row = futures[future]
                outcome = future.result()  # a run's other errors escape here, as in the serial loop
                if isinstance(outcome, _Failed):
                    yield row, None, outcome.reason
                else:
                    yield row, outcome, None
        finished = not pending
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # stopped, interrupted or failed: drop what has not started, end what is running
            processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(timeout=5)


@contextlib.contextmanager
def _one_thread_pools() -> Iterator[None]:
    """Within: processes started inherit one-thread intra-op pools (BLAS reads the variables when it
    loads, in the forkserver), unless the user sized them: runs are the parallelism, and a second
    intra-op thread per run only contends for the same cores."""
    saved = {name: os.environ.get(name) for name in INTRA_OP_VARIABLES}
    if not any(value is not None for value in saved.values()):
        os.environ.update({name: "1" for name in INTRA_OP_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _stops_held() -> Iterator[None]:
    """Within: a Ctrl-C or SIGTERM is noted, and handled as usual when the block ends.

    A worker is started in steps (the new process, the work it is sent, its registration with the pool);
    a stop raised between them would leave a process the pool does not know, which cannot be ended and
    which, once this process has gone, prints a traceback about the pool's vanished semaphores. The
    handlers are swapped rather than the signals blocked: a signal that arrived just before the block
    is handled at the next Python instruction, inside it. Only the main thread handles signals; from
    another thread nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: noted.append(signum)) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(noted):
            signal.raise_signal(sig)  # the handler put back decides what the stop means


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Within: ``__main__`` has no file and no module name, so workers started now do not import it.

    multiprocessing re-imports the parent's main script (or ``-m`` module) in every new process; a
    script without a main guard, or ``python -m lsexplorer`` itself, would run again in each worker.
    The per-run computations need nothing from ``__main__``.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


_CONTEXT: Context | None = None


def _start_worker(payload: bytes) -> None:
    """In a worker: ignore Ctrl-C (the parent handles it), compute with one intra-op thread and freed
    memory kept for reuse (:mod:`..base.heap`), load the context.

    SIGTERM ends it (the parent's way to stop it), whatever the handlers it inherited."""
    global _CONTEXT
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(1)
    retain_freed_memory()
    _CONTEXT = pickle.loads(payload)


def _sendable(compute: Compute) -> bool:
    """Whether ``compute`` reaches a worker: a module-level function is sent by name; a closure or a
    lambda cannot be, and its runs are computed in this process."""
    try:
        pickle.dumps(compute)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _compute_row(compute: Compute, row: int) -> Any:
    """In a worker: ``compute``'s result for ``row``, or its numerical failure as :class:`_Failed`."""
    try:
        return drive(compute(_CONTEXT, row))
    except Exception as exc:
        if is_numerical_failure(exc):
            return _Failed(failure_reason(exc))
        raise


__all__ = ["MIN_PARALLEL_RUNS", "RowOutcome", "computed_rows", "workers_for"]
