"""The closed-form directional derivatives of a one-hidden-layer loss against repeated reverse-mode
autograd (an independent computation), for every smooth activation, with and without biases."""

import dataclasses

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape.nets import MLPSpec
from lsexplorer.core.landscape.surface import network_landscape
from lsexplorer.core.landscape.two_layer_jets import cubic_form, directional
from lsexplorer.core.saddles.theorems import _along, directional_derivatives, third_derivative


def _problem(activation: str, bias: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    spec = MLPSpec((3, 4, 2), activation, bias)
    x, y = 3 * rng.normal(size=(40, 3)), rng.normal(size=(40, 2))  # pre-activations beyond softplus' 20 too
    return spec, x, y, rng


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("bias", [False, True])
def test_every_order_matches_nested_autograd(activation, bias):
    spec, x, y, rng = _problem(activation, bias)
    landscape = network_landscape(spec, x, y)
    theta, u = (torch.tensor(rng.normal(size=(4, spec.n_params))) for _ in range(2))
    for order in (1, 2, 3, 4):
        expected = _along(landscape, theta, u, order)[0].numpy()
        got = directional(spec, torch.tensor(x), torch.tensor(y), theta, u, order).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("bias", [False, True])
def test_the_cubic_form_and_its_hand_gradient_match_autograd(activation, bias):
    spec, x, y, rng = _problem(activation, bias, seed=1)
    landscape = network_landscape(spec, x, y)
    plain = dataclasses.replace(landscape, batch_directional=None, cubic_form=None)
    theta = rng.normal(size=spec.n_params)
    fast, slow = cubic_form(spec, x, y, theta), third_derivative(plain, theta)
    assert third_derivative(landscape, theta).__qualname__ == fast.__qualname__  # the landscape uses it
    for _ in range(3):
        u = rng.normal(size=spec.n_params)
        (v1, g1), (v2, g2) = fast(u), slow(u)
        assert v1 == pytest.approx(v2, rel=1e-10, abs=1e-12 * abs(v2))
        np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-12 * np.abs(g2).max())
        # T is a cubic form: T(2u) = 8 T(u), and grad T . u = 3 T(u) (Euler)
        assert fast(2 * u)[0] == pytest.approx(8 * v1, rel=1e-12)
        assert float(g1 @ u) == pytest.approx(3 * v1, rel=1e-10)


def test_deeper_nets_are_refused():
    spec = MLPSpec((2, 3, 3, 1), "tanh", False)
    with pytest.raises(ValueError, match="one hidden layer"):
        cubic_form(spec, np.zeros((2, 2)), np.zeros((2, 1)), np.zeros(spec.n_params))
    assert network_landscape(spec, np.zeros((2, 2)), np.zeros((2, 1))).cubic_form is None


def test_one_shared_point_gives_every_direction_its_own_derivative():
    """Directions at one point: the point's activations are computed once and broadcast; the numbers
    are those of the point repeated, and of the autograd route."""
    spec = MLPSpec((3, 4, 2), "tanh", True)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(25, 3)), rng.normal(size=(25, 2))
    theta, dirs = rng.normal(size=spec.n_params), rng.normal(size=(6, spec.n_params))
    landscape = network_landscape(spec, x, y)
    for order in (3, 4):
        shared = directional_derivatives(landscape, theta, dirs, order)
        repeated = directional_derivatives(landscape, np.repeat(theta[None], 6, 0), dirs, order)
        np.testing.assert_allclose(shared, repeated, rtol=1e-12, atol=1e-12 * np.abs(repeated).max())
        autograd = directional_derivatives(dataclasses.replace(landscape, batch_directional=None), theta, dirs, order)
        np.testing.assert_allclose(shared, autograd, rtol=1e-10, atol=1e-10 * np.abs(autograd).max())
