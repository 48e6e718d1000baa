"""Channels where three neurons close in: the second-order unit of the limit model (``core/channels``).

Three neurons with outgoing weights ``~A`` and incoming vectors ``~A^(-1/2)`` apart tend to
``c sigma(u.x) + (v.x) sigma'(u.x) + (s/2) sigma''(u.x) (m.x)^2``. Planted points check the limit against
the network as the cluster is pushed out, the limit loss's gradient and Hessian against finite
differences, the detector on a realised cluster, and a certified limit critical point.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsexplorer.core.base.classify import loss_scale
from lsexplorer.core.base.spec import MLPSpec
from lsexplorer.core.channels.flat_channel import analyse_channel, decompose, network_output
from lsexplorer.core.channels.limit_model import (
    LimitParams,
    LimitStructure,
    limit_loss_grad_hessian,
    limit_output,
    pack,
    realise,
    realised_width,
    refine_limit,
)

X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(60, 2))


def act(name: str, z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z)) if name == "sigmoid" else np.tanh(z)


def curvature(name: str, z: np.ndarray) -> np.ndarray:
    """``sigma''(z)``, written out."""
    s = act(name, z)
    return s * (1 - s) * (1 - 2 * s) if name == "sigmoid" else -2 * s * (1 - s * s)


def limit_point(activation: str, sign: int = -1) -> tuple[LimitStructure, np.ndarray]:
    """One finite neuron and one second-order unit of curvature sign ``sign``."""
    structure = LimitStructure(d=2, activation=activation, n_finite=1, n_glu=0, constant=False, linear=False,
                               second_order=(sign,))
    params = LimitParams(np.array([[0.4, -0.9]]), np.array([1.3]), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)),
                         0.0, np.zeros(2), u2=np.array([[0.7, 0.5]]), c2=np.array([0.6]),
                         v2=np.array([[0.3, -0.2]]), m2=np.array([[1.1, 0.4]]))
    return structure, pack(structure, params)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_the_second_order_unit_is_the_written_out_formula(activation):
    structure, phi = limit_point(activation, sign=-1)
    z = X @ np.array([0.7, 0.5])
    s = act(activation, z)
    ds = s * (1 - s) if activation == "sigmoid" else 1 - s * s
    expected = (1.3 * act(activation, X @ np.array([0.4, -0.9])) + 0.6 * s + ds * (X @ np.array([0.3, -0.2]))
                - 0.5 * curvature(activation, z) * (X @ np.array([1.1, 0.4])) ** 2)
    got = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy()
    assert np.abs(got - expected).max() < 1e-14


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_three_neurons_pushed_out_approach_the_limit_at_order_one_over_a(activation):
    structure, phi = limit_point(activation)
    assert realised_width(structure) == 4
    limit = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy()
    errors = []
    for amp in (1e2, 1e3, 1e4):
        theta = realise(structure, phi, amp)
        w, a = theta[:8].reshape(4, 2), theta[8:]
        assert np.abs(a[1:]).min() >= amp and np.linalg.norm(w[1] - w[3]) < 3 / np.sqrt(amp)  # closing in
        errors.append(np.abs(network(activation, theta) - limit).max())
    ratios = errors[0] / errors[1], errors[1] / errors[2]
    assert all(7 < r < 13 for r in ratios), ratios  # O(1/A), not O(1/A^2) as a pair, nor O(1/sqrt A)


def network(activation: str, theta: np.ndarray) -> np.ndarray:
    m = len(theta) // 3
    w, a = theta[:2 * m].reshape(m, 2), theta[2 * m:]
    return act(activation, X @ w.T) @ a


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_the_limit_losss_gradient_and_hessian_match_finite_differences(activation):
    structure, phi = limit_point(activation, sign=1)
    y = np.sin(X[:, 0]) - 0.5 * X[:, 1]
    _, g, h = limit_loss_grad_hessian(structure, phi, X, y)
    step = 1e-6
    g_fd, h_fd = np.zeros_like(g), np.zeros_like(h)
    for k in range(phi.size):
        e = np.zeros_like(phi)
        e[k] = step
        up, down = limit_loss_grad_hessian(structure, phi + e, X, y), limit_loss_grad_hessian(structure, phi - e, X, y)
        g_fd[k] = (up[0] - down[0]) / (2 * step)
        h_fd[:, k] = (up[1] - down[1]) / (2 * step)
    assert np.abs(g - g_fd).max() <= 1e-7 * max(np.abs(g).max(), 1.0)
    assert np.abs(h - h_fd).max() <= 1e-7 * np.abs(h).max()
    assert np.abs(h - h.T).max() <= 1e-12 * np.abs(h).max()


def planted_data(structure: LimitStructure, phi: np.ndarray, size: float = 0.02) -> np.ndarray:
    """Targets ``y (N,)`` at which ``phi`` is a critical point of the limit loss with a positive loss: its
    output plus a residual orthogonal to every direction the output can move in (``J^T r = 0``)."""
    jac = torch.autograd.functional.jacobian(
        lambda p: limit_output(structure, p, torch.from_numpy(X)), torch.from_numpy(phi)).numpy()
    z = np.random.default_rng(1).normal(size=len(X))
    r = z - jac @ np.linalg.lstsq(jac, z, rcond=None)[0]
    return limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy() + size * r / np.abs(r).max()


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_a_realised_three_neuron_channel_is_detected_and_its_planted_limit_certified(activation):
    """The network is the planted limit realised on its channel, with one member of the triple sign-flipped
    for tanh (the sigmoid would leave a constant nothing holds)."""
    structure, phi = limit_point(activation)
    y = planted_data(structure, phi)
    crit = refine_limit(structure, phi + 0.01 * np.cos(np.arange(phi.size)), X, y)
    assert crit.grad_norm <= 1e-12 and crit.loss > 1e-6
    assert np.abs(crit.theta - phi).max() < 1e-8 and crit.eigvals[0] > 0  # the planted minimum, found again
    spec = MLPSpec((2, 4, 1), activation, bias=False)
    history = [realise(structure, phi, amp) for amp in (50.0, 3000.0)]
    if activation == "tanh":
        for theta in history:
            theta[2:4], theta[9] = -theta[2:4], -theta[9]  # neuron 1 enters its group sign-flipped
    first = decompose(spec, history[-1], X)
    assert isinstance(first, str) or first.approx_error > 1e-4  # not a gated linear unit
    result = analyse_channel(spec, history, X, y[:, None])
    assert result.kind == "channel", result.reason
    assert result.limit_structure.second_order == "-" and result.limit_structure.n_glu == 0
    assert result.groups()[0].tolist() == [1, 2, 3]
    assert np.abs(np.abs(result.phi) - np.abs(phi)).max() < 1e-8  # m up to its sign
    assert abs(result.loss_limit - crit.loss) <= 1e-10 * crit.loss and result.grad_norm_limit <= 1e-12
    # the network misses the limit by O(1/A): L - L_inf ~ A^-p, p between 1 (that miss against the residual)
    # and 2 (its square), not the O(1/A^2) miss of a gated linear unit's pair (p >= 2, up to 4)
    assert 0.7 < result.approach_exponent < 2.0
    # and the networks along the channel, corrected, tend to a critical point; the plain stencil keeps a gradient
    assert result.approach_grad[-1] <= 1e-6 * loss_scale(y[:, None]) < result.plain_grad[-1]
    assert result.approach_grad[-1] < 1e-2 * result.approach_grad[0]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_two_neurons_closing_in_still_give_a_gated_linear_unit(activation):
    structure = LimitStructure(d=2, activation=activation, n_finite=2, n_glu=1, constant=False, linear=False)
    params = LimitParams(np.array([[0.4, -0.9], [-0.6, 0.3]]), np.array([1.3, 0.8]), np.array([[0.7, 0.5]]),
                         np.array([0.6]), np.array([[0.3, -0.2]]), 0.0, np.zeros(2))
    phi = pack(structure, params)
    spec = MLPSpec((2, 4, 1), activation, bias=False)
    history = [realise(structure, phi, amp) for amp in (50.0, 3000.0)]
    # the residual's sign that makes the channel descend: the network's loss above the limit's
    y = max((planted_data(structure, phi, size) for size in (0.02, -0.02)),
            key=lambda t: np.mean((network_output(spec, history[-1], X) - t) ** 2) - np.mean(
                (limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy() - t) ** 2))
    result = analyse_channel(spec, history, X, y[:, None])
    assert result.kind in ("channel", "channel_saddle"), result.reason
    assert result.limit_structure.second_order is None and result.limit_structure.n_glu == 1
    assert "second_order" not in result.structure  # stored as before


def test_a_path_point_near_a_three_neuron_channel_resolves_to_its_second_order_limit():
    """A point on the channel towards a planted second-order limit (sigmoid, small amplitude: the neurons
    still 0.3 apart) whose loss range holds the limit's: the path's highest-point resolution certifies it
    at infinity through the triple, and checks it on networks of the point's own width."""
    from lsexplorer.core.base.classify import Tolerances, loss_scale
    from lsexplorer.core.paths.path_saddle import APPROACH_GRAD_TOL, channel_saddle

    structure, phi = limit_point("sigmoid")
    y = planted_data(structure, phi)
    loss = float(limit_loss_grad_hessian(structure, phi, X, y)[0])
    theta = realise(structure, phi, 10.0)
    out = channel_saddle(MLPSpec((2, 4, 1), "sigmoid", bias=False), X, y[:, None], theta, Tolerances(),
                         0.9 * loss, 1.1 * loss, max_steps=150)
    assert out is not None and out.outcome == "channel", out and out.reason
    assert out.route == "channel 1+2+3" and out.index == 0 and out.grad_norm <= 1e-12
    assert abs(out.loss - loss) <= 1e-10 * loss
    assert out.approach_grad[-1] < out.approach_grad[0] and len(out.theta) == 12
    # checked on the corrected networks, whose gradient vanishes, not on the plain stencil's plateau
    assert out.approach_grad[-1] <= APPROACH_GRAD_TOL * loss_scale(y[:, None]) and "corrected" in out.reason


def test_the_path_check_rejects_a_second_order_channel_whose_network_keeps_a_gradient(monkeypatch):
    """Checked on the plain stencil (the correction made unavailable), the same planted channel's network keeps
    ``||grad L||`` of order 1e-2 at A = 1000: the falling loss no longer suffices, the gradient threshold rejects
    it and says so."""
    from lsexplorer.core.base.classify import Tolerances
    from lsexplorer.core.paths import path_saddle

    def unavailable(*args, **kwargs):
        raise ValueError("no correction")

    monkeypatch.setattr(path_saddle, "polish_along_channel", unavailable)
    structure, phi = limit_point("sigmoid")
    y = planted_data(structure, phi)
    loss = float(limit_loss_grad_hessian(structure, phi, X, y)[0])
    out = path_saddle.channel_saddle(MLPSpec((2, 4, 1), "sigmoid", bias=False), X, y[:, None],
                                     realise(structure, phi, 10.0), Tolerances(), 0.9 * loss, 1.1 * loss, max_steps=150)
    assert out is not None and out.outcome == "not_certified"
    assert "1+2+3: limit certified" in out.reason and "exceeds" in out.reason, out.reason


def test_flipped_members_hold_the_free_constant_at_the_points_own_width():
    """A sign-flipped pair and a triple with two flipped members (the shape of the sample's run 37, sigmoid):
    the constants the flips leave sum to the limit's free ``b`` with every neuron in a unit, and the network
    approaches the limit at O(1/A); read back, the point is the same limit model."""
    from lsexplorer.core.channels.group_limit import group_limit, realise_groups

    structure = LimitStructure(d=2, activation="sigmoid", n_finite=0, n_glu=1, constant=True, linear=False,
                               second_order="-")
    params = LimitParams(np.zeros((0, 2)), np.zeros(0), np.array([[-1.0, 0.5]]), np.array([-0.6]),
                         np.array([[-0.2, 0.05]]), 0.3, np.zeros(2), u2=np.array([[0.75, 0.6]]), c2=np.array([0.6]),
                         v2=np.array([[-0.1, -0.15]]), m2=np.array([[0.08, -0.04]]))
    phi = pack(structure, params)
    limit = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy()
    errors = []
    for amp in (1e2, 1e3, 1e4):
        theta = realise_groups(structure, phi, [1, 2], amp)
        assert theta is not None and theta.size == 15
        errors.append(np.abs(network("sigmoid", theta) - limit).max())
        w, a = theta[:10].reshape(5, 2), theta[10:]
        assert np.linalg.norm(w[0] + w[1]) < 1e-2 and a[0] * a[1] > 0  # the pair: flipped, outgoing of one sign
        read, phi_read = group_limit(w, a, [(0, 1), (2, 3, 4)], "sigmoid")
        assert read == structure
        again = limit_output(read, torch.from_numpy(phi_read), torch.from_numpy(X)).numpy()
        assert np.abs(again - network("sigmoid", theta)).max() < 10 / amp
    assert errors[0] / errors[1] > 7 and errors[1] / errors[2] > 7  # O(1/A)
    assert realise_groups(structure, phi, [0, 0], 100.0) is None  # nothing flipped holds no constant
