"""The analysis registry: planning, and every writer reproducing the stored layout of the sample
session (written before the registry existed), so the file format is the one it was."""

import copy
import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from lsexplorer.core.analyses import REGISTRY, channels, closest_saddle, escape, mu_sweep, teacher_match, theorems
from lsexplorer.core.analyses.analyze import analyze_session, plan
from lsexplorer.core.base.kinds import KINDS, Kind
from lsexplorer.core.base.progress import Progress
from lsexplorer.core.store.session import load_session

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"


@pytest.fixture(scope="module")
def sample():
    return load_session(SAMPLE)


def _bare(session):
    """The session with no analyses, and kinds as they were before any escape relabelled them."""
    kind = session.runs.kind.copy()
    for group in ("escape", "channels"):
        for r, before in zip(session.analyses[group]["summary"]["run"], session.analyses[group]["summary"]["kind_before"]):
            kind[r] = before
    runs = dataclasses.replace(session.runs, kind=kind, symmetry_induced=np.zeros_like(session.runs.symmetry_induced))
    return dataclasses.replace(session, runs=runs, analyses={})


def _assert_tree_equal(a, b, where=""):
    assert set(a) == set(b), where
    for key in a:
        if isinstance(a[key], dict):
            _assert_tree_equal(a[key], b[key], f"{where}/{key}")
        elif isinstance(a[key], np.ndarray):
            assert a[key].dtype.kind == np.asarray(b[key]).dtype.kind, f"{where}/{key}"
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{where}/{key}")
        else:
            assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), f"{where}/{key}"


def test_plan_runs_needs_first_and_includes_in_full():
    assert list(REGISTRY) == ["channels", "symmetry", "closest_saddle", "mu_sweep", "escape", "theorems"]
    assert [(a.name, missing) for a, missing in plan(["theorems", "mu_sweep"])] == [
        ("closest_saddle", True), ("mu_sweep", False), ("theorems", False)]
    assert [(a.name, missing) for a, missing in plan(["symmetry"])] == [("symmetry", False),
                                                                         ("closest_saddle", False)]
    assert [a.name for a, _ in plan(["escape"])] == ["escape"]
    with pytest.raises(ValueError, match="choose from channels, symmetry, closest_saddle"):
        plan(["nope"])


def test_every_writer_rebuilds_the_stored_tree_from_its_reader(sample):
    """Read every stored result with the typed readers, write it into a bare session with the
    writers: the trees (points and rebuilt summaries) and the relabelled kinds are the stored ones."""
    bare = _bare(sample)
    a = sample.analyses
    teacher_match.write(bare, {m.run: m for m in teacher_match.read_all(sample)})
    rows = closest_saddle.analysed_rows(sample)
    assert rows == sorted(int(r) for r in a["closest_saddle"]["points"])
    closest_saddle.write(bare, {r: {"settings": a["closest_saddle"]["settings"],
                                    "points": {str(r): a["closest_saddle"]["points"][str(r)]}} for r in rows})
    mu_sweep.write(bare, {r: mu_sweep.read(sample, r) for r in mu_sweep.analysed_rows(sample)})
    escape.write(bare, {r: escape.read(sample, r) for r in escape.analysed_rows(sample)})
    theorems.write(bare, {int(r): theorems.read(sample, int(r)) for r in a["theorems"]})
    before = dict(zip(a["channels"]["summary"]["run"], a["channels"]["summary"]["kind_before"]))
    channels.write(bare, {int(r): channels.ChannelAnalysis(channels.read(sample, int(r)), str(before[int(r)]))
                          for r in a["channels"]["points"]})
    for group in ("teacher_match", "closest_saddle", "escape", "channels"):
        _assert_tree_equal(a[group], bare.analyses[group], group)
    _assert_tree_equal(a["mu_sweep"]["summary"], bare.analyses["mu_sweep"]["summary"], "mu_sweep/summary")
    assert set(a["mu_sweep"]["points"]) == set(bare.analyses["mu_sweep"]["points"])
    assert set(a["theorems"]) == set(bare.analyses["theorems"])
    np.testing.assert_array_equal(bare.runs.kind, sample.runs.kind)
    np.testing.assert_array_equal(bare.runs.symmetry_induced, sample.runs.symmetry_induced)


def test_readers_are_typed_and_none_where_absent(sample):
    row = closest_saddle.analysed_rows(sample)[0]
    c = closest_saddle.read(sample, row)
    assert c.distance == pytest.approx(float(sample.analyses["closest_saddle"]["points"][str(row)]["distance"]))
    # symmetry-induced: on the closest saddle line, or reduced to a certified narrower point
    assert (closest_saddle.read_decision(sample, row).is_si or closest_saddle.read_reduction(sample, row).is_si) == \
        bool(sample.runs.symmetry_induced[row])
    table = closest_saddle.read_table(sample)
    assert table.run.tolist() == closest_saddle.analysed_rows(sample) and table.saddle_eigvals.shape[1] == 3
    e = escape.read(sample, escape.analysed_rows(sample)[0])
    assert e.kind_before == Kind.LOCAL_MIN and e.scan.eps.ndim == 1
    assert teacher_match.read(sample, 0).teacher_of.shape == (5,)
    # A run no analysis touches (closest_saddle covers every certified kind, the others local minima).
    not_local = int(np.flatnonzero(sample.runs.kind == Kind.NOT_CONVERGED)[0])
    for analysis in REGISTRY.values():
        assert analysis.read(sample, -1) is None or analysis.name == "symmetry"
    for module in (closest_saddle, mu_sweep, escape, theorems):
        assert module.read(sample, not_local) is None and module.read(None, 0) is None
    assert closest_saddle.read_table(_bare(sample)) is None


def test_analyze_session_yields_progress_and_stops_cleanly(sample):
    session = _bare(sample)
    session = dataclasses.replace(session, analyses=copy.deepcopy({"teacher_match": sample.analyses["teacher_match"]}))
    stop = threading.Event()
    gen = analyze_session(session, [0, 1, 2], ["symmetry"], stop=stop)
    began = next(gen)
    assert isinstance(began, Progress) and (began.stage, began.done, began.total) == ("symmetry", 0, 3)
    first = next(gen)
    assert isinstance(first, Progress) and (first.stage, first.done, first.total, first.run) == ("symmetry", 1, 3, 0)
    stop.set()
    with pytest.raises(StopIteration) as done:
        next(gen)
    assert done.value.value == {"teacher_match": {"runs": 100, "matched": int(np.sum(
        sample.analyses["teacher_match"]["summary"]["residual"] < teacher_match.MATCH_RESIDUAL))}}
    assert "closest_saddle" not in session.analyses  # stopped before the closest saddle started


def test_kinds_are_one_enum():
    assert KINDS == tuple(Kind) and Kind("local_min") is Kind.LOCAL_MIN
    assert (np.array(["local_min", "global_min"]) == Kind.LOCAL_MIN).tolist() == [True, False]
    assert {k.plural for k in Kind} >= {"local minima", "non-strict saddles"}


def test_info_names_every_stored_analysis_with_its_counts(sample):
    from lsexplorer.cli.commands import format_analyses

    lines = format_analyses(sample).splitlines()
    assert [line.split(":")[0] for line in lines] == [f"analysis {name.replace('_', ' ')}" for name in REGISTRY]
    assert f"closest saddle: runs {len(closest_saddle.analysed_rows(sample))}, symmetry induced " \
           f"{int(sample.runs.symmetry_induced.sum())}" in lines[list(REGISTRY).index("closest_saddle")]
    assert format_analyses(_bare(sample)) == ""
