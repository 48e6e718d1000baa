"""Stored analyses copied run by run into another session (how a sweep merges what its chunks
analysed): through the writers, into any rows, with kinds and symmetry-induced flags following."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from test_analyses_registry import _assert_tree_equal, _bare

from lsexplorer.core.analyses import REGISTRY, closest_saddle, escape, mu_sweep, teacher_match, theorems
from lsexplorer.core.analyses.merge import copy_results
from lsexplorer.core.store.session import load_session

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"
ROW_ARRAYS = ("seed", "theta_init", "theta", "loss", "grad_norm", "hessian_eigvals", "kind", "degeneracy",
              "lambda_min", "stop_reason", "train_loss", "theta_trained", "symmetry_induced")


@pytest.fixture(scope="module")
def sample():
    return load_session(SAMPLE)


def test_copying_every_run_into_a_bare_session_rebuilds_the_stored_trees(sample):
    bare = _bare(sample)
    n = len(sample.runs.seed)
    copied = copy_results(sample, bare, {r: r for r in range(n)})
    assert copied == [a.name for a in REGISTRY.values() if a.group in sample.analyses]
    for group in ("teacher_match", "closest_saddle", "mu_sweep", "escape", "theorems", "channels"):
        _assert_tree_equal(sample.analyses[group], bare.analyses[group], group)
    np.testing.assert_array_equal(bare.runs.kind, sample.runs.kind)
    np.testing.assert_array_equal(bare.runs.symmetry_induced, sample.runs.symmetry_induced)


def test_results_land_on_the_rows_they_are_copied_to_in_two_parts(sample):
    """The runs reversed, copied in two halves (as two chunks would be): every reader finds run r's
    result at its new row, which the stored tables name."""
    bare = _bare(sample)
    n = len(sample.runs.seed)
    order = np.arange(n)[::-1]
    runs = dataclasses.replace(bare.runs, trajectory=None, loss_curve=None,
                               **{name: getattr(bare.runs, name)[order].copy() for name in ROW_ARRAYS})
    target = dataclasses.replace(bare, runs=runs, analyses={})
    new_row = {int(r): n - 1 - int(r) for r in range(n)}
    copy_results(sample, target, {r: new_row[r] for r in range(n // 2)})
    copy_results(sample, target, {r: new_row[r] for r in range(n // 2, n)})
    np.testing.assert_array_equal(target.runs.kind, sample.runs.kind[order])
    np.testing.assert_array_equal(target.runs.symmetry_induced, sample.runs.symmetry_induced[order])
    for r in range(n):
        m = teacher_match.read(sample, r)
        if m is not None:
            moved = teacher_match.read(target, new_row[r])
            assert moved.run == new_row[r] and moved.residual == m.residual
        for module in (closest_saddle, mu_sweep, escape, theorems):
            before, after = module.read(sample, r), module.read(target, new_row[r])
            assert (before is None) == (after is None), (module.__name__, r)
            if before is not None:
                _assert_tree_equal(before.to_dict() if hasattr(before, "to_dict") else before._asdict(),
                                   after.to_dict() if hasattr(after, "to_dict") else after._asdict(), str(r))
    rows = target.analyses["closest_saddle"]["summary"]["run"]
    assert list(rows) == sorted(new_row[int(r)] for r in sample.analyses["closest_saddle"]["summary"]["run"])
