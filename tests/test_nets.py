"""The flat parameter layout and the batched forward pass, checked against plain numpy."""

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape.nets import MLPSpec, flatten, forward, loss, loss_and_grad, unflatten, xavier_init


def numpy_forward(widths, activation, bias, theta, x):
    """An independent reading of the documented layout: per layer W (row-major n_out x n_in), then b."""
    act = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
           "softplus": lambda z: np.log1p(np.exp(z))}[activation]
    pos, h = 0, x
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        w = theta[pos:pos + n_in * n_out].reshape(n_out, n_in)
        pos += n_in * n_out
        h = h @ w.T
        if bias:
            h = h + theta[pos:pos + n_out]
            pos += n_out
        if i < len(widths) - 2:
            h = act(h)
    assert pos == len(theta)
    return h


SPECS = [MLPSpec((2, 5, 1)), MLPSpec((3, 4, 2), "tanh", True), MLPSpec((10, 10, 10, 10, 1), "sigmoid", True),
         MLPSpec((2, 3, 3, 2), "softplus", False)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_forward_matches_numpy_reading_of_layout(spec):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(3, spec.n_params))
    x = rng.normal(size=(7, spec.d_in))
    out = forward(spec, torch.from_numpy(theta), torch.from_numpy(x)).numpy()
    for s in range(3):
        np.testing.assert_allclose(out[s], numpy_forward(spec.widths, spec.activation, spec.bias, theta[s], x),
                                   rtol=1e-13, atol=1e-13)


def test_two_layer_layout_is_thesis_order():
    spec = MLPSpec((2, 3, 1))
    theta = np.arange(9.0)
    (w1, b1), (w2, b2) = unflatten(spec, torch.from_numpy(theta))
    assert b1 is None and b2 is None
    np.testing.assert_array_equal(w1.numpy(), [[0, 1], [2, 3], [4, 5]])  # w_j = incoming weights of neuron j
    np.testing.assert_array_equal(w2.numpy(), [[6, 7, 8]])  # a_1..a_m
    assert spec.n_params == 9 and MLPSpec((10, 10, 10, 10, 1), bias=True).n_params == 341


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_flatten_inverts_unflatten(spec):
    theta = np.random.default_rng(1).normal(size=(4, spec.n_params))
    layers = [(w.numpy(), None if b is None else b.numpy()) for w, b in unflatten(spec, torch.from_numpy(theta))]
    np.testing.assert_array_equal(flatten(spec, layers), theta)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_explicit_backprop_matches_central_differences(spec):
    rng = np.random.default_rng(2)
    theta = torch.from_numpy(rng.normal(scale=0.7, size=(2, spec.n_params)))
    x, y = torch.from_numpy(rng.normal(size=(11, spec.d_in))), torch.from_numpy(rng.normal(size=(11, spec.d_out)))
    value, grad = loss_and_grad(spec, theta, x, y)
    np.testing.assert_allclose(value.numpy(), loss(spec, theta, x, y).numpy(), rtol=1e-14)
    h = 1e-6
    for i in range(spec.n_params):
        e = torch.zeros(spec.n_params, dtype=torch.float64)
        e[i] = h
        fd = (loss(spec, theta + e, x, y) - loss(spec, theta - e, x, y)) / (2 * h)
        np.testing.assert_allclose(grad[:, i].numpy(), fd.numpy(), rtol=1e-6, atol=1e-8)


def test_xavier_init_is_per_seed_and_in_glorot_bounds():
    spec = MLPSpec((2, 5, 1))
    a = xavier_init(spec, [3, 7, 11])
    b = xavier_init(spec, [11, 3])
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[2], b[0])
    bound_in, bound_out = np.sqrt(6 / 7), np.sqrt(6 / 6)
    assert np.all(np.abs(a[:, :10]) <= bound_in) and np.all(np.abs(a[:, 10:]) <= bound_out)
    assert not np.allclose(a[0], a[1])


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="activation"):
        MLPSpec((2, 3, 1), "relu6")
    with pytest.raises(ValueError, match="at least 1"):
        MLPSpec((2, 0, 1))
    with pytest.raises(ValueError, match="needs 9"):
        forward(MLPSpec((2, 3, 1)), torch.zeros(8, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64))
