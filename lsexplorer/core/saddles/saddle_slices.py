"""Slices through a local minimum's closest saddle (thesis Fig 6.10): the loss from the saddle to the
minimum, and on the plane spanned by the saddle line and the minimum, with the training trajectory
projected onto that plane.

A minimum lying on its own saddle line (symmetry-induced, distance at rounding level) spans no plane
with it; the Hessian's softest direction at the minimum is the second axis then.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Generator

import numpy as np

from ..landscape.curvature_plane import softest_directions
from ..landscape.slices import (
    LineSlice,
    PlaneRow,
    PlaneSlice,
    Projection,
    SaddlePlane,
    line_slice,
    plane_slice,
    project,
    saddle_plane,
)
from ..landscape.surface import Landscape
from .closest_saddle import ClosestSaddle

#: Where the 1D slice saddle → minimum is evaluated: t = 0 the saddle, t = 1 the minimum.
LINE_TS = np.linspace(-0.25, 1.25, 301)


@dataclasses.dataclass
class SaddleSlices:
    """The plane, its grid ``us (U,)``, ``vs (V,)``, the 1D slice, the projected trajectory (None
    without one) and whether the second axis is the Hessian's softest direction (minimum on the line)."""

    plane: SaddlePlane
    us: np.ndarray
    vs: np.ndarray
    line: LineSlice
    trajectory: Projection | None
    fallback_used: bool


def plane_grid(saddle_mu: float, plane: SaddlePlane, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """``us, vs (resolution,)``: u covers μ from min(0, μ*) − 0.5 to max(1, μ*) + 0.5 (the narrower
    point's two special points 0 and 1, and the saddle), v ±1.6 times the minimum's distance (at
    least 15 % of u's span, so that a minimum on the line still gets a square-ish plane)."""
    mu_lo, mu_hi = min(0.0, saddle_mu) - 0.5, max(1.0, saddle_mu) + 0.5
    us = np.linspace((mu_lo - plane.mu_star) * plane.line_speed, (mu_hi - plane.mu_star) * plane.line_speed,
                     resolution)
    reach = max(1.6 * abs(float(plane.minimum[1])), 0.15 * (us[-1] - us[0]))
    return us, np.linspace(-reach, reach, resolution)


def saddle_slices(landscape: Landscape, theta_min, saddle: ClosestSaddle, trajectory, resolution: int,
                  stop: threading.Event | None = None) -> Generator[SaddleSlices | PlaneRow, None, PlaneSlice]:
    """Yields the :class:`SaddleSlices` of minimum ``theta_min (P,)`` and its closest ``saddle`` first,
    then every ``PlaneRow`` of the plane; returns the ``PlaneSlice``.

    ``trajectory (K, P)`` (or None): snapshots projected onto the plane together with ``theta_min``.
    """
    theta_min = np.asarray(theta_min, dtype=np.float64)
    fallback = softest_directions(landscape, theta_min, 1)[1][0]
    plane = saddle_plane(saddle.line_origin, saddle.line_direction, theta_min, fallback=fallback)
    on_line = plane.distance <= 64 * np.finfo(np.float64).eps * float(np.linalg.norm(theta_min))
    us, vs = plane_grid(saddle.mu, plane, resolution)
    line = line_slice(None, saddle.saddle, theta_min, None, None, LINE_TS, landscape=landscape)
    proj = None
    if trajectory is not None:
        proj = project(np.vstack([np.asarray(trajectory, dtype=np.float64), theta_min]), plane.origin, plane.basis)
    yield SaddleSlices(plane, us, vs, line, proj, on_line)
    return (yield from plane_slice(None, plane.origin, plane.basis[0], plane.basis[1], None, None, us, vs, stop,
                                   landscape=landscape))


__all__ = ["LINE_TS", "SaddleSlices", "plane_grid", "saddle_slices"]
