"""Run the registered analyses on chosen runs of a session and store them under ``/analyses``.

One generator drives them all, in the registry's order (:data:`lsexplorer.core.analyses.REGISTRY`),
so the CLI and the GUI share it:

``channels``        every chosen ``not_converged`` run re-examined for a flat channel to infinity;
                    found ones become ``channel`` / ``channel_saddle``;
``symmetry``        teacher matching of every chosen run (two-layer nets with a teacher) and the
                    symmetry-induced decision, which needs the closest saddle;
``closest_saddle``  thesis §6.2.5 for every chosen local minimum (sets ``/runs/symmetry_induced``);
``mu_sweep``        Theorem 3 spectra along the saddle line of each closest saddle (Fig 6.17);
``escape``          Algorithms 1 and 2 at every chosen local minimum; an escape turns the run's
                    kind into ``nonstrict_saddle`` (the kind before is kept in the summary);
``theorems``        Theorems 1 and 2 at each closest saddle, with radius the saddle's distance to
                    the minimum (does the theorem account for the minimum we know is there?).

Each analysis' stored layout is documented, written and read in its module of
:mod:`lsexplorer.core.analyses`.

:func:`saddle_descent_analysis` runs apart from these, on one run and a neuron the caller picks
(thesis §6.3.2), into ``/analyses/saddle_descent/<row>/layer<L>_neuron<J>``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import numpy as np

from ..base.classify import Tolerances
from ..base.distribution import refuse_inapplicable
from ..base.kinds import Kind
from ..base.progress import Progress
from ..saddles.saddle_descent import DescentConfig, SaddleDescent, saddle_descent
from ..store.session import Session
from . import REGISTRY, Analysis, Context
from . import saddle_descent as saddle_descent_store
from .parallel_runs import computed_rows
from .teacher_match import MATCH_RESIDUAL

#: The summary key of the runs each analysis failed on numerically.
FAILED = "failed"
#: The record :func:`analyze_session` yields: ``stage`` is the analysis, ``done`` of ``total`` runs.
AnalyzeProgress = Progress


def plan(analyses: Sequence[str]) -> list[tuple[Analysis, bool]]:
    """``(analysis, only_missing)`` in run order: the analyses asked for, those they include, and
    those they need (``only_missing``: computed only for runs that lack them)."""
    unknown = set(analyses) - set(REGISTRY)
    if unknown:
        raise ValueError(f"unknown analyses {sorted(unknown)}; choose from {', '.join(REGISTRY)}")
    full = set(analyses)
    while True:
        more = full | {n for name in full for n in REGISTRY[name].includes}
        if more == full:
            break
        full = more
    needed = {n for name in full for n in REGISTRY[name].needs} - full
    return [(a, a.name in needed) for a in REGISTRY.values() if a.name in full | needed]


def analyze_session(session: Session, runs: Sequence[int] | None = None, analyses: Sequence[str] | None = None,
                    options: Mapping[str, Any] | None = None, stop: threading.Event | None = None,
                    workers: int | None = None) -> Generator[Progress, None, dict]:
    """Compute ``analyses`` (default: every registered one) for ``runs`` (row indices; default all)
    and store them in ``session``.

    Works in memory; the caller saves. Yields a :class:`Progress` after each run of each analysis
    (``stage`` the analysis, ``run`` the row). Returns a JSON-able summary: per analysis the rows
    stored and headline counts, and under :data:`FAILED` the runs an analysis failed on numerically
    (``{analysis: {row: reason}}``; those runs store nothing, the others are unaffected). A set
    ``stop`` ends after the current run, keeping what is complete. The runs of an analysis are
    computed on ``workers`` processes (default every usable core, or ``--threads``:
    :mod:`.parallel_runs`); what is stored does not depend on how many.
    """
    analyses = list(REGISTRY) if analyses is None else list(analyses)
    steps = plan(analyses)
    refuse_inapplicable(session, analyses)
    n = len(session.runs.seed)
    rows = np.arange(n) if runs is None else np.asarray(list(runs), dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"run indices must be in 0..{n - 1}, got {rows.tolist()}")
    ctx = Context(session=session, tolerances=Tolerances.from_dict(session.config.get("tolerances", {})),
                  options=dict(options or {}), rows=[int(r) for r in rows],
                  local=[int(r) for r in rows if session.runs.kind[r] == Kind.LOCAL_MIN], stop=stop)
    summary: dict = {}
    failed: dict[str, dict[int, str]] = {}
    started = time.perf_counter()
    for analysis, only_missing in steps:
        if ctx.stopped():
            break
        if not analysis.applies(session):
            continue
        todo = analysis.rows(ctx)
        if only_missing:
            todo = [r for r in todo if analysis.read(session, r) is None]
        results = {}
        if todo:  # the stage has begun: a progress bar shows from here, and ends at total exactly
            yield Progress(analysis.name, 0, len(todo), time.perf_counter() - started)
        for done, (row, result, failure) in enumerate(computed_rows(analysis, ctx, todo, workers), 1):
            if failure is not None:
                failed.setdefault(analysis.name, {})[row] = failure
            elif result is not None:
                results[row] = result
            yield Progress(analysis.name, done, len(todo), time.perf_counter() - started, run=row)
        results = dict(sorted(results.items()))  # stored in run order, whatever order they completed in
        analysis.write(session, results)
        headline = analysis.summary(session)
        if headline is not None:
            summary[analysis.summary_key or analysis.group] = headline
    if failed:
        summary[FAILED] = failed
    return summary


def saddle_descent_analysis(session: Session, row: int, layer: int, neuron: int, config: DescentConfig | None = None,
                            stop: threading.Event | None = None) -> Generator[Progress, None, SaddleDescent]:
    """Thesis §6.3.2 from run ``row``'s point, duplicating ``neuron`` of hidden ``layer``; stored in ``session``.

    Stored under ``/analyses/saddle_descent/<row>/layer<L>_neuron<J>``
    (:mod:`lsexplorer.core.analyses.saddle_descent`), replacing an earlier one; a stopped analysis
    is returned but not stored. Works in memory; the caller saves.
    """
    n = len(session.runs.seed)
    if not 0 <= row < n:
        raise ValueError(f"run index must be in 0..{n - 1}, got {row}")
    tolerances = Tolerances.from_dict(session.config.get("tolerances", {}))
    result = yield from saddle_descent(session.spec, session.runs.theta[row], session.x, session.y, layer, neuron,
                                       config, tolerances, stop)
    if not result.stopped:
        saddle_descent_store.write(session, row, result)
    return result


__all__ = ["FAILED", "MATCH_RESIDUAL", "AnalyzeProgress", "analyze_session", "plan",
           "saddle_descent_analysis"]
