"""The μ grid of a saddle-line sweep covers the closest saddle's μ*, wherever it lies."""

import numpy as np

from lsexplorer.core.saddles.inertia import default_mu_grid


def test_default_grid_is_the_thesis_range_with_points_near_0_and_1():
    grid = default_mu_grid()
    assert grid[0] == -1.0 and grid[-1] == 2.0 and np.all(np.diff(grid) > 0)
    for mu in (0.0, 1.0, 1e-3, 1 - 1e-3, 0.5):
        assert np.any(np.isclose(grid, mu, rtol=0, atol=1e-12))


def test_grid_reaches_mu_star_and_a_margin_beyond_it():
    for mu_star in (2.82, -1.61, 0.37):
        grid = default_mu_grid(cover=(mu_star,))
        assert np.any(grid == mu_star)
        assert grid[0] <= min(-1.0, mu_star - 0.25) and grid[-1] >= max(2.0, mu_star + 0.25)
        assert np.max(np.diff(grid)) <= 0.125 + 1e-12  # no gap wider than the coarse step
    assert np.array_equal(default_mu_grid(cover=(float("nan"),)), default_mu_grid())
