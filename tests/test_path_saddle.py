"""A path's highest point certified: Levenberg–Marquardt onto degenerate saddles, saddles at infinity.

Checked against mathematics: a planted manifold of index-1 saddles (the Müller–Brown saddle, with
its published energy, times a circle of critical points), finite differences of the gradient, and
on the toy sample the channel's limit model against the network realised along the channel.
"""

import dataclasses
import json

import numpy as np
import pytest
import torch

from lsexplorer.cli.commands import format_paths
from lsexplorer.core.analyses import paths as stored_paths
from lsexplorer.core.base.classify import Tolerances, loss_scale
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.channels.flat_channel import network_output
from lsexplorer.core.channels.limit_model import (
    LimitParams,
    LimitStructure,
    limit_loss_grad_hessian,
    limit_output,
    pack,
    realise,
)
from lsexplorer.core.critical.critical_lm import FOLD_RATIO, critical_point_lm, fold_ratio
from lsexplorer.core.landscape.hessian import loss_grad_hessian
from lsexplorer.core.landscape.muller_brown import SADDLES, muller_brown
from lsexplorer.core.landscape.nets import MLPSpec
from lsexplorer.core.paths.minimum_energy import PathConfig, path_analysis
from lsexplorer.core.paths.neb import NEBConfig
from lsexplorer.core.paths.path_points import saddle_session
from lsexplorer.core.paths.path_saddle import (
    APPROACH_GRAD_TOL,
    _approaches,
    _fold_note,
    affine_candidates,
    channel_saddle,
    fd_check,
    outcome_label,
)
from lsexplorer.core.store.samples import sample_session_path
from lsexplorer.core.store.session import load_session


def _planted(t: torch.Tensor) -> torch.Tensor:
    """Müller–Brown in (t0, t1) plus ``(t2^2 + t3^2 - 1)^2``: every saddle of MB times a circle."""
    return muller_brown(t[:2]) + (t[2] ** 2 + t[3] ** 2 - 1.0) ** 2


def _vgh(theta: np.ndarray):
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    value = _planted(t)
    g = torch.autograd.grad(value, t)[0]
    h = torch.autograd.functional.hessian(_planted, t.detach())
    return float(value.detach()), g.numpy(), h.numpy()


def test_levenberg_marquardt_certifies_a_planted_degenerate_index1_saddle():
    x, y, energy = SADDLES[0]
    start = np.array([x + 0.02, y - 0.03, 0.9, 0.5])  # off the saddle, off the circle
    res = critical_point_lm(_vgh, start, 100)
    assert res.status == "grad_converged" and res.iterations < 60
    assert res.grad_norm <= 1e-10  # the float64 floor: max|lam| ~ 2e3
    value, _, h = _vgh(res.theta)
    lam = np.linalg.eigvalsh(h)
    tol = Tolerances().zero_eig_tol(lam)
    assert int((lam < -tol).sum()) == 1 and int((np.abs(lam) <= tol).sum()) == 1  # the circle is flat
    assert abs(res.theta[2] ** 2 + res.theta[3] ** 2 - 1.0) < 1e-12
    assert value == pytest.approx(energy, abs=1e-2)  # the published saddle energy (2 decimals)
    err, fd_index = fd_check(_vgh, res.theta, tol)
    assert err < 1e-6 and fd_index == 1


def _fold(delta: float):
    """``x^3/3 + delta x + y^2``: two critical points at ``x = +-sqrt(-delta)`` for ``delta < 0``; for ``delta > 0``
    none, and at the origin ``||grad||^2`` has a positive minimum ``delta^2`` with ``grad = (delta, 0)`` in the
    Hessian's null space ``diag(2x, 2)``, a fold."""
    def vgh(t):
        x, y = t
        return x ** 3 / 3 + delta * x + y ** 2, np.array([x * x + delta, 2 * y]), np.diag([2 * x, 2.0])
    return vgh


def test_a_stall_at_a_fold_is_told_from_a_critical_point():
    vgh = _fold(0.01)
    lm = critical_point_lm(vgh, np.array([0.5, 0.3]), 200)
    assert lm.status == "stalled" and lm.grad_norm == pytest.approx(0.01, rel=1e-6)
    _, g, h = vgh(lm.theta)
    assert fold_ratio(g, h) <= FOLD_RATIO
    assert "a fold" in _fold_note(vgh, lm)
    vgh = _fold(-0.01)
    lm = critical_point_lm(vgh, np.array([0.5, 0.3]), 200)
    assert lm.status == "grad_converged" and abs(lm.theta[0] - 0.1) < 1e-12 and _fold_note(vgh, lm) == ""
    _, g, h = vgh(np.array([0.5, 0.3]))
    assert fold_ratio(g, h) > 0.1  # far from the fold the Hessian sees the gradient


@pytest.fixture(scope="module")
def toy_path():
    session = load_session(sample_session_path())
    result = run_generator(path_analysis(session, 1, "global", PathConfig(neb=NEBConfig(images=16))))
    stored_paths.write(session, result)
    return session, result


def test_toy_path_saddle_is_certified_at_infinity_and_checked_on_the_network(toy_path):
    session, r = toy_path
    o = r.outcome
    assert o.outcome == "channel" and o.index == 1 and o.n_zero == 0, outcome_label(o)
    assert o.grad_norm <= Tolerances().grad_tol
    assert o.in_range and o.range_low <= o.loss <= o.range_high
    assert max(r.values[0], r.values[-1]) < o.loss < r.values.max()  # a barrier between the ends, below the band
    assert o.fd_hessian_error < 1e-6 and o.fd_index == 1
    # the network itself, realised along the channel and corrected: loss -> L_inf, gradient -> 0 like A^-3 until
    # float64's floor (A = 10, 30, 100), and below the path check's threshold at A = 1000
    assert np.all(np.diff(np.abs(o.approach_loss - o.loss)) < 0) and np.all(np.diff(o.approach_grad[:3]) < 0)
    assert o.approach_grad[0] / o.approach_grad[2] > 10 ** 2.5  # A: 10 -> 100
    assert o.approach_grad[-1] <= APPROACH_GRAD_TOL * loss_scale(session.y) and "corrected" in o.reason
    structure = LimitStructure.from_dict(json.loads(o.limit_structure))
    x = np.asarray(session.x)
    g = limit_output(structure, torch.from_numpy(o.limit_phi), torch.from_numpy(x)).numpy()
    gaps = [np.abs(network_output(session.spec, realise(structure, o.limit_phi, a), x) - g).max() for a in (100, 1000)]
    assert 50 < gaps[0] / gaps[1] < 200  # the O(1/A^2) remainder of the gated linear unit
    # the network's exact Hessian far along the channel: the limit's descent direction plus a flat one
    theta = realise(structure, o.limit_phi, 1000.0)
    lam = np.linalg.eigvalsh(loss_grad_hessian(session.spec, theta, x, session.y)[2])
    assert int((lam < -Tolerances().zero_eig_tol(lam)).sum()) == 1


def test_toy_path_outcome_is_stored_listed_and_opens_as_a_session(toy_path, tmp_path):
    session, r = toy_path
    back = stored_paths.read_all(session)[r.key]
    assert back.outcome.outcome == "channel" and back.outcome.index == 1
    assert np.array_equal(back.outcome.limit_phi, r.outcome.limit_phi)
    assert "index-1 saddle at infinity" in format_paths(session)
    point = saddle_session(session, r)
    assert point.runs.n_runs == 1 and point.runs.kind[0] == "channel_saddle"
    assert point.runs.loss[0] == pytest.approx(r.outcome.loss, rel=1e-6)
    assert point.runs.hessian_eigvals[0][0] < 0 < point.runs.hessian_eigvals[0][2]
    assert point.runs.grad_norm[0] < 1e-9  # the corrected network at A = 1000 (the plain pair's: ~1e-6)


def test_a_path_stored_before_outcomes_reads_as_unresolved(toy_path):
    from lsexplorer.core.analyses import paths as stored
    from lsexplorer.core.paths.minimum_energy import PathResult

    session, r = toy_path
    old = r.to_dict()
    del old["outcome"]
    back = PathResult.from_dict(old)
    assert back.outcome is None and back.saddle is not None
    older = dataclasses.replace(session, analyses={"paths": {r.key: old}})
    (row,) = stored.summary_rows(older)
    assert row["outcome"] == "unresolved" and row["index"] == -1 and "not certified" in row["label"]


def test_a_channel_approaches_when_its_excess_falls_and_its_gradient_falls_or_sits_at_the_floor():
    loss, limit = 1e-4, 1e-7
    assert _approaches(np.array([1e-8, 1e-10, 1e-12]), np.array([1e-6, 1e-8, 1e-10]), loss, limit)
    # corrected networks at float64's floor from the smallest amplitude on: the last digits go either way
    assert _approaches(np.array([5e-10, 5e-11, 5e-12]), np.array([3.9e-11, 6e-13, 4.2e-11]), loss, limit)
    # every realised point the same function (a plain neuron): the excess stays at rounding level
    assert not _approaches(np.array([3e-20, 1e-20, 0.0]), np.array([1e-11, 2e-12, 1e-12]), loss, limit)
    # a gradient that grows above the threshold is no approach
    assert not _approaches(np.array([1e-8, 1e-10, 1e-12]), np.array([1e-8, 1e-7, 1e-6]), loss, limit)


def test_a_same_sign_pair_heading_to_zero_incoming_weight_resolves_as_an_affine_group():
    """Sigmoid: a planted limit with a free constant and linear term (an affine group) and a gated linear unit,
    realised at A = 10 with one member of each pair sign-flipped (their constants cancel: ``b = -c/2``), so that
    the affine pair has outgoing weights of the same sign, as in the sample's run 39. The path resolution reads
    the pair as an affine group next to the flipped pair and certifies the planted limit at infinity."""
    x = np.random.default_rng(0).uniform(-2.0, 2.0, size=(60, 2))
    structure = LimitStructure(d=2, activation="sigmoid", n_finite=1, n_glu=1, constant=True, linear=True)
    phi = pack(structure, LimitParams(np.array([[0.4, -0.9]]), np.array([1.3]), np.array([[0.7, 0.5]]),
                                      np.array([0.6]), np.array([[0.3, -0.2]]), -0.3, np.array([0.25, -0.15])))
    jac = torch.autograd.functional.jacobian(lambda p: limit_output(structure, p, torch.from_numpy(x)),
                                             torch.from_numpy(phi)).numpy()
    z = np.random.default_rng(1).normal(size=len(x))
    r = z - jac @ np.linalg.lstsq(jac, z, rcond=None)[0]
    y = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(x)).numpy() + 0.02 * r / np.abs(r).max()
    loss = float(limit_loss_grad_hessian(structure, phi, x, y)[0])
    theta = realise(structure, phi, 10.0)
    w, a = theta[:10].reshape(5, 2), theta[10:]
    for k in (1, 4):
        w[k], a[k] = -w[k], -a[k]
    theta = np.concatenate([w.ravel(), a])
    spec = MLPSpec((2, 5, 1), "sigmoid", bias=False)
    assert a[3] * a[4] > 0 and np.abs(network_output(spec, theta, x) - limit_output(
        structure, torch.from_numpy(phi), torch.from_numpy(x)).numpy()).max() < 2e-3
    assert affine_candidates(spec, theta)[0] == [(3, 4)]
    out = channel_saddle(spec, x, y[:, None], theta, Tolerances(), 0.9 * loss, 1.1 * loss, max_steps=40)
    assert out.outcome == "channel" and out.route == "channel affine 3,4 & 1-2", out.reason
    assert out.grad_norm <= 1e-12 and abs(out.loss - loss) <= 1e-10 * loss and out.index == 0
    assert out.approach_grad[-1] <= APPROACH_GRAD_TOL * loss_scale(y[:, None])
