"""Width x seed sweeps run as Dask distributed tasks, resumable and fault-tolerant.

:func:`run_chunk` is the task: plain config and seeds in, plain arrays out, importable by any Dask
worker that has lsexplorer installed. It trains its seeds batched, refines and certifies them
(:func:`lsexplorer.core.experiment.experiment.run_experiment`). A seed's initial point comes from its own
generator and the batched trainer keeps seeds independent, so a seed ends at the same point whatever
chunk or worker it ran in; a worker lost mid-task only costs a re-run of that task, which Dask's
scheduler does by itself.

:func:`run_sweep` is the driver, a progress generator over a Dask ``Client``: it skips chunks
already on disk (:mod:`lsexplorer.core.sweep.manifest`), submits the rest, writes each result
atomically the moment it arrives, assembles a point's session once its last chunk is in, and keeps
the manifest current. Stopping it (the ``stop`` event, or closing the generator on Ctrl-C) cancels
what is still queued and keeps everything finished. :func:`open_client` gives the engine: a
``LocalCluster`` sized to the machine, or a client of a running cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._version import __version__
from ..analyses.analyze import analyze_session
from ..analyses.merge import copy_results
from ..base.distribution import APPLICABLE_ANALYSES, is_population
from ..base.estimates import estimate_experiment, format_bytes
from ..base.heap import retain_freed_memory
from ..base.memory import available_memory
from ..base.progress import Progress, run_generator
from ..base.threads import set_parallel_threads
from ..experiment.experiment import make_dataset, run_experiment
from ..store.session import LossCurve, Runs, Session, Trajectory, save_session
from ..training.train import tune_glibc_malloc
from .manifest import (
    SweepChunk,
    SweepError,
    SweepPlan,
    SweepPoint,
    check_sweep_folder,
    chunk_done,
    read_chunk,
    remove_stale_chunk_temporaries,
    sweep_folder_lock,
    write_chunk,
    write_manifest,
)

#: Seconds between looks at the futures still running (also the reaction time to ``stop``).
POLL_SECONDS = 0.05

#: Per-seed arrays a chunk returns, in the order they are concatenated into the session's /runs.
RUN_ARRAYS = ("seed", "theta_init", "theta", "loss", "grad_norm", "hessian_eigvals", "kind", "degeneracy",
              "lambda_min", "stop_reason", "train_loss", "theta_trained")


def _task_threads() -> None:
    """One thread per task in a Dask worker, for torch and for the seed-parallel kernels: the
    parallelism comes from tasks (one per worker thread), and extra threads on a node already busy
    with other tasks only contend. Freed memory is kept for reuse (:mod:`..base.heap`)."""
    try:
        from distributed import get_worker  # optional: sweeps only, and Dask loads slowly

        get_worker()
    except (ImportError, ValueError):
        return
    torch.set_num_threads(1)
    set_parallel_threads(1)
    retain_freed_memory()


def run_chunk(config: Mapping, seeds: Sequence[int], analyses: Sequence[str] = ()) -> dict[str, Any]:
    """Train, refine and certify ``seeds`` of ``config`` (one sweep task), then run ``analyses`` on
    them (registry names; those that do not apply to the session are skipped); plain arrays out.

    Returns the per-seed arrays of :data:`RUN_ARRAYS` (``(S,)`` or ``(S, P)``; ``kind`` as the
    analyses left it), the trajectory (``snapshot_epochs (K,)``, ``snapshots (S, K, P)`` float32,
    ``snapshot_loss (S, K)``), the loss curve (``loss_epochs (L,)``, ``loss_curve (S, L)``), the
    session's ``analyses`` tree (rows are the chunk's: 0 is its first seed), ``symmetry_induced (S,)``
    when the closest saddle was analysed, and ``run``, a dict saying how and where it ran
    (``config["run"]`` of a session plus ``worker``, ``seconds``, ``cpu_seconds`` and
    ``analyse_seconds`` of the task).
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    _task_threads()
    tune_glibc_malloc()
    cfg = json.loads(json.dumps(dict(config)))
    cfg["seeds"] = [int(s) for s in seeds]
    session = run_generator(run_experiment(cfg))
    analysed = time.perf_counter()
    out: dict[str, Any] = {}
    if analyses:
        chosen = [n for n in analyses if n in APPLICABLE_ANALYSES] if is_population(session) else list(analyses)
        # One process per task: the parallelism of a sweep is its tasks.
        run_generator(analyze_session(session, None, chosen, workers=1))
        if "closest_saddle" in session.analyses:
            out["symmetry_induced"] = np.asarray(session.runs.symmetry_induced, dtype=bool)
    runs = session.runs
    out.update({name: getattr(runs, name) for name in RUN_ARRAYS})
    out["kind"] = np.asarray(runs.kind, dtype=str)
    out["stop_reason"] = np.asarray(runs.stop_reason, dtype=str)
    out.update(snapshot_epochs=runs.trajectory.epochs, snapshots=runs.trajectory.theta,
               snapshot_loss=runs.trajectory.loss, loss_epochs=runs.loss_curve.epochs,
               loss_curve=runs.loss_curve.loss)
    out["analyses"] = session.analyses
    out["run"] = {**session.config["run"], "worker": _worker_name(), "seconds": time.perf_counter() - started,
                  "cpu_seconds": time.process_time() - cpu_started, "analyse_seconds": time.perf_counter() - analysed}
    return out


def _worker_name() -> str:
    try:
        from distributed import get_worker  # optional: sweeps only, and Dask loads slowly

        return str(get_worker().address)
    except (ImportError, ValueError):
        return socket.gethostname()


def assemble_point(folder: Path, plan: SweepPlan, point: SweepPoint) -> Session:
    """The session of ``point`` from its chunk files (all must be present), seeds in plan order."""
    parts = []
    for chunk in (c for c in plan.chunks if c.point == point.name):
        arrays = read_chunk(folder, chunk)
        if arrays is None:
            raise SweepError(f"chunk {chunk.key} is missing or unreadable in {folder}")
        parts.append(arrays)
    for name in ("snapshot_epochs", "loss_epochs"):
        if any(not np.array_equal(p[name], parts[0][name]) for p in parts):
            raise SweepError(f"chunks of {point.name} were trained for different epochs; re-run them")
    cat = {name: np.concatenate([p[name] for p in parts]) for name in RUN_ARRAYS}
    runs = Runs(**cat, symmetry_induced=np.zeros(len(cat["seed"]), dtype=bool),
                trajectory=Trajectory(parts[0]["snapshot_epochs"], np.concatenate([p["snapshots"] for p in parts]),
                                      np.concatenate([p["snapshot_loss"] for p in parts])),
                loss_curve=LossCurve(parts[0]["loss_epochs"], np.concatenate([p["loss_curve"] for p in parts])))
    config = json.loads(json.dumps(point.config))
    config["run"] = _merged_run_info([p["run"] for p in parts], plan.chunk)
    dataset = make_dataset(config)
    session = Session(config=config, x=dataset.x, y=dataset.y, teacher_theta=dataset.teacher_theta, runs=runs,
                      analyses={}, lsexplorer_version=__version__)
    offset = 0
    for part in parts:  # each chunk's analyses, from its rows to the rows its seeds take here
        n = len(part["seed"])
        if part.get("analyses"):
            chunk_runs = dataclasses.replace(runs, trajectory=None, loss_curve=None,
                                             **{name: part[name] for name in RUN_ARRAYS},
                                             symmetry_induced=np.zeros(n, dtype=bool))
            chunk = dataclasses.replace(session, runs=chunk_runs, analyses=part["analyses"])
            copy_results(chunk, session, {r: offset + r for r in range(n)})
        offset += n
    return session


def _merged_run_info(runs: list[dict], chunk: int) -> dict:
    """One ``config["run"]`` for a session assembled from chunks that ran on several workers."""
    def joined(key: str) -> str:
        return ", ".join(sorted({str(r.get(key, "?")) for r in runs}))

    return {"epochs_done": max(int(r.get("epochs_done", 0)) for r in runs),
            "stopped": any(bool(r.get("stopped")) for r in runs),
            "device": joined("device"), "backend": joined("backend"),
            "train_seconds": float(sum(float(r.get("train_seconds", 0.0)) for r in runs)),
            "grad_tol_converged": int(sum(int(r.get("grad_tol_converged", 0)) for r in runs)),
            "sweep": {"chunks": len(runs), "chunk": chunk, "workers": sorted({str(r.get("worker")) for r in runs})}}


@dataclasses.dataclass
class SweepProgress(Progress):
    """The :class:`~lsexplorer.core.base.progress.Progress` record of :func:`run_sweep` (stage ``"sweep"``).

    ``done`` of ``total`` chunks are finished (``skipped`` of them were already on disk);
    ``chunk`` is the key of the chunk that just arrived (None for the first record); ``kinds``
    counts the outcomes of every finished seed; ``failed`` chunks raised on their worker.
    """

    _: dataclasses.KW_ONLY
    skipped: int = 0
    chunk: str | None = None
    kinds: dict[str, int] = dataclasses.field(default_factory=dict)
    failed: int = 0


@dataclasses.dataclass
class SweepSummary:
    """What :func:`run_sweep` did: chunks run now, skipped, failed (key -> message), sessions written."""

    folder: Path
    ran: list[str]
    skipped: list[str]
    failed: dict[str, str]
    sessions: list[str]
    stopped: bool
    complete: bool


def _task_key(chunk: SweepChunk, config: Mapping, analyses: Sequence[str] = ()) -> str:
    """A Dask key naming the chunk and fingerprinting its work, so equal keys mean equal work."""
    work = [config, list(chunk.seeds)] + ([list(analyses)] if analyses else [])
    digest = hashlib.sha1(json.dumps(work, sort_keys=True).encode()).hexdigest()[:12]
    return f"lsexplorer-sweep-{chunk.point}-{chunk.index:05d}-{digest}"


def run_sweep(plan: SweepPlan, folder: str | os.PathLike, client, stop: threading.Event | None = None,
              engine: Mapping | None = None, retries: int = 1) -> Generator[SweepProgress, None, SweepSummary]:
    """Run every chunk of ``plan`` not yet in ``folder`` on the Dask ``client``; returns a SweepSummary.

    A folder holding another sweep raises :class:`SweepError` before anything runs. ``retries`` is
    Dask's count of re-runs for a task that raised (a worker that dies is handled by the scheduler
    without it). ``engine`` (a small dict, e.g. the scheduler address) is recorded in the manifest.
    """
    folder = Path(folder)
    with sweep_folder_lock(folder):
        created = check_sweep_folder(plan, folder)
        remove_stale_chunk_temporaries(folder, plan)  # the lock's holder is the only writer of chunks
        return (yield from _run_locked(plan, folder, client, stop, created, dict(engine or {}), retries))


def _run_locked(plan: SweepPlan, folder: Path, client, stop: threading.Event | None, created: str | None,
                engine: dict, retries: int) -> Generator[SweepProgress, None, SweepSummary]:
    """:func:`run_sweep` once the folder is checked and its writer lock held."""
    started = time.perf_counter()

    chunks = plan.chunks
    done = {c.key for c in chunks if chunk_done(folder, c)}
    skipped = sorted(done)
    sessions = {p.name for p in plan.points if (folder / p.session_file).exists()
                and all(c.key in done for c in chunks if c.point == p.name)}
    kinds: Counter[str] = Counter()
    for c in chunks:
        if c.key in done:
            kinds.update(str(k) for k in read_chunk(folder, c)["kind"])

    recorded: set[str] = set()

    def save_manifest() -> None:
        write_manifest(folder, plan, sorted(done), sorted(sessions), created, engine)
        recorded.clear()
        recorded.update(done)

    def assemble_ready() -> None:
        for p in plan.points:
            if p.name not in sessions and all(c.key in done for c in chunks if c.point == p.name):
                save_session(assemble_point(folder, plan, p), folder / p.session_file)
                sessions.add(p.name)

    assemble_ready()
    save_manifest()
    ran: list[str] = []
    failed: dict[str, str] = {}
    yield SweepProgress("sweep", len(done), len(chunks), time.perf_counter() - started, skipped=len(skipped),
                        kinds=dict(kinds))

    todo = [c for c in chunks if c.key not in done]
    pending: dict[Any, SweepChunk] = {}
    stopped = False
    try:
        for c in todo:
            config = plan.point(c.point).config
            analyses = [list(plan.analyses)] if plan.analyses else []  # a task without any is the one it was
            future = client.submit(run_chunk, config, list(c.seeds), *analyses,
                                   key=_task_key(c, config, plan.analyses), retries=retries)
            pending[future] = c
        while pending:
            if stop is not None and stop.is_set():
                stopped = True
                break
            finished = [f for f in pending if f.done()]
            if not finished:
                time.sleep(POLL_SECONDS)
                continue
            for future in finished:
                chunk = pending.pop(future)
                if future.status == "finished":
                    arrays = future.result()
                    write_chunk(folder, chunk, arrays)
                    done.add(chunk.key)
                    ran.append(chunk.key)
                    kinds.update(str(k) for k in arrays["kind"])
                elif future.status == "error":
                    failed[chunk.key] = _one_line(future.exception())
                else:  # cancelled or lost, e.g. when the connection to the scheduler went away
                    failed[chunk.key] = f"task {future.status}"
                future.release()
            assemble_ready()
            save_manifest()
            yield SweepProgress("sweep", len(done), len(chunks), time.perf_counter() - started, skipped=len(skipped),
                                chunk=chunk.key, kinds=dict(kinds), failed=len(failed))
    finally:
        if pending:
            with contextlib.suppress(Exception):
                client.cancel(list(pending))
        # An interrupt can land between a chunk's file and the manifest: the manifest follows the disk.
        done |= {c.key for c in chunks if c.key not in done and chunk_done(folder, c)}
        if done != recorded:
            save_manifest()
    return SweepSummary(folder, ran, skipped, failed, sorted(sessions), stopped,
                        len(sessions) == len(plan.points))


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return "cancelled"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def check_local_memory(plan: SweepPlan, n_workers: int, memory_limit: int | None = None) -> None:
    """:class:`SweepError` when the tasks a local cluster of ``n_workers`` runs at once would need more
    memory than this machine has (``memory_limit``, default what is available now), estimated from
    the config as for ``train``: refused before a cluster starts, not when the workers run out."""
    limit = available_memory() if memory_limit is None else memory_limit
    if limit is None or not plan.chunks:
        return
    seeds = list(plan.chunks[0].seeds)  # the first chunk of a point is its largest
    per_task = max(estimate_experiment({**p.config, "seeds": seeds}).memory for p in plan.points)
    at_once = min(n_workers, len(plan.chunks))
    if per_task * at_once > limit:
        raise SweepError(f"{at_once} tasks at once need about {format_bytes(per_task * at_once)} of memory "
                         f"({format_bytes(per_task)} each), but only {format_bytes(limit)} is available; "
                         "use a smaller --chunk or fewer --workers")


def local_cluster_size(device: str = "auto") -> int:
    """Worker processes for a local cluster: one per core available to this process, or one when
    the tasks train on a GPU (a chunk's seeds are already batched on it; processes of one machine
    would all share device 0)."""
    if device != "cpu":
        if torch.cuda.is_available():
            return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def open_client(scheduler: str | None = None, n_workers: int | None = None, device: str = "auto",
                timeout: float = 10.0) -> Iterator[Any]:
    """A Dask ``Client``: of the scheduler at ``scheduler`` (``tcp://HOST:PORT``, or a scheduler
    JSON file written by ``dask scheduler --scheduler-file``), or of a new ``LocalCluster`` of
    ``n_workers`` single-threaded worker processes (default :func:`local_cluster_size`).

    :class:`SweepError` when Dask is not installed or the scheduler cannot be reached. The local
    cluster and the client are closed on exit. The local cluster's worker processes leave Ctrl-C
    and SIGTERM to this process (:func:`_shielded`): a terminal or a batch system signals the whole
    process group, and a worker that died of it would print its traceback and lose its task, while
    this process stops the sweep and closes the cluster in order.
    """
    try:
        from distributed import Client, LocalCluster  # optional: sweeps only, and Dask loads slowly
    except ImportError:
        raise SweepError("sweeps run on Dask: install it with  pip install 'lsexplorer[cluster]'  "
                         "(or pip install 'dask[distributed]')") from None
    if scheduler:
        try:
            if Path(scheduler).is_file():
                client = Client(scheduler_file=scheduler, timeout=timeout)
            else:
                client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {_one_line(exc)}") from None
        try:
            yield client
        finally:
            _shielded(lambda: _close_quietly(client))
        return
    n = n_workers or local_cluster_size(device)
    # A free port either way: Dask's default (8787, taken by any other cluster on the machine) is
    # replaced by another with a warning; without bokeh there is no dashboard, only Dask's own pages.
    dashboard = ":0" if _has_bokeh() else "127.0.0.1:0"

    def start() -> tuple[Any, Any]:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dashboard,
                               silence_logs=logging.ERROR)
        try:
            return cluster, Client(cluster)
        except BaseException:
            _close_quietly(cluster)
            raise

    try:
        cluster, client = _shielded(start, undo=lambda started: _close_quietly(*reversed(started)))
    except Exception as exc:  # noqa: BLE001 - whatever Dask raises: e.g. no room for its scratch space
        raise SweepError(f"cannot start a local Dask cluster: {_one_line(exc)}") from None
    try:
        yield client
    except BaseException:  # stopped or failed: the tasks still running are given up, not waited for
        _shielded(lambda: _close_quietly(client, _WorkersStoppedNow(cluster), cluster))
        raise
    _shielded(lambda: _close_quietly(client, cluster))


#: The signals that stop a sweep: Ctrl-C, and SIGTERM from ``kill``, ``timeout`` or a batch system.
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _shielded(fn: Callable[[], Any], undo: Callable[[Any], None] | None = None) -> Any:
    """``fn()`` run to its end in a thread of its own that blocks Ctrl-C and SIGTERM; its result.

    Every thread and process started from that thread inherits the signals blocked, so the worker
    processes of a local cluster started here never see the signals sent to the process group. A
    Ctrl-C or SIGTERM that reaches this process meanwhile is raised here once ``fn`` has returned
    (after ``undo(result)``, e.g. closing what ``fn`` started): a cluster half started or half
    closed is what Dask reports with tracebacks at exit.
    """
    # The resource tracker unblocks both signals in the thread that first starts it: start it here.
    with contextlib.suppress(Exception):
        resource_tracker.ensure_running()
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            outcome["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc
        finally:
            finished.set()

    stop: KeyboardInterrupt | None = None
    threading.Thread(target=run, name="lsexplorer cluster start/stop", daemon=True).start()
    # A plain sleep, not Thread.join: a join interrupted by a signal can mark a running thread ended.
    while not finished.is_set():
        try:
            time.sleep(POLL_SECONDS)
        except KeyboardInterrupt as exc:  # also SIGTERM, which the CLI raises as a KeyboardInterrupt
            stop = stop or exc
    if stop is not None:  # asked to stop: that comes first, whatever fn did
        if undo is not None and "result" in outcome:
            _shielded(lambda: undo(outcome["result"]))
        raise stop
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


#: Seconds a worker process is given to end its task when a sweep stops, before it is killed.
_STOP_WORKER_SECONDS = 0.5


class _WorkersStoppedNow:
    """Closes a local cluster's worker processes at once: a task still running there (its result
    would be discarded) is not waited for, as it is when the cluster closes by itself."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def close(self) -> None:
        nannies = list(self.cluster.workers.values())

        async def close_all() -> None:
            await asyncio.gather(*(n.close(timeout=_STOP_WORKER_SECONDS) for n in nannies), return_exceptions=True)

        self.cluster.sync(close_all)


def _close_quietly(*things: Any) -> None:
    """Close Dask clients and clusters, in order, whatever state they are in: the sweep's results are
    on disk by then, and a connection already gone is no news to the user."""
    for thing in things:
        with contextlib.suppress(Exception):
            thing.close()


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def dashboard_link(client) -> str | None:
    """The Dask dashboard's address when there is one (it needs bokeh), else None."""
    if not _has_bokeh():
        return None
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return str(client.dashboard_link)
    except Exception:  # an old or unusual scheduler: the link is only a convenience
        return None


__all__ = ["RUN_ARRAYS", "SweepProgress", "SweepSummary", "assemble_point", "check_local_memory", "dashboard_link",
           "local_cluster_size", "open_client", "run_chunk", "run_sweep"]
