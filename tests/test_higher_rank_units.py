"""Second-order units whose curvature has rank two or more: four or more neurons closing in (``core/channels``).

``k`` neurons whose outgoing weights diverge with finite zeroth and first moments keep a curvature
``M = sum_j s_j m_j m_j^T`` of rank up to ``min(k - 2, d)``. Checked: the stored codes, the layout (a lower
trapezoidal factor, so no continuous freedom), the factor against the matrix it factors, the stencil's moments
against ``(c, v, M)`` and its function against the limit at the rate its symmetry allows, the moments read back
off a realised group (one member sign-flipped, holding the free constant), the limit loss's derivatives by
finite differences, and the channel analysis of a network whose four neurons ran out.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lsexplorer.core.base.classify import Tolerances, loss_scale
from lsexplorer.core.base.spec import MLPSpec
from lsexplorer.core.channels.flat_channel import analyse_channel, decompose, network_output
from lsexplorer.core.channels.group_limit import curvature_factor, group_candidates, group_limit, realise_groups
from lsexplorer.core.channels.limit_model import (
    LimitParams,
    LimitStructure,
    limit_loss_grad_hessian,
    limit_output,
    pack,
    realise,
    realised_width,
    second_order_stencil,
    simplex,
    unpack,
)
from lsexplorer.core.paths.path_saddle import APPROACH_GRAD_TOL, channel_saddle
from lsexplorer.figures.channel import limit_unit, unit_formula

X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(60, 2))
ROWS = np.array([[1.1, 0.4], [0.0, 0.8]])


def limit_point(activation: str, code: str, rows=ROWS, constant: bool = False) -> tuple[LimitStructure, np.ndarray]:
    """One finite neuron and one second-order unit with curvature rows ``rows`` and signature ``code``."""
    structure = LimitStructure(d=2, activation=activation, n_finite=1, n_glu=0, constant=constant, linear=False,
                               second_order=code)
    params = LimitParams(np.array([[0.4, -0.9]]), np.array([1.3]), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)),
                         0.35 if constant else 0.0, np.zeros(2), u2=np.array([[0.7, 0.5]]), c2=np.array([0.6]),
                         v2=np.array([[0.3, -0.2]]), m2=np.asarray(rows, dtype=np.float64))
    return structure, pack(structure, params)


def planted_data(structure: LimitStructure, phi: np.ndarray, size: float = 0.02) -> np.ndarray:
    """Targets at which ``phi`` is an exact critical point of the limit loss: the limit's output plus a
    residual orthogonal to every direction the output can move in."""
    jac = torch.autograd.functional.jacobian(
        lambda p: limit_output(structure, p, torch.from_numpy(X)), torch.from_numpy(phi)).numpy()
    z = np.random.default_rng(1).normal(size=len(X))
    r = z - jac @ np.linalg.lstsq(jac, z, rcond=None)[0]
    return limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy() + size * r / np.abs(r).max()


def curvature(structure: LimitStructure, phi) -> np.ndarray:
    p = unpack(structure, np.asarray(phi))
    return sum(s * np.outer(m, m) for s, m in zip(structure.curvature_signs, p.m2))


def test_codes_are_stored_as_one_string_and_read_back():
    s = LimitStructure(d=3, activation="tanh", n_finite=0, n_glu=0, constant=False, linear=False,
                       second_order=(1, (1, -1), (-1, -1, -1)))
    assert s.second_order == "+[+-][---]"
    assert s.signatures == ((1,), (1, -1), (-1, -1, -1)) and s.curvature_signs == (1, 1, -1, -1, -1, -1)
    assert s.curvature_owner == (0, 1, 1, 2, 2, 2) and s.unit_sizes == (3, 4, 5)
    assert s.n_curvature_params == 3 + (3 + 2) + (3 + 2 + 1)
    assert LimitStructure.from_dict(s.to_dict()) == s
    old = LimitStructure(d=2, activation="sigmoid", n_finite=0, n_glu=0, constant=False, linear=False,
                         second_order="+-")
    assert old.signatures == ((1,), (-1,))  # codes stored before higher ranks: one rank-one unit per sign
    for bad in ("[+]", "[+x]", "[++", "+*", "[+++]"):
        with pytest.raises(ValueError):
            LimitStructure(d=2, activation="sigmoid", n_finite=0, n_glu=0, constant=False, linear=False,
                           second_order=bad)


def test_the_layout_keeps_only_the_factors_free_entries():
    structure, phi = limit_point("sigmoid", "[+-]")
    assert phi.size == structure.n_params == 3 + 5 + 3  # finite neuron, (u, c, v), curvature rows (2 + 1)
    p = unpack(structure, phi)
    assert np.array_equal(p.m2, ROWS)
    t = unpack(structure, torch.from_numpy(phi))
    assert np.array_equal(t.m2.numpy(), ROWS)
    with pytest.raises(ValueError, match="zeros"):
        limit_point("sigmoid", "[+-]", rows=[[1.1, 0.4], [0.2, 0.8]])


@pytest.mark.parametrize("signs", [(1, 1), (1, -1), (-1, 1), (-1, -1)])
def test_the_curvature_factor_is_lower_trapezoidal_and_rebuilds_the_matrix(signs):
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(3, 3)))[0][:, :2]
    matrix = basis @ np.diag(np.array(signs) * (1.0 + rng.uniform(size=2))) @ basis.T  # rank two in three inputs
    rows, got = curvature_factor(matrix, 2)
    assert rows[1, 0] == 0.0
    rebuilt = sum(s * np.outer(m, m) for s, m in zip(got, rows))
    assert np.abs(rebuilt - matrix).max() < 1e-12
    assert sorted(got) == sorted(signs)  # the signature is the matrix's inertia
    one, (sign,) = curvature_factor(np.outer([0.3, -0.4], [0.3, -0.4]), 1)
    assert sign == 1 and np.allclose(np.abs(one[0]), [0.3, 0.4])


def test_the_rank_one_stencil_is_the_symmetric_triple():
    u, v, m, c, A = np.array([0.7, 0.5]), np.array([0.3, -0.2]), np.array([1.1, 0.4]), 0.6, 40.0
    for s in (1, -1):
        w, a, slope = second_order_stencil(u, c, v, [m], (s,), A)
        spread = m / np.sqrt(2 * A)
        assert np.allclose(w, [u + v / (2 * s * A) + spread, u, u + v / (2 * s * A) - spread], atol=1e-15)
        assert np.allclose(a, [s * A, c - 2 * s * A, s * A]) and np.allclose(slope, [s, -2 * s, s])


def test_the_simplex_is_centred_and_isotropic():
    for n in (1, 2, 3, 4):
        z = simplex(n)
        assert z.shape == (n, n - 1)
        assert np.abs(z.sum(axis=0)).max(initial=0.0) < 1e-15
        assert np.abs(z.T @ z - np.eye(n - 1)).max(initial=0.0) < 1e-15


@pytest.mark.parametrize("code", ["[++]", "[+-]", "[-+]", "[--]"])
def test_the_stencils_moments_are_the_units_parameters(code):
    """``sum a_k = c`` and ``sum a_k delta_k = v`` exactly, ``sum a_k delta_k delta_k^T = M + O(1/A)``."""
    structure, phi = limit_point("tanh", code)
    p = unpack(structure, phi)
    M = curvature(structure, phi)
    misses = []
    for A in (1e2, 1e4):
        w, a, _ = second_order_stencil(p.u2[0], float(p.c2[0]), p.v2[0], p.m2, structure.signatures[0], A)
        delta = w - p.u2[0]
        assert len(a) == 4 and abs(a.sum() - p.c2[0]) <= 1e-12 * A
        assert np.abs(a @ delta - p.v2[0]).max() <= 1e-12 * A
        misses.append(np.abs((a[:, None] * delta).T @ delta - M).max())
    assert 50 < misses[0] / misses[1] < 200  # O(1/A)


@pytest.mark.parametrize(("code", "rate"), [("[+-]", 1.0), ("[-+]", 1.0), ("[++]", 0.5), ("[--]", 0.5)])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_the_realised_function_tends_to_the_limit(activation, code, rate):
    """A stencil symmetric about ``u`` (one sign on each side: ``+-e``, ``+-f``) has no third moment and misses
    by ``O(1/A)``; four neurons with a definite curvature are a triangle about its centre, whose third moment
    leaves ``O(A^(-1/2))``."""
    structure, phi = limit_point(activation, code)
    g = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy()
    spec = MLPSpec((2, realised_width(structure), 1), activation, bias=False)
    misses = [np.abs(network_output(spec, realise(structure, phi, A), X) - g).max() for A in (1e2, 1e4)]
    assert abs(np.log(misses[0] / misses[1]) / np.log(100.0) - rate) < 0.05


def test_the_limit_losss_gradient_and_hessian_match_finite_differences():
    structure, phi = limit_point("sigmoid", "[+-]", constant=True)
    y = np.sin(X @ np.array([1.0, -0.7]))
    _, g, h = limit_loss_grad_hessian(structure, phi, X, y)
    step = 1e-6
    fd_g, fd_h = np.zeros_like(g), np.zeros_like(h)
    for k in range(phi.size):
        e = np.zeros_like(phi)
        e[k] = step
        up, down = limit_loss_grad_hessian(structure, phi + e, X, y), limit_loss_grad_hessian(structure, phi - e, X, y)
        fd_g[k] = (up[0] - down[0]) / (2 * step)
        fd_h[:, k] = (up[1] - down[1]) / (2 * step)
    assert np.abs(g - fd_g).max() <= 1e-7 * max(np.abs(g).max(), 1e-3)
    assert np.abs(h - fd_h).max() <= 1e-6 * np.abs(h).max()


def test_a_realised_four_neuron_group_is_read_back_with_flipped_members_holding_the_constant():
    """Sigmoid, a gated linear unit's pair and a ``[+-]`` group, one member of each sign-flipped: each flip leaves
    the constant ``a_k``, the units' amplitudes are solved so that these sum to the limit's free ``b`` with every
    neuron in a unit, and :func:`group_limit` reads the same units and constant back."""
    structure = LimitStructure(d=2, activation="sigmoid", n_finite=1, n_glu=1, constant=True, linear=False,
                               second_order="[+-]")
    params = LimitParams(np.array([[0.4, -0.9]]), np.array([1.3]), np.array([[-0.8, 0.2]]), np.array([0.4]),
                         np.array([[0.1, 0.3]]), 0.35, np.zeros(2), u2=np.array([[0.7, 0.5]]), c2=np.array([0.6]),
                         v2=np.array([[0.3, -0.2]]), m2=ROWS)
    phi = pack(structure, params)
    theta = realise_groups(structure, phi, [1, 1], 1e4)
    assert theta is not None
    m = 7  # the point's own width: no affine pair
    w, a = theta[:2 * m].reshape(m, 2), theta[2 * m:]
    got_structure, got = group_limit(w, a, [(1, 2), (3, 4, 5, 6)], "sigmoid")
    assert got_structure == structure
    # the pair may be read off its flipped member, the whole unit flipped (another constant, the same function)
    assert np.abs(got[8:16] - phi[8:16]).max() < 1e-4  # the group's u, c, v, curvature rows: O(1/A)
    g = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy()
    assert np.abs(limit_output(structure, torch.from_numpy(got), torch.from_numpy(X)).numpy() - g).max() < 1e-4
    assert np.abs(network_output(MLPSpec((2, m, 1), "sigmoid", bias=False), theta, X) - g).max() < 1e-4


def test_groups_of_four_are_candidates_nearest_first():
    w = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [-0.1, 0.05], [3.0, -2.0]])
    first = group_candidates(w, "sigmoid", size=4, limit=1)
    assert first[0] == [(0, 1, 2, 4)] and first[1] == [(3, 5), (0, 1, 2, 4)]


@pytest.mark.parametrize("code", ["[++]", "[+-]"])
def test_four_neurons_run_out_are_a_rank_two_unit_and_their_planted_limit_certified(code):
    """A sigmoid network whose four neurons have run out along the channel towards a planted limit minimum: the
    channel analysis reads them as one second-order unit of rank two and certifies the limit. With one curvature
    sign on each side the corrected networks along the channel reach float64's floor: a minimum at infinity;
    with a definite curvature they keep a gradient, and the point is not called a critical point at infinity."""
    structure, phi = limit_point("sigmoid", code)
    y = planted_data(structure, phi)
    spec = MLPSpec((2, 5, 1), "sigmoid", bias=False)
    history = [realise(structure, phi, amp) for amp in (50.0, 3000.0)]
    wider = decompose(spec, history[-1], X, second_order=True)
    assert wider.structure.second_order == code and wider.group_of.tolist() == [-1, 0, 0, 0, 0]
    result = analyse_channel(spec, history, X, y[:, None])
    assert result.limit_structure == structure
    assert np.abs(curvature(structure, result.phi) - curvature(structure, phi)).max() < 1e-8
    assert result.grad_norm_limit <= 1e-12
    limit = APPROACH_GRAD_TOL * loss_scale(y[:, None])
    assert result.grad_amplitude.tolist() == [10.0, 100.0, 1000.0]
    if code == "[+-]":
        assert result.kind == "channel", result.reason
        assert result.approach_grad[-1] <= limit < result.plain_grad[-1]
        # the Channel panel and the figures name the unit and draw its limit against the group's output
        assert unit_formula(result, 0) == "c σ(u·x) + (v·x) σ′(u·x) + ½ σ″(u·x) xᵀMx"
        w, a = history[-1][:10].reshape(5, 2), history[-1][10:]
        group = (1.0 / (1.0 + np.exp(-X @ w[1:].T))) @ a[1:]
        assert np.abs(limit_unit(result, 0, X) - group).max() < 1e-3
    else:
        assert result.kind == "not_converged" and result.approach_grad[-1] > limit
        assert "limit model is certified (minimum" in result.reason and "keeps |grad L|" in result.reason


@pytest.mark.parametrize("code", ["[+-]", "[++]"])
def test_a_path_point_near_a_four_neuron_channel_is_resolved_through_its_rank_two_limit(code):
    """A sigmoid point on the channel towards a planted limit critical point with a rank-two unit, the four
    neurons still apart (A = 10), the band's loss range around ``L_inf``. The group of four is tried after the
    pairs and triples, and its limit certified. With one curvature sign on each side (``[+-]``) the corrected
    networks' gradient falls to float64's floor and the saddle at infinity is accepted; with a definite curvature
    the stencil (a triangle about its centre) keeps a gradient above the threshold, and the reason says so."""
    structure, phi = limit_point("sigmoid", code)
    y = planted_data(structure, phi)
    loss = float(limit_loss_grad_hessian(structure, phi, X, y)[0])
    out = channel_saddle(MLPSpec((2, 5, 1), "sigmoid", bias=False), X, y[:, None], realise(structure, phi, 10.0),
                         Tolerances(), 0.9 * loss, 1.1 * loss, max_steps=40)
    limit = APPROACH_GRAD_TOL * loss_scale(y[:, None])
    if code == "[+-]":
        assert out.outcome == "channel" and out.route == "channel 1+2+3+4", out.reason
        assert out.grad_norm <= 1e-12 and abs(out.loss - loss) <= 1e-10 * loss
        assert LimitStructure.from_dict(json.loads(out.limit_structure)).second_order == "[+-]"
        assert out.approach_grad[-1] <= limit and out.approach_grad[-1] < 1e-3 * out.approach_grad[0]
    else:
        assert out.outcome == "not_certified"
        assert "1+2+3+4: limit certified" in out.reason and "exceeds" in out.reason, out.reason
