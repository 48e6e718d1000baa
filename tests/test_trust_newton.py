"""Trust-region Newton (refinement stage 1 for deep nets): the subproblem against its optimality
conditions and random feasible points; minimisation to certified points on small problems."""

from __future__ import annotations

import numpy as np
import pytest

from lsexplorer.core.data.datasets import gaussian_teacher_dataset
from lsexplorer.core.landscape.hessian import float64_problem, loss_grad_hessian
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.critical.refine import RefineConfig, refine
from lsexplorer.core.critical.trust_newton import trust_newton, trust_region_step


def model(lam, c, p):
    return float(c @ p + 0.5 * np.sum(lam * p * p))


@pytest.mark.parametrize("case", ["indefinite", "definite_inside", "definite_boundary", "hard"])
def test_subproblem_solution_is_optimal(case):
    rng = np.random.default_rng(7)
    lam = np.sort(rng.normal(size=12)) if case in ("indefinite", "hard") else np.sort(rng.uniform(0.5, 3, 12))
    c = rng.normal(size=12)
    radius = {"indefinite": 0.7, "definite_inside": 100.0, "definite_boundary": 0.3, "hard": 5.0}[case]
    if case == "hard":
        c[0] = 0.0  # no component along the negative-curvature direction
    p = trust_region_step(lam, c, radius)
    assert np.linalg.norm(p) <= radius * (1 + 1e-9)
    if case == "definite_inside":
        np.testing.assert_allclose(p, -c / lam, rtol=1e-12)
    else:
        assert np.linalg.norm(p) == pytest.approx(radius, rel=1e-8)
    # Optimality (Moré-Sorensen): (lam + s) p = -c for one s >= max(0, -lam_min), away from the hard component.
    k = slice(1, None) if case == "hard" else slice(None)
    s = -c[k] / p[k] - lam[k]
    assert np.ptp(s) <= 1e-6 * max(1.0, abs(s.mean())) and s.mean() >= max(0.0, -lam[0]) - 1e-9
    # No random point of the ball, nor the Cauchy point, does better.
    best = model(lam, c, p)
    for q in rng.normal(size=(2000, 12)):
        q *= radius * rng.uniform() ** (1 / 12) / np.linalg.norm(q)
        assert model(lam, c, q) >= best - 1e-12
    if np.linalg.norm(c) > 0:
        assert model(lam, c, -radius * c / np.linalg.norm(c)) >= best - 1e-12


SPEC = MLPSpec((2, 2, 2, 1), "tanh", bias=True)
TEACHER = np.array([1.2, -0.7, 0.4, 0.9, 0.3, -0.2, 0.8, -1.1, 0.5, 1.3, 0.1, -0.4, 1.5, -0.9, 0.2])[:SPEC.n_params]
DATA = gaussian_teacher_dataset(120, SPEC, seed=3, teacher_theta=TEACHER)


def test_trust_newton_minimises_to_a_certified_gradient():
    rng = np.random.default_rng(0)
    theta0 = TEACHER + 0.4 * rng.normal(size=SPEC.n_params)
    t, xt, yt = float64_problem(SPEC, theta0, DATA.x, DATA.y)
    res = trust_newton(SPEC, t.numpy(), xt, yt, gtol=1e-11, max_iter=200, maxtime=120.0)
    assert res.status == "grad_small" and res.grad_norm <= 1e-11 and res.iterations < 100
    value, g, h = loss_grad_hessian(SPEC, res.theta, DATA.x, DATA.y)
    assert np.linalg.norm(g) <= 1e-11
    assert value < loss_grad_hessian(SPEC, theta0, DATA.x, DATA.y)[0]
    assert value == pytest.approx(res.loss, rel=1e-9, abs=1e-25)
    lam = np.linalg.eigvalsh(h)
    assert lam[0] >= -1e-8 * np.abs(lam).max()  # a minimiser, not a saddle


def test_refine_with_trust_newton_stage_certifies():
    rng = np.random.default_rng(1)
    theta0 = TEACHER + 0.3 * rng.normal(size=SPEC.n_params)
    res = refine(SPEC, theta0, DATA.x, DATA.y, RefineConfig(minimizer="trust_newton"))
    assert res.stop_reason.startswith("trust_newton:grad_small") and "newton:" in res.stop_reason
    assert res.grad_norm <= 1e-12 and res.evaluations == 0


def test_cancelled_trust_newton_returns_the_start():
    import threading

    spec = MLPSpec((2, 3, 2, 1), "sigmoid", bias=True)
    data = gaussian_teacher_dataset(50, MLPSpec((2, 2, 1)), seed=1)
    theta0 = xavier_init(spec, [0])[0]
    stop = threading.Event()
    stop.set()
    t, xt, yt = float64_problem(spec, theta0, data.x, data.y)
    res = trust_newton(spec, t.numpy(), xt, yt, 1e-12, 100, 60.0, stop)
    assert res.status == "cancelled" and np.array_equal(res.theta, theta0)


def test_unknown_minimizer_is_refused():
    with pytest.raises(ValueError, match="trust_newton"):
        RefineConfig(minimizer="lbfgs")


def test_a_run_off_to_infinity_is_stopped_as_runaway():
    """Sign labels of a smooth function: a sigmoid net lowers the loss by saturating, weights growing without bound."""
    spec = MLPSpec((3, 4, 3, 1), "sigmoid", bias=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = np.sign(np.sin(2 * x @ np.array([1.0, -0.5, 0.7])))[:, None]
    theta0 = xavier_init(spec, [0])[0]
    t, xt, yt = float64_problem(spec, theta0, x, y)
    limit = 3 * np.linalg.norm(theta0)
    res = trust_newton(spec, t.numpy(), xt, yt, 1e-12, 400, 120.0, max_norm=limit)
    assert res.status == "runaway" and np.linalg.norm(res.theta) > limit
    assert res.loss < loss_grad_hessian(spec, theta0, x, y)[0]
