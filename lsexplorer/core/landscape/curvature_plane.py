"""The loss around a point on the plane of its two softest Hessian directions.

For any landscape (a data set's mean squared error, or a population loss) and a point ``theta``:
the Hessian's two smallest eigenvalues and eigenvectors ``e1, e2``, the 1D slices
``L(theta + t e_i)``, and the 2D slice ``L(theta + u e1 + v e2)`` row by row. At a local minimum these are
the directions in which the basin is widest; at a saddle ``e1`` is an escape direction.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Generator

import numpy as np

from . import symmetric_eigen
from .slices import LineSlice, PlaneRow, PlaneSlice, line_slice, plane_slice
from .surface import Landscape


@dataclasses.dataclass
class CurvaturePlane:
    """The plane through ``theta (P,)`` along ``basis (2, P)`` (orthonormal eigenvectors of the two
    smallest Hessian eigenvalues ``eigvals (2,)``), its grid ``us (U,)``, ``vs (V,)`` and the 1D slices
    along each axis over the same range."""

    theta: np.ndarray
    eigvals: np.ndarray
    basis: np.ndarray
    us: np.ndarray
    vs: np.ndarray
    line_u: LineSlice
    line_v: LineSlice


def softest_directions(landscape: Landscape, theta, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest Hessian eigenvalues ``(k,)`` at ``theta (P,)``, ascending, and their orthonormal
    eigenvectors as rows ``(k, P)``."""
    lam, q = symmetric_eigen.eigh(landscape.value_grad_hessian(np.asarray(theta, dtype=np.float64))[2])
    return lam[:k].copy(), q[:, :k].T.copy()


def curvature_plane(landscape: Landscape, theta, half_width: float, resolution: int,
                    stop: threading.Event | None = None) -> Generator[CurvaturePlane | PlaneRow, None, PlaneSlice]:
    """Yields the :class:`CurvaturePlane` first, then each ``PlaneRow``; returns the ``PlaneSlice``.

    ``half_width`` (parameter units) bounds ``u`` and ``v``; ``resolution`` points per side (>= 3).
    """
    theta = np.asarray(theta, dtype=np.float64)
    if resolution < 3 or not half_width > 0:
        raise ValueError(f"need resolution >= 3 and half_width > 0, got {resolution} and {half_width}")
    if theta.size < 2:
        raise ValueError("a plane needs at least two parameters")
    eigvals, basis = softest_directions(landscape, theta)
    grid = np.linspace(-half_width, half_width, resolution)
    line_u = line_slice(None, theta, theta + basis[0], None, None, grid, landscape=landscape)
    line_v = line_slice(None, theta, theta + basis[1], None, None, grid, landscape=landscape)
    yield CurvaturePlane(theta, eigvals, basis, grid, grid.copy(), line_u, line_v)
    return (yield from plane_slice(None, theta, basis[0], basis[1], None, None, grid, grid, stop,
                                   landscape=landscape))


__all__ = ["CurvaturePlane", "curvature_plane", "softest_directions"]
