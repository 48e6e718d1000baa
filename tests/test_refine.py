"""Refinement to critical points on the thesis toy problem: teacher, split teacher, a trained
width-3 student, a saddle, and the guards (NaN, limits, cancellation)."""

import threading
import time

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape import hessian as hs
from lsexplorer.core.base.classify import classify, loss_scale
from lsexplorer.core.data.datasets import toy_teacher
from lsexplorer.core.landscape.nets import MLPSpec, loss_and_grad, xavier_init
from lsexplorer.core.critical.refine import RefineConfig, refine

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def split_neuron(theta, j, mu, m, d=2):
    """Width m -> m+1: neuron j duplicated as the last neuron, outgoing weights mu a_j and (1 - mu) a_j."""
    w, a = theta[:m * d].reshape(m, d), theta[m * d:]
    a_new = np.append(a, (1 - mu) * a[j])
    a_new[j] = mu * a[j]
    return np.concatenate([np.vstack([w, w[j]]).ravel(), a_new])


def adam(spec, theta0, x, y, steps, lr=0.02):
    """Plain full-batch Adam in float64 (the trainer module is separate; this is only a start point)."""
    th = torch.tensor(theta0)[None]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    m = torch.zeros_like(th)
    v = torch.zeros_like(th)
    for k in range(1, steps + 1):
        _, g = loss_and_grad(spec, th, xt, yt)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        th = th - lr * (m / (1 - 0.9 ** k)) / ((v / (1 - 0.999 ** k)).sqrt() + 1e-12)
    return th[0].numpy()


def test_perturbed_teacher_returns_to_the_teacher(toy):
    spec, teacher = toy_teacher()
    rng = np.random.default_rng(0)
    for _ in range(3):
        res = refine(spec, teacher + 1e-3 * rng.normal(size=teacher.size), toy.x, toy.y)
        # The teacher's Hessian is non-singular (lam_min ~ 1e-6): Newton reaches machine precision.
        assert res.grad_norm <= 1e-14
        assert res.loss <= 1e-28
        assert np.abs(res.theta - teacher).max() <= 1e-9
        assert res.stop_reason.startswith("slsqp:") and res.stop_reason.endswith("newton:grad_converged")
        assert res.evaluations > 0 and res.iterations >= 1 and res.elapsed > 0


@pytest.mark.parametrize("mu", [0.3, 1.7])
def test_perturbed_split_teacher_stays_a_split_global_minimum(toy, mu):
    spec5 = MLPSpec((2, 5, 1))
    _, teacher = toy_teacher()
    start = split_neuron(teacher, 0, mu, 4) + 1e-3 * np.random.default_rng(1).normal(size=15)
    res = refine(spec5, start, toy.x, toy.y)
    # A singular Hessian (a line and a quartic valley of minima): gradient-only methods stall near
    # L ~ 1e-19; the Gauss-Newton stage must take it to rounding level.
    assert "gauss_newton:" in res.stop_reason
    assert res.loss <= 1e-28
    assert res.grad_norm <= 1e-14
    w, a = res.theta[:10].reshape(5, 2), res.theta[10:]
    assert np.abs(w[0] - w[4]).max() <= 1e-6  # still duplicated
    assert a[0] + a[4] == pytest.approx(teacher[8], abs=1e-9)
    assert np.abs(w[1:4] - teacher[2:8].reshape(3, 2)).max() <= 1e-9
    assert np.abs(a[1:4] - teacher[9:]).max() <= 1e-9


def test_briefly_trained_width3_student_refines_to_a_strict_local_minimum(toy):
    spec = MLPSpec((2, 3, 1))
    start = adam(spec, xavier_init(spec, [4])[0], toy.x, toy.y, 1500)
    res = refine(spec, start, toy.x, toy.y)
    assert res.grad_norm <= 1e-14
    value, g, hess = hs.loss_grad_hessian(spec, res.theta, toy.x, toy.y)
    assert value == res.loss and np.linalg.norm(g) == res.grad_norm
    lam = hs.spectrum(hess)[0]
    c = classify(value, res.grad_norm, lam, loss_scale(toy.y))
    assert c.kind == "local_min" and c.n_zero == 0 and lam[0] > 0
    assert value > 1e-5  # three neurons cannot fit the four-neuron teacher
    # A local minimum by definition: every nearby point is higher.
    rng = np.random.default_rng(2)
    spec_t = torch.from_numpy(toy.x), torch.from_numpy(toy.y)
    near = res.theta + 1e-3 * rng.normal(size=(50, spec.n_params))
    assert (loss_and_grad(spec, torch.from_numpy(near), *spec_t)[0].numpy() > value).all()


def test_newton_polish_converges_to_a_saddle_too(toy):
    """Newton on grad L = 0 is root finding: from near a strict saddle it lands on the saddle."""
    spec3, spec4 = MLPSpec((2, 3, 1)), MLPSpec((2, 4, 1))
    minimum = refine(spec3, adam(spec3, xavier_init(spec3, [4])[0], toy.x, toy.y, 1500), toy.x, toy.y).theta
    saddle = split_neuron(minimum, 0, 1.5, 3)
    start = saddle + 1e-6 * np.random.default_rng(3).normal(size=spec4.n_params)
    res = refine(spec4, start, toy.x, toy.y, RefineConfig(slsqp_maxeval=1))
    assert res.stop_reason.startswith("slsqp:MAXEVAL_REACHED")
    assert res.grad_norm <= 1e-14
    lam = hs.spectrum(hs.hessian(spec4, res.theta, toy.x, toy.y))[0]
    assert classify(res.loss, res.grad_norm, lam, loss_scale(toy.y)).kind == "strict_saddle"
    # It stays on the line of saddles it started next to (the outgoing weights of the duplicated
    # pair may slide along it: that direction is exactly flat).
    w, a = res.theta[:8].reshape(4, 2), res.theta[8:]
    assert np.abs(w[0] - w[3]).max() <= 1e-9
    assert a[0] + a[3] == pytest.approx(minimum[6], abs=1e-12)
    assert np.abs(w[1:3].ravel() - minimum[2:6]).max() <= 1e-9
    assert np.abs(a[1:3] - minimum[7:9]).max() <= 1e-9


def test_nonfinite_points_are_reported_not_raised(toy):
    spec = MLPSpec((2, 3, 1))
    theta = xavier_init(spec, [0])[0]
    theta[2] = np.nan
    res = refine(spec, theta, toy.x, toy.y)
    assert res.stop_reason.startswith("nonfinite") and np.isnan(res.loss)
    # Finite weights whose loss overflows: softplus(1e300 x) = inf.
    spec_sp = MLPSpec((2, 3, 1), "softplus")
    res = refine(spec_sp, np.full(spec_sp.n_params, 1e300), toy.x, toy.y)
    assert res.stop_reason.startswith("nonfinite")
    assert not np.isfinite(res.loss) or not np.isfinite(res.grad_norm)


def test_limits_end_the_refinement(toy):
    spec = MLPSpec((2, 5, 1))
    start = xavier_init(spec, [0])[0]
    res = refine(spec, start, toy.x, toy.y, RefineConfig(slsqp_maxeval=3, newton_max_iter=1))
    assert res.stop_reason.startswith("slsqp:MAXEVAL_REACHED") and res.evaluations == 3
    assert res.iterations <= 1
    t0 = time.perf_counter()
    res = refine(spec, start, toy.x, toy.y, RefineConfig(slsqp_maxtime=1e-3, newton_max_iter=2))
    assert res.stop_reason.startswith("slsqp:MAXTIME_REACHED")
    assert time.perf_counter() - t0 < 5.0


def test_a_set_stop_event_cancels(toy):
    spec = MLPSpec((2, 5, 1))
    stop = threading.Event()
    stop.set()
    res = refine(spec, xavier_init(spec, [0])[0], toy.x, toy.y, stop=stop)
    assert res.stop_reason == "cancelled" and res.evaluations <= 1


def test_config_round_trips_and_refuses_unknown_keys():
    cfg = RefineConfig(slsqp_maxeval=7, newton_rcond=1e-9)
    assert RefineConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        RefineConfig.from_dict({"slsqp_maxevals": 3})


def test_newton_reaches_a_minimum_whose_full_step_first_raises_the_gradient(toy):
    """A width-5 toy end point (seed 8 of the sample, 1e7 Adam epochs at lr 1e-4) whose smallest
    eigenvalue is 3.9e-7: the full Newton step along it is long and the cubic term raises ||grad L||
    from 6e-11 to 3e-9 before quadratic convergence. A merit test on single steps rejects it and
    stalls at 6e-11; judging two steps together reaches machine precision."""
    start = np.array([-0.7313939929008484, 0.7476878762245178, -0.4934293329715729, -0.18546685576438904,
                      0.6194459199905396, -0.9732088446617126, -1.1846895217895508, -0.8615052103996277,
                      0.02970200404524803, -0.02494773082435131, -0.6466454267501831, -0.4715706706047058,
                      -0.2818138897418976, -0.2401215136051178, 1.6401506662368774])
    spec = MLPSpec((2, 5, 1))
    result = refine(spec, start, toy.x, toy.y)
    assert result.grad_norm <= 1e-14, result.stop_reason
    assert result.stop_reason.endswith("newton:grad_converged")
    eig = np.linalg.eigvalsh(hs.hessian(spec, result.theta, toy.x, toy.y))
    assert eig[0] > 1e-7 and np.linalg.norm(result.theta - start) < 1e-2
