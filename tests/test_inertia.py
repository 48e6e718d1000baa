"""Theorem 3 on saddle lines: Y and U are exact Hessian blocks, the predicted inertia is the measured one."""

import json
import threading

import h5py
import numpy as np
import pytest
import scipy.linalg
import torch

from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.landscape.hessian import directional_derivative, loss_grad_hessian, output_jacobian_t
from lsexplorer.core.saddles.inertia import (Inertia, MuSweep, corollary_check, default_mu_grid, expand_neuron_report,
                                     measured_inertia, mu_sweep, predicted_inertia, theorem3, theorem3_matrix,
                                     u_matrix, y_matrix)
from lsexplorer.core.landscape.nets import MLPSpec, forward, loss, unflatten, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.refine import refine
from lsexplorer.core.store.session import _read_analyses, _write_analyses
from lsexplorer.core.symmetry.operations import duplicate_neuron

MUS = (-0.5, 0.0, 0.25, 0.5, 0.8, 1.0, 1.5)
#: Seeds whose 2-3-1 students end, after 200 Adam steps and refinement, at four different strict minima.
TOY_SEEDS = (12, 14, 19, 21)


@pytest.fixture(scope="module")
def toy_minima(toy):
    """Width-3 students (they cannot fit the 4-neuron teacher) refined to strict local minima."""
    spec = MLPSpec((2, 3, 1))
    x, y = torch.from_numpy(toy.x), torch.from_numpy(toy.y)
    minima = []
    for seed in TOY_SEEDS:
        theta = torch.tensor(xavier_init(spec, [seed])[0], requires_grad=True)
        opt = torch.optim.Adam([theta], lr=0.05)
        for _ in range(200):
            opt.zero_grad()
            loss(spec, theta, x, y).backward()
            opt.step()
        point = refine(spec, theta.detach().numpy(), toy.x, toy.y).theta
        _, g, h = loss_grad_hessian(spec, point, toy.x, toy.y)
        if np.linalg.norm(g) < 1e-14 and np.linalg.eigvalsh(h)[0] > 0:
            minima.append(point)
    assert len(minima) >= 3, "training no longer ends at strict local minima for these seeds"
    return spec, minima


def planted_critical_point(spec, seed, n=60):
    """An exact critical point: targets ``y = f(theta) - r`` with ``r`` orthogonal to the output Jacobian."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=spec.n_params)
    x = rng.normal(size=(n, spec.d_in))
    jac = output_jacobian_t(spec, torch.from_numpy(theta), torch.from_numpy(x)).numpy()
    null = scipy.linalg.null_space(jac.T)
    r = (null @ rng.normal(size=null.shape[1])).reshape(n, spec.d_out)
    with torch.no_grad():
        f = forward(spec, torch.from_numpy(theta), torch.from_numpy(x)).numpy()
    return theta, x, f - r


DEEP = [(MLPSpec((3, 4, 4, 1), "sigmoid", True), 1), (MLPSpec((3, 4, 2), "tanh", True), 2),
        (MLPSpec((2, 3, 3, 2), "softplus", False), 3)]
DEEP_CASES = [(s, seed, l) for s, seed in DEEP for l in range(1, len(s.hidden_widths) + 1)]
deep_ids = [f"{s.describe()} layer {l}" for s, _, l in DEEP_CASES]


def copy_indices(spec, layer, j):
    """Flat indices of neuron ``j``'s incoming vector (weights, then bias) and outgoing column."""
    lin, lout = spec.layers[layer - 1], spec.layers[layer]
    inc = list(range(lin.w_start + j * lin.n_in, lin.w_start + (j + 1) * lin.n_in))
    if spec.bias:
        inc.append(lin.b_start + j)
    return np.array(inc), lout.w_start + np.arange(lout.n_out) * lout.n_in + j


def split_coordinates(narrow_spec, layer, j, mu):
    """Columns of ``A``, ``theta' = A phi``: ``R`` maps the narrow parameters onto the saddle line's
    tangent (vbar moves both copies, a splits as mu : 1 - mu), ``D`` the directions xi, eta."""
    wide_spec = narrow_spec.with_hidden_width(layer, narrow_spec.widths[layer] + 1)
    m = narrow_spec.widths[layer]
    v1, c1 = copy_indices(wide_spec, layer, j)
    v2, c2 = copy_indices(wide_spec, layer, m)
    # R: the duplication map is linear in theta, so its matrix is its value on the unit vectors.
    r = np.stack([duplicate_neuron(narrow_spec, e, layer, j, mu)[1] for e in np.eye(narrow_spec.n_params)], axis=1)
    d = np.zeros((wide_spec.n_params, len(v1) + len(c1)))
    d[v1, np.arange(len(v1))] = 1.0 - mu
    d[v2, np.arange(len(v1))] = -mu
    d[c1, len(v1) + np.arange(len(c1))] = 1.0
    d[c2, len(v1) + np.arange(len(c1))] = -1.0
    return wide_spec, r, d


def assert_blocks_match(spec, theta, x, y, layer, j, mu):
    """In the coordinates (narrow, xi, eta) the exact Hessian of the duplicated point is
    ``H* (+) theorem3_matrix``: the narrow block is ``H*``, the cross blocks vanish."""
    wide_spec, r, d = split_coordinates(spec, layer, j, mu)
    _, _, h_wide = loss_grad_hessian(wide_spec, duplicate_neuron(spec, theta, layer, j, mu)[1], x, y)
    _, _, h_narrow = loss_grad_hessian(spec, theta, x, y)
    scale = np.abs(h_wide).max()
    np.testing.assert_allclose(r.T @ h_wide @ r, h_narrow, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(d.T @ h_wide @ r, 0.0, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(d.T @ h_wide @ d, theorem3_matrix(spec, theta, x, y, layer, j, mu),
                               rtol=0, atol=1e-13 * scale)
    return d


def test_y_is_the_thesis_formula_and_a_hessian_block_at_toy_minima(toy_minima, toy):
    spec, minima = toy_minima
    x, y = toy.x, toy.y
    for theta in minima:
        (w, _), (a, _) = unflatten(spec, theta)
        with torch.no_grad():
            residual = forward(spec, torch.from_numpy(theta), torch.from_numpy(x)).numpy()[:, 0] - y[:, 0]
        for j in range(3):
            # E[sigma''(w.x) x x^T a c'] with c' = 2 (f - y): the loss is a mean, not a sum.
            s = 1.0 / (1.0 + np.exp(-x @ w[j]))
            weight = s * (1 - s) * (1 - 2 * s) * a[0, j] * 2.0 * residual
            y_thesis = (x * weight[:, None]).T @ x / len(x)
            np.testing.assert_allclose(y_matrix(spec, theta, x, y, 1, j), y_thesis, rtol=1e-12, atol=1e-18)
            np.testing.assert_allclose(u_matrix(spec, theta, x, y, 1, j), 0.0, atol=1e-15)
            d = assert_blocks_match(spec, theta, x, y, 1, j, 0.3)
            # Nested forward-mode second derivative along xi = e_0 moving the copies apart.
            wide_spec, wide = duplicate_neuron(spec, theta, 1, j, 0.3)
            curvature = directional_derivative(wide_spec, wide, x, y, d[:, 0], 2)
            assert curvature == pytest.approx(0.3 * 0.7 * y_thesis[0, 0], rel=1e-9)


@pytest.mark.parametrize("spec, seed, layer", DEEP_CASES, ids=deep_ids)
def test_y_and_u_are_hessian_blocks_for_any_layer(spec, seed, layer):
    theta, x, y = planted_critical_point(spec, seed)
    for j in range(spec.widths[layer]):
        for mu in (-0.5, 0.3, 1.7):
            assert_blocks_match(spec, theta, x, y, layer, j, mu)
        # U a is the gradient in the incoming vector: zero at a critical point, so rank U <= n - 1.
        a = unflatten(spec, theta)[layer][0][:, j]
        u = u_matrix(spec, theta, x, y, layer, j)
        assert np.abs(u @ a).max() < 1e-14
        th = theorem3(spec, theta, x, y, layer, j)
        assert th.u_rank == min(u.shape[0], u.shape[1] - 1)  # generic: the rank Ua = 0 leaves


def test_toy_minima_measured_inertia_equals_theorem3_along_every_saddle_line(toy_minima, toy):
    spec, minima = toy_minima
    seen = set()
    for theta in minima:
        for j in range(3):
            sweep = run_generator(mu_sweep(spec, theta, toy.x, toy.y, 1, j, MUS))
            assert sweep.grad_norm.max() <= 1e-12
            np.testing.assert_array_equal(sweep.measured, sweep.predicted)
            # Corollary 3.2, d_out = 1, U = 0: index i- inside (0, 1), i+ outside, P' - d - 1 positive.
            i_neg, i_pos = int((sweep.y_eigvals < 0).sum()), int((sweep.y_eigvals > 0).sum())
            assert i_neg + i_pos == 2
            p = spec.n_params + 3
            expect = {-0.5: (i_pos, 1, p - 1 - i_pos), 0.25: (i_neg, 1, p - 1 - i_neg), 0.5: (i_neg, 1, p - 1 - i_neg),
                      0.8: (i_neg, 1, p - 1 - i_neg), 1.5: (i_pos, 1, p - 1 - i_pos), 0.0: (0, 3, p - 3),
                      1.0: (0, 3, p - 3)}
            for mu, row in zip(MUS, sweep.measured):
                assert tuple(row) == expect[mu]
            assert predicted_inertia(spec, theta, toy.x, toy.y, 1, j, 0.5) == Inertia(*expect[0.5])
            seen.add(i_neg)
    assert seen == {0, 1}, "the planted minima should include both a definite and an indefinite Y"


@pytest.mark.parametrize("spec, seed, layer", DEEP_CASES, ids=deep_ids)
def test_deep_and_vector_output_inertia_along_saddle_lines(spec, seed, layer):
    theta, x, y = planted_critical_point(spec, seed)
    crossings = set()
    for j in range(spec.widths[layer]):
        sweep = run_generator(mu_sweep(spec, theta, x, y, layer, j, MUS))
        assert sweep.grad_norm.max() <= 1e-12
        np.testing.assert_array_equal(sweep.measured, sweep.predicted)
        # The grid's neighbours of 0 and 1 are -0.5, 0.25 and 0.8, 1.5: far enough for the crossing
        # eigenvalues mu(1-mu) y to clear the zero threshold (~5e-10) where y is tiny (~1e-8).
        assert sweep.zero_crossings() == (sweep.predicted_crossings,) * 2
        crossings.add(sweep.predicted_crossings)
    # The q - rank U (generically nonzero) eigenvalues of Z^T Y Z cross: 3-4-4-1 layer 1 has q = 4,
    # k = 3, its last hidden layer q = 5, U = 0; 3-4-2 (d_out = 2) q = 4, k = 1; 2-3-3-2 q = 2 = k, then 3 - 1.
    expected = {"3-4-4-1": {1: 1, 2: 5}, "3-4-2": {1: 3}, "2-3-3-2": {1: 0, 2: 2}}
    assert crossings == {expected[spec.describe().split()[0]][layer]}


def test_zero_crossings_at_mu_0_and_1_on_the_default_grid(toy_minima, toy):
    spec, minima = toy_minima
    for theta in minima[:2]:
        for j in range(3):
            sweep = run_generator(mu_sweep(spec, theta, toy.x, toy.y, 1, j))
            np.testing.assert_array_equal(sweep.measured, sweep.predicted)
            assert sweep.predicted_crossings == 2  # d = 2, Y nonsingular
            assert sweep.zero_crossings() == (2, 2)
            assert sweep.zero_crossings(1e-9) == (2, 2)  # the thesis' absolute threshold
            # Eigenvalues that vanish at mu0 are those that change sign (linear in mu(1 - mu) there).
            zeros = dict(zip(sweep.mus, sweep.measured[:, 1]))
            assert zeros[0.0] - zeros[-1e-3] == 2 and zeros[1.0] - zeros[1 + 1e-3] == 2


def test_expand_neuron_report_is_plain_json(toy_minima, toy):
    spec, minima = toy_minima
    report = expand_neuron_report(spec, minima[0], toy.x, toy.y, 1, 2, [-0.5, 0.5, 1.5], Tolerances(), run=4)
    assert json.loads(json.dumps(report)) == report
    assert list(report) == ["run", "neuron", "layer", "Y_eigenvalues", "points"]
    assert (report["run"], report["neuron"], report["layer"]) == (4, 2, 1)
    assert len(report["Y_eigenvalues"]) == 2 and all(type(v) is float for v in report["Y_eigenvalues"])
    assert [p["mu"] for p in report["points"]] == [-0.5, 0.5, 1.5]
    for point in report["points"]:
        assert list(point) == ["mu", "grad_norm", "eigenvalues", "inertia", "predicted_inertia"]
        assert type(point["mu"]) is float and type(point["grad_norm"]) is float
        ev = point["eigenvalues"]
        assert len(ev) == spec.n_params + 3 and ev == sorted(ev) and all(type(v) is float for v in ev)
        for key in ("inertia", "predicted_inertia"):
            assert list(point[key]) == ["neg", "zero", "pos"] and all(type(v) is int for v in point[key].values())
        assert point["inertia"] == point["predicted_inertia"]
        assert sum(point["inertia"].values()) == len(ev)


def test_mu_sweep_round_trips_through_a_session_tree_progress_and_stop(toy_minima, toy, tmp_path):
    spec, minima = toy_minima
    progress = []
    sweep = run_generator(mu_sweep(spec, minima[0], toy.x, toy.y, 1, 0, [-1.0, 0.5, 2.0]), progress.append)
    assert [(p.done, p.total, p.mu) for p in progress] == [(1, 3, -1.0), (2, 3, 0.5), (3, 3, 2.0)]
    tree = sweep.to_dict()
    with h5py.File(tmp_path / "a.h5", "w") as f:
        _write_analyses(f.create_group("analyses"), {"mu_sweep": tree})
    with h5py.File(tmp_path / "a.h5", "r") as f:
        back = MuSweep.from_dict(_read_analyses(f["analyses"])["mu_sweep"])
    for key, value in tree.items():
        np.testing.assert_array_equal(getattr(back, key, tree["inertia_columns"]), value)
    assert back.eigvals.shape == (3, spec.n_params + 3) and back.measured.dtype.kind == "i"

    stop = threading.Event()
    gen = mu_sweep(spec, minima[0], toy.x, toy.y, 1, 0, [-1.0, 0.5, 2.0], stop=stop)
    next(gen)
    stop.set()
    partial = run_generator(gen)
    assert partial.stopped and partial.mus.tolist() == [-1.0] and partial.eigvals.shape == (1, spec.n_params + 3)


def test_corollary_check_verdicts(toy_minima, toy):
    spec, minima = toy_minima
    verdicts = {}
    for theta in minima:
        for j in range(3):
            check = corollary_check(spec, theta, toy.x, toy.y, 1, j, Tolerances())
            assert check["critical"] and check["strict_local_min"] and check["U_rank"] == 0
            y_in = check["Y_inertia"]
            if y_in["neg"] == 0:
                assert check["verdict"] == "degenerate_local_min"
                assert check["outside"] == {"kind": "saddle", "index": 2, "inertia": check["outside"]["inertia"]}
            else:
                assert check["verdict"] == "saddle" and check["inside"]["index"] == y_in["neg"]
                assert check["outside"]["index"] == y_in["pos"]
            assert check["boundary"]["kind"] == "inconclusive"
            verdicts[check["verdict"]] = (theta, j)
    assert set(verdicts) == {"degenerate_local_min", "saddle"}

    # A degenerate minimum is a minimum: no point nearby is lower (the flat direction keeps the loss).
    theta, j = verdicts["degenerate_local_min"]
    wide_spec, wide = duplicate_neuron(spec, theta, 1, j, 0.4)
    rng = np.random.default_rng(0)
    base = loss(wide_spec, torch.from_numpy(wide), torch.from_numpy(toy.x), torch.from_numpy(toy.y)).item()
    steps = 1e-3 * rng.normal(size=(200, wide_spec.n_params))
    lower = loss(wide_spec, torch.from_numpy(wide + steps), torch.from_numpy(toy.x), torch.from_numpy(toy.y))
    assert (lower.numpy() - base).min() > -1e-15
    assert corollary_check(spec, theta, toy.x, toy.y, 1, j, mu=1.5)["verdict"] == "saddle"

    moved = corollary_check(spec, theta + 1e-3, toy.x, toy.y, 1, j, Tolerances())
    assert moved["verdict"] == "inconclusive" and moved["text"].startswith("inconclusive (the narrower point is not")

    deep_spec, seed = DEEP[0]
    planted = corollary_check(deep_spec, *planted_critical_point(deep_spec, seed), 1, 0)
    assert planted["verdict"] == "saddle" and "itself an index-" in planted["text"]


def test_default_grid_and_measured_inertia():
    grid = default_mu_grid()
    assert grid[0] == -1.0 and grid[-1] == 2.0 and np.all(np.diff(grid) > 0)
    assert {0.0, 1.0, -1e-3, 1e-3, 1 - 1e-3, 1 + 1e-3} <= set(grid.tolist())
    assert np.diff(grid).min() < 0.01 < 0.1 < np.diff(grid).max()
    assert measured_inertia([-2.0, -1e-17, 0.0, 1e-17, 3.0], 1e-15) == Inertia(1, 3, 1)
    assert Inertia(1, 2, 3).to_dict() == {"neg": 1, "zero": 2, "pos": 3}
