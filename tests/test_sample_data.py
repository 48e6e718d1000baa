"""The bundled sample session opens, is the thesis protocol, and its numbers re-compute independently."""

from pathlib import Path

import numpy as np
import pytest

from lsexplorer.core.store.session import load_session
from numpy_reference import loss_grad_hessian

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"


@pytest.fixture(scope="module")
def sample():
    return load_session(SAMPLE)


def test_sample_is_the_thesis_toy_protocol(sample):
    cfg = sample.config
    assert len(sample.runs.seed) >= 100 and cfg["network"]["widths"] == [2, 5, 1]
    assert cfg["train"]["optimizer"] == "adam" and cfg["train"]["lr"] == 1e-4
    assert cfg["run"]["epochs_done"] == cfg["train"]["epochs"] == 10_000_000
    assert SAMPLE.stat().st_size < 5 * 2**20


def test_every_certified_point_recomputes_in_closed_form(sample):
    runs = sample.runs
    for s in np.flatnonzero(~np.isin(runs.kind, ("not_converged", "channel", "channel_saddle"))):
        loss, grad, hess = loss_grad_hessian(runs.theta[s], sample.x, sample.y, m=5)
        eig = np.linalg.eigvalsh(hess)
        assert np.linalg.norm(grad) <= 1e-12
        assert abs(runs.grad_norm[s] - np.linalg.norm(grad)) <= 1e-13
        assert runs.loss[s] == pytest.approx(loss, rel=1e-8, abs=1e-24)
        np.testing.assert_allclose(runs.hessian_eigvals[s], eig, rtol=0, atol=1e-10 * np.abs(eig).max())
        if runs.kind[s] == "local_min":
            assert eig[0] > -1e-10 * np.abs(eig).max() and loss > 1e-6
        if runs.kind[s] == "global_min":
            assert loss < 1e-12


def test_every_global_minimum_matches_the_teacher(sample):
    from lsexplorer.core.analyses.analyze import MATCH_RESIDUAL
    from lsexplorer.core.symmetry.operations import match_to_teacher

    runs = sample.runs
    rows = np.flatnonzero(runs.kind == "global_min")
    assert rows.size >= 50
    residuals = [match_to_teacher(sample.spec, runs.theta[r], sample.teacher_spec, sample.teacher_theta).residual
                 for r in rows]
    assert max(residuals) < MATCH_RESIDUAL
    stored = sample.analyses["teacher_match"]["summary"]
    at = {int(r): res for r, res in zip(stored["run"], stored["residual"])}
    np.testing.assert_allclose([at[int(r)] for r in rows], residuals, rtol=1e-6, atol=1e-15)
    # Duplicated neurons are merged exactly (refinement's polishing stage): those minima are symmetry-induced.
    assert runs.symmetry_induced[rows].sum() >= 25 and runs.loss[rows].max() < 1e-25


def test_every_stored_theorem_report_is_complete(sample):
    """The sample's Theorem 1-2 reports ran to the end of their work budgets, none cut by the seconds cap,
    and each sits at a stored closest saddle whose narrower point is certified."""
    reports = sample.analyses["theorems"]
    points = sample.analyses["closest_saddle"]["points"]
    assert len(reports) >= 10
    for row, report in reports.items():
        assert report["stop_reason"] == "completed", row
        assert points[row]["narrower"]["kind"] != "not_converged", row
