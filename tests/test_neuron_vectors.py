"""Neurons as vectors for whole trajectories, and the axes the Neurons view projects them on."""

import numpy as np
import pytest

from lsexplorer.core.landscape.nets import MLPSpec
from lsexplorer.core.symmetry.neuron_vectors import incoming_and_outgoing, principal_axes
from lsexplorer.core.symmetry.operations import incoming_vectors, outgoing_weights


@pytest.mark.parametrize("widths, bias, layer", [((2, 5, 1), False, 1), ((3, 4, 3, 2), True, 2)])
def test_a_stack_of_points_reads_as_each_point_does(widths, bias, layer):
    spec = MLPSpec(widths, bias=bias)
    thetas = np.random.default_rng(1).normal(size=(4, 3, spec.n_params))
    v, c = incoming_and_outgoing(spec, thetas, layer)
    for index in np.ndindex(thetas.shape[:-1]):
        np.testing.assert_array_equal(v[index], incoming_vectors(spec, thetas[index], layer))
        np.testing.assert_array_equal(c[index], outgoing_weights(spec, thetas[index], layer))


def _projector(basis):
    return basis @ basis.T


def test_principal_axes_span_the_top_eigenvectors_of_the_second_moment():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(200, 4)) * np.array([5.0, 3.0, 0.5, 0.1]) @ np.linalg.qr(rng.normal(size=(4, 4)))[0]
    v[7] = np.nan  # a diverged run's neuron is left out
    axes = principal_axes(v)
    np.testing.assert_allclose(axes.T @ axes, np.eye(2), atol=1e-12)
    finite = v[np.isfinite(v).all(axis=1)]
    _, vectors = np.linalg.eigh(finite.T @ finite)  # independently: the second moment's eigenvectors
    np.testing.assert_allclose(_projector(axes), _projector(vectors[:, -2:]), atol=1e-10)


def test_too_few_directions_are_completed_by_coordinate_axes():
    d = np.array([3.0, 4.0, 0.0]) / 5.0
    axes = principal_axes(np.outer(np.linspace(-2, 2, 9), d))  # every vector on one line
    np.testing.assert_allclose(abs(axes[:, 0] @ d), 1.0, atol=1e-12)
    np.testing.assert_allclose(axes.T @ axes, np.eye(2), atol=1e-12)
    np.testing.assert_array_equal(principal_axes(np.zeros((0, 3))), np.eye(3)[:, :2])
    np.testing.assert_array_equal(principal_axes(np.full((2, 2), np.nan)), np.eye(2))
