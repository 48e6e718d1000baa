"""The thesis' toy data set and the Gaussian teacher-student set."""

import numpy as np
import pytest

from lsexplorer.core.data.datasets import Dataset, gaussian_teacher_dataset, toy_dataset, toy_grid, toy_teacher
from lsexplorer.core.landscape.nets import MLPSpec


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_toy_grid_is_the_thesis_grid():
    x = toy_grid()
    assert x.shape == (1681, 2)
    assert set(np.round(x[:, 0] * 4).astype(int)) == set(range(-20, 21))
    assert len({tuple(p) for p in x}) == 1681


def test_toy_labels_are_the_teacher_written_out():
    ds = toy_dataset()
    x1, x2 = ds.x[:, 0], ds.x[:, 1]
    y = (sigmoid(0.6 * x1 + 0.5 * x2) - sigmoid(-0.5 * x1 + 0.5 * x2)
         + sigmoid(-0.2 * x1 - 0.6 * x2) - sigmoid(0.1 * x1 - 0.6 * x2))
    np.testing.assert_allclose(ds.y[:, 0], y, rtol=0, atol=1e-15)
    spec, theta = toy_teacher()
    assert spec.widths == (2, 4, 1) and not spec.bias
    np.testing.assert_array_equal(theta[8:], [1, -1, 1, -1])


def test_gaussian_teacher_is_seeded():
    spec = MLPSpec((3, 4, 1), "tanh", bias=True)
    a = gaussian_teacher_dataset(50, spec, seed=5)
    b = gaussian_teacher_dataset(50, spec, seed=5)
    c = gaussian_teacher_dataset(50, spec, seed=6)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.x, c.x)
    assert a.x.shape == (50, 3) and a.y.shape == (50, 1) and a.teacher_theta.shape == (spec.n_params,)


def test_given_teacher_weights_are_used():
    spec, theta = toy_teacher()
    ds = gaussian_teacher_dataset(20, spec, seed=0, teacher_theta=theta)
    w, a = theta[:8].reshape(4, 2), theta[8:]
    np.testing.assert_allclose(ds.y[:, 0], sigmoid(ds.x @ w.T) @ a, atol=1e-15)


def test_bad_data_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        Dataset("bad", np.array([[np.nan, 1.0]]), np.array([1.0]))
    with pytest.raises(ValueError, match="pair up"):
        Dataset("bad", np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        gaussian_teacher_dataset(5, MLPSpec((2, 3, 1)), teacher_theta=np.zeros(4))
