"""Networks on a second-order channel whose gradient vanishes (``core/channels/channel_polish.py``).

On a planted critical point of a limit model with a second-order unit the plain symmetric stencil keeps
``||grad L||`` of order one however far out it goes; the corrected points must have ``||grad L|| ~ A^(-2)``,
a loss that tends to ``L_inf`` like ``1/A`` and a function that tends to the limit's like ``1/A``, and what is
left of their gradient must point along the channel. The derivative the correction solves for is checked by
finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsexplorer.core.channels.channel_polish import (
    network_spec,
    polish_along_channel,
    polish_on_channel,
    power_law_exponent,
    realiser_jacobian,
)
from lsexplorer.core.channels.flat_channel import network_output
from lsexplorer.core.channels.group_limit import realise_groups
from lsexplorer.core.channels.limit_model import (
    LimitParams,
    LimitStructure,
    limit_loss_grad_hessian,
    limit_output,
    pack,
    realise,
    unpack,
)
from lsexplorer.core.landscape.hessian import loss_grad_hessian

X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(40, 2))
AMPS = (30.0, 100.0, 300.0)


def limit_point(activation: str, sign: int) -> tuple[LimitStructure, np.ndarray]:
    """One finite neuron and one second-order unit of curvature sign ``sign``."""
    structure = LimitStructure(d=2, activation=activation, n_finite=1, n_glu=0, constant=False, linear=False,
                               second_order=(sign,))
    params = LimitParams(np.array([[0.4, -0.9]]), np.array([1.3]), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)),
                         0.0, np.zeros(2), u2=np.array([[0.7, 0.5]]), c2=np.array([0.6]),
                         v2=np.array([[0.3, -0.2]]), m2=np.array([[1.1, 0.4]]))
    return structure, pack(structure, params)


def planted_targets(structure: LimitStructure, phi: np.ndarray, size: float = 0.02) -> np.ndarray:
    """Targets ``y (N,)`` at which ``phi`` is an exact critical point of the limit loss with a positive loss: the
    limit's output plus a residual orthogonal to every direction the output can move in."""
    jac = torch.autograd.functional.jacobian(
        lambda p: limit_output(structure, p, torch.from_numpy(X)), torch.from_numpy(phi)).numpy()
    z = np.random.default_rng(1).normal(size=len(X))
    r = z - jac @ np.linalg.lstsq(jac, z, rcond=None)[0]
    return limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy() + size * r / np.abs(r).max()


def network_gradient(structure, theta, y) -> np.ndarray:
    return loss_grad_hessian(network_spec(structure, theta), theta, X, y[:, None])[1]


def test_the_stencils_jacobian_is_its_closed_form():
    """The realiser is affine in the limit parameters: ``dw_outer/dv = I / (2 s A)``, ``dw_outer/dm = +-I /
    sqrt(2A)``, ``dw_middle/du = I``, ``da_middle/dc = 1``."""
    structure, phi = limit_point("tanh", -1)
    A, s = 50.0, -1
    jac = realiser_jacobian(realise, structure, phi, A)
    p = unpack(structure, np.arange(phi.size, dtype=np.float64))  # where each parameter sits in phi
    u, c, v, m = p.u2[0].astype(int), int(p.c2[0]), p.v2[0].astype(int), p.m2[0].astype(int)

    def rows(k):  # incoming vector of network neuron k (neurons 1..3: the triple)
        return slice(2 * k, 2 * k + 2)

    assert np.allclose(jac[rows(1)][:, v], np.eye(2) / (2 * s * A), atol=1e-12)
    assert np.allclose(jac[rows(3)][:, m], -np.eye(2) / np.sqrt(2 * A), atol=1e-12)
    assert np.allclose(jac[rows(2)][:, u], np.eye(2), atol=1e-12) and np.abs(jac[rows(2)][:, v]).max() < 1e-12
    assert abs(jac[8 + 2, c] - 1.0) < 1e-9 and abs(jac[8 + 1, c]) < 1e-9


def test_the_stationarity_it_solves_is_the_derivative_of_the_realised_loss():
    """``F = J^T grad L`` is the gradient of ``phi -> L(R_A(phi))``: central differences agree."""
    structure, phi = limit_point("sigmoid", 1)
    y = planted_targets(structure, phi)
    A = 30.0

    def loss(p):
        theta = realise(structure, p, A)
        return loss_grad_hessian(network_spec(structure, theta), theta, X, y[:, None])[0]

    theta = realise(structure, phi, A)
    f = realiser_jacobian(realise, structure, phi, A).T @ network_gradient(structure, theta, y)
    h = 1e-6
    fd = np.array([(loss(phi + h * e) - loss(phi - h * e)) / (2 * h) for e in np.eye(phi.size)])
    assert np.abs(f - fd).max() <= 1e-7 * np.abs(f).max()


@pytest.mark.parametrize(("activation", "sign"), [("sigmoid", 1), ("tanh", -1)])
def test_the_corrected_networks_gradient_falls_like_a_to_the_minus_two(activation, sign):
    structure, phi = limit_point(activation, sign)
    y = planted_targets(structure, phi)
    l_inf, g_inf, _ = limit_loss_grad_hessian(structure, phi, X, y)
    assert np.linalg.norm(g_inf) < 1e-14 and l_inf > 1e-6  # a planted critical point with a residual
    limit = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy()
    points = polish_along_channel(realise, structure, phi, AMPS, X, y)
    grads = [p.grad_norm for p in points]
    plain = [p.stencil_grad_norm for p in points]
    assert min(plain) > 1e-3 and plain[-1] > 0.9 * plain[0]  # the stencil's plateau
    assert 1.8 < power_law_exponent(AMPS, grads) < 2.3, grads
    assert grads[-1] < 1e-6 * min(plain)
    excess = [abs(p.loss - l_inf) for p in points]
    assert 0.8 < power_law_exponent(AMPS, excess) < 1.2, excess  # L -> L_inf like 1/A
    miss = [np.abs(network_output(network_spec(structure, p.theta), p.theta, X) - limit).max() for p in points]
    assert 0.8 < power_law_exponent(AMPS, miss) < 1.2, miss  # f -> the limit's function like 1/A
    assert all(p.stationary_norm < 1e-12 for p in points)


def test_what_is_left_of_the_gradient_points_along_the_channel():
    """At the corrected point the gradient is orthogonal to everything the realiser spans (``F = 0``); of the two
    directions left, it points along the channel: along ``dR_A/dA`` with the realiser's span projected out (the
    outer members' outgoing weights growing together), whose loss slope ``dL/dA ~ 1/A^2`` it carries."""
    structure, phi = limit_point("tanh", -1)
    y = planted_targets(structure, phi)
    A = 100.0
    point = polish_on_channel(realise, structure, phi, A, X, y)
    g = network_gradient(structure, point.theta, y)
    span = np.linalg.qr(realiser_jacobian(realise, structure, point.phi, A))[0]
    assert np.linalg.norm(span.T @ g) < 1e-3 * np.linalg.norm(g)  # to the float64 floor on the incoming weights
    along = (realise(structure, point.phi, A * (1 + 1e-6)) - realise(structure, point.phi, A * (1 - 1e-6))) / (2e-6 * A)
    across = along - span @ (span.T @ along)
    cosine = abs(g @ across) / (np.linalg.norm(g) * np.linalg.norm(across))
    assert cosine > 0.99, cosine


def test_a_triple_with_flipped_members_and_a_free_constant_is_corrected_too():
    """The realiser of a sign-flipped pair and a triple holding the limit's constant (not affine in phi: the
    balancing amplitude depends on ``b`` and ``c``): the corrected gradient still falls far below the stencil's."""
    structure = LimitStructure(d=2, activation="sigmoid", n_finite=0, n_glu=1, constant=True, linear=False,
                               second_order="-")
    params = LimitParams(np.zeros((0, 2)), np.zeros(0), np.array([[-1.0, 0.5]]), np.array([-0.6]),
                         np.array([[-0.2, 0.05]]), 0.3, np.zeros(2), u2=np.array([[0.75, 0.6]]), c2=np.array([0.6]),
                         v2=np.array([[-0.1, -0.15]]), m2=np.array([[0.6, -0.3]]))
    phi = pack(structure, params)
    y = planted_targets(structure, phi)

    def realiser(st, p, amplitude):
        return realise_groups(st, p, [1, 2], amplitude)

    points = polish_along_channel(realiser, structure, phi, (30.0, 300.0), X, y)
    assert all(p.theta.size == 15 for p in points)
    assert points[1].grad_norm < points[0].grad_norm / 30  # ~ A^(-2), near the float64 floor at A = 300
    assert points[1].grad_norm < 1e-6 * points[1].stencil_grad_norm


def test_the_saddle_at_infinity_the_app_opens_is_the_corrected_network():
    """``path_points.saddle_point`` with the data: a second-order channel's network at A = 1000 is the corrected
    point (gradient ~1e-10), not the stencil (gradient of order one)."""
    import json
    from types import SimpleNamespace

    from lsexplorer.core.paths.path_points import saddle_point

    structure, phi = limit_point("tanh", -1)
    y = planted_targets(structure, phi)
    outcome = SimpleNamespace(certified=True, outcome="channel", limit_structure=json.dumps(structure.to_dict()),
                              limit_phi=phi)
    result = SimpleNamespace(outcome=outcome)
    plain = np.linalg.norm(network_gradient(structure, saddle_point(result), y))
    corrected = np.linalg.norm(network_gradient(structure, saddle_point(result, X, y[:, None]), y))
    assert plain > 1e-2 and corrected < 1e-8, (plain, corrected)


#: The limit model the path survey certifies for the sample's run 94 (``channel 0-4 & 1+2-3``: a sign-flipped pair
#: and a group of three, sigmoid, with the free constant; L_inf 8.772996e-05, index 1), as stored in its outcome.
RUN_94_PHI = [-0.7930825379282447, -0.8460534151013327, -0.4465549525955608, -0.010743453041363586,
              -0.15426286547724113, 0.6641364982741427, -0.39567852656970987, 0.7965017474713313,
              -0.03502697769569318, 0.030881858257834297, -0.2259617424251907, 0.28188275866523904,
              -0.17497339743788526]


def test_the_samples_run_94_channel_is_checked_on_networks_whose_gradient_vanishes():
    """On the sample's own data the plain stencil towards run 94's certified limit keeps ``||grad L|| ~ 8e-3``;
    the corrected networks of the sample's width fall like ``A^(-2)`` and pass the path check's threshold."""
    from lsexplorer.core.base.classify import loss_scale
    from lsexplorer.core.paths.path_saddle import APPROACH_GRAD_TOL
    from lsexplorer.core.store.samples import sample_session_path
    from lsexplorer.core.store.session import load_session

    session = load_session(sample_session_path())
    structure = LimitStructure(d=2, activation="sigmoid", n_finite=0, n_glu=1, constant=True, linear=False,
                               second_order="+")
    phi = np.array(RUN_94_PHI)
    l_inf, g_inf, _ = limit_loss_grad_hessian(structure, phi, session.x, session.y)
    assert abs(l_inf - 8.772996e-05) < 1e-11 and np.linalg.norm(g_inf) < 1e-15

    def realiser(st, p, amplitude):  # member 4 of the pair and member 3 of the triple enter sign-flipped
        return realise_groups(st, p, [1, 1], amplitude)

    amps = (30.0, 300.0, 1000.0)
    points = polish_along_channel(realiser, structure, phi, amps, session.x, session.y)
    assert all(p.theta.size == 15 for p in points)
    assert all(p.stencil_grad_norm > 5e-3 for p in points)  # the plateau
    assert 1.8 < power_law_exponent(amps[:2], [p.grad_norm for p in points[:2]]) < 2.3
    assert points[-1].grad_norm <= APPROACH_GRAD_TOL * loss_scale(session.y)
    assert abs(points[-1].loss - l_inf) < 1e-8


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_a_pairs_corrected_gradient_falls_like_a_to_the_minus_three(activation):
    """A gated linear unit's pair misses it by O(1/A^2): the plain gradient falls like 1/A, the corrected like A^-3."""
    structure = LimitStructure(d=2, activation=activation, n_finite=2, n_glu=1, constant=False, linear=False)
    params = LimitParams(np.array([[0.4, -0.9], [-0.6, 0.3]]), np.array([1.3, 0.8]), np.array([[0.7, 0.5]]),
                         np.array([0.6]), np.array([[0.3, -0.2]]), 0.0, np.zeros(2))
    phi = pack(structure, params)
    y = planted_targets(structure, phi)
    amps = (10.0, 30.0, 100.0)
    points = polish_along_channel(realise, structure, phi, amps, X, y)
    assert 0.9 < power_law_exponent(amps, [p.stencil_grad_norm for p in points]) < 1.1
    assert 2.6 < power_law_exponent(amps, [p.grad_norm for p in points]) < 3.4
