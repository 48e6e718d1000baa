"""Slices through a local minimum's closest saddle (thesis Fig 6.10): the loss from the saddle to the
minimum, and on the plane spanned by the saddle line and the minimum, with the training trajectory
projected onto that plane.

A minimum lying on its own saddle line (symmetry-induced, distance at rounding level) spans no plane
with it; the Hessian's softest direction at the minimum is the second axis then.

The plane normally spans the narrower point's μ = 0 and 1 and the saddle. For a point at the end of a
channel to infinity (its weights, and so the line's stretch ‖θ'(μ)‖, are huge) or a saddle far out on
its line, that span makes the saddle and the point one pixel apart; the plane is then a window around
the two, and :attr:`SaddleSlices.window_note` says so.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Generator

import numpy as np

from ..base.kinds import Kind, kind_label
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
#: How far beyond [0, 1] μ* may lie for the plane spanning μ = 0, 1 and μ* to still show the saddle and
#: the point; farther, the plane is a window around them.
FAR_MU = 4.0
#: Kinds at the end of a channel to infinity: their closest saddle's plane is a window.
AT_INFINITY = (Kind.CHANNEL, Kind.CHANNEL_SADDLE)
#: The plane's half-height in units of the point's distance to the line, and a window's half-width in
#: units of its half-height.
REACH = 1.6
WINDOW_WIDTH = 1.5


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
    #: Why the plane is a window around the saddle and the point ("" when it spans μ = 0 and 1).
    window_note: str = ""


def plane_grid(saddle_mu: float, plane: SaddlePlane, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """``us, vs (resolution,)``: u covers μ from min(0, μ*) − 0.5 to max(1, μ*) + 0.5 (the narrower
    point's two special points 0 and 1, and the saddle), v ±1.6 times the minimum's distance (at
    least 15 % of u's span, so that a minimum on the line still gets a square-ish plane)."""
    mu_lo, mu_hi = min(0.0, saddle_mu) - 0.5, max(1.0, saddle_mu) + 0.5
    us = np.linspace((mu_lo - plane.mu_star) * plane.line_speed, (mu_hi - plane.mu_star) * plane.line_speed,
                     resolution)
    reach = max(REACH * abs(float(plane.minimum[1])), 0.15 * (us[-1] - us[0]))
    return us, np.linspace(-reach, reach, resolution)


def window_grid(saddle_mu: float, plane: SaddlePlane, resolution: int,
                kind: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``us, vs (resolution,)`` and a sentence: :func:`plane_grid`, or the window around the saddle and the
    point (module docstring) for a point of a ``kind`` at infinity or a μ* more than :data:`FAR_MU` beyond
    [0, 1]; the sentence says which and how far away μ = 0 and 1 lie."""
    reach = REACH * abs(float(plane.minimum[1]))
    far = not -FAR_MU <= saddle_mu <= 1.0 + FAR_MU
    if not (far or kind in AT_INFINITY) or reach == 0.0:
        return (*plane_grid(saddle_mu, plane, resolution), "")
    us = np.linspace(-WINDOW_WIDTH * reach, WINDOW_WIDTH * reach, resolution)
    vs = np.linspace(-reach, reach, resolution)
    dmu = WINDOW_WIDTH * reach / plane.line_speed
    where = (f"μ* = {saddle_mu:+.0f} lies far out on the saddle line" if far else
             f"the run is a {kind_label(kind)}, so the line is long (‖θ'(μ)‖ = {plane.line_speed:.3g})")
    away = max(abs(saddle_mu), abs(saddle_mu - 1.0)) * plane.line_speed
    return us, vs, (f"{where}: the plane is drawn around the saddle and the run's point (μ* ± {dmu:.2g}), not "
                    f"from the narrower point's μ = 0 and 1, which are {away:.3g} away along u.")


def saddle_slices(landscape: Landscape, theta_min, saddle: ClosestSaddle, trajectory, resolution: int,
                  stop: threading.Event | None = None,
                  kind: str | None = None) -> Generator[SaddleSlices | PlaneRow, None, PlaneSlice]:
    """Yields the :class:`SaddleSlices` of minimum ``theta_min (P,)`` and its closest ``saddle`` first,
    then every ``PlaneRow`` of the plane; returns the ``PlaneSlice``.

    ``trajectory (K, P)`` (or None): snapshots projected onto the plane together with ``theta_min``.
    ``kind``: the point's kind, which decides whether the plane is a window (:func:`window_grid`).
    """
    theta_min = np.asarray(theta_min, dtype=np.float64)
    fallback = softest_directions(landscape, theta_min, 1)[1][0]
    plane = saddle_plane(saddle.line_origin, saddle.line_direction, theta_min, fallback=fallback)
    on_line = plane.distance <= 64 * np.finfo(np.float64).eps * float(np.linalg.norm(theta_min))
    us, vs, window_note = window_grid(saddle.mu, plane, resolution, kind)
    line = line_slice(None, saddle.saddle, theta_min, None, None, LINE_TS, landscape=landscape)
    proj = None
    if trajectory is not None:
        proj = project(np.vstack([np.asarray(trajectory, dtype=np.float64), theta_min]), plane.origin, plane.basis)
    yield SaddleSlices(plane, us, vs, line, proj, on_line, window_note)
    return (yield from plane_slice(None, plane.origin, plane.basis[0], plane.basis[1], None, None, us, vs, stop,
                                   landscape=landscape))


__all__ = ["AT_INFINITY", "FAR_MU", "LINE_TS", "SaddleSlices", "plane_grid", "saddle_slices", "window_grid"]
