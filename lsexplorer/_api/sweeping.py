"""Width x seed sweeps on Dask from Python, and reading a sweep folder back.

:func:`sweep` runs what ``lsexplorer sweep`` runs: the experiment cut into tasks of a few seeds per
width (and learning rate), on a local Dask cluster or a running one, one session per sweep point
and a manifest in the output folder. Re-running the same call finishes only what is missing. Ctrl-C
(a notebook's kernel interrupt) stops it between two looks at its tasks, keeps the finished ones
and then raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.base.errors import InputError
from .inputs import config_layers, one_line_errors
from .progress import drive, signals_ask_to_stop
from .session import Session
from .session import open as open_session

if TYPE_CHECKING:
    import pandas


class Sweep:
    """A sweep folder: one session per sweep point (a width, and a learning rate when several were swept).

    Parameters
    ----------
    folder
        The sweep folder (internal; use :func:`lsexplorer.open_sweep`).
    failed
        Tasks that failed in the call that made this object, by task key.
    """

    def __init__(self, folder: str | os.PathLike, failed: Mapping[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.failed: dict[str, str] = dict(failed or {})

    def _outcomes(self):
        from ..core.sweep.manifest import SweepError
        from ..core.sweep.outcomes import read_sweep_outcomes

        with one_line_errors(SweepError):
            return read_sweep_outcomes(self.folder)

    @property
    def outcomes(self) -> pandas.DataFrame:
        """One row per sweep point and outcome group (``global_min``, ``local_min``, ...): ``point``,
        ``width``, ``lr``, ``seeds_done``, ``seeds_asked``, ``complete``, ``outcome``, ``count``,
        ``fraction`` and its Wilson 95 % interval ``ci_low``, ``ci_high`` (NaN before any seed is done)."""
        import pandas as pd

        outcomes = self._outcomes()
        rows = []
        for p in outcomes.points:
            for group in outcomes.groups:
                fraction, low, high = p.fraction(group)
                rows.append({"point": p.name, "width": p.width, "lr": p.lr, "seeds_done": p.n_done,
                             "seeds_asked": p.n_asked, "complete": p.complete, "outcome": group,
                             "count": p.groups().get(group, 0), "fraction": fraction, "ci_low": low, "ci_high": high})
        return pd.DataFrame(rows, columns=["point", "width", "lr", "seeds_done", "seeds_asked", "complete", "outcome",
                                           "count", "fraction", "ci_low", "ci_high"])

    @property
    def sessions(self) -> dict[str, Session]:
        """The session of every finished sweep point, by point name (``w4``, or ``w4_lr0.01``)."""
        return {p.name: open_session(p.session) for p in self._outcomes().points if p.session.exists()}

    def __repr__(self) -> str:
        points = self._outcomes().points
        done = sum(p.complete for p in points)
        return f"<lsexplorer.Sweep {self.folder}: {done} of {len(points)} points complete>"


def open_sweep(folder: str | os.PathLike) -> Sweep:
    """The sweep in ``folder`` (written by :func:`sweep` or ``lsexplorer sweep``), finished or not.

    Raises
    ------
    InputError
        ``folder`` holds no sweep manifest, or one that cannot be read.
    """
    found = Sweep(folder)
    found._outcomes()  # refuses a folder that is not a sweep now rather than at first use
    return found


def sweep(widths: Sequence[int], output: str | os.PathLike, *, preset: str | None = None,
          seeds: int | Sequence[int] | None = None, first_seed: int | None = None, lrs: Sequence[float] | None = None,
          chunk: int = 8, workers: int | None = None, scheduler: str | None = None,
          config: str | os.PathLike | Mapping | None = None, analyses: Sequence[str] | None = None,
          progress: bool = True, **overrides: Any) -> Sweep:
    """Train and certify a width x seed (x learning rate) sweep as Dask tasks, as ``lsexplorer sweep`` does.

    Parameters
    ----------
    widths
        The hidden widths to sweep.
    output
        The sweep folder (created; give the same one again to finish an interrupted sweep).
    preset, seeds, first_seed, config, **overrides
        The experiment, as for :func:`lsexplorer.train` (sweeps train a fixed number of epochs).
    lrs
        Learning rates to sweep as a second axis (default: the config's one).
    chunk
        Seeds per task.
    workers
        Worker processes of the local cluster (default one per core).
    scheduler
        A running Dask scheduler (``tcp://HOST:PORT`` or its scheduler file) instead of a local cluster.
    analyses
        Analyses each task runs on its seeds where they trained (names as for
        :meth:`Session.analyze`), so the sessions come back analysed; default none.
    progress
        Show a progress bar over the tasks.

    Returns
    -------
    Sweep
        The folder's sweep; ``failed`` lists tasks that failed (the others are kept).

    Raises
    ------
    InputError
        Dask not installed, a bad axis or setting, a folder that holds another sweep or that
        another sweep is writing, a scheduler that cannot be reached; nothing is written.
    KeyboardInterrupt
        Interrupted: finished tasks are kept in ``output``; the same call finishes the rest.
    """
    from ..core.experiment.experiment import ConfigError
    from ..core.sweep.manifest import SweepError, check_sweep_folder, plan_sweep, sweep_folder_lock
    from ..core.sweep.sweep import check_local_memory, local_cluster_size, open_client, run_sweep

    if workers is not None and scheduler:
        raise InputError("workers= sizes the local cluster; a scheduler= cluster has its own workers")
    table, layered = config_layers(config, seeds, first_seed, overrides)
    if preset is not None:
        layered["preset"] = preset
    out = Path(output)
    stop = threading.Event()
    with one_line_errors(SweepError, ConfigError), sweep_folder_lock(out):
        chosen = [analyses] if isinstance(analyses, str) else list(analyses or ())
        plan = plan_sweep("toy", table, layered, list(widths), None if lrs is None else list(lrs), chunk, chosen)
        check_sweep_folder(plan, out)
        device = plan.points[0].config["train"]["device"]
        if not scheduler:
            from ..core.training.train import resolve_device

            with one_line_errors(ValueError):
                resolve_device(device)
            workers = workers or local_cluster_size(device)
            check_local_memory(plan, workers)
        try:
            with open_client(scheduler, workers, device) as client:
                engine = {"scheduler": scheduler or "local", "workers": len(client.scheduler_info().get("workers", {}))}
                with signals_ask_to_stop(stop) as received:
                    summary = drive(run_sweep(plan, out, client, stop, engine), {"sweep": ("sweep", "task", False)},
                                    progress=progress, stop=stop)
        except OSError as exc:
            raise InputError(f"stopped: {exc.strerror or exc}; finished tasks are kept in {out}") from None
    if received:
        raise KeyboardInterrupt
    return Sweep(out, summary.failed)


__all__ = ["Sweep", "open_sweep", "sweep"]
