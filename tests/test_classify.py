"""Classification of critical points: synthetic spectra for the rules, and toy-problem points whose
kind and inertia are known from the mathematics (teacher, split teacher, split local minimum)."""

import math

import numpy as np
import pytest

from lsexplorer.core.landscape import hessian as hs
from lsexplorer.core.base.classify import KINDS, Classification, Tolerances, classify, loss_scale
from lsexplorer.core.data.datasets import toy_teacher
from lsexplorer.core.landscape.nets import MLPSpec

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

#: A local minimum of the width-3 toy student: Xavier seed 4, 1500 steps of Adam (lr 0.02) and
#: refine() (test_refine.py repeats that procedure), ||grad L|| = 3e-17, L = 1.168e-4.
WIDTH3_MINIMUM = np.array([
    0.9379300267026176, 0.6229977379692156, -0.22993589745793527, 0.030731533290881505,
    0.9187529902477534, -0.7310483570597515, 0.4170626211692709, -0.7544098871740669, 0.33733527277425884])


def split_neuron(theta, j, mu, m, d=2):
    """Width m -> m+1: neuron j duplicated as the last neuron, outgoing weights mu a_j and (1 - mu) a_j."""
    w, a = theta[:m * d].reshape(m, d), theta[m * d:]
    a_new = np.append(a, (1 - mu) * a[j])
    a_new[j] = mu * a[j]
    return np.concatenate([np.vstack([w, w[j]]).ravel(), a_new])


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def output_jacobian(theta, x):
    """d f(x_i) / d theta for f = sum_j a_j sigma(w_j . x), theta = (w_1..w_m, a_1..a_m): (N, P), numpy."""
    d = x.shape[1]
    m = theta.size // (d + 1)
    w, a = theta[:m * d].reshape(m, d), theta[m * d:]
    s = sigmoid(x @ w.T)
    dw = (a * s * (1 - s))[:, :, None] * x[:, None, :]
    return np.concatenate([dw.reshape(x.shape[0], m * d), s], axis=1)


def measured(spec, theta, toy):
    value, g, h = hs.loss_grad_hessian(spec, theta, toy.x, toy.y)
    lam = hs.spectrum(h)[0]
    return value, float(np.linalg.norm(g)), lam, h, classify(value, float(np.linalg.norm(g)), lam, loss_scale(toy.y))


# --- the rules on synthetic spectra -------------------------------------------------------------

def test_the_rules_in_order():
    tol = Tolerances()
    lam = np.array([-1e-3, 1e-16, 2.0])
    assert classify(1e-3, 1e-6, lam, 1.0).kind == "not_converged"  # gradient first
    assert classify(0.0, 0.0, lam, 1.0).kind == "global_min"  # zero loss is global, whatever the spectrum
    c = classify(1e-3, 1e-15, lam, 1.0)
    assert (c.kind, c.n_negative, c.n_zero, c.n_positive, c.lambda_min) == ("strict_saddle", 1, 1, 1, -1e-3)
    c = classify(1e-3, 1e-15, np.array([-1e-12, 0.0, 1e-5, 2.0]), 1.0)  # |-1e-12| < 1e-10 * 2: a zero
    assert (c.kind, c.n_negative, c.n_zero, c.n_positive) == ("local_min", 0, 2, 2)
    assert c.zero_eig_tol == pytest.approx(tol.eig_rtol * 2.0)
    assert classify(1e-3, 1e-15, -np.array([1.0, 2.0]), 1.0).kind == "strict_saddle"  # a maximum has escapes
    assert classify(1e-3, 1e-15, np.array([1.0, 2.0]), 1.0) == Classification(
        "local_min", 1.0, 0, 0, 2, tol.eig_rtol * 2.0, tol.loss_rtol)


def test_nonfinite_input_is_not_converged():
    c = classify(1e-3, 1e-15, np.array([np.nan, 1.0]), 1.0)
    assert c.kind == "not_converged" and math.isnan(c.lambda_min) and (c.n_negative, c.n_zero, c.n_positive) == (0, 0, 0)
    assert classify(math.nan, 1e-15, np.array([1.0]), 1.0).kind == "not_converged"
    assert classify(1e-3, math.inf, np.array([1.0]), 1.0).kind == "not_converged"
    assert classify(1e-3, 1e-15, np.array([]), 1.0).kind == "not_converged"


def test_thresholds_scale_with_the_problem():
    lam = np.array([-3e-11, 1e-6, 1.0])
    base = classify(2e-11, 1e-15, lam, 1.0)
    assert base.kind == "local_min" and base.n_zero == 1  # |-3e-11| <= 1e-10 * 1.0; 2e-11 > 1e-12 * 1.0
    scaled = classify(2e-11 * 1e6, 1e-15, lam * 1e6, 1e6)  # targets 1000x: loss and Hessian 1e6x
    assert (scaled.kind, scaled.n_zero) == (base.kind, base.n_zero)
    assert classify(2e-11, 1e-15, lam, 100.0).kind == "global_min"  # zero loss relative to mean ||y||^2
    assert classify(1e-31, 1e-15, lam, 0.0).kind == "global_min"  # all-zero targets: loss_atol
    assert Tolerances().zero_eig_tol(np.zeros(3)) == Tolerances().eig_atol


def test_tolerances_round_trip_and_refuse_unknown_keys():
    tol = Tolerances(grad_tol=1e-10, eig_rtol=1e-9)
    assert Tolerances.from_dict(tol.to_dict()) == tol
    with pytest.raises(ValueError, match="unknown"):
        Tolerances.from_dict({"grad": 1.0})
    assert set(KINDS) == {"global_min", "local_min", "strict_saddle", "nonstrict_saddle", "channel", "channel_saddle",
                          "not_converged"}


# --- points whose nature is known -------------------------------------------------------------

def test_toy_teacher_is_a_nondegenerate_global_minimum(toy):
    spec, teacher = toy_teacher()
    value, gnorm, lam, _, c = measured(spec, teacher, toy)
    # The labels are this very network's outputs: zero up to the rounding of one BLAS build or another.
    assert value <= 1e-30 and gnorm <= 1e-15
    assert c.kind == "global_min" and c.n_zero == 0 and c.n_negative == 0
    # At zero loss H = (2/N) J^T J; its smallest eigenvalue is (2/N) s_min(J)^2, ~1e-6: small, genuine.
    s = np.linalg.svd(output_jacobian(teacher, toy.x), compute_uv=False)
    assert lam[0] == pytest.approx(2 / toy.n * s[-1] ** 2, rel=1e-8)
    assert lam[0] > 100 * c.zero_eig_tol


@pytest.mark.parametrize("mu", [0.3, 0.5, 1.7])
def test_split_teacher_is_a_global_minimum_with_three_zero_eigenvalues(toy, mu):
    """Duplicating teacher neuron j (w_j twice, outgoing mu a_j and (1 - mu) a_j) keeps f, so L = 0.

    At zero loss H = (2/N) J^T J, so the zero eigenvalues are the null space of J. Of the 15
    columns of J, the two outgoing-weight columns of the pair are both sigma(w_j . x), and the two
    pairs of incoming-weight columns are mu a_j sigma'(w_j . x) x and (1 - mu) a_j sigma'(w_j . x) x,
    proportional: rank 15 - 1 - d = 12 (the teacher's 12 columns are independent), 3 = 1 + d zeros.
    The null directions are the line (a_j1, a_j2) += t (1, -1) and the splits
    (w_j1, w_j2) += ((1 - mu) xi, -mu xi), xi in R^2.
    """
    spec5 = MLPSpec((2, 5, 1))
    _, teacher = toy_teacher()
    theta = split_neuron(teacher, 0, mu, 4)
    value, gnorm, lam, h, c = measured(spec5, theta, toy)
    assert value <= 1e-30 and gnorm <= 1e-15
    assert c.kind == "global_min" and c.n_zero == 3 and c.n_negative == 0
    assert np.linalg.matrix_rank(output_jacobian(theta, toy.x)) == 12
    null = np.zeros((3, 15))
    null[0, [10, 14]] = 1, -1
    for k, xi in enumerate(np.eye(2)):
        null[1 + k, 0:2], null[1 + k, 8:10] = (1 - mu) * xi, -mu * xi
    assert np.abs(h @ null.T).max() <= 1e-14 * np.abs(lam).max()
    assert lam[3] > 100 * c.zero_eig_tol  # the rest is clearly positive


def test_width3_minimum_is_a_nondegenerate_local_minimum(toy):
    value, gnorm, lam, _, c = measured(MLPSpec((2, 3, 1)), WIDTH3_MINIMUM, toy)
    assert gnorm <= 1e-14
    assert c.kind == "local_min" and c.n_zero == 0 and lam[0] > 100 * c.zero_eig_tol
    assert value > 1e3 * c.zero_loss_tol


@pytest.mark.parametrize("j", [0, 1, 2])
@pytest.mark.parametrize("mu", [0.5, 1.5])
def test_split_local_minimum_inertia_follows_from_the_split_matrix(toy, j, mu):
    """Splitting neuron j of a critical point keeps it critical (Fukumizu & Amari 2000).

    Along (w_j1, w_j2) += ((1 - mu) xi, -mu xi) the network changes only at second order, and
    d^2 L = mu (1 - mu) xi^T Y_j xi with Y_j = (2/N) sum_i r_i a_j sigma''(w_j . x_i) x_i x_i^T,
    r = f - y. As the width-3 point is a non-degenerate minimum, the width-4 Hessian has the
    inertia of mu (1 - mu) Y_j plus one zero (the flat line of outgoing weights): a strict saddle
    as soon as mu (1 - mu) Y_j has a negative eigenvalue, else a local minimum with degeneracy 1.
    """
    spec4 = MLPSpec((2, 4, 1))
    x = toy.x
    w, a = WIDTH3_MINIMUM[:6].reshape(3, 2), WIDTH3_MINIMUM[6:]
    r = sigmoid(x @ w.T) @ a - toy.y[:, 0]
    s = sigmoid(x @ w[j])
    y_j = 2 / toy.n * np.einsum("i,ik,il->kl", r * a[j] * s * (1 - s) * (1 - 2 * s), x, x)
    curvature = mu * (1 - mu) * np.linalg.eigvalsh(y_j)
    _, gnorm, lam, _, c = measured(spec4, split_neuron(WIDTH3_MINIMUM, j, mu, 3), toy)
    assert gnorm <= 1e-14
    assert c.n_negative == int((curvature < 0).sum()) and c.n_zero == 1
    assert c.kind == ("strict_saddle" if (curvature < 0).any() else "local_min")
    if c.kind == "strict_saddle":  # Rayleigh quotient of the split direction bounds lambda_min
        assert c.lambda_min <= curvature.min() / ((1 - mu) ** 2 + mu ** 2) * (1 - 1e-9)
