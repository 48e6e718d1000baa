"""Low-dimensional views of the loss: 1D and 2D slices, plane coordinates, trajectory projection.

A slice evaluates ``L`` on an affine line ``theta_a + t (theta_b - theta_a)`` (:func:`line_slice`,
thesis Fig 6.10 left: closest saddle -> local minimum) or plane ``origin + u e1 + v e2``
(:func:`plane_slice`, Fig 6.10 right). The plane comes from one of

* :func:`saddle_plane`: one axis along a saddle line ``theta(mu) = line_origin + mu * line_direction``,
  the other towards the minimum (Gram–Schmidt), the origin at the line's point closest to the minimum;
* :func:`random_directions`: filter-normalised Gaussian directions (Li et al., "Visualizing the Loss
  Landscape of Neural Nets", 2018), scale-matched to the point neuron by neuron;
* :func:`pca_directions`: the principal directions of a training trajectory.

:func:`project` maps points (a training trajectory) to least-squares plane coordinates and reports
how far each lies *out of* the plane, so a drawing can say honestly how much of the path it shows.

All inputs are numpy (``theta: (P,)``, points ``(K, P)``), all results float64 numpy. Every result
class has ``to_dict()`` / ``from_dict()`` giving a flat dict of arrays and scalars, storable under
``/analyses``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator

import numpy as np
import torch

from ..base.record import Record
from .hessian import float64_problem
from .nets import MLPSpec, loss
from .surface import Landscape

#: Bytes of activations one batched loss evaluation may hold (points are evaluated in chunks).
_CHUNK_BYTES = 128 * 2**20


class _Storable(Record):
    """Slices are stored as flat dicts of arrays and scalars, without a class tag."""

    tagged = False


def batched_loss(spec: MLPSpec, points, x, y) -> np.ndarray:
    """``L`` at every row of ``points (K, P)``, float64, in chunks of bounded memory: ``(K,)``."""
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    _, xt, yt = float64_problem(spec, points[0], x, y)
    per_point = 8 * 2 * xt.shape[0] * sum(spec.widths[1:])
    chunk = max(1, _CHUNK_BYTES // per_point)
    out = np.empty(len(points))
    with torch.no_grad():
        for k in range(0, len(points), chunk):
            out[k:k + chunk] = loss(spec, torch.from_numpy(points[k:k + chunk]), xt, yt).numpy()
    return out


# --------------------------------------------------------------------------- 1D

@dataclasses.dataclass
class LineSlice(_Storable):
    """``loss[k] = L(theta_a + ts[k] (theta_b - theta_a))``; ``ts, loss: (K,)``, ``theta_a, theta_b: (P,)``."""

    theta_a: np.ndarray
    theta_b: np.ndarray
    ts: np.ndarray
    loss: np.ndarray


def landscape_values(landscape: Landscape, points) -> np.ndarray:
    """``landscape``'s value at every row of ``points (K, P)``, in batches of its ``value_rows``: ``(K,)``."""
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    out = np.empty(len(points))
    for k in range(0, len(points), landscape.value_rows):
        out[k:k + landscape.value_rows] = landscape.values_and_grads(points[k:k + landscape.value_rows])[0]
    return out


def _values(spec: MLPSpec | None, points, x, y, landscape: Landscape | None) -> np.ndarray:
    return landscape_values(landscape, points) if landscape is not None else batched_loss(spec, points, x, y)


def line_slice(spec: MLPSpec | None, theta_a, theta_b, x, y, ts, *, landscape: Landscape | None = None) -> LineSlice:
    """The loss along the line through ``theta_a`` (``t = 0``) and ``theta_b`` (``t = 1``) at ``ts (K,)``.

    The loss is that of ``spec`` on ``x, y``, or ``landscape``'s when given (``spec, x, y`` then unused).
    """
    a = np.asarray(theta_a, dtype=np.float64)
    b = np.asarray(theta_b, dtype=np.float64)
    ts = np.atleast_1d(np.asarray(ts, dtype=np.float64))
    return LineSlice(a, b, ts, _values(spec, a + ts[:, None] * (b - a), x, y, landscape))


# --------------------------------------------------------------------------- 2D

@dataclasses.dataclass
class PlaneRow:
    """Progress of :func:`plane_slice`: row ``row`` of ``rows`` (at ``v = vs[row]``) and its ``loss (U,)``."""

    row: int
    rows: int
    loss: np.ndarray
    elapsed: float


@dataclasses.dataclass
class PlaneSlice(_Storable):
    """``loss[r, c] = L(origin + us[c] e1 + vs[r] e2)``: ``(V, U)``, an image with ``v`` down the rows.

    ``complete`` is False when the computation was stopped; unfinished rows are NaN.
    """

    origin: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    us: np.ndarray
    vs: np.ndarray
    loss: np.ndarray
    complete: bool


def plane_slice(spec: MLPSpec | None, origin, e1, e2, x, y, us, vs, stop: threading.Event | None = None, *,
                landscape: Landscape | None = None) -> Generator[PlaneRow, None, PlaneSlice]:
    """The loss on the grid ``origin + u e1 + v e2``, ``u`` in ``us (U,)``, ``v`` in ``vs (V,)``, row by row.

    The loss is that of ``spec`` on ``x, y``, or ``landscape``'s when given (``spec, x, y`` then unused).

    A generator (``DESIGN.md``): each row is one batched evaluation of its ``U`` points and is yielded
    as a :class:`PlaneRow`, so a viewer can fill the image progressively; ``stop`` is checked between
    rows. Returns the :class:`PlaneSlice`.
    """
    origin, e1, e2 = (np.asarray(a, dtype=np.float64) for a in (origin, e1, e2))
    us = np.atleast_1d(np.asarray(us, dtype=np.float64))
    vs = np.atleast_1d(np.asarray(vs, dtype=np.float64))
    values = np.full((len(vs), len(us)), np.nan)
    row_start = origin + us[:, None] * e1
    start = time.perf_counter()
    for r, v in enumerate(vs):
        if stop is not None and stop.is_set():
            return PlaneSlice(origin, e1, e2, us, vs, values, False)
        values[r] = _values(spec, row_start + v * e2, x, y, landscape)
        yield PlaneRow(r, len(vs), values[r].copy(), time.perf_counter() - start)
    return PlaneSlice(origin, e1, e2, us, vs, values, True)


@dataclasses.dataclass
class SaddlePlane(_Storable):
    """The plane through a saddle line and a point ``theta_min`` (thesis Fig 6.10 right).

    ``origin (P,)`` is the line's point closest to ``theta_min`` (``mu = mu_star``); ``basis (2, P)``
    is orthonormal, row 0 along the line, row 1 towards ``theta_min`` (or the fallback direction, see
    :func:`saddle_plane`). In plane coordinates the line is ``v = 0`` with
    ``u = (mu - mu_star) * line_speed`` (``line_speed = ||line_direction||``), and ``theta_min`` sits at
    ``minimum = (0, distance)``, ``distance`` its distance to the line (with a fallback axis,
    ``(0, v)`` with ``|v| <= distance``, rounding level).
    """

    origin: np.ndarray
    basis: np.ndarray
    mu_star: float
    line_speed: float
    distance: float
    minimum: np.ndarray

    def line_coords(self, mus) -> np.ndarray:
        """Plane coordinates ``(K, 2)`` of the line points ``theta(mu)`` for ``mus (K,)``."""
        mus = np.atleast_1d(np.asarray(mus, dtype=np.float64))
        return np.stack([(mus - self.mu_star) * self.line_speed, np.zeros_like(mus)], axis=1)


def saddle_plane(line_origin, line_direction, theta_min, fallback=None) -> SaddlePlane:
    """The :class:`SaddlePlane` of the line ``line_origin + mu * line_direction`` and ``theta_min``, all ``(P,)``.

    When ``theta_min`` lies on the line to rounding (``distance <= 64 eps ||theta_min||``, as refined
    symmetry-induced points do) it defines no second axis; ``fallback (P,)`` (e.g. a Hessian
    eigenvector or :func:`random_directions`), orthogonalised against the line, is used instead, and
    without one this raises ValueError. ValueError too when the line has no direction.
    """
    o, d, t = (np.asarray(a, dtype=np.float64) for a in (line_origin, line_direction, theta_min))
    speed = float(np.linalg.norm(d))
    if speed == 0.0:
        raise ValueError("the saddle line has zero direction (the duplicated neuron's outgoing weight is 0)")
    e1 = d / speed
    mu_star = float((t - o) @ d) / speed ** 2
    origin = o + mu_star * d
    distance = float(np.linalg.norm(_orthogonal(t - origin, e1)))
    on_line = distance <= 64 * np.finfo(np.float64).eps * float(np.linalg.norm(t))
    if on_line and fallback is None:
        raise ValueError(f"the point lies on the saddle line (distance {distance:.3g}); the plane is undefined "
                         f"without a fallback direction")
    towards = np.asarray(fallback, dtype=np.float64) if on_line else t - origin
    e2 = _orthogonal(towards, e1)
    norm = float(np.linalg.norm(e2))
    if norm <= 64 * np.finfo(np.float64).eps * float(np.linalg.norm(towards)):
        raise ValueError("the fallback direction is parallel to the saddle line")
    e2 /= norm
    return SaddlePlane(origin, np.stack([e1, e2]), mu_star, speed, distance,
                       np.array([0.0, float((t - origin) @ e2)]))


def _orthogonal(r: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``r`` minus its component along the unit vector ``e``, twice (the second pass removes the rounding)."""
    for _ in range(2):
        r = r - (r @ e) * e
    return r


@dataclasses.dataclass
class Projection(_Storable):
    """Least-squares plane coordinates ``coords (K, n)`` of points, and their distance out of the plane
    ``residual (K,)``."""

    coords: np.ndarray
    residual: np.ndarray


def project(points, origin, basis) -> Projection:
    """Coordinates of ``points (K, P)`` in the affine plane ``origin (P,) + span(basis (n, P))``.

    The coordinates minimise ``||p - origin - c @ basis||`` (exact for any linearly independent basis,
    orthonormal or not, e.g. random directions), and ``residual`` is that minimum: a trajectory drawn
    in the plane is faithful only where it is small compared with the plane's extent.
    """
    p = np.atleast_2d(np.asarray(points, dtype=np.float64)) - np.asarray(origin, dtype=np.float64)
    b = np.atleast_2d(np.asarray(basis, dtype=np.float64))
    coords = np.linalg.lstsq(b.T, p.T, rcond=None)[0].T
    return Projection(coords, np.linalg.norm(p - coords @ b, axis=1))


# --------------------------------------------------------------------------- directions

NORMALIZATIONS = ("filter", "layer", "none")


def random_directions(spec: MLPSpec, theta, seed: int, normalization: str = "filter", n: int = 2) -> np.ndarray:
    """``n`` Gaussian directions ``(n, P)`` for slicing around ``theta (P,)``, reproducible from ``seed``.

    ``"filter"`` (Li et al. 2018): each neuron's part of a direction -- its row of ``W_l`` and, with
    biases, its bias (the neuron's incoming vector, as in :mod:`lsexplorer.core.symmetry.operations`) -- is
    rescaled to the norm of the same part of ``theta``, so a step of 1 moves every neuron by its own
    size and slices of nets with different scales compare. (Li et al. zero the bias directions; here
    a bias moves with its neuron.) The output layer's rows count as neurons too. ``"layer"`` rescales
    each layer's weights and biases together; ``"none"`` leaves the standard normal draw.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (spec.n_params,):
        raise ValueError(f"theta must have shape ({spec.n_params},) for {spec.describe()}, got {theta.shape}")
    dirs = np.random.default_rng(int(seed)).standard_normal((n, spec.n_params))
    if normalization == "none":
        return dirs
    for part in _parts(spec, normalization):
        norm = np.linalg.norm(dirs[:, part], axis=1, keepdims=True)
        dirs[:, part] *= np.linalg.norm(theta[part]) / np.where(norm > 0, norm, 1.0)
    return dirs


def _parts(spec: MLPSpec, normalization: str) -> list[np.ndarray]:
    """Flat index sets normalised together: one per neuron (``"filter"``) or per layer (``"layer"``)."""
    parts = []
    for sl in spec.layers:
        rows = sl.w_start + np.arange(sl.n_out)[:, None] * sl.n_in + np.arange(sl.n_in)[None]
        if sl.b_start is not None:
            rows = np.concatenate([rows, sl.b_start + np.arange(sl.n_out)[:, None]], axis=1)
        parts.extend(list(rows) if normalization == "filter" else [rows.ravel()])
    return parts


@dataclasses.dataclass
class PCADirections(_Storable):
    """Principal directions of a set of points: ``mean (P,)``, orthonormal ``components (n, P)``,
    ``explained_variance (n,)`` and its share of the total, ``explained_variance_ratio (n,)``."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray


def pca_directions(trajectory, n: int = 2) -> PCADirections:
    """The ``n`` leading principal directions of ``trajectory (K, P)`` (e.g. training snapshots).

    Centred on the mean, by SVD; each component's sign is fixed so that its largest entry in modulus
    is positive. Variances use ``K - 1``.
    """
    pts = np.atleast_2d(np.asarray(trajectory, dtype=np.float64))
    if len(pts) < 2:
        raise ValueError(f"PCA needs at least two points, got {len(pts)}")
    mean = pts.mean(axis=0)
    _, s, vt = np.linalg.svd(pts - mean, full_matrices=False)
    var = s ** 2 / (len(pts) - 1)
    comps = vt[:n]
    comps *= np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])[:, None]
    total = var.sum()
    return PCADirections(mean, comps, var[:n], var[:n] / total if total > 0 else np.zeros(len(comps)))


__all__ = ["batched_loss", "landscape_values", "LineSlice", "line_slice", "PlaneRow", "PlaneSlice", "plane_slice",
           "SaddlePlane", "saddle_plane", "Projection", "project", "NORMALIZATIONS", "random_directions",
           "PCADirections", "pca_directions"]
