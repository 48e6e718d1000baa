"""Escape searches at a critical point: the thesis' Algorithms 1 and 2 (section 6.2.4).

A local minimum with a zero Hessian eigenvalue may be a *non-strict saddle*: a point from which the
loss decreases along a flat direction. Two searches look for such a decrease:

* **Algorithm 1** (:func:`direction_scan`) evaluates the loss, the smallest Hessian eigenvalue and
  the gradient norm at ``theta + eps v`` on a grid of ``eps`` (default -8..8 by 0.01), ``v`` the
  eigenvector of the smallest eigenvalue at ``theta`` (thesis Fig 6.6 plots all three).
* **Algorithm 2** (:func:`flat_search`) walks breadth-first over points reached by steps of fixed
  length along the near-zero (and negative) curvature eigenvectors, recomputed at every node, as
  long as the gradient stays below a threshold and every step moves farther from the start.

Both run on a :class:`Landscape`, any smooth function of a flat parameter vector given as a torch
function; :func:`network_landscape` wraps an MLP's loss on a data set, and
:func:`smallest_direction_scan` / :func:`flat_direction_search` are the network versions. Both are
generators that yield :class:`SearchProgress` records, stop when a ``threading.Event`` is set, and
return a result with ``to_dict()`` / ``from_dict()`` for storage under ``/analyses``.

What counts as lower: a value below ``L(theta) - tol`` with ``tol = rel_tol |L(theta)| + abs_tol``
(:func:`decrease_tolerance`). Evaluating the loss rounds at ~1e-15 relative, so the default
``rel_tol = 1e-10`` keeps rounding noise from posing as an escape while a genuine cubic decrease
``|D^3 L| eps^3 / 6`` at ``eps = 0.01`` is visible down to third derivatives of ~1e-7 relative; the
absolute floor ``abs_tol = 1e-20 * value_scale`` covers points of (near) zero loss, where the
residual rounding ``~eps_mach |y|`` dominates. The thesis' Algorithm 2 tests ``loss <= loss(start)``,
true at the start node itself; here the decrease is strict and beyond ``tol``.

A lower point alone does not make a non-strict saddle: Algorithm 1 looks up to ``|eps| = 8`` away,
where a lower point may lie beyond a barrier in another basin. Each result therefore also says
whether the lower point was reached along its path without the loss ever rising above
``L(theta) + tol`` (``escape``); :func:`escape_verdict` turns ``local_min`` into
``nonstrict_saddle`` only for such an escape unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import typing
from collections import deque
from collections.abc import Generator

import numpy as np

from ..base.classify import KINDS
from ..base.record import Record
from ..landscape import symmetric_eigen
from ..landscape.hessian import spectrum
from ..landscape.nets import MLPSpec
from ..landscape.surface import (
    Landscape,
    SearchProgress,
    chunk_slices,
    decrease_tolerance,
    network_landscape,
    stop_requested,
    unit_vector,
)

# --------------------------------------------------------------------------- Algorithm 1

@dataclasses.dataclass
class EscapeScan(Record):
    """Algorithm 1's curves and verdict.

    ``eps, loss, grad_norm: (n,)`` on the scan grid; ``lambda_min: (k,)`` at ``curvature_eps: (k,)``
    (every ``curvature_every``-th grid point; empty when curvature was not computed); ``direction:
    (P,)`` the unit eigenvector scanned along. ``found_lower``: some grid value is below
    ``loss0 - tolerance``; ``best_eps, best_loss``: the grid minimum. ``escape``: on one side of 0 the
    first lower point is reached with no value above ``loss0 + tolerance`` in between; ``escape_eps``
    is the nearest such point (NaN if none). Entries not reached after a stop are NaN.
    """

    eps: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    curvature_eps: np.ndarray
    lambda_min: np.ndarray
    direction: np.ndarray
    loss0: float
    lambda_min0: float
    tolerance: float
    found_lower: bool
    best_eps: float
    best_loss: float
    escape: bool
    escape_eps: float
    curvature_every: int
    stop_reason: str
    elapsed: float


def _nearest_escape(eps: np.ndarray, values: np.ndarray, value0: float, tol: float) -> float:
    """The ``eps`` nearest 0 of a lower value reached without passing above ``value0 + tol`` (else NaN)."""
    best = np.nan
    for side in (eps > 0, eps < 0):
        order = np.flatnonzero(side)
        order = order[np.argsort(np.abs(eps[order]))]
        vals = values[order]
        lower = np.flatnonzero(vals < value0 - tol)
        if lower.size and np.all(vals[:lower[0]] <= value0 + tol):  # NaN (not reached) fails
            e = float(eps[order[lower[0]]])
            if np.isnan(best) or abs(e) < abs(best):
                best = e
    return best


def direction_scan(landscape: Landscape, theta, eps_min: float = -8.0, eps_max: float = 8.0, step: float = 0.01,
                   compute_curvature: bool = True, curvature_every: int = 1, direction=None,
                   rel_tol: float = 1e-10, abs_tol: float | None = None, stop: threading.Event | None = None
                   ) -> Generator[SearchProgress, None, EscapeScan]:
    """Algorithm 1 on ``landscape`` at ``theta: (P,)``: values along ``theta + eps v``.

    ``v`` is the eigenvector of the smallest Hessian eigenvalue at ``theta`` (or ``direction``,
    normalised); ``eps = eps_min, eps_min + step, ..., eps_max``. Values and gradient norms are taken
    at every grid point; the smallest eigenvalue (one exact Hessian each, the expensive part) at every
    ``curvature_every``-th, all of them by default. Yields progress per batch; a set ``stop`` ends
    the scan at the next batch with ``stop_reason == "cancelled"``.
    """
    start = time.perf_counter()
    if not (step > 0 and eps_max > eps_min and curvature_every >= 1):
        raise ValueError(f"need step > 0, eps_max > eps_min and curvature_every >= 1; got step={step}, "
                         f"eps=[{eps_min}, {eps_max}], curvature_every={curvature_every}")
    theta = landscape.points(theta)[0].numpy()
    value0, _, h0 = landscape.value_grad_hessian(theta)
    lam0, vecs0 = spectrum(h0)
    if direction is None:
        v = unit_vector(vecs0[:, 0])
    else:
        v = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
    eps = eps_min + step * np.arange(int(round((eps_max - eps_min) / step)) + 1)
    values, gnorm = np.full(eps.size, np.nan), np.full(eps.size, np.nan)
    curv_idx = np.arange(0, eps.size, curvature_every) if compute_curvature else np.zeros(0, dtype=int)
    lam_min = np.full(curv_idx.size, np.nan)
    total, done, reason = eps.size + curv_idx.size, 0, "completed"

    for sl in chunk_slices(eps.size, landscape.value_rows):
        if stop_requested(stop):
            reason = "cancelled"
            break
        values[sl], g = landscape.values_and_grads(theta + eps[sl, None] * v)
        gnorm[sl] = np.linalg.norm(g, axis=1)
        done += sl.stop - sl.start
        yield SearchProgress("loss", done, total, time.perf_counter() - start)
    for sl in chunk_slices(curv_idx.size, landscape.hessian_rows) if reason == "completed" else []:
        if stop_requested(stop):
            reason = "cancelled"
            break
        lam_min[sl] = symmetric_eigen.eigvalsh(landscape.hessians(theta + eps[curv_idx[sl], None] * v))[:, 0]
        done += sl.stop - sl.start
        yield SearchProgress("curvature", done, total, time.perf_counter() - start)

    tol = decrease_tolerance(landscape, value0, rel_tol, abs_tol)
    reached = np.isfinite(values)
    best = int(np.argmin(np.where(reached, values, np.inf)))
    best_eps, best_loss = (float(eps[best]), float(values[best])) if reached.any() else (np.nan, np.nan)
    escape_eps = _nearest_escape(eps, values, value0, tol)
    return EscapeScan(
        eps=eps, loss=values, grad_norm=gnorm, curvature_eps=eps[curv_idx], lambda_min=lam_min, direction=v,
        loss0=value0, lambda_min0=float(lam0[0]), tolerance=tol,
        found_lower=bool(reached.any() and values[best] < value0 - tol),
        best_eps=best_eps, best_loss=best_loss,
        escape=bool(np.isfinite(escape_eps)), escape_eps=escape_eps, curvature_every=int(curvature_every),
        stop_reason=reason, elapsed=time.perf_counter() - start)


def smallest_direction_scan(spec: MLPSpec, theta, x, y, eps_min: float = -8.0, eps_max: float = 8.0,
                            step: float = 0.01, compute_curvature: bool = True, stop: threading.Event | None = None,
                            **options) -> Generator[SearchProgress, None, EscapeScan]:
    """Algorithm 1 for the loss of network ``spec`` on ``x: (N, d)``, ``y: (N, d_out)`` at ``theta: (P,)``.

    ``options`` go to :func:`direction_scan` (``curvature_every``, ``direction``, ``rel_tol``,
    ``abs_tol``). On the toy problem (15 parameters, N = 1681, one thread of a 2-core machine) the full
    1601-point scan with a Hessian at every point takes 1.5 s (8.5 s with vectorised autograd
    Hessians instead of :func:`two_layer_hessians`); ``curvature_every=10``: 0.3 s.
    """
    return direction_scan(network_landscape(spec, x, y), theta, eps_min, eps_max, step, compute_curvature,
                          stop=stop, **options)


# --------------------------------------------------------------------------- Algorithm 2

@dataclasses.dataclass
class FlatSearch(Record):
    """Algorithm 2's outcome.

    ``found_lower``: a point below ``loss0 - tolerance`` was evaluated, ``lower_point: (P,)`` (empty
    ``(0,)`` if none) with value ``lower_loss``; ``escape``: that point was reached from flat nodes
    whose values never exceeded ``loss0 + tolerance``. ``path: (K, P)`` and ``path_loss: (K,)`` run
    from the start to the lower point, or to the node farthest from the start when none was found.
    ``max_distance`` is that farthest node's Euclidean distance from the start; ``max_depth`` the
    most steps of any node. ``stop_reason``: ``found_lower``, ``exhausted`` (no node left to expand),
    ``max_nodes``, ``max_seconds`` or ``cancelled``.
    """

    found_lower: bool
    escape: bool
    lower_point: np.ndarray
    lower_loss: float
    path: np.ndarray
    path_loss: np.ndarray
    loss0: float
    tolerance: float
    nodes_expanded: int
    nodes_queued: int
    candidates: int
    queue_left: int
    max_distance: float
    max_depth: int
    step: float
    stop_reason: str
    elapsed: float


class _Node(typing.NamedTuple):
    """One point of Algorithm 2's search tree; ``dist`` from the start in steps, ``path_max`` the
    largest value on the path from the start."""

    theta: np.ndarray
    parent: int
    dist: float
    depth: int
    value: float
    path_max: float


def flat_search(landscape: Landscape, theta, step: float = 0.01, eig_zero_threshold: float = 1e-10,
                grad_threshold: float = 1e-9, max_nodes: int = 2000, max_seconds: float = 60.0,
                cell: float | None = None, rel_tol: float = 1e-10, abs_tol: float | None = None,
                stop: threading.Event | None = None) -> Generator[SearchProgress, None, FlatSearch]:
    """Algorithm 2 on ``landscape`` from ``theta: (P,)``: breadth-first search over flat directions.

    Expanding a node computes its exact Hessian and steps ``+-step`` along every eigenvector with
    eigenvalue below ``eig_zero_threshold`` (near-zero and negative curvature). Every such candidate
    is evaluated; a value below ``loss0 - tolerance`` ends the search. A candidate becomes a node
    when its gradient norm is at most ``grad_threshold`` (it is still, to that precision, a
    critical point), it lies farther from the start than its parent (the thesis' rule: no path turns
    back, so every path is finite), and no node was queued in its cell of a grid of side ``cell``
    (default ``step / 2``) around the start: different orders of the same steps land on the same
    point, and without this the breadth-first frontier of a flat plane grows exponentially.

    Deviation from the thesis, besides the strict decrease: the thesis tests the loss only at nodes,
    which need a vanishing gradient, and so misses the plainest escape, ``L = c (v . x)^3`` along a
    zero eigenvector, whose lower neighbour has gradient ``3 c step^2``; here every candidate counts.
    Bounded by ``max_nodes`` expanded and ``max_seconds``; yields progress about every 0.1 s.
    """
    start = time.perf_counter()
    if not (step > 0 and max_nodes >= 1 and max_seconds > 0):
        raise ValueError(f"need step > 0, max_nodes >= 1, max_seconds > 0; got {step}, {max_nodes}, {max_seconds}")
    theta0 = landscape.points(theta)[0].numpy()
    cell = step / 2 if cell is None else cell
    (value0,), _ = landscape.values_and_grads(theta0)
    value0 = float(value0)
    tol = decrease_tolerance(landscape, value0, rel_tol, abs_tol)

    def key(p: np.ndarray) -> bytes:
        return np.floor((p - theta0) / cell + 0.5).astype(np.int64).tobytes()

    nodes = [_Node(theta0, -1, 0.0, 0, value0, value0)]
    queue, seen = deque([0]), {key(theta0)}
    expanded = candidates = 0
    lower, lower_value, lower_parent = None, np.nan, -1
    reason, last_yield = "exhausted", start
    while queue:
        reason = ("cancelled" if stop_requested(stop) else "max_nodes" if expanded >= max_nodes else
                  "max_seconds" if time.perf_counter() - start > max_seconds else "exhausted")
        if reason != "exhausted":
            break
        i = queue.popleft()
        node = nodes[i]
        lam, vecs = spectrum(landscape.hessians(node.theta)[0])
        flat = vecs[:, lam < eig_zero_threshold].T
        expanded += 1
        if flat.size:
            cands = np.concatenate([node.theta + step * flat, node.theta - step * flat])
            cand_values, cand_grads = landscape.values_and_grads(cands)
            candidates += len(cands)
            below = np.flatnonzero(cand_values < value0 - tol)
            if below.size:
                k = below[np.argmin(cand_values[below])]
                lower, lower_value, lower_parent, reason = cands[k], float(cand_values[k]), i, "found_lower"
                break
            for c, val, g in zip(cands, cand_values, cand_grads):
                d = float(np.linalg.norm(c - theta0)) / step
                if np.linalg.norm(g) <= grad_threshold and d > node.dist and (kc := key(c)) not in seen:
                    seen.add(kc)
                    nodes.append(_Node(c, i, d, node.depth + 1, float(val), max(node.path_max, float(val))))
                    queue.append(len(nodes) - 1)
        if (now := time.perf_counter()) - last_yield >= 0.1:
            last_yield = now
            yield SearchProgress("flat_search", expanded, max_nodes, now - start)

    chain = [lower_parent if lower is not None else max(range(len(nodes)), key=lambda j: nodes[j].dist)]
    while nodes[chain[-1]].parent >= 0:
        chain.append(nodes[chain[-1]].parent)
    path = [nodes[j].theta for j in reversed(chain)] + ([lower] if lower is not None else [])
    path_loss = [nodes[j].value for j in reversed(chain)] + ([lower_value] if lower is not None else [])
    return FlatSearch(
        found_lower=lower is not None, escape=lower is not None and nodes[lower_parent].path_max <= value0 + tol,
        lower_point=lower if lower is not None else np.zeros(0), lower_loss=lower_value, path=np.array(path),
        path_loss=np.array(path_loss), loss0=value0, tolerance=tol, nodes_expanded=expanded, nodes_queued=len(nodes),
        candidates=candidates, queue_left=len(queue), max_distance=max(n.dist for n in nodes) * step,
        max_depth=max(n.depth for n in nodes), step=step, stop_reason=reason, elapsed=time.perf_counter() - start)


def flat_direction_search(spec: MLPSpec, theta, x, y, step: float = 0.01, eig_zero_threshold: float = 1e-10,
                          grad_threshold: float = 1e-9, max_nodes: int = 2000, max_seconds: float = 60.0,
                          stop: threading.Event | None = None, **options
                          ) -> Generator[SearchProgress, None, FlatSearch]:
    """Algorithm 2 for the loss of network ``spec`` on ``x: (N, d)``, ``y: (N, d_out)`` from ``theta: (P,)``.

    ``options`` go to :func:`flat_search` (``cell``, ``rel_tol``, ``abs_tol``).
    """
    return flat_search(network_landscape(spec, x, y), theta, step, eig_zero_threshold, grad_threshold, max_nodes,
                       max_seconds, stop=stop, **options)


# --------------------------------------------------------------------------- verdict

def escape_verdict(kind: str, *results: EscapeScan | FlatSearch, require_escape: bool = True) -> str:
    """The kind of a point after escape searches: ``local_min`` becomes ``nonstrict_saddle`` when a
    search found a lower point, other kinds are returned unchanged.

    With ``require_escape`` (default) only a lower point reached without first climbing above the
    start (``result.escape``) counts; a lower value beyond a barrier says nothing about the point
    itself. ``require_escape=False`` follows the thesis: any lower point counts.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "local_min" and any(r.escape if require_escape else r.found_lower for r in results):
        return "nonstrict_saddle"
    return kind


__all__ = ["EscapeScan", "direction_scan", "smallest_direction_scan", "FlatSearch", "flat_search",
           "flat_direction_search", "escape_verdict"]
