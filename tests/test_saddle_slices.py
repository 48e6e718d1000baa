"""Slices through a closest saddle, against a quadratic landscape whose values and Hessian are known
in closed form."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.landscape.curvature_plane import softest_directions
from lsexplorer.core.landscape.slices import PlaneRow
from lsexplorer.core.landscape.surface import Landscape
from lsexplorer.core.saddles.saddle_slices import LINE_TS, SaddleSlices, saddle_slices

#: L(θ) = ½ Σ c_i θ_i²: Hessian diag(c), so the softest direction is e_2 (c = 0.5).
CURVATURES = np.array([3.0, 2.0, 0.5, 4.0])
QUADRATIC = Landscape(lambda t: 0.5 * (torch.as_tensor(CURVATURES) * t ** 2).sum(), CURVATURES.size)


def _value(points) -> np.ndarray:
    return 0.5 * (np.atleast_2d(points) ** 2 * CURVATURES).sum(axis=1)


def _saddle(origin, direction, mu):
    """The fields of a ClosestSaddle that the slices read."""
    origin, direction = np.asarray(origin, float), np.asarray(direction, float)
    return SimpleNamespace(line_origin=origin, line_direction=direction, mu=mu, saddle=origin + mu * direction)


def test_softest_directions_are_the_smallest_curvatures_axes():
    eigvals, basis = softest_directions(QUADRATIC, np.ones(4), 2)
    np.testing.assert_allclose(eigvals, [0.5, 2.0])
    np.testing.assert_allclose(np.abs(basis), np.eye(4)[[2, 1]], atol=1e-14)


def test_slices_of_a_minimum_off_its_line_are_the_closed_form_values():
    theta_min = np.array([0.0, 0.3, 0.0, 0.1])
    saddle = _saddle([1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], 0.5)  # the line θ = (1 + μ) e_0
    gen = saddle_slices(QUADRATIC, theta_min, saddle, trajectory=np.array([[0.5, 0.3, 0.2, 0.1]]), resolution=5)
    setup = next(gen)
    assert isinstance(setup, SaddleSlices) and not setup.fallback_used
    plane = setup.plane
    assert plane.mu_star == pytest.approx(-1.0) and plane.distance == pytest.approx(np.hypot(0.3, 0.1))
    # u covers μ from min(0, μ*) − 0.5 to max(1, μ*) + 0.5 at unit line speed; v ±1.6 × the distance.
    np.testing.assert_allclose(setup.us[[0, -1]], [-0.5 + 1.0, 1.5 + 1.0])
    np.testing.assert_allclose(setup.vs[[0, -1]], [-1.6 * plane.distance, 1.6 * plane.distance])
    np.testing.assert_allclose(setup.line.ts, LINE_TS)
    np.testing.assert_allclose(setup.line.loss, _value(saddle.saddle + LINE_TS[:, None] * (theta_min - saddle.saddle)),
                               rtol=1e-12)
    # The trajectory's point and the minimum: the snapshot lies 0.2 out of the plane, the minimum in it.
    np.testing.assert_allclose(setup.trajectory.residual, [0.2, 0.0], atol=1e-12)
    rows = []
    while True:
        try:
            rows.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert all(isinstance(r, PlaneRow) for r in rows) and len(rows) == 5
    for r, v in enumerate(setup.vs):
        points = plane.origin + setup.us[:, None] * plane.basis[0] + v * plane.basis[1]
        np.testing.assert_allclose(rows[r].loss, _value(points), rtol=1e-12)
    assert result is not None


def test_a_minimum_on_its_line_takes_the_softest_direction_as_second_axis():
    theta_min = np.array([2.0, 0.0, 0.0, 0.0])
    saddle = _saddle([1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], 0.0)
    setup = next(saddle_slices(QUADRATIC, theta_min, saddle, None, resolution=3))
    assert setup.fallback_used and setup.trajectory is None
    np.testing.assert_allclose(np.abs(setup.plane.basis[1]), [0.0, 0.0, 1.0, 0.0], atol=1e-14)
    # No distance to scale v by: it spans 15 % of u's range either side.
    assert setup.vs[-1] == pytest.approx(0.15 * (setup.us[-1] - setup.us[0]))
    assert run_generator(saddle_slices(QUADRATIC, theta_min, saddle, None, resolution=3)) is not None
