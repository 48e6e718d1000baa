"""The certification pipeline: shapes, kinds, progress, bad rows and cancellation."""

import threading

import numpy as np
import pytest

from lsexplorer.core.critical.certify import CertifiedPoints, CertifyProgress, certify
from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.data.datasets import toy_teacher
from lsexplorer.core.critical.refine import RefineConfig

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def run(gen):
    """Drain a certify generator: (progress records, returned CertifiedPoints)."""
    progress = []
    while True:
        try:
            progress.append(next(gen))
        except StopIteration as done:
            return progress, done.value


@pytest.fixture(scope="module")
def starts():
    """Rows of the 2-4-1 toy student: two perturbed teachers (one with neurons permuted), NaN, inf."""
    spec, teacher = toy_teacher()
    rng = np.random.default_rng(0)
    perm = [2, 0, 3, 1]
    permuted = np.concatenate([teacher[:8].reshape(4, 2)[perm].ravel(), teacher[8:][perm]])
    rows = np.stack([teacher + 1e-3 * rng.normal(size=12), permuted + 1e-3 * rng.normal(size=12),
                     np.full(12, np.nan), np.full(12, np.inf)])
    return spec, rows


def test_certify_fills_every_field(toy, starts):
    spec, rows = starts
    progress, out = run(certify(spec, rows, toy.x, toy.y, RefineConfig(), Tolerances()))
    assert isinstance(out, CertifiedPoints)
    assert [p.done for p in progress] == [0, 1, 2, 3, 4] and {p.total for p in progress} == {4}
    assert all(isinstance(p, CertifyProgress) and p.elapsed >= 0 for p in progress)
    assert out.theta.shape == rows.shape and out.hessian_eigvals.shape == rows.shape
    for name in ("loss", "grad_norm", "kind", "degeneracy", "lambda_min", "stop_reason", "refine_seconds"):
        assert getattr(out, name).shape == (4,), name
    assert out.kind.dtype.kind == "U" and out.stop_reason.dtype.kind == "U"
    # The two teachers: refined to the global minimum, spectrum ascending and positive.
    assert list(out.kind[:2]) == ["global_min", "global_min"]
    assert (out.grad_norm[:2] <= 1e-14).all() and (out.loss[:2] <= 1e-28).all()
    assert (np.diff(out.hessian_eigvals[:2], axis=1) >= 0).all()
    assert (out.degeneracy[:2] == 0).all()
    assert np.array_equal(out.lambda_min[:2], out.hessian_eigvals[:2, 0])
    assert all(r.endswith("newton:grad_converged") for r in out.stop_reason[:2])
    assert (out.refine_seconds[:2] > 0).all()
    # NaN and inf rows: reported, not raised.
    assert list(out.kind[2:]) == ["not_converged", "not_converged"]
    assert all(r.startswith("nonfinite") for r in out.stop_reason[2:])
    assert np.isnan(out.hessian_eigvals[2:]).all() and np.isnan(out.loss[2:]).all()


def test_a_stop_event_returns_what_is_done(toy, starts):
    spec, rows = starts
    stop = threading.Event()
    gen = certify(spec, rows[:2], toy.x, toy.y, stop=stop)
    assert next(gen).done == 0  # the stage began
    first = next(gen)
    assert first.done == 1
    stop.set()
    progress, out = run(gen)
    assert progress == []
    assert out.kind[0] == "global_min" and out.stop_reason[0] != "cancelled"
    # The unfinished row keeps its start point, measured there.
    assert out.kind[1] == "not_converged" and out.stop_reason[1] == "cancelled"
    assert np.array_equal(out.theta[1], rows[1])
    assert 1e-8 < out.loss[1] < 1e-2 and out.grad_norm[1] > 1e-6
    assert np.isfinite(out.hessian_eigvals[1]).all() and out.refine_seconds[1] == 0


def test_bad_shapes_are_refused(toy, starts):
    spec, rows = starts
    with pytest.raises(ValueError, match="shape"):
        next(certify(spec, rows[:, :-1], toy.x, toy.y))


def test_a_point_that_runs_off_to_infinity_is_a_channel_not_a_finite_minimum(toy):
    """A width-5 end point of 2e4 Adam epochs (lr 0.01, seed 4) on a slope towards saturation:
    refinement follows it to ||theta|| in the hundreds, where ||grad L|| is tiny but no critical
    point is near. It must not be certified as a finite minimum; it is a flat channel to infinity."""
    from lsexplorer.core.landscape.nets import MLPSpec

    start = np.array([0.782674, -0.989978, 0.715252, -1.134552, -0.174217, 0.034861, 0.763889, -0.505983,
                      0.934213, 0.613864, 0.502763, -0.36348, -0.805589, 0.233719, 0.432559])
    _, out = run(certify(MLPSpec((2, 5, 1)), start[None], toy.x, toy.y))
    assert np.linalg.norm(out.theta[0]) > 10 * np.linalg.norm(start)
    assert out.kind[0] == "channel", out.channels[0].reason
    assert "diverged" in out.stop_reason[0]
    assert out.channels[0].grad_norm_limit < 1e-12 and out.channels[0].loss_limit <= out.loss[0]
    tolerant = Tolerances(max_norm_growth=1e6, grad_tol=1e-9)
    _, kept = run(certify(MLPSpec((2, 5, 1)), start[None], toy.x, toy.y, tolerances=tolerant))
    assert kept.kind[0] != "not_converged" and "diverged" not in kept.stop_reason[0]
