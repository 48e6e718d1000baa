"""Flat channels to infinity: a planted channel is found and its limit certified; sample rows re-compute
independently; stored results round-trip."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.optimize

from lsexplorer.core.channels.limit_model import LimitParams, LimitStructure, pack, realise, refine_limit, unpack
from lsexplorer.core.channels.flat_channel import AFFINE, FINITE, analyse_channel, decompose, read_channel, write_channel
from lsexplorer.core.landscape.nets import MLPSpec
from lsexplorer.core.store.session import load_session

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"
TOY5 = MLPSpec((2, 5, 1), "sigmoid", False)


@pytest.fixture(scope="module")
def sample():
    return load_session(SAMPLE)


@pytest.fixture(scope="module")
def planted(toy):
    """A certified minimum of the reduced model: three sigmoid neurons plus one gated linear unit."""
    structure = LimitStructure(d=2, activation="sigmoid", n_finite=3, n_glu=1, constant=False, linear=False)
    start = LimitParams(w=np.array([[0.8, 0.6], [-1.0, 1.1], [0.9, -1.6]]), a=np.array([0.5, -0.5, 0.4]),
                        u=np.array([[-1.4, 1.0]]), c=np.array([-0.3]), v=np.array([[0.4, -0.2]]), b=0.0, l=np.zeros(2))
    crit = refine_limit(structure, pack(structure, start), toy.x, toy.y, max_iter=2000)
    assert crit.grad_norm < 1e-14 and crit.eigvals[0] > 0
    return structure, crit


def test_planted_channel_is_found_and_its_limit_certified(toy, planted):
    structure, crit = planted
    history = [realise(structure, crit.theta, 1.0 / eps) for eps in (1e-1, 1e-2, 1e-3)]
    result = analyse_channel(TOY5, history, toy.x, toy.y)
    assert result.kind == "channel", result.reason
    np.testing.assert_array_equal(result.group_of, [FINITE, FINITE, FINITE, 0, 0])
    assert result.growth > 90
    assert np.linalg.norm(result.phi - crit.theta) <= 1e-10 * np.linalg.norm(crit.theta)
    assert result.loss_limit == pytest.approx(crit.loss, rel=1e-10)
    assert result.grad_norm_limit < 1e-12 and result.lambda_min > 0
    # Along the channel the loss falls to L_inf like A^-2: the pair's remainder is O(1/A^2).
    excess = result.approach_loss - result.loss_limit
    assert (excess > 0).all() and (np.diff(excess) < 0).all()
    assert result.approach_exponent == pytest.approx(2.0, abs=0.05)
    assert all(loss > result.loss_limit for loss in result.history_loss)


def test_realised_pair_tends_to_the_gated_linear_unit(toy, planted):
    structure, crit = planted
    p = unpack(structure, crit.theta)
    errors = []
    for amplitude in (1e2, 1e3):
        theta = realise(structure, crit.theta, amplitude)
        w, a = theta[:10].reshape(5, 2), theta[10:]
        pair = a[3] / (1 + np.exp(-toy.x @ w[3])) + a[4] / (1 + np.exp(-toy.x @ w[4]))
        s = 1 / (1 + np.exp(-toy.x @ p.u[0]))
        glu = p.c[0] * s + (toy.x @ p.v[0]) * s * (1 - s)
        errors.append(np.abs(pair - glu).max())
    assert errors[1] < 2e-2 * errors[0]  # O(1/A^2); rounding in a +-A cancellation costs the rest


def test_no_channel_where_nothing_diverges(toy, sample):
    row = int(np.flatnonzero(sample.runs.kind == "local_min")[0])
    result = analyse_channel(TOY5, [sample.runs.theta_trained[row], sample.runs.theta[row]], toy.x, toy.y)
    assert result.kind == "not_converged" and "diverges" in result.reason
    assert isinstance(decompose(MLPSpec((2, 3, 3, 1)), np.zeros(MLPSpec((2, 3, 3, 1)).n_params), toy.x), str)


# ------------------------------------------------------------------------------------------
# Independent re-computation of the limit loss of sample rows 4, 26 (a pair) and 33 (an affine pair).
# ------------------------------------------------------------------------------------------

def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _reduced_loss_grad(p, x, y, finite, n_glu, affine):
    """Loss and gradient of: finite sigmoid neurons + n_glu gated linear units + (b + l.x if affine)."""
    d = x.shape[1]
    i = 0
    w = p[i:i + finite * d].reshape(finite, d); i += finite * d
    a = p[i:i + finite]; i += finite
    units = []
    for _ in range(n_glu):
        units.append((p[i:i + d], p[i + d], p[i + d + 1:i + 2 * d + 1])); i += 2 * d + 1
    s = _sig(x @ w.T)
    f = s @ a
    parts = []
    for u, c, v in units:
        su = _sig(x @ u)
        d1 = su * (1 - su)
        d2 = d1 * (1 - 2 * su)
        xv = x @ v
        f = f + c * su + xv * d1
        parts.append((su, d1, d2, xv, c))
    if affine:
        b, lin = p[i], p[i + 1:i + 1 + d]
        f = f + b + x @ lin
    r = f - y
    n = len(y)
    loss = r @ r / n
    g = 2 * r / n
    grads = [((g[:, None] * a * s * (1 - s)).T @ x).ravel(), s.T @ g]
    for su, d1, d2, xv, c in parts:
        grads += [x.T @ (g * (c * d1 + xv * d2)), [g @ su], x.T @ (g * d1)]
    if affine:
        grads += [[g.sum()], x.T @ g]
    return loss, np.concatenate([np.ravel(q) for q in grads])


@pytest.mark.parametrize("row, pair, affine", [(4, (1, 3), False), (26, (1, 3), False), (33, (0, 1), True)])
def test_sample_limit_loss_matches_an_independent_reduced_model(sample, row, pair, affine):
    x, y = sample.x, sample.y[:, 0]
    theta = sample.runs.theta[row]
    w, a = theta[:10].reshape(5, 2), theta[10:]
    finite = [k for k in range(5) if k not in pair]
    i, j = pair
    if affine:  # a_k sigma(w_k.x) ~ a_k/2 + a_k (w_k.x)/4 near w = 0
        start = np.concatenate([w[finite].ravel(), a[finite], [(a[i] + a[j]) / 2], (a[i] * w[i] + a[j] * w[j]) / 4])
        shape = {"finite": 3, "n_glu": 0, "affine": True}
    else:
        u = (w[i] + w[j]) / 2
        start = np.concatenate([w[finite].ravel(), a[finite], u, [a[i] + a[j]], a[i] * (w[i] - u) + a[j] * (w[j] - u)])
        shape = {"finite": 3, "n_glu": 1, "affine": False}
    res = scipy.optimize.minimize(lambda p: _reduced_loss_grad(p, x, y, **shape), start, jac=True,
                                  method="BFGS", options={"gtol": 1e-15, "maxiter": 20000})
    p = res.x
    for _ in range(3):  # Newton with a central-difference Hessian of the analytic gradient
        h = 1e-6 * np.maximum(np.abs(p), 1.0)
        hess = np.array([(_reduced_loss_grad(p + hj * e, x, y, **shape)[1] - _reduced_loss_grad(p - hj * e, x, y, **shape)[1])
                         / (2 * hj) for hj, e in zip(h, np.eye(len(p)))])
        p = p - np.linalg.solve((hess + hess.T) / 2, _reduced_loss_grad(p, x, y, **shape)[1])
    loss, grad = _reduced_loss_grad(p, x, y, **shape)
    assert np.linalg.norm(grad) < 1e-13
    stored = sample.analyses["channels"]["points"][str(row)]
    assert str(stored["kind"]) == "channel"
    assert float(stored["loss_limit"]) == pytest.approx(loss, rel=1e-8)
    recomputed = analyse_channel(TOY5, [sample.runs.theta_trained[row], theta], x, sample.y)
    assert recomputed.loss_limit == pytest.approx(loss, rel=1e-8)


def test_sample_diverged_rows_are_channels_below_their_trained_loss(sample):
    runs = sample.runs
    diverged = np.array(["diverged" in reason for reason in runs.stop_reason])
    assert diverged.sum() == 30
    assert np.isin(runs.kind[diverged], ("channel", "channel_saddle")).sum() >= 27
    summary = sample.analyses["channels"]["summary"]
    limits = np.asarray(summary["loss_limit"])
    finite = np.isfinite(limits)
    assert (limits[finite] < runs.train_loss[np.asarray(summary["run"])[finite]]).all()
    for row in np.flatnonzero(np.isin(runs.kind, ("channel", "channel_saddle"))):
        point = sample.analyses["channels"]["points"][str(row)]
        assert float(point["grad_norm_limit"]) < 1e-12 and float(point["loss_limit"]) <= runs.loss[row]


def test_channel_result_round_trips_through_hdf5(tmp_path, toy, sample):
    result = analyse_channel(TOY5, [sample.runs.theta_trained[33], sample.runs.theta[33]], toy.x, toy.y)
    assert (result.group_of == AFFINE).sum() == 2
    with h5py.File(tmp_path / "c.h5", "w") as f:
        write_channel(f.create_group("row33"), result)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        back = read_channel(f["row33"])
    assert back.kind == result.kind and back.reason == result.reason and back.structure == result.structure
    np.testing.assert_array_equal(back.phi, result.phi)
    np.testing.assert_array_equal(back.group_of, result.group_of)
    assert back.loss_limit == result.loss_limit


def test_planted_three_neuron_group_is_one_gated_linear_unit(toy, planted):
    """Two neurons at a = c/3 + A/2 and one at c/3 - A around u (offsets v/A, v/A, 0): the first
    moment is v (1 + O(1/A)), the second v v^T / A, so the group tends to the same unit."""
    structure, crit = planted
    p = unpack(structure, crit.theta)
    u, c, v = p.u[0], p.c[0], p.v[0]
    history = []
    for amplitude in (1e2, 1e3, 1e4):
        w = np.concatenate([p.w, [u + v / amplitude, u + v / amplitude + 1e-9, u]])
        a = np.concatenate([p.a, [c / 3 + amplitude / 2, c / 3 + amplitude / 2, c / 3 - amplitude]])
        history.append(np.concatenate([w.ravel(), a]))
    result = analyse_channel(MLPSpec((2, 6, 1)), history, toy.x, toy.y)
    assert result.kind == "channel", result.reason
    np.testing.assert_array_equal(result.group_of, [FINITE, FINITE, FINITE, 0, 0, 0])
    assert np.linalg.norm(result.phi - crit.theta) <= 1e-10 * np.linalg.norm(crit.theta)
    assert np.linalg.norm(result.phi_start - crit.theta) < 1e-3 * np.linalg.norm(crit.theta)  # read off right
