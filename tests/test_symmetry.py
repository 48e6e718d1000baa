"""Symmetry operations: the network function is unchanged, critical points stay critical, matching is exact."""

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import torch

from lsexplorer.core.data.datasets import toy_dataset, toy_teacher
from lsexplorer.core.landscape.nets import MLPSpec, forward, loss, loss_and_grad
from lsexplorer.core.symmetry.operations import (duplicate_neuron, flip_neuron_pair, flips_preserve_function, incoming_vectors,
                                      match_to_teacher, merge_neurons, nearest_neuron_distances, nearest_neuron_pair,
                                      outgoing_weights, permute_neurons, remove_neuron, saddle_line, sign_flip, sign_flip_offset)

SPECS = [MLPSpec((2, 5, 1)), MLPSpec((3, 4, 2), "tanh", True), MLPSpec((3, 4, 5, 3, 2), "sigmoid", True),
         MLPSpec((2, 3, 4, 3, 1), "sigmoid", False), MLPSpec((2, 4, 3, 2), "softplus", True)]
CASES = [(s, l) for s in SPECS for l in range(1, len(s.hidden_widths) + 1)]
ids = [f"{s.describe()} layer {l}" for s, l in CASES]


def outputs(spec, theta, x):
    with torch.no_grad():
        return forward(spec, torch.from_numpy(np.asarray(theta)), torch.from_numpy(x)).numpy()


def assert_same_function(spec_a, theta_a, spec_b, theta_b, x):
    np.testing.assert_allclose(outputs(spec_b, theta_b, x), outputs(spec_a, theta_a, x), rtol=1e-14, atol=1e-14)


def grad_norms(spec, thetas, x, y):
    _, g = loss_and_grad(spec, torch.from_numpy(np.atleast_2d(thetas)), torch.from_numpy(x), torch.from_numpy(y))
    return np.linalg.norm(g.numpy(), axis=-1)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("spec, layer", CASES, ids=ids)
def test_function_preserving_operations(spec, layer, rng):
    theta = rng.normal(size=spec.n_params)
    x = rng.normal(size=(50, spec.d_in))
    m = spec.widths[layer]

    perm = rng.permutation(m)
    permuted = permute_neurons(spec, theta, layer, perm)
    assert_same_function(spec, theta, spec, permuted, x)
    np.testing.assert_array_equal(incoming_vectors(spec, permuted, layer), incoming_vectors(spec, theta, layer)[perm])

    for j in range(m):
        for mu in (-1.5, 0.0, 0.3, 1.0, 2.0):
            wide_spec, wide = duplicate_neuron(spec, theta, layer, j, mu)
            assert wide_spec.widths[layer] == m + 1
            assert_same_function(spec, theta, wide_spec, wide, x)
            back_spec, back = merge_neurons(wide_spec, wide, layer, m, j)
            assert back_spec == spec
            np.testing.assert_allclose(back, theta, rtol=1e-15, atol=1e-15)

    # A neuron whose outgoing weights are zero goes without changing anything, whatever its bias.
    wide_spec, wide = duplicate_neuron(spec, theta, layer, m - 1, 1.0)
    small_spec, small = remove_neuron(wide_spec, wide, layer, m)
    assert small_spec == spec
    np.testing.assert_array_equal(small, theta)
    with pytest.raises(ValueError, match="outgoing weight"):
        remove_neuron(spec, theta, layer, 0)


@pytest.mark.parametrize("spec, layer", CASES, ids=ids)
def test_sign_flips_keep_the_function_exactly_when_they_should(spec, layer, rng):
    theta = rng.normal(size=spec.n_params)
    x = rng.normal(size=(50, spec.d_in))
    if spec.activation == "softplus":
        assert not flips_preserve_function(spec, theta, layer, 0)
        with pytest.raises(ValueError, match="no sign symmetry"):
            sign_flip(spec, theta, layer, 0)
        return
    single_ok = spec.bias or spec.activation == "tanh"
    assert flips_preserve_function(spec, theta, layer, 1) == single_ok
    if single_ok:
        assert_same_function(spec, theta, spec, sign_flip(spec, theta, layer, 1), x)
        assert_same_function(spec, theta, spec, sign_flip(spec, theta, layer, [0, 2]), x)
    else:
        np.testing.assert_allclose(sign_flip_offset(spec, theta, layer, 1), -outgoing_weights(spec, theta, layer)[:, 1])
        with pytest.raises(ValueError, match="no bias to absorb"):
            sign_flip(spec, theta, layer, 1)
    # Give neurons 0 and 2 opposite outgoing weights: then their pair flip is exact even without biases.
    out = spec.layers[layer]
    paired = theta.copy()
    w_out = paired[out.w_start:out.w_stop].reshape(out.n_out, out.n_in)
    w_out[:, 2] = -w_out[:, 0]
    assert flips_preserve_function(spec, paired, layer, [0, 2])
    flipped = flip_neuron_pair(spec, paired, layer, 0, 2)
    assert_same_function(spec, paired, spec, flipped, x)
    np.testing.assert_array_equal(incoming_vectors(spec, flipped, layer)[[0, 2]],
                                  -incoming_vectors(spec, paired, layer)[[0, 2]])


def test_thesis_pair_flip_of_section_6_2_2():
    spec, teacher = toy_teacher()
    x = toy_dataset().x
    student = flip_neuron_pair(spec, teacher, 1, 0, 3)   # a_0 = +1, a_3 = -1
    v, a = incoming_vectors(spec, student, 1), outgoing_weights(spec, student, 1)[0]
    np.testing.assert_array_equal(v[[0, 3]], [[-0.6, -0.5], [-0.1, 0.6]])
    np.testing.assert_array_equal(a[[0, 3]], [-1.0, 1.0])
    assert_same_function(spec, teacher, spec, student, x)
    with pytest.raises(ValueError, match="no bias to absorb"):
        flip_neuron_pair(spec, teacher, 1, 0, 2)           # a_0 = a_2 = +1: the constants add up


def newton_minimum(spec, seed):
    """A non-zero-loss local minimum: data from a random teacher plus noise, fitted from the teacher
    by BFGS and polished by Newton steps with the exact Hessian (torch.autograd.functional.hessian)."""
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=spec.n_params)
    x = rng.normal(size=(100, spec.d_in))
    y = outputs(spec, teacher, x) + 0.03 * rng.normal(size=(100, spec.d_out))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def value_and_grad(th):
        t = torch.from_numpy(th).requires_grad_(True)
        v = loss(spec, t, xt, yt)
        v.backward()
        return v.item(), t.grad.numpy().copy()

    theta = scipy.optimize.minimize(value_and_grad, teacher, jac=True, method="BFGS", options={"gtol": 1e-8}).x
    for _ in range(20):
        g = value_and_grad(theta)[1]
        if np.linalg.norm(g) < 1e-15:
            break
        h = torch.autograd.functional.hessian(lambda t: loss(spec, t, xt, yt), torch.from_numpy(theta)).numpy()
        theta = theta - np.linalg.solve(h, g)
    return theta, x, y


def planted_critical_point(spec, seed):
    """An exact critical point of any net: targets ``y = f(theta) - r`` with the residual ``r`` orthogonal
    to every column of the Jacobian of the outputs, so that ``grad L = (2/N) J^T r = 0``."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=spec.n_params)
    x = rng.normal(size=(60, spec.d_in))
    jac = torch.autograd.functional.jacobian(lambda t: forward(spec, t, torch.from_numpy(x)),
                                             torch.from_numpy(theta)).numpy().reshape(-1, spec.n_params)
    null = scipy.linalg.null_space(jac.T)
    r = (null @ rng.normal(size=null.shape[1])).reshape(60, spec.d_out)
    return theta, x, outputs(spec, theta, x) - r


CRITICAL = [(MLPSpec((2, 3, 1)), newton_minimum), (MLPSpec((3, 4, 1), "tanh", True), newton_minimum),
            (MLPSpec((2, 3, 2, 1), "tanh", True), planted_critical_point),
            (MLPSpec((2, 2, 3, 2, 2), "sigmoid", True), planted_critical_point),
            (MLPSpec((3, 4, 3, 1), "sigmoid", False), planted_critical_point)]


@pytest.mark.parametrize("spec, make", CRITICAL, ids=[f"{s.describe()} {f.__name__}" for s, f in CRITICAL])
def test_duplication_keeps_a_critical_point_critical_for_every_mu(spec, make):
    theta, x, y = make(spec, seed=3)
    base = grad_norms(spec, theta, x, y)[0]
    assert base < 1e-14, "the test set-up failed to find a critical point"
    assert loss(spec, torch.from_numpy(theta), torch.from_numpy(x), torch.from_numpy(y)).item() > 1e-4
    mus = np.array([-1.0, -0.2, 0.0, 0.25, 0.5, 0.9, 1.0, 1.7])
    for layer in range(1, len(spec.hidden_widths) + 1):
        for j in range(spec.widths[layer]):
            wide_spec, line = saddle_line(spec, theta, layer, j, mus)
            assert line.shape == (len(mus), wide_spec.n_params)
            assert np.all(grad_norms(wide_spec, line, x, y) < 1e-14 + 3 * base)


def test_duplicating_the_toy_teacher_keeps_zero_loss_and_gradient():
    data = toy_dataset()
    spec, teacher = toy_teacher()
    wide_spec, line = saddle_line(spec, teacher, 1, 2, [-1.0, 0.5, 3.0])
    _, g = loss_and_grad(wide_spec, torch.from_numpy(line), torch.from_numpy(data.x), torch.from_numpy(data.y))
    assert np.abs(g.numpy()).max() < 1e-14


def test_match_to_teacher_permuted_flipped_split_and_zero_type():
    spec, teacher = toy_teacher()
    exact = match_to_teacher(spec, teacher, spec, teacher)
    assert exact.residual == 0.0 and list(exact.teacher_of) == [0, 1, 2, 3] and not exact.flipped.any()

    perm = np.array([2, 0, 3, 1])
    student = flip_neuron_pair(spec, permute_neurons(spec, teacher, 1, perm), 1, 1, 3)   # teacher 0 and 1
    match = match_to_teacher(spec, student, spec, teacher)
    assert match.residual < 1e-12
    np.testing.assert_array_equal(match.teacher_of, perm)
    np.testing.assert_array_equal(match.flipped, [False, True, False, True])

    wide_spec, split = duplicate_neuron(spec, student, 1, 2, 0.3)                      # teacher 3 split in two
    wide_spec, split = duplicate_neuron(wide_spec, split, 1, 0, 1.0)                   # and a zero-type neuron
    split[10:12] = [3.0, -2.0]                                                         # with any incoming vector
    match = match_to_teacher(wide_spec, split, spec, teacher)
    assert match.residual < 1e-12
    np.testing.assert_array_equal(match.teacher_of, [2, 0, 3, 1, 3, -1])
    assert match.groups[3] == (2, 4)

    wrong = match_to_teacher(spec, np.random.default_rng(0).normal(size=spec.n_params), spec, teacher)
    assert wrong.residual > 0.5


def test_match_to_teacher_with_biases_tanh_and_missing_neurons(rng):
    for activation in ("sigmoid", "tanh"):
        spec = MLPSpec((3, 4, 2), activation, True)
        teacher = rng.normal(size=spec.n_params)
        student = sign_flip(spec, teacher, 1, [0, 3])
        match = match_to_teacher(spec, student, spec, teacher)
        assert match.residual < 1e-12 and match.constant_residual < 1e-12
        np.testing.assert_array_equal(match.flipped, [True, False, False, True])
    narrow_spec, narrow = merge_neurons(spec, teacher, 1, 0, 1)   # width 3 cannot hold 4 teacher neurons
    match = match_to_teacher(narrow_spec, narrow, spec, teacher)
    assert match.residual > 0.1 and sum(len(g) == 0 for g in match.groups) >= 1


def test_nearest_neuron_pair():
    spec = MLPSpec((2, 4, 1), "sigmoid", True)
    theta = np.zeros(spec.n_params)
    theta[:8] = [0, 0, 5, 5, 1, 1, 9, 9]
    theta[8:12] = [0, 0, 0.5, 0]            # biases are part of the incoming vector
    i, j, d = nearest_neuron_pair(spec, theta, 1)
    assert (i, j) == (0, 2) and d == pytest.approx(np.sqrt(2 + 0.25))
    assert nearest_neuron_pair(*duplicate_neuron(spec, theta, 1, 3, 0.4), 1) == (3, 4, 0.0)


def test_nearest_neuron_distances_per_point_nan_where_undefined():
    spec = MLPSpec((2, 4, 3, 1), "tanh", True)
    thetas = np.random.default_rng(3).normal(size=(4, spec.n_params))
    thetas[2, 5] = np.inf
    for layer in (1, 2):
        got = nearest_neuron_distances(spec, thetas, layer)
        want = [nearest_neuron_pair(spec, t, layer)[2] for t in thetas[[0, 1, 3]]]
        np.testing.assert_array_equal(got[[0, 1, 3]], want)
        assert np.isnan(got[2])
    np.testing.assert_array_equal(nearest_neuron_distances(spec, thetas), nearest_neuron_distances(spec, thetas, 2))
    assert np.isnan(nearest_neuron_distances(MLPSpec((2, 1, 1)), np.zeros((2, 5)))).all()  # one neuron: no pair


def test_impossible_inputs_raise_clear_errors():
    spec, teacher = toy_teacher()
    with pytest.raises(ValueError, match="hidden layer 1..1"):
        permute_neurons(spec, teacher, 2, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="permutation of 0..3"):
        permute_neurons(spec, teacher, 1, [0, 0, 1, 2])
    with pytest.raises(ValueError, match="neuron index must be in 0..3"):
        duplicate_neuron(spec, teacher, 1, 4, 0.5)
    with pytest.raises(ValueError, match="shape \\(12,\\)"):
        merge_neurons(spec, teacher[:-1], 1, 0, 1)
    with pytest.raises(ValueError, match="two different neurons"):
        merge_neurons(spec, teacher, 1, 2, 2)
    with pytest.raises(ValueError, match="single neuron"):
        remove_neuron(MLPSpec((2, 1, 1)), np.zeros(3), 1, 0)
    with pytest.raises(ValueError, match="at least two"):
        nearest_neuron_pair(MLPSpec((2, 1, 1)), np.zeros(3), 1)
    with pytest.raises(ValueError, match="distinct"):
        sign_flip(spec, teacher, 1, [1, 1])
    with pytest.raises(ValueError, match="two-layer"):
        deep = MLPSpec((2, 3, 3, 1))
        match_to_teacher(deep, np.zeros(deep.n_params), spec, teacher)
    with pytest.raises(ValueError, match="differ in input"):
        tanh = MLPSpec((2, 4, 1), "tanh")
        match_to_teacher(tanh, teacher, spec, teacher)


def test_match_counts_a_zero_weight_neuron_as_the_constant_that_cancels_a_single_flip():
    """Toy global minima found by training: one teacher neuron sign-flipped alone (its constant a_t
    left over) and a fifth neuron with w = 0, whose sigma(0) = 1/2 cancels that constant."""

    tspec, tt = toy_teacher()
    w, a = tt[:8].reshape(4, 2).copy(), tt[8:].copy()
    w[0], a[0] = -w[0], -a[0]                      # a sigma(z) = a - a sigma(-z): the flip drops constant a = 1
    w5, a5 = np.zeros(2), np.array([2.0])          # 2 * sigma(0) = 1 restores it
    spec = MLPSpec((2, 5, 1))
    theta = np.concatenate([w.ravel(), w5, a, a5])
    ds = toy_dataset()
    assert float(loss(spec, torch.from_numpy(theta), torch.from_numpy(ds.x), torch.from_numpy(ds.y))) < 1e-28
    m = match_to_teacher(spec, theta, tspec, tt)
    assert m.residual < 1e-12
    assert m.teacher_of.tolist() == [0, 1, 2, 3, -1] and m.flipped.tolist() == [True, False, False, False, False]
