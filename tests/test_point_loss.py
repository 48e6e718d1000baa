"""The numpy loss and gradient at one point, checked against central differences and the batched torch pass."""

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape.nets import MLPSpec, loss_and_grad
from lsexplorer.core.landscape.point_loss import PointLoss

SPECS = [MLPSpec((2, 5, 1)), MLPSpec((3, 4, 2), "tanh", True), MLPSpec((4, 6, 5, 1), "sigmoid", True),
         MLPSpec((2, 3, 3, 2), "softplus", False), MLPSpec((3, 4, 1), "relu", True),
         MLPSpec((3, 4, 1), "relu", False, fixed_output=True)]


def _problem(spec, seed=0, n=40):
    rng = np.random.default_rng(seed)
    return rng.normal(size=spec.n_params), rng.normal(size=(n, spec.d_in)), rng.normal(size=(n, spec.d_out))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe() + (" fixed" if s.fixed_output else ""))
def test_gradient_matches_central_differences(spec):
    theta, x, y = _problem(spec)
    value, grad = PointLoss(spec, x, y)(theta)
    f = PointLoss(spec, x, y)
    h = 1e-6
    fd = np.array([(f(theta + h * e)[0] - f(theta - h * e)[0]) / (2 * h) for e in np.eye(spec.n_params)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8 * max(1.0, value))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe() + (" fixed" if s.fixed_output else ""))
def test_agrees_with_the_batched_torch_pass(spec):
    theta, x, y = _problem(spec, seed=1)
    value, grad = PointLoss(spec, x, y)(theta)
    tv, tg = loss_and_grad(spec, torch.from_numpy(theta)[None], torch.from_numpy(x), torch.from_numpy(y))
    assert value == pytest.approx(float(tv[0]), rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(grad, tg[0].numpy(), rtol=1e-12, atol=1e-14 * max(1.0, np.abs(grad).max()))


def test_extreme_preactivations_stay_finite_and_exact():
    spec = MLPSpec((1, 2, 1))
    theta = np.array([800.0, -800.0, 1.0, 2.0])  # exp overflows for one neuron on either side
    x, y = np.array([[1.0], [-1.0]]), np.array([[0.5], [0.25]])
    value, grad = PointLoss(spec, x, y)(theta)
    # sigma(800) = 1 and sigma(-800) = 0 exactly in float64: outputs 1 and 2, residuals 0.5 and 1.75
    assert value == pytest.approx((0.5**2 + 1.75**2) / 2, rel=1e-15)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad[2:], [(2 * 0.5 * 1 + 2 * 1.75 * 0) / 2, (2 * 0.5 * 0 + 2 * 1.75 * 1) / 2],
                               rtol=1e-15)


def test_refuses_data_that_does_not_fit():
    with pytest.raises(ValueError, match="do not fit"):
        PointLoss(MLPSpec((2, 5, 1)), np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        PointLoss(MLPSpec((2, 5, 1)), np.zeros((4, 2)), np.zeros(4))(np.zeros(3))


@pytest.mark.parametrize("spec", SPECS[:4], ids=lambda s: s.describe())
def test_a_batch_gives_each_point_its_own_numbers(spec):
    rng = np.random.default_rng(2)
    thetas = rng.normal(size=(5, spec.n_params))
    x, y = rng.normal(size=(30, spec.d_in)), rng.normal(size=(30, spec.d_out))
    f = PointLoss(spec, x, y)
    values, grads = f.many(thetas)
    for theta, value, grad in zip(thetas, values, grads):
        one_value, one_grad = f(theta)
        assert value == pytest.approx(one_value, rel=1e-14, abs=1e-16)
        np.testing.assert_allclose(grad, one_grad, rtol=1e-13, atol=1e-15 * max(1.0, np.abs(one_grad).max()))
    with pytest.raises(ValueError, match="shape"):
        f.many(thetas[0])
