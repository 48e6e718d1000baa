"""Analyses on several worker processes store exactly what one process stores, in run order, with
one progress record per run; a stop ends them early and keeps what is complete."""

import threading
from pathlib import Path

import numpy as np
import pytest
from test_analyses_registry import _assert_tree_equal, _bare

from lsexplorer.core.analyses import REGISTRY, closest_saddle, escape, parallel_runs, theorems
from lsexplorer.core.analyses.analyze import FAILED, analyze_session
from lsexplorer.core.analyses.parallel_runs import MIN_PARALLEL_RUNS, workers_for
from lsexplorer.core.base.kinds import Kind
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.store.session import load_session

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"
ANALYSES = ["closest_saddle", "escape"]


@pytest.fixture(scope="module")
def bare():
    return _bare(load_session(SAMPLE))


def _local_minima(session, n):
    return [int(r) for r in np.flatnonzero(session.runs.kind == Kind.LOCAL_MIN)[:n]]


def _timeless(tree):
    if isinstance(tree, dict):
        return {k: _timeless(v) for k, v in tree.items() if k not in ("elapsed", "seconds")}
    return tree


def _analysed(bare, rows, workers, stop=None):
    import dataclasses

    runs = dataclasses.replace(bare.runs, kind=bare.runs.kind.copy(),
                               symmetry_induced=bare.runs.symmetry_induced.copy())
    session = dataclasses.replace(bare, runs=runs, analyses={})
    records = []
    runner = analyze_session(session, rows, ANALYSES, stop=stop, workers=workers)
    while True:
        try:
            records.append(next(runner))
        except StopIteration as done:
            return session, records, done.value
        if stop is not None and records[-1].done >= 1:
            stop.set()


def test_two_workers_store_exactly_what_one_stores_with_a_record_per_run(bare):
    rows = _local_minima(bare, MIN_PARALLEL_RUNS)
    one, records1, summary1 = _analysed(bare, rows, 1)
    two, records2, summary2 = _analysed(bare, rows, 2)
    assert summary1 == summary2
    for group in one.analyses:
        _assert_tree_equal(_timeless(one.analyses[group]), _timeless(two.analyses[group]), group)
    assert list(two.analyses["escape"]["summary"]["run"]) == sorted(rows)  # run order, whatever completed first
    np.testing.assert_array_equal(one.runs.kind, two.runs.kind)
    np.testing.assert_array_equal(one.runs.symmetry_induced, two.runs.symmetry_induced)
    for records in (records1, records2):
        per_run = [(r.stage, r.run) for r in records if r.run is not None]
        assert sorted(per_run) == sorted((stage, row) for stage in ANALYSES for row in rows)
        assert [r.done for r in records if r.stage == "escape"] == list(range(len(rows) + 1))


def test_a_stop_ends_the_workers_and_keeps_the_runs_completed(bare):
    rows = _local_minima(bare, 8)
    stopped, records, _ = _analysed(bare, rows, 2, stop=threading.Event())
    assert "escape" not in stopped.analyses  # stopped during the first analysis
    done = [r.run for r in records if r.run is not None]
    assert 1 <= len(done) < len(rows)
    assert sorted(int(r) for r in stopped.analyses["closest_saddle"]["points"]) == sorted(done)


def failing_on_the_second_run(ctx, row):
    """The closest saddle, except that LAPACK gives up on the second run asked for (module level, so
    that it reaches the worker processes)."""
    if row == ctx.rows[1]:
        raise np.linalg.LinAlgError("Eigenvalues did not converge")
    return (yield from closest_saddle.compute(ctx, row))


def test_a_run_failing_in_a_worker_is_reported_and_the_others_are_stored(bare, monkeypatch):
    import dataclasses

    assert parallel_runs._sendable(failing_on_the_second_run)  # so it runs in the workers, not here
    analysis = REGISTRY["closest_saddle"]
    monkeypatch.setitem(REGISTRY, "closest_saddle", dataclasses.replace(analysis, compute=failing_on_the_second_run))
    rows = _local_minima(bare, MIN_PARALLEL_RUNS)
    session = dataclasses.replace(bare, analyses={})
    summary = run_generator(analyze_session(session, rows, ["closest_saddle"], workers=2))
    assert summary[FAILED] == {"closest_saddle": {rows[1]: "failed: LinAlgError: Eigenvalues did not converge"}}
    assert sorted(int(r) for r in session.analyses["closest_saddle"]["points"]) == [r for r in rows if r != rows[1]]


def test_few_runs_or_one_worker_compute_in_this_process():
    assert workers_for(MIN_PARALLEL_RUNS - 1, 8) == 1
    assert workers_for(100, 1) == 1
    assert workers_for(MIN_PARALLEL_RUNS + 2, 8) == MIN_PARALLEL_RUNS + 2
    assert workers_for(100, 2) == 2


def test_runs_the_safety_cap_ended_are_counted_in_the_summary(bare):
    import dataclasses

    session = dataclasses.replace(bare, analyses={"theorems": {"1": {"stop_reason": "completed"},
                                                               "8": {"stop_reason": "max_seconds"}}})
    assert theorems.summary(session) == {"runs": 2, "max_seconds": 1}
    assert "max_seconds" not in theorems.summary(dataclasses.replace(session, analyses={"theorems": {}}))
    assert escape.EscapeOptions().max_nodes == 2000  # the budget is in points visited; seconds only cap it
    assert set(dataclasses.asdict(theorems.TheoremOptions())) == {"starts", "maxeval", "points", "max_seconds"}
