"""Exact derivatives of the loss checked against mathematics: finite differences, closed forms, and
an independent numpy implementation of the two-layer sigmoid net."""

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape import hessian as hs
from lsexplorer.core.landscape.nets import MLPSpec, forward, loss

# torch's forward-mode AD scripts its decompositions on first use, which warns on torch >= 2.9.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

SPECS = [
    MLPSpec((2, 4, 1), "sigmoid", bias=False),
    MLPSpec((3, 5, 2), "tanh", bias=True),
    MLPSpec((2, 3, 1), "softplus", bias=True),
    MLPSpec((2, 4, 3, 1), "sigmoid", bias=True),  # three weight layers
    MLPSpec((3, 4, 4, 2), "tanh", bias=False),
]


def _problem(spec, seed, n=25):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, spec.d_in))
    y = rng.normal(size=(n, spec.d_out))
    theta = rng.normal(scale=0.8, size=spec.n_params)
    return theta, x, y


def _loss64(spec, theta, x, y):
    return float(loss(spec, torch.from_numpy(theta), torch.from_numpy(x), torch.from_numpy(y)))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_gradient_matches_central_differences(spec):
    theta, x, y = _problem(spec, 0)
    value, g, _ = hs.loss_grad_hessian(spec, theta, x, y)
    assert value == pytest.approx(_loss64(spec, theta, x, y), rel=1e-14)
    h = 1e-6
    fd = np.array([(_loss64(spec, theta + h * e, x, y) - _loss64(spec, theta - h * e, x, y)) / (2 * h)
                   for e in np.eye(spec.n_params)])
    # Truncation h^2 * L''' / 6 and rounding eps * L / h are both ~1e-10 here.
    assert np.linalg.norm(g - fd) <= 1e-8 * max(1.0, np.linalg.norm(g))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_hessian_matches_differences_of_the_gradient(spec):
    theta, x, y = _problem(spec, 1)
    _, _, hess = hs.loss_grad_hessian(spec, theta, x, y)
    assert np.array_equal(hess, hess.T)
    assert np.array_equal(hess, hs.hessian(spec, theta, x, y))
    h = 1e-5
    grad = lambda t: hs.loss_grad_t(spec, *hs.float64_problem(spec, t, x, y))[1].numpy()
    fd = np.stack([(grad(theta + h * e) - grad(theta - h * e)) / (2 * h) for e in np.eye(spec.n_params)])
    assert np.abs(hess - fd).max() <= 1e-7 * max(1.0, np.abs(hess).max())


def test_chunked_hessian_equals_one_chunk(monkeypatch):
    spec = MLPSpec((2, 3, 2), "tanh", bias=True)
    theta, x, y = _problem(spec, 2)
    whole = hs.hessian(spec, theta, x, y)
    monkeypatch.setattr(hs, "_CHUNK_BYTES", 1)  # one Hessian-vector product per chunk
    assert np.abs(hs.hessian(spec, theta, x, y) - whole).max() <= 1e-14 * np.abs(whole).max()


def test_output_jacobian_gives_the_gauss_newton_hessian_at_zero_residual():
    spec = MLPSpec((2, 3, 2), "softplus", bias=True)
    theta, x, _ = _problem(spec, 3)
    t, xt, _ = hs.float64_problem(spec, theta, x, np.zeros((x.shape[0], 2)))
    y = forward(spec, t, xt).numpy()  # zero residual: H = (2/N) J^T J exactly
    jac = hs.output_jacobian_t(spec, t, xt).numpy()
    assert jac.shape == (x.shape[0] * 2, spec.n_params)
    gn = 2.0 / x.shape[0] * jac.T @ jac
    assert np.abs(hs.hessian(spec, theta, x, y) - gn).max() <= 1e-13 * np.abs(gn).max()


# --- directional derivatives -------------------------------------------------------------------

def _sigmoid_square_derivative(order, w):
    """d^k/dt^k sigma(w + t)^2 at 0, from polynomials in s = sigma: d/dt P(s) = P'(s) (s - s^2)."""
    p = np.polynomial.Polynomial([0, 0, 1])
    for _ in range(order):
        p = p.deriv() * np.polynomial.Polynomial([0, 1, -1])
    return p(1 / (1 + np.exp(-w)))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_directional_derivative_closed_form_single_neuron(order):
    # f(x) = a sigma(w x), one sample x = 1, y = 0: L(w, a) = a^2 sigma(w)^2.
    spec = MLPSpec((1, 1, 1), "sigmoid", bias=False)
    w, a = 0.7, -1.3
    x, y = np.ones((1, 1)), np.zeros((1, 1))
    along_w = hs.directional_derivative(spec, [w, a], x, y, [1.0, 0.0], order)
    assert along_w == pytest.approx(a * a * _sigmoid_square_derivative(order, w), rel=1e-13, abs=1e-15)
    # Along a the loss is the parabola (a + t)^2 s^2.
    s2 = (1 / (1 + np.exp(-w))) ** 2
    expected_a = {1: 2 * a * s2, 2: 2 * s2, 3: 0.0, 4: 0.0}[order]
    assert hs.directional_derivative(spec, [w, a], x, y, [0.0, 1.0], order) == pytest.approx(
        expected_a, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("spec", SPECS[:4], ids=lambda s: s.describe())
def test_directional_derivatives_against_gradient_hessian_and_differences(spec):
    theta, x, y = _problem(spec, 4)
    u = np.random.default_rng(5).normal(size=spec.n_params)
    u /= np.linalg.norm(u)
    _, g, hess = hs.loss_grad_hessian(spec, theta, x, y)
    d = {k: hs.directional_derivative(spec, theta, x, y, u, k) for k in (1, 2, 3, 4)}
    assert d[1] == pytest.approx(g @ u, rel=1e-12, abs=1e-14)
    assert d[2] == pytest.approx(u @ hess @ u, rel=1e-12)
    h = 1e-4
    for k in (2, 3, 4):  # central differences of the exact order k-1 along u
        fd = (hs.directional_derivative(spec, theta + h * u, x, y, u, k - 1)
              - hs.directional_derivative(spec, theta - h * u, x, y, u, k - 1)) / (2 * h)
        assert d[k] == pytest.approx(fd, rel=1e-6, abs=1e-8 * max(1.0, abs(d[k - 1])))


def test_bad_arguments_are_refused():
    spec = MLPSpec((2, 3, 1))
    theta, x, y = _problem(spec, 6)
    with pytest.raises(ValueError, match="order"):
        hs.directional_derivative(spec, theta, x, y, theta, 5)
    with pytest.raises(ValueError, match="direction"):
        hs.directional_derivative(spec, theta, x, y, theta[:-1], 2)
    with pytest.raises(ValueError, match="shape"):
        hs.hessian(spec, theta[:-1], x, y)
    with pytest.raises(ValueError, match="NaN"):
        hs.spectrum(np.full((3, 3), np.nan))


def test_spectrum_is_ascending_and_orthonormal():
    a = np.random.default_rng(7).normal(size=(6, 6))
    h = a + a.T
    lam, vecs = hs.spectrum(h)
    assert np.all(np.diff(lam) >= 0)
    assert np.allclose(vecs.T @ vecs, np.eye(6), atol=1e-14)
    assert np.allclose(h @ vecs, vecs * lam, atol=1e-13)


# --- an independent implementation ---------------------------------------------------------------

def _closed_form_two_layer_sigmoid(theta, x, y):
    """Loss, gradient and Hessian of f(x) = sum_j a_j sigma(w_j . x), L = mean (f - y)^2, in numpy.

    theta = (w_1, ..., w_m, a_1, ..., a_m); written from the formulas, not from nets.py.
    H = (2/N) [J^T J + sum_i r_i d^2 f_i], where d^2 f_i has the blocks
    d2f/dw_j dw_j = a_j sigma''(z_ij) x_i x_i^T and d2f/dw_j da_j = sigma'(z_ij) x_i.
    """
    n, d = x.shape
    m = theta.size // (d + 1)
    w, a = theta[:m * d].reshape(m, d), theta[m * d:]
    z = x @ w.T  # (N, m)
    s = 1 / (1 + np.exp(-z))
    s1 = s * (1 - s)
    s2 = s1 * (1 - 2 * s)
    r = s @ a - y[:, 0]
    jac = np.concatenate([(a * s1)[:, :, None] * x[:, None, :], s[:, :, None]], axis=2)  # (N, m, d+1) per neuron
    jac_flat = np.concatenate([jac[:, :, :d].reshape(n, m * d), jac[:, :, d]], axis=1)
    loss_value = float(r @ r / n)
    grad = 2 / n * jac_flat.T @ r
    hess = 2 / n * jac_flat.T @ jac_flat
    for j in range(m):
        wj = slice(j * d, (j + 1) * d)
        aj = m * d + j
        hess[wj, wj] += 2 / n * np.einsum("i,ik,il->kl", r * a[j] * s2[:, j], x, x)
        cross = 2 / n * (r * s1[:, j]) @ x
        hess[wj, aj] += cross
        hess[aj, wj] += cross
    return loss_value, grad, hess


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_independent_closed_form_agrees(seed):
    rng = np.random.default_rng(100 + seed)
    m, d, n = 4, 3, 60
    spec = MLPSpec((d, m, 1), "sigmoid", bias=False)
    x = rng.normal(scale=2.0, size=(n, d))
    y = rng.normal(size=(n, 1))
    theta = rng.normal(size=spec.n_params)
    value, g, hess = hs.loss_grad_hessian(spec, theta, x, y)
    ref_value, ref_g, ref_h = _closed_form_two_layer_sigmoid(theta, x, y)
    assert value == pytest.approx(ref_value, rel=1e-13)
    assert np.abs(g - ref_g).max() <= 1e-13 * np.abs(ref_g).max()
    assert np.abs(hess - ref_h).max() <= 1e-12 * np.abs(ref_h).max()
