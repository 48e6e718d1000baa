"""The closest saddle of a local minimum (thesis section 6.2.5) and the symmetry-induced decision (6.2.6).

A width-``m`` local minimum ``theta_min`` whose two closest neurons ``i < j`` (incoming vectors, biases
included) nearly coincide may sit near, or on, a *saddle line*: a width-``(m - 1)`` critical point
``theta*`` with one neuron duplicated and its outgoing weights split ``(mu a, (1 - mu) a)``. The
heuristic, for one hidden layer of any MLP:

1. **Pull the pair together.** Minimise ``L(theta) + lam * ||w_i - w_j||`` from ``theta_min`` (the
   thesis' penalty, ``lam = 0.1``). The norm is not differentiable at ``w_i = w_j``, exactly where
   the minimiser wants to be (as in the group lasso), so nlopt's ``LD_SLSQP`` minimises the
   pseudo-Huber form ``lam * (sqrt(||w_i - w_j||^2 + delta^2) - delta)``: the same penalty up to
   ``lam * delta`` far from 0, smooth at 0, where it leaves a split of about ``delta * |dL/dw| / lam``
   that the merge removes anyway. This phase only supplies a starting point for step 3.
2. **Merge** ``i`` and ``j`` (incoming vectors averaged, outgoing weights summed) to width ``m - 1``;
   the merged neuron is ``i``.
3. **Refine** there to a critical point (:func:`lsexplorer.core.critical.refine.refine`, float64, gradient
   norms ~1e-16) and classify it from its exact spectrum.
4. **Duplicate back** neuron ``i`` along ``mu`` and find the point of the line closest to
   ``theta_min``. :func:`~lsexplorer.core.symmetry.operations.duplicate_neuron` appends the copy *last*, and
   the refined narrower neurons need not keep ``theta_min``'s order, so distances are taken *up to
   permutations of the layer's neurons*. They decompose exactly over neurons (a neuron of layer
   ``l`` owns its incoming vector and its outgoing column; every other parameter is untouched by a
   permutation), so the minimum over (permutation, mu) is found exactly: for every pair of positions
   ``p < q`` of ``theta_min`` that the two copies may take, the other neurons are assigned by
   :func:`scipy.optimize.linear_sum_assignment` (their cost does not depend on ``mu``), and for the
   copies ``||a_p - mu c||^2 + ||a_q - (1 - mu) c||^2`` is quadratic in ``mu`` with minimiser
   ``mu* = 1/2 + c . (a_p - a_q) / (2 ||c||^2)``. Swapping the copies' positions maps ``mu`` to
   ``1 - mu`` (the same line), so ``mu`` is reported as the share of the *lower* position ``p``.
   Sign flips are not searched.

It is a heuristic: where the merged net's loss keeps decreasing towards infinity, step 1 stops once
the point has run away (:class:`MergeConfig`), step 3 ends ``not_converged`` far away and the
distance means nothing (the narrower point's kind says so).

:func:`symmetry_induced` calls ``theta_min`` symmetry-induced when it lies within a stated,
scale-aware distance of that line and the narrower point is a certified critical point;
:func:`corollary_verdict` runs the formal check of Corollaries 3.1/3.2
(``lsexplorer.core.saddles.inertia.corollary_check``).
:func:`closest_saddle_all` runs everything over a session's local minima as a progress generator;
:func:`lsexplorer.core.analyses.closest_saddle.store` puts the result under
``/analyses/closest_saddle`` (that module owns the layout).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Generator, Sequence

import nlopt
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..base.classify import Tolerances, classify, loss_scale
from ..base.kinds import Kind
from ..base.nlopt_guard import CallbackGuard
from ..base.progress import Progress
from ..base.record import Record
from ..base.refined import RefinedPoint
from ..critical.refine import NLOPT_RESULTS, RefineConfig, refine
from ..landscape.hessian import float64_problem, loss_grad_hessian, spectrum
from ..landscape.nets import MLPSpec, loss
from ..landscape.point_loss import PointLoss
from ..store.session import Session
from ..symmetry.operations import (
    duplicate_neuron,
    incoming_vectors,
    merge_neurons,
    nearest_neuron_pair,
    outgoing_weights,
    permute_neurons,
)
from ..symmetry.operations import nearest_neuron_distances as symmetry_nearest_neuron_distances
from .inertia import corollary_check

#: Default of :func:`symmetry_induced`: a point is on a saddle line when its distance to it is at most
#: ``max(SI_RTOL * ||theta_min||, SI_ATOL)``. Measured on the toy problem (refined points, gradient norms
#: 1e-17..1e-15): points refined from near a line of degenerate minima (planted: 3 width-3 minima x 3
#: neurons x mu in 0.05..0.8; trained: a width-5 local minimum with mu* = 1.33) lie 1e-16..5e-12 from it
#: (``||theta||`` 1.8..3.8); every local minimum not on a line was >= 0.35 away in absolute terms and
#: >= 3.8e-4 relative to ``||theta||`` (the smallest ratios at points running off to ``||theta||`` ~ 300..1500).
#: 1e-6 relative leaves >= 5 orders of magnitude to the first and >= 2.5 to the second. Relative, because
#: the rounding of a refined point scales with ``||theta||``. Unrefined points (the thesis' SI points were
#: ~1e-4 from their line) need an explicit ``distance_tol``.
SI_RTOL = 1e-6
SI_ATOL = 1e-12
#: Kinds whose rows get the symmetry-induced decision: every certified critical point (a duplicated
#: neuron embeds a narrower critical point of any kind, global minima included).
SI_KINDS = tuple(k.value for k in Kind if k is not Kind.NOT_CONVERGED)


@dataclasses.dataclass
class MergeConfig(Record):
    """Settings of step 1 (module docstring).

    smoothing:
        ``delta`` of the pseudo-Huber penalty, relative to the pair's initial distance (absolute
        floor 1e-12). On the toy problem's width-5 local minima 1e-6, 1e-3 and 1e-1 all bring the
        pair to within 1e-11 and lead to the same narrower points and distances, except one point
        whose narrower refinement ends at ``||grad L||`` ~ 1e-12, on either side of ``grad_tol``;
        1e-3 needed the fewest SLSQP evaluations (110..160).
    maxeval, maxtime:
        Hard limits on SLSQP (objective evaluations; seconds).
    xtol_rel:
        nlopt's relative step tolerance.
    max_norm_growth:
        Where the penalised loss keeps decreasing towards infinity (the pair merges within ~100
        evaluations, then the point drifts along a flat channel with ``||theta||`` growing without
        bound) the phase stops (``RUNAWAY``) once ``||theta||`` exceeds ``max_norm_growth *
        max(||theta_min||, 1)``, the growth at which refinement calls a point diverged. Step 3 starts
        from where it stopped, as it would after ``maxeval``: a merge that closes the channel (the
        diverging outgoing weights summed) still refines to its finite narrower point, one that does
        not ends ``not_converged``. On the toy sample this halves the phase's evaluations and changes
        no narrower point's kind and no symmetry-induced decision. 0 switches the stop off.
    """

    tagged = False
    what = "merge settings"
    refuse_unknown = True

    smoothing: float = 1e-3
    maxeval: int = 5000
    maxtime: float = 10.0
    xtol_rel: float = 1e-10
    max_norm_growth: float = 10.0


#: Step 3's refinement by default: refinement's defaults, except that SLSQP gives up once the merged net
#: runs off towards infinity (:attr:`RefineConfig.slsqp_max_norm_growth`); such a narrower point ends
#: ``not_converged`` either way, and only a finite critical point makes a saddle line.
NARROWER_REFINE = RefineConfig(slsqp_max_norm_growth=10.0)


@dataclasses.dataclass
class MergeStats:
    """How step 1 went: the pair, its distance and the loss before/after, and at the merged point.

    ``loss_merged`` is the width-``(m - 1)`` loss right after merging, before refinement.
    """

    pair: tuple[int, int]
    distance_before: float
    distance_after: float
    loss_before: float
    loss_after: float
    loss_merged: float
    evals: int
    stop_reason: str
    seconds: float

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["pair"] = np.asarray(self.pair, dtype=np.int64)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MergeStats:
        return cls(**{**d, "pair": tuple(int(k) for k in d["pair"])})


@dataclasses.dataclass
class NarrowerPoint:
    """The width-``(m - 1)`` critical point of net ``spec``: ``point``, what refinement reached, its
    loss, gradient and ascending Hessian spectrum ``eigvals (P',)`` measured again there, and its
    ``kind`` (:func:`lsexplorer.core.base.classify.classify`). Stored flat: spec, theta, loss,
    grad_norm, eigvals, kind, stop_reason."""

    spec: MLPSpec
    point: RefinedPoint
    kind: str

    @property
    def theta(self) -> np.ndarray:
        return self.point.theta

    @property
    def loss(self) -> float:
        return self.point.loss

    @property
    def grad_norm(self) -> float:
        return self.point.grad_norm

    @property
    def eigvals(self) -> np.ndarray:
        return self.point.eigvals

    @property
    def stop_reason(self) -> str:
        return self.point.stop_reason

    def to_dict(self) -> dict:
        return {"spec": {"widths": np.asarray(self.spec.widths, dtype=np.int64), "activation": self.spec.activation,
                         "bias": self.spec.bias},
                "theta": self.theta.copy(), "loss": self.loss, "grad_norm": self.grad_norm,
                "eigvals": self.eigvals.copy(), "kind": self.kind, "stop_reason": self.stop_reason}

    @classmethod
    def from_dict(cls, d: dict) -> NarrowerPoint:
        spec = MLPSpec(tuple(int(w) for w in d["spec"]["widths"]), d["spec"]["activation"], bool(d["spec"]["bias"]))
        point = RefinedPoint.read_back(d["theta"], d["loss"], d["grad_norm"], d["stop_reason"],
                                       eigvals=np.asarray(d["eigvals"]))
        return cls(spec, point, d["kind"])


@dataclasses.dataclass
class ClosestSaddle:
    """Result of :func:`closest_saddle` for a width-``m`` point ``theta_min (P,)``.

    layer, pair, lam:
        The hidden layer (1-based), the merged pair ``(i, j)`` of ``theta_min``, the penalty weight.
    narrower:
        The width-``(m - 1)`` critical point; ``neuron`` is its duplicated (merged) neuron.
    positions:
        ``(p, q)``, where the two copies sit in ``theta_min``'s neuron order; ``perm (m,)`` is the
        alignment: position ``k`` of the saddle line holds neuron ``perm[k]`` of
        ``duplicate_neuron(narrower, neuron, mu)`` (the copy being neuron ``m - 1``).
    mu, distance:
        ``mu*`` (the share of ``a`` at position ``p``) and ``||theta(mu*) - theta_min||``.
    line_origin, line_direction:
        The aligned saddle line ``theta(mu) = line_origin + mu * line_direction``, both ``(P,)``.
    saddle:
        ``theta(mu*) (P,)`` in ``theta_min``'s neuron order, its gradient norm, and the three smallest
        Hessian eigenvalues ``saddle_eigvals (3,)`` (fewer if ``P < 3``).
    theta_norm:
        ``||theta_min||``, the scale of the symmetry-induced tolerance.
    merge:
        Step-1 statistics.
    seconds:
        Wall time of ``merge``, ``refine`` (step 3), ``hessians`` and ``total``.
    """

    layer: int
    pair: tuple[int, int]
    lam: float
    narrower: NarrowerPoint
    neuron: int
    positions: tuple[int, int]
    perm: np.ndarray
    mu: float
    distance: float
    line_origin: np.ndarray
    line_direction: np.ndarray
    saddle: np.ndarray
    saddle_grad_norm: float
    saddle_eigvals: np.ndarray
    theta_norm: float
    merge: MergeStats
    seconds: dict

    def to_dict(self) -> dict:
        """A nested dict of numpy arrays and scalars, storable under ``/analyses``."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["pair"] = np.asarray(self.pair, dtype=np.int64)
        d["positions"] = np.asarray(self.positions, dtype=np.int64)
        d["narrower"] = self.narrower.to_dict()
        d["merge"] = self.merge.to_dict()
        d["seconds"] = dict(self.seconds)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ClosestSaddle:
        fields = {f.name: d[f.name] for f in dataclasses.fields(cls)}
        fields.update(pair=tuple(int(k) for k in d["pair"]), positions=tuple(int(k) for k in d["positions"]),
                      narrower=NarrowerPoint.from_dict(d["narrower"]), merge=MergeStats.from_dict(d["merge"]),
                      seconds=dict(d["seconds"]), perm=np.asarray(d["perm"]))
        return cls(**fields)


# --------------------------------------------------------------------------- step 1: the merge phase

def _incoming_indices(spec: MLPSpec, layer: int, k: int) -> np.ndarray:
    """Flat indices of neuron ``k``'s incoming vector (its row of ``W_layer``, then its bias)."""
    sl = spec.layers[layer - 1]
    idx = sl.w_start + k * sl.n_in + np.arange(sl.n_in)
    return idx if sl.b_start is None else np.append(idx, sl.b_start + k)


def _pull_pair_together(spec: MLPSpec, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor, layer: int,
                        pair: tuple[int, int], lam: float, config: MergeConfig,
                        stop: threading.Event | None) -> tuple[np.ndarray, int, str]:
    """Minimise ``L + lam * (sqrt(||w_i - w_j||^2 + delta^2) - delta)`` from ``theta (P,)``.

    Returns (best point seen, objective evaluations, nlopt result name or ``RUNAWAY``).
    """
    ii, jj = (_incoming_indices(spec, layer, k) for k in pair)
    delta = max(config.smoothing * float(np.linalg.norm(theta[ii] - theta[jj])), 1e-12)
    best = {"f": math.inf, "x": theta.copy(), "runaway": False}
    growth = config.max_norm_growth
    max_norm = growth * max(float(np.linalg.norm(theta)), 1.0) if growth > 0 else math.inf
    opt = nlopt.opt(nlopt.LD_SLSQP, theta.size)
    opt.set_exceptions_enabled(False)
    guard = CallbackGuard(opt)
    point_loss = PointLoss(spec, x, y)

    def objective(th: np.ndarray, grad_out: np.ndarray) -> float:
        if stop is not None and stop.is_set():
            opt.force_stop()
        value, g = point_loss(th)
        d = th[ii] - th[jj]
        root = math.sqrt(float(d @ d) + delta * delta)
        f = value + lam * (root - delta)
        if grad_out.size:
            grad_out[:] = g
            grad_out[ii] += lam * d / root
            grad_out[jj] -= lam * d / root
        if not math.isfinite(f):
            opt.force_stop()
            return math.inf
        if f < best["f"]:
            best["f"], best["x"] = f, th.copy()
        if float(th @ th) > max_norm * max_norm:
            best["runaway"] = True
            opt.force_stop()
        return f

    opt.set_min_objective(guard(objective))
    opt.set_xtol_rel(config.xtol_rel)
    opt.set_maxeval(config.maxeval)
    opt.set_maxtime(config.maxtime)
    guard.optimize(theta.copy())
    reason = "RUNAWAY" if best["runaway"] else NLOPT_RESULTS.get(opt.last_optimize_result(), "UNKNOWN")
    return best["x"], opt.get_numevals(), reason


def _loss(spec: MLPSpec, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(loss(spec, torch.from_numpy(theta), x, y))


# --------------------------------------------------------------------------- step 4: alignment

def _align(spec: MLPSpec, theta_min: np.ndarray, nspec: MLPSpec, ntheta: np.ndarray, layer: int, s: int
           ) -> tuple[np.ndarray, tuple[int, int], float]:
    """The permutation and ``mu`` that bring the saddle line of neuron ``s`` closest to ``theta_min``.

    Returns ``(perm (m,), (p, q), mu)`` with ``perm`` indexing the neurons of
    ``duplicate_neuron(nspec, ntheta, layer, s, mu)`` (module docstring, step 4).
    """
    v, a = incoming_vectors(spec, theta_min, layer), outgoing_weights(spec, theta_min, layer).T      # (m, .)
    vn, cn = incoming_vectors(nspec, ntheta, layer), outgoing_weights(nspec, ntheta, layer).T     # (m-1, .)
    m = len(v)
    c = cn[s]
    cc = float(c @ c)
    others = np.delete(np.arange(m - 1), s)
    # cost[p, u]: position p of theta_min holding narrower neuron u unchanged.
    cost = ((v[:, None] - vn[None]) ** 2).sum(-1) + ((a[:, None] - cn[None]) ** 2).sum(-1)
    best = (math.inf, None, None, 0.5)
    for p in range(m):
        for q in range(p + 1, m):
            mu = 0.5 + float(c @ (a[p] - a[q])) / (2 * cc) if cc > 0 else 0.5
            copies = (float(((v[p] - vn[s]) ** 2).sum() + ((v[q] - vn[s]) ** 2).sum())
                      + float(((a[p] - mu * c) ** 2).sum() + ((a[q] - (1 - mu) * c) ** 2).sum()))
            rest = np.delete(np.arange(m), (p, q))
            sub = cost[np.ix_(rest, others)]
            rows, cols = linear_sum_assignment(sub)
            total = copies + float(sub[rows, cols].sum())
            if total < best[0]:
                perm = np.empty(m, dtype=np.int64)
                perm[p], perm[q] = s, m - 1
                perm[rest[rows]] = others[cols]
                best = (total, perm, (p, q), mu)
    return best[1], best[2], best[3]


def _aligned_point(nspec: MLPSpec, ntheta: np.ndarray, layer: int, s: int, perm: np.ndarray, mu: float) -> np.ndarray:
    """``theta(mu)`` of neuron ``s``'s saddle line, neurons reordered by ``perm``: ``(P,)``."""
    wide, point = duplicate_neuron(nspec, ntheta, layer, s, mu)
    return permute_neurons(wide, point, layer, perm)


def closest_saddle(spec: MLPSpec, theta_min, x, y, layer: int | None = None, pair: tuple[int, int] | None = None,
                   lam: float = 0.1, refine_config: RefineConfig | None = None,
                   tolerances: Tolerances | None = None, merge_config: MergeConfig | None = None,
                   stop: threading.Event | None = None) -> ClosestSaddle:
    """The saddle line of a width-``(m - 1)`` critical point closest to ``theta_min (P,)`` (module docstring).

    ``x (N, d)``, ``y (N, d_out)`` are the data; ``layer`` (1-based) defaults to the last hidden layer,
    ``pair`` to its two closest neurons. Setting ``stop`` cuts the optimisations short: the result
    is then incomplete, with ``narrower.point.status`` ``CANCELLED``.
    """
    t_start = time.perf_counter()
    t, xt, yt = float64_problem(spec, theta_min, x, y)
    theta_min = t.numpy().copy()
    layer = len(spec.hidden_widths) if layer is None else int(layer)
    if pair is None:
        i, j, _ = nearest_neuron_pair(spec, theta_min, layer)
    else:
        i, j = sorted(int(k) for k in pair)
        if i == j or not 0 <= i < j < spec.widths[layer]:
            raise ValueError(f"pair must be two different neurons of hidden layer {layer} "
                             f"(0..{spec.widths[layer] - 1}), got {pair}")
    merge_config = merge_config or MergeConfig()
    tolerances = tolerances or Tolerances()

    v = incoming_vectors(spec, theta_min, layer)
    pulled, evals, reason = _pull_pair_together(spec, theta_min, xt, yt, layer, (i, j), lam, merge_config, stop)
    v_after = incoming_vectors(spec, pulled, layer)
    nspec, merged = merge_neurons(spec, pulled, layer, i, j)
    t_merge = time.perf_counter()
    merge = MergeStats((i, j), float(np.linalg.norm(v[i] - v[j])), float(np.linalg.norm(v_after[i] - v_after[j])),
                       _loss(spec, theta_min, xt, yt), _loss(spec, pulled, xt, yt), _loss(nspec, merged, xt, yt),
                       evals, reason, t_merge - t_start)

    refined = refine(nspec, merged, xt, yt, refine_config or NARROWER_REFINE, stop)
    t_refine = time.perf_counter()
    value, g, h = loss_grad_hessian(nspec, refined.theta, xt, yt)
    eigvals = spectrum(h)[0]
    kind = classify(value, float(np.linalg.norm(g)), eigvals, loss_scale(yt.numpy()), tolerances).kind
    narrower = NarrowerPoint(nspec, dataclasses.replace(refined, loss=value, grad=g, grad_norm=float(np.linalg.norm(g)),
                                                        eigvals=eigvals), kind)

    perm, positions, mu = _align(spec, theta_min, nspec, refined.theta, layer, i)
    origin = _aligned_point(nspec, refined.theta, layer, i, perm, 0.0)
    direction = _aligned_point(nspec, refined.theta, layer, i, perm, 1.0) - origin
    saddle = origin + mu * direction
    _, g_saddle, h_saddle = loss_grad_hessian(spec, saddle, xt, yt)
    t_end = time.perf_counter()
    return ClosestSaddle(
        layer=layer, pair=(i, j), lam=float(lam), narrower=narrower, neuron=i, positions=positions, perm=perm,
        mu=mu, distance=float(np.linalg.norm(saddle - theta_min)), line_origin=origin, line_direction=direction,
        saddle=saddle, saddle_grad_norm=float(np.linalg.norm(g_saddle)), saddle_eigvals=spectrum(h_saddle)[0][:3],
        theta_norm=float(np.linalg.norm(theta_min)), merge=merge,
        seconds={"merge": t_merge - t_start, "refine": t_refine - t_merge, "hessians": t_end - t_refine,
                 "total": t_end - t_start})


def nearest_neuron_distances(source: Session | tuple[MLPSpec, np.ndarray], layer: int | None = None) -> np.ndarray:
    """Smallest distance between two neurons' incoming vectors for every point (thesis Fig 6.7).

    ``source`` is a session (its refined points ``/runs/theta``) or ``(spec, thetas (S, P))``;
    ``layer`` defaults to the last hidden layer. Returns ``(S,)``, NaN for non-finite points
    (:func:`lsexplorer.core.symmetry.operations.nearest_neuron_distances`).
    """
    spec, thetas = (source.spec, source.runs.theta) if isinstance(source, Session) else source
    return symmetry_nearest_neuron_distances(spec, thetas, layer)


# --------------------------------------------------------------------------- symmetry-induced points

@dataclasses.dataclass
class SymmetryInduced:
    """The decision of :func:`symmetry_induced` and the facts it rests on.

    ``is_si`` holds when ``distance <= tolerance`` and the narrower point is a certified critical
    point (``narrower_kind != "not_converged"``). ``corollary`` is the formal verdict of
    :func:`corollary_verdict` where it was run (:func:`closest_saddle_all` runs it for SI points).
    """

    is_si: bool
    distance: float
    tolerance: float
    narrower_kind: str
    neuron: int
    mu: float
    corollary: dict | None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if self.corollary is None:
            del d["corollary"]
        else:
            d["corollary"] = _storable(self.corollary)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SymmetryInduced:
        return cls(**{**d, "corollary": d.get("corollary")})


def _storable(value):
    """``value`` as an ``/analyses`` leaf: dicts recursively, sequences as numpy arrays, scalars as they are."""
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    return np.asarray(value) if isinstance(value, (list, tuple)) else value


def si_tolerance(theta_norm: float, rtol: float = SI_RTOL, atol: float = SI_ATOL) -> float:
    """``max(rtol * ||theta_min||, atol)``: how close to a saddle line counts as on it."""
    return max(rtol * theta_norm, atol)


def symmetry_induced(result: ClosestSaddle, distance_tol: float | None = None) -> SymmetryInduced:
    """Does the point ``result`` started from lie on a saddle line of a narrower critical point?

    Yes when its distance to the closest saddle line is at most ``distance_tol`` (default
    :func:`si_tolerance` of ``||theta_min||``) and the narrower point is a certified critical point.
    The formal verdict (:func:`corollary_verdict`) is left to the caller, as it needs the data.

    :data:`SI_RTOL` says why the default is ``1e-6 * ||theta_min||``.
    """
    tol = si_tolerance(result.theta_norm) if distance_tol is None else float(distance_tol)
    is_si = bool(result.narrower.kind != "not_converged" and result.distance <= tol)
    return SymmetryInduced(is_si, result.distance, tol, result.narrower.kind, result.neuron, result.mu, None)


def corollary_verdict(result: ClosestSaddle, x, y, tolerances: Tolerances | None = None) -> dict:
    """Corollary 3.1/3.2 (Theorem 3) for the narrower point, the duplicated neuron and ``mu*`` of ``result``.

    ``x (N, d)``, ``y (N, d_out)`` are the data. Returns ``lsexplorer.core.saddles.inertia.corollary_check``'s
    dict (its ``verdict`` is for the range of ``mu`` holding ``mu*``).
    """
    n = result.narrower
    return corollary_check(n.spec, n.theta, x, y, result.layer, result.neuron, tolerances or Tolerances(),
                           mu=result.mu)


# --------------------------------------------------------------------------- over a session

#: :func:`closest_saddle_all`'s record: ``done`` of ``total`` points analysed, the last was row ``run``.
ClosestSaddleProgress = Progress


def closest_saddle_all(session: Session, runs: Sequence[int] | None = None, layer: int | None = None,
                       lam: float = 0.1, refine_config: RefineConfig | None = None,
                       tolerances: Tolerances | None = None, merge_config: MergeConfig | None = None,
                       distance_tol: float | None = None, stop: threading.Event | None = None
                       ) -> Generator[ClosestSaddleProgress, None, dict]:
    """:func:`closest_saddle` and :func:`symmetry_induced` for the rows ``runs`` of a session.

    ``runs`` defaults to every certified critical point (:data:`SI_KINDS`); ``tolerances`` to the
    session's. Yields after each point; a set ``stop`` ends it after the current point, which is
    dropped. Returns
    ``{"settings": {...}, "points": {"<row>": ClosestSaddle.to_dict() + {"seed", "symmetry_induced"}}}``
    for :func:`lsexplorer.core.analyses.closest_saddle.store`.
    """
    spec = session.spec
    if runs is None:
        runs = np.flatnonzero(np.isin(session.runs.kind, SI_KINDS))
    tolerances = tolerances or Tolerances.from_dict(session.config["tolerances"])
    layer = len(spec.hidden_widths) if layer is None else int(layer)
    merge_config = merge_config or MergeConfig()
    settings = {"layer": layer, "lam": float(lam), "distance_tol": distance_tol, "si_rtol": SI_RTOL,
                "si_atol": SI_ATOL, "merge": merge_config.to_dict(),
                "refine": (refine_config or NARROWER_REFINE).to_dict(), "tolerances": tolerances.to_dict()}
    points = {}
    start = time.perf_counter()
    for done, row in enumerate(runs, 1):
        if stop is not None and stop.is_set():
            break
        result = closest_saddle(spec, session.runs.theta[row], session.x, session.y, layer, lam=lam,
                                refine_config=refine_config, tolerances=tolerances, merge_config=merge_config,
                                stop=stop)
        if stop is not None and stop.is_set():
            break
        decision = symmetry_induced(result, distance_tol)
        if decision.is_si:
            decision.corollary = corollary_verdict(result, session.x, session.y, tolerances)
        points[str(int(row))] = {**result.to_dict(), "seed": int(session.runs.seed[row]),
                                 "symmetry_induced": decision.to_dict()}
        yield Progress("closest_saddle", done, len(runs), time.perf_counter() - start, run=int(row))
    return {"settings": settings, "points": points}


__all__ = [
    "SI_ATOL",
    "SI_KINDS",
    "SI_RTOL",
    "ClosestSaddle",
    "ClosestSaddleProgress",
    "MergeConfig",
    "MergeStats",
    "NarrowerPoint",
    "SymmetryInduced",
    "closest_saddle",
    "closest_saddle_all",
    "corollary_verdict",
    "nearest_neuron_distances",
    "si_tolerance",
    "symmetry_induced",
]
