"""Symmetry-aware polishing: finish a refined point whose hidden layer holds near-duplicate neurons.

Why it is needed. At a zero-loss point with a duplicated neuron the loss grows only quartically
across the split of the pair, ``L ~ |w_i - w_j|^4``, and the residuals quadratically. Where the
second-order residual of the split lies almost in the span of the other parameters' first-order
residuals, the Jacobian's singular value along the split is ``~ |w_i - w_j| * (that distance)``, and
every damped (Levenberg–Marquardt, Newton) step treats it as a null direction: refinement stops
with the pair 1e-4 .. 1e-2 apart at ``L ~ 1e-19`` (measured on toy width-5 copies of the teacher
perturbed by 1e-3). Whether a given start ends there is luck.

What it does (the reduce -> refine -> duplicate heuristic of the thesis, made exact):

1. **Reduce.** In one hidden layer, neurons whose incoming vectors (biases included) lie within
   ``merge_tol * max(1, |v_i|, |v_j|)`` of each other form clusters (transitively); every cluster
   becomes one neuron with the members' mean incoming vector and the sum of their outgoing
   columns. Neurons whose outgoing column is below ``zero_tol * max(1, median_k |a_k|)`` are dropped
   (they contribute nothing downstream). The narrower net computes (almost) the same function.
2. **Refine** there (stages 1-3 of refinement,
   :func:`lsexplorer.core.critical.refine_stages.refine_stages`). The narrower point is usually
   non-degenerate, so Newton converges quadratically to machine precision.
3. **Re-embed exactly.** Each member ``k`` of a cluster gets the cluster's refined incoming vector
   and the share ``s_k = a_k . S / |S|^2`` of its refined outgoing column (``S`` the members' summed
   columns before reduction, so the shares sum to 1 and keep the split of the start); a dropped
   neuron gets its own incoming vector back and a zero outgoing column. Duplicating a neuron maps a
   critical point of the narrower net to a critical point (thesis section 4.3), so the embedded
   point is critical up to rounding; a Newton pass on the wide net removes what remains (a dropped
   neuron at non-zero loss is not critical by itself).
4. **Accept** the embedded point only if it is at least as good a certified critical point as the
   start and near it: loss not above the start's (up to a relative ``1e-10``), gradient norm not
   above the start's unless Newton reached its rounding floor, distance at most
   ``merge_tol * max(1, |theta|)``; losses within ``16 eps^2 mean |y_i|^2`` (rounding of a zero loss)
   count as equal. Otherwise the start is kept and the reason recorded.

Sign-flipped pairs. For the sigmoid and tanh a neuron ``(v, a)`` computes the same as ``(-v, -a)``
up to the constant ``a`` (sigmoid: ``a sigma(z) = a - a sigma(-z)``; tanh: none), so a pair with
``v_i ~ -v_j`` is a duplicate in disguise, and gradient methods leave it split like any other
(seen on 4 of the toy sample's teacher copies, 2e-7 .. 7e-6 apart at loss up to 1e-26). Before step
1 a set ``F`` of neurons holding one member of every such pair is flipped (:func:`flip_for_merging`)
when that keeps the function: always for tanh or when the next layer has a bias (it takes the
constant), else only if the flipped outgoing weights sum to ~0 (other flipped neurons cancel the
constants, as at the sample's minima; subsets are searched up to width 12). The same flips are
undone after step 3, so the point keeps its orientation.

A point on a saddle line comes out with its pair *exactly* duplicated, so it is found on the line
at distance ~1e-16 whatever its kind.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading

import numpy as np
import torch

from ..base.refined import RefinedPoint, Stage, StageEnd, Status
from ..landscape.hessian import loss_grad_t
from ..landscape.nets import MLPSpec, flatten, unflatten
from ..symmetry.operations import SIGN_SYMMETRIC, sign_flip
from .refine_stages import newton_stage, refine_stages

_EPS = float(np.finfo(np.float64).eps)


@dataclasses.dataclass
class Reduction:
    """How one hidden layer of a width-``m`` point maps onto a narrower one.

    ``cluster (m,)`` int: the narrower neuron that wide neuron ``k`` joins, ``-1`` for a dropped
    neuron; ``share (m,)`` its share of that neuron's outgoing column (0 for dropped neurons).
    """

    layer: int
    cluster: np.ndarray
    share: np.ndarray

    @property
    def n_merged(self) -> int:
        """Wide neurons absorbed into another one (cluster size minus one, summed)."""
        kept = self.cluster[self.cluster >= 0]
        return int(kept.size - np.unique(kept).size)

    @property
    def n_dropped(self) -> int:
        return int(np.count_nonzero(self.cluster < 0))

    def describe(self) -> str:
        return f"L{self.layer}:merged{self.n_merged}+dropped{self.n_dropped}"


def _layer_parts(spec: MLPSpec, theta: np.ndarray, layer: int) -> tuple[list, np.ndarray, np.ndarray]:
    """(layers as mutable numpy copies, incoming vectors ``(m, k)``, outgoing columns ``(n_next, m)``)."""
    layers = [[np.array(w), None if b is None else np.array(b)] for w, b in unflatten(spec, theta)]
    w_in, b_in = layers[layer - 1]
    v = w_in if b_in is None else np.concatenate([w_in, b_in[:, None]], axis=1)
    return layers, v, layers[layer][0]


def find_reduction(spec: MLPSpec, theta: np.ndarray, layer: int, merge_tol: float, zero_tol: float) -> Reduction | None:
    """Clusters of near-duplicate neurons and near-zero-output neurons of ``layer``; None if there are none."""
    _, v, a = _layer_parts(spec, theta, layer)
    m = v.shape[0]
    norms = np.linalg.norm(v, axis=1)
    out_norms = np.linalg.norm(a, axis=0)
    dropped = out_norms <= zero_tol * max(1.0, float(np.median(out_norms)))
    if dropped.all():
        dropped[int(np.argmax(out_norms))] = False  # a layer keeps at least one neuron
    parent = np.arange(m)

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    for i in range(m):
        for j in range(i + 1, m):
            if dropped[i] or dropped[j]:
                continue
            if np.linalg.norm(v[i] - v[j]) <= merge_tol * max(1.0, norms[i], norms[j]):
                parent[root(j)] = root(i)
    roots = np.array([root(k) for k in range(m)])
    if not dropped.any() and np.unique(roots).size == m:
        return None
    kept_roots = sorted(set(roots[~dropped].tolist()))
    cluster = np.array([kept_roots.index(r) if not dropped[k] else -1 for k, r in enumerate(roots)])
    share = np.zeros(m)
    for c in range(len(kept_roots)):
        members = np.flatnonzero(cluster == c)
        total = a[:, members].sum(axis=1)
        tt = float(total @ total)
        share[members] = (a[:, members].T @ total) / tt if tt > 0 else 1.0 / members.size
    return Reduction(layer, cluster, share)


def reduce_point(spec: MLPSpec, theta: np.ndarray, red: Reduction) -> tuple[MLPSpec, np.ndarray]:
    """The narrower network and point of ``red``: cluster means in, cluster sums out."""
    layers, _, a = _layer_parts(spec, theta, red.layer)
    n = int(red.cluster.max()) + 1
    w_in, b_in = layers[red.layer - 1]
    members = [np.flatnonzero(red.cluster == c) for c in range(n)]
    layers[red.layer - 1] = [np.stack([w_in[g].mean(axis=0) for g in members]),
                             None if b_in is None else np.array([b_in[g].mean() for g in members])]
    layers[red.layer][0] = np.stack([a[:, g].sum(axis=1) for g in members], axis=1)
    nspec = spec.with_hidden_width(red.layer, n)
    return nspec, flatten(nspec, [tuple(l) for l in layers])


def embed_point(spec: MLPSpec, theta: np.ndarray, nspec: MLPSpec, ntheta: np.ndarray, red: Reduction) -> np.ndarray:
    """The wide point of ``spec`` holding narrow point ``ntheta`` as ``red`` says; dropped neurons from ``theta``."""
    wide, v_old, _ = _layer_parts(spec, theta, red.layer)
    narrow, _, a_new = _layer_parts(nspec, ntheta, red.layer)
    kept = red.cluster >= 0
    src = np.where(kept, red.cluster, 0)
    layers = [list(l) for l in narrow]
    w_n, b_n = narrow[red.layer - 1]
    n_in = w_n.shape[1]
    w_in = np.where(kept[:, None], w_n[src], v_old[:, :n_in])
    b_in = None if b_n is None else np.where(kept, b_n[src], v_old[:, n_in])
    layers[red.layer - 1] = [w_in, b_in]
    layers[red.layer][0] = a_new[:, src] * np.where(kept, red.share, 0.0)[None, :]
    return flatten(spec, [tuple(l) for l in layers])


#: Widths up to which subsets of neurons are searched for a function-preserving flip set (2^12 sums).
FLIP_SEARCH_WIDTH = 12


def _antipodal_pairs(v: np.ndarray, merge_tol: float) -> list[tuple[int, int]]:
    norms = np.linalg.norm(v, axis=1)
    return [(i, j) for i in range(len(v)) for j in range(i + 1, len(v))
            if np.linalg.norm(v[i] + v[j]) <= merge_tol * max(1.0, norms[i], norms[j])]


def flip_for_merging(spec: MLPSpec, theta: np.ndarray, layer: int, merge_tol: float) -> tuple[int, ...]:
    """Neurons of ``layer`` to sign-flip so that near-antipodal pairs become near-duplicates; ``()`` if none.

    The set holds one member of as many antipodal pairs as possible and keeps the function (module
    docstring): for the sigmoid without a bias in the next layer, its outgoing columns must sum to
    within ``merge_tol * max(1, max |a|)`` of zero.
    """
    if spec.activation not in SIGN_SYMMETRIC:
        return ()
    _, v, a = _layer_parts(spec, theta, layer)
    pairs = _antipodal_pairs(v, merge_tol)
    if not pairs:
        return ()
    m = v.shape[0]
    free = spec.activation == "tanh" or spec.bias
    if free:
        return tuple(sorted({j for _, j in pairs}))
    if m > FLIP_SEARCH_WIDTH:
        return ()
    slack = merge_tol * max(1.0, float(np.abs(a).max()))
    best: tuple[int, int, tuple[int, ...]] | None = None
    for size in range(1, m + 1):
        for subset in itertools.combinations(range(m), size):
            if np.abs(a[:, list(subset)].sum(axis=1)).max() > slack:
                continue
            covered = sum((i in subset) != (j in subset) for i, j in pairs)
            if covered and (best is None or covered > best[0]):
                best = (covered, size, subset)
    return () if best is None else best[2]


def polish(spec: MLPSpec, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor, config,
           stop: threading.Event | None = None) -> RefinedPoint:
    """Reduce, refine, re-embed and accept (module docstring) each hidden layer of ``theta (P,)`` in turn.

    The status is ``accepted`` if some layer's candidate was kept, else ``rejected``; ``stages``
    holds one polish end whose detail lists every attempted layer, e.g.
    ``"L1:merged1+dropped0:accepted"`` or ``"L1:merged1+dropped0:rejected(loss)"``, and is empty
    when no layer had anything to reduce.

    ``x``, ``y`` are float64 tensors; ``config`` a :class:`lsexplorer.core.critical.refine.RefineConfig`
    (its ``polish_merge_tol`` and ``polish_zero_tol``; the narrower refinement uses the rest).
    """
    inner = dataclasses.replace(config, polish=False)
    # Losses this close to zero are rounding (residuals known to ~eps |y|): equal, not worse.
    loss_slack = 16.0 * _EPS * _EPS * float((y * y).sum()) / y.shape[0]
    theta = np.asarray(theta, dtype=np.float64).copy()
    value, g = _loss_grad(spec, theta, x, y)
    gnorm = float(np.linalg.norm(g))
    reasons, accepted = [], False
    for layer in range(1, len(spec.hidden_widths) + 1):
        if stop is not None and stop.is_set():
            break
        flips = flip_for_merging(spec, theta, layer, config.polish_merge_tol)
        flip_tol = config.polish_merge_tol * max(1.0, float(np.abs(_layer_parts(spec, theta, layer)[2]).max()))
        start = sign_flip(spec, theta, layer, list(flips), atol=flip_tol) if flips else theta
        red = find_reduction(spec, start, layer, config.polish_merge_tol, config.polish_zero_tol)
        if red is None:
            continue
        nspec, ntheta = reduce_point(spec, start, red)
        narrow = refine_stages(nspec, ntheta, x, y, inner, stop)
        if narrow.status is Status.CANCELLED or not np.isfinite(narrow.theta).all():
            reasons.append(f"{red.describe()}:rejected(narrower {narrow.stop_reason.split(':')[0]})")
            continue
        candidate = embed_point(spec, start, nspec, narrow.theta, red)
        if flips:
            try:
                candidate = sign_flip(spec, candidate, layer, list(flips), atol=flip_tol)
            except ValueError:  # the refined constants no longer cancel: not this way
                reasons.append(f"{red.describe()}+flipped{len(flips)}:rejected(flip back)")
                continue
        newton = newton_stage(spec, candidate, x, y, inner, stop)
        cand, c_value, c_norm = newton.theta, newton.loss, newton.grad_norm
        why = _rejection(theta, value, gnorm, cand, c_value, c_norm, newton.status, config.polish_merge_tol,
                         loss_slack)
        what = red.describe() + (f"+flipped{len(flips)}" if flips else "")
        if why is None:
            theta, value, gnorm, accepted = cand, c_value, c_norm, True
            reasons.append(f"{what}:accepted")
        else:
            reasons.append(f"{what}:rejected({why})")
    status = Status.ACCEPTED if accepted else Status.REJECTED
    stages = [StageEnd(Stage.POLISH, status, ",".join(reasons))] if reasons else []
    return RefinedPoint(theta, value, gnorm, 0, status, Stage.POLISH, stages)


def _loss_grad(spec: MLPSpec, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
    value, g = loss_grad_t(spec, torch.from_numpy(theta), x, y)
    return float(value), g.numpy()


def _rejection(theta, value, gnorm, cand, c_value, c_norm, newton_status, merge_tol, loss_slack) -> str | None:
    """Why the candidate is not taken (module docstring, step 4), or None to take it."""
    if not (math.isfinite(c_value) and math.isfinite(c_norm)):
        return "nonfinite"
    if c_value > value * (1.0 + 1e-10) + loss_slack:
        return "loss"
    if c_norm > gnorm and newton_status is not Status.GRAD_CONVERGED:
        return "gradient"
    if np.linalg.norm(cand - theta) > merge_tol * max(1.0, float(np.linalg.norm(theta))):
        return "distance"
    return None


__all__ = ["Reduction", "embed_point", "find_reduction", "polish", "reduce_point"]
