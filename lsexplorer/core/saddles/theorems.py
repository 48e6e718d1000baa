"""Theorems 1 and 2 of thesis section 6.2.5: a local minimum within a computable distance of a saddle.

At a saddle ``x*`` with smallest Hessian eigenvalue ``lambda_min < 0``, third directional
derivative ``T(u) = D^3 f(x*)[u, u, u]`` and fourth ``D^4 f(xi)[u, u, u, u]``:

* **Theorem 1** (index 1: one negative eigenvalue, all others positive). Let
  ``B = min max{T(u), T(-u)}`` over unit ``u`` with ``u^T H u <= 0``, and assume ``B > 0`` and
  ``D^4 f(xi)(u) >= 0`` for ``||xi - x*|| < R``, ``||u|| = 1``. If ``-3 lambda_min / B <= R``, a local
  minimum lies within ``-3 lambda_min / B`` of ``x*``.
* **Theorem 2** (any index). Assume ``D^4 f(xi)(u) >= delta > 0`` on the same ball and let
  ``B = min T(u)`` over the unit sphere. If ``r = (2 / delta)(sqrt(B^2 - 3 lambda_min delta) - B) <= R``,
  a local minimum lies within ``r`` of ``x*``.

``T`` is odd, so ``max{T(u), T(-u)} = |T(u)|``, Theorem 1's ``B`` is the minimum of ``T`` over the
half of the cone where ``T >= 0`` (a smooth problem), and Theorem 2's ``B = -max |T| <= 0``. Both are
solved with nlopt's ``LD_SLSQP`` (the thesis' solver) with ``||u||^2 = 1`` as an equality and the
cone as an inequality, from several starts; ``T`` and its gradient ``3 D^3 f(x*)[u, u, .]`` are
exact (repeated reverse-mode autograd). A local solver gives an upper bound of each minimum:
every ``B`` reported is attained at the feasible direction stored with it.

Consequence worth knowing: when ``H`` also has a zero eigenvalue with eigenvector ``e`` (the
thesis' saddles all have one, from the duplicated neuron), ``e`` and ``-e`` lie in the cone and
connect its two halves, so ``T`` changes sign on the cone and Theorem 1's ``B`` is 0: the theorem
cannot apply, whatever the fourth derivative does. The fourth-derivative condition is checked by
sampling (uniform points in the ball, unit directions: Hessian eigenvectors and random ones), as the
thesis did: a negative sample disproves it, non-negative samples only support it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Generator

import nlopt
import numpy as np
import torch
from torch.func import vmap

from ..base.nlopt_guard import CallbackGuard
from ..base.record import Record
from ..landscape.hessian import spectrum
from ..landscape.nets import MLPSpec
from ..landscape.surface import BATCH_BYTES, Landscape, SearchProgress, network_landscape

# --------------------------------------------------------------------------- derivatives

def directional_derivatives(landscape: Landscape, points, directions, order: int) -> np.ndarray:
    """``d^k/dt^k f(xi_i + t u_i)`` at ``t = 0``, ``k = order`` (1..4), for ``points, directions: (K, P)`` -> ``(K,)``;
    ``points (P,)``: every direction at the one point.

    Exact: the landscape's closed form where it has one (one hidden layer,
    :mod:`~lsexplorer.core.landscape.two_layer_jets`, where what depends on a shared point alone is
    computed once), else ``k`` reverse passes, each differentiating the previous one's ``grad . u``
    (classic autograd with ``create_graph``; ``torch.func``'s nested ``jvp`` gives the same numbers but
    costs far more dispatch on these small graphs). Pairs are batched within :data:`escape.BATCH_BYTES`;
    ``directions`` are used as given (not normalised).
    """
    if order not in (1, 2, 3, 4):
        raise ValueError(f"order must be 1, 2, 3 or 4, got {order!r}")
    u = landscape.points(directions)
    shared = np.ndim(points) == 1
    xi = landscape.points(points)
    if shared:
        xi = xi[0] if landscape.batch_directional is not None else xi.expand(len(u), -1)
    elif xi.shape != u.shape:
        raise ValueError(f"points {tuple(xi.shape)} and directions {tuple(u.shape)} must pair up")
    if landscape.batch_directional is not None:  # a closed form: one forward pass of order + 1 products
        rows = int(max(1, BATCH_BYTES // (4 * (order + 1) * landscape.tangent_bytes)))
        with torch.no_grad():
            return np.concatenate([landscape.batch_directional(xi if shared else xi[i:i + rows], u[i:i + rows],
                                                               order).numpy()
                                   for i in range(0, len(u), rows)])
    rows = int(max(1, BATCH_BYTES // (2 ** order * landscape.tangent_bytes)))
    return np.concatenate([_along(landscape, xi[i:i + rows], u[i:i + rows], order)[0].numpy()
                           for i in range(0, len(xi), rows)])


def _along(landscape: Landscape, xi: torch.Tensor, u: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(D^k f(xi_i)[u_i, ..., u_i] (K,), D^k f(xi_i)[u_i, ..., u_i, .] (K, P))`` for ``xi, u: (K, P)``."""
    with torch.enable_grad():
        x = xi.detach().clone().requires_grad_(True)
        value = vmap(landscape.fn)(x).sum()  # rows are independent: the gradient of the sum is per row
        for k in range(order):
            (g,) = torch.autograd.grad(value, x, create_graph=k < order - 1)
            value = (g * u).sum()
    g = g.detach()
    return (g * u).sum(1), g


def third_derivative(landscape: Landscape, theta):
    """``u (P,) -> (T(u), grad T(u) (P,))`` with ``T(u) = D^3 f(theta)[u, u, u]``, exact.

    The third reverse pass gives ``D^3 f(theta)[u, u, .]``; its dot with ``u`` is ``T(u)`` and three
    times it is ``grad T`` (``T`` is a symmetric cubic form). The landscape's closed form of ``T``
    and its gradient is used where it has one.
    """
    t = landscape.points(theta)

    def value_and_gradient(u: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = _along(landscape, t, torch.tensor(u, dtype=torch.float64)[None], 3)
        with np.errstate(over="ignore"):  # the optimiser may probe far off the unit sphere; inf is an answer
            return float(value[0]), 3.0 * g[0].numpy()

    if landscape.cubic_form is not None:
        return landscape.cubic_form(t[0].numpy())
    return value_and_gradient


# --------------------------------------------------------------------------- records

@dataclasses.dataclass
class ThirdDerivativeBounds(Record):
    """``B1 = min |T|`` over the cone (Theorem 1; NaN when there is no negative curvature) and
    ``B2 = min T`` over the sphere (Theorem 2), each with a unit direction ``(P,)`` of the cone or
    sphere attaining it; ``*_starts``: how many local solves each took. Local solves: both are upper
    bounds of the true minima."""

    b1: float
    b1_direction: np.ndarray
    b1_starts: int
    b2: float
    b2_direction: np.ndarray
    b2_starts: int


@dataclasses.dataclass
class FourthDerivativeSample(Record):
    """``D^4 f(xi)[u, u, u, u]`` sampled at ``n_points`` points ``xi`` of the ball of ``radius`` around
    ``x*`` (``x*`` itself first) times ``n_directions`` unit ``u``: the minimum over all samples, its
    ``argmin_offset = xi - x*`` and ``argmin_direction`` ``(P,)``, the minimum at ``x*`` alone, the
    fraction of negative samples and ``delta`` (the sampled minimum: the largest ``delta`` the samples
    allow)."""

    radius: float
    n_points: int
    n_directions: int
    minimum: float
    minimum_at_center: float
    fraction_negative: float
    delta: float
    argmin_offset: np.ndarray
    argmin_direction: np.ndarray


@dataclasses.dataclass
class Theorem1Verdict(Record):
    """Theorem 1's assumptions (index 1 with no zero eigenvalue, ``B1 > 0``, sampled fourth derivative
    ``>= 0``), its distance ``-3 lambda_min / B1`` and whether it is ``<= radius`` (``holds``:
    assumptions and bound both met); ``reason`` says which part failed."""

    index_one: bool
    b_positive: bool
    fourth_nonnegative: bool
    assumptions_hold: bool
    distance: float
    radius: float
    holds: bool
    reason: str


@dataclasses.dataclass
class Theorem2Verdict(Record):
    """Theorem 2's assumptions (a saddle, sampled ``delta > 0``), its ``r`` and whether ``r <= radius``.

    ``delta`` is the sampled minimum of ``D^4 f``, an upper bound of the true one over the ball, so
    ``r`` is optimistic: a ``holds`` rests on the samples, a failure of ``delta > 0`` is certain."""

    saddle: bool
    delta_positive: bool
    assumptions_hold: bool
    r: float
    radius: float
    holds: bool
    reason: str


@dataclasses.dataclass
class TheoremReport(Record):
    """Everything :func:`theorem_report` computed at one point, stored under ``/analyses``.

    ``eigenvalues: (P,)`` ascending; eigenvalues with ``|lambda| <= zero_tol`` count as zero.
    ``stop_reason``: ``completed``, ``max_seconds`` or ``cancelled`` (then no theorem ``holds``).
    """

    loss: float
    grad_norm: float
    eigenvalues: np.ndarray
    zero_tol: float
    n_negative: int
    n_zero: int
    n_positive: int
    lambda_min: float
    third: ThirdDerivativeBounds
    fourth: FourthDerivativeSample
    theorem1: Theorem1Verdict
    theorem2: Theorem2Verdict
    stop_reason: str
    elapsed: float


# --------------------------------------------------------------------------- the computation

class _Budget:
    """Stop event and safety cap shared by the stages of one report.

    The work each stage does is fixed by counts (starts, evaluations, sample points), so a report
    does not depend on the machine's speed or load; ``max_seconds`` (None: none) only ends a report
    that runs far longer than expected, which is then reported as ``max_seconds``.
    """

    def __init__(self, max_seconds: float | None, stop: threading.Event | None):
        self.deadline = math.inf if max_seconds is None else time.monotonic() + max_seconds
        self.stop, self.reason = stop, "completed"

    def over(self) -> bool:
        if self.reason == "completed":
            if self.stop is not None and self.stop.is_set():
                self.reason = "cancelled"
            elif time.monotonic() > self.deadline:
                self.reason = "max_seconds"
        return self.reason != "completed"


def _slsqp_on_sphere(third, u0: np.ndarray, cone: np.ndarray | None, budget: _Budget, maxeval: int) -> np.ndarray:
    """Minimise ``T(u)`` from ``u0`` subject to ``||u||^2 = 1`` and, with ``cone`` (``H / max|lambda|``),
    ``u^T cone u <= 0`` and ``T(u) >= 0``; returns nlopt's final ``u`` (feasibility checked by the caller)."""
    cache: dict[bytes, tuple[float, np.ndarray]] = {}
    opt = nlopt.opt(nlopt.LD_SLSQP, u0.size)
    opt.set_exceptions_enabled(False)
    guard = CallbackGuard(opt)

    def t_of(u: np.ndarray) -> tuple[float, np.ndarray]:
        key = u.tobytes()
        if key not in cache:
            if budget.over():
                opt.force_stop()
            cache.clear()
            cache[key] = third(u)
        return cache[key]

    def objective(u, g):
        value, gu = t_of(u)
        if g.size:
            g[:] = gu
        return value

    def sphere(u, g):
        if g.size:
            g[:] = 2 * u
        return float(u @ u) - 1.0

    opt.set_min_objective(guard(objective))
    opt.add_equality_constraint(guard(sphere), 1e-12)
    if cone is not None:
        def in_cone(u, g):
            if g.size:
                g[:] = 2 * cone @ u
            return float(u @ cone @ u)

        def t_nonnegative(u, g):
            value, gu = t_of(u)
            if g.size:
                g[:] = -gu
            return -value

        opt.add_inequality_constraint(guard(in_cone), 1e-12)
        opt.add_inequality_constraint(guard(t_nonnegative), 1e-14)
    opt.set_xtol_rel(1e-12)
    opt.set_maxeval(maxeval)
    if math.isfinite(budget.deadline):
        opt.set_maxtime(max(budget.deadline - time.monotonic(), 1e-3))
    u = guard.optimize(u0.copy())
    return u if np.isfinite(u).all() else u0


def _cone_starts(lam: np.ndarray, vecs: np.ndarray, n_random: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Unit vectors with ``u^T H u <= 0``: the negative-curvature eigenvectors (at most 8) and random
    points of the cone (Gaussian in the eigenbasis, positive-curvature part shrunk into the cone)."""
    neg = lam < 0
    starts = [vecs[:, i] for i in np.flatnonzero(neg)[:8]]
    for _ in range(n_random):
        c = rng.normal(size=lam.size)
        down, up = float(-(lam[neg] * c[neg] ** 2).sum()), float((lam[lam > 0] * c[lam > 0] ** 2).sum())
        if up > down:
            c[lam > 0] *= math.sqrt(down / up * rng.uniform())
        starts.append(vecs @ c / np.linalg.norm(c))
    return starts


def _fourth_sample(landscape: Landscape, theta: np.ndarray, vecs: np.ndarray, radius: float, n_points: int,
                   n_random_directions: int, max_eigvecs: int, rng: np.random.Generator, budget: _Budget
                   ) -> Generator[SearchProgress, None, FourthDerivativeSample]:
    """Sample ``D^4 f`` (see :class:`FourthDerivativeSample`); eigenvectors: the ``max_eigvecs`` of the
    smallest eigenvalues."""
    p = theta.size
    z = rng.normal(size=(n_points - 1, p))
    radii = radius * rng.uniform(size=(n_points - 1, 1)) ** (1.0 / p)     # uniform in the ball
    offsets = np.concatenate([np.zeros((1, p)), radii * z / np.linalg.norm(z, axis=1, keepdims=True)])
    rand = rng.normal(size=(n_random_directions, p))
    dirs = np.concatenate([vecs[:, :max_eigvecs].T, rand / np.linalg.norm(rand, axis=1, keepdims=True)])
    values = np.full((n_points, len(dirs)), np.nan)
    start = time.perf_counter()
    for i in range(n_points):
        if budget.over():
            break
        values[i] = directional_derivatives(landscape, theta + offsets[i], dirs, 4)
        yield SearchProgress("fourth_derivative", i + 1, n_points, time.perf_counter() - start)
    done = values[np.isfinite(values).all(axis=1)]
    if done.size == 0:
        return FourthDerivativeSample(radius, 0, len(dirs), np.nan, np.nan, np.nan, np.nan, np.full(p, np.nan),
                                      np.full(p, np.nan))
    i, j = np.unravel_index(np.argmin(done), done.shape)
    return FourthDerivativeSample(radius, len(done), len(dirs), float(done[i, j]), float(done[0].min()),
                                  float((done < 0).mean()), float(done[i, j]), offsets[i], dirs[j])


def _verdicts(lam_min: float, n_neg: int, n_zero: int, third: ThirdDerivativeBounds, fourth: FourthDerivativeSample,
              radius: float, b_rel_tol: float, complete: bool) -> tuple[Theorem1Verdict, Theorem2Verdict]:
    """Both theorems' verdicts from the computed quantities (see the records)."""
    b_tol = b_rel_tol * abs(third.b2) if np.isfinite(third.b2) else math.inf
    index_one, b_pos = n_neg == 1 and n_zero == 0, bool(third.b1 > b_tol)
    fourth_ok = bool(fourth.minimum >= 0)
    ok1 = index_one and b_pos and fourth_ok and complete
    distance = -3 * lam_min / third.b1 if b_pos and lam_min < 0 else math.inf
    reason1 = ("search incomplete" if not complete else
               f"not index 1 ({n_neg} negative, {n_zero} zero eigenvalues)" if not index_one else
               f"B = {third.b1:.3g} is not positive" if not b_pos else
               f"sampled D^4 f reaches {fourth.minimum:.3g} < 0 within R" if not fourth_ok else
               f"distance {distance:.3g} exceeds R = {radius:.3g}" if distance > radius else
               f"local minimum within {distance:.3g}")
    t1 = Theorem1Verdict(index_one, b_pos, fourth_ok, ok1, distance, radius, ok1 and distance <= radius, reason1)

    saddle, delta_pos = n_neg >= 1, bool(fourth.delta > 0)
    ok2 = saddle and delta_pos and complete
    r = (2 / fourth.delta) * (math.sqrt(third.b2 ** 2 - 3 * lam_min * fourth.delta) - third.b2) if ok2 else math.inf
    reason2 = ("search incomplete" if not complete else
               "not a saddle (no negative eigenvalue)" if not saddle else
               f"delta = {fourth.delta:.3g} is not positive" if not delta_pos else
               f"r = {r:.3g} exceeds R = {radius:.3g}" if r > radius else f"local minimum within {r:.3g}")
    t2 = Theorem2Verdict(saddle, delta_pos, ok2, r, radius, ok2 and r <= radius, reason2)
    return t1, t2


def theorem_report(landscape: Landscape, theta, radius: float, zero_tol: float | None = None,
                   n_random_starts: int = 8, maxeval: int = 300, n_points: int = 32, n_random_directions: int = 16,
                   max_eigvecs: int = 16, b_rel_tol: float = 1e-6, seed: int = 0, max_seconds: float | None = None,
                   stop: threading.Event | None = None) -> Generator[SearchProgress, None, TheoremReport]:
    """Check Theorems 1 and 2 at the critical point ``theta: (P,)`` of ``landscape`` with ball radius ``radius``.

    ``zero_tol``: eigenvalues with ``|lambda| <= zero_tol`` are zero (default ``1e-9 max|lambda|``).
    ``n_random_starts`` random starts besides the negative-curvature eigenvectors, at most ``maxeval``
    evaluations each. ``B1 <= b_rel_tol * max|T|`` counts as zero. The fourth derivative is sampled at
    ``n_points`` points of the ball times ``max_eigvecs`` eigenvectors plus ``n_random_directions``
    random directions. These counts fix the work, so the report is the same on any machine and
    load. Yields progress per solve and per sample point; stops when ``stop`` is set, or at the
    safety cap ``max_seconds`` (None: none), reporting what it has with ``stop_reason`` set and no
    theorem holding.
    """
    start = time.perf_counter()
    if not radius > 0:
        raise ValueError(f"the radius R must be positive, got {radius}")
    budget, rng = _Budget(max_seconds, stop), np.random.default_rng(seed)
    theta = landscape.points(theta)[0].numpy()
    value, g, h = landscape.value_grad_hessian(theta)
    lam, vecs = spectrum(h)
    scale = float(np.abs(lam).max()) or 1.0
    zero_tol = 1e-9 * scale if zero_tol is None else zero_tol
    n_neg, n_zero = int((lam < -zero_tol).sum()), int((np.abs(lam) <= zero_tol).sum())
    third = third_derivative(landscape, theta)
    total = 2 * n_random_starts + 2 * min(int((lam < 0).sum()), 8) + n_points

    def solve(starts: list[np.ndarray], cone: np.ndarray | None, done: int):
        """Smallest objective over the starts and their solves, and where: ``|T|`` on the cone (any
        direction of the cone bounds Theorem 1's ``B`` from above), ``T`` on the sphere."""
        best = (math.inf, np.full(theta.size, np.nan))
        for k, u0 in enumerate(starts):
            if budget.over():
                break
            u0 = u0 if (third(u0)[0] >= 0) == (cone is not None) else -u0  # the half each problem keeps
            for u in (u0, _slsqp_on_sphere(third, u0, cone, budget, maxeval)):
                u = u / np.linalg.norm(u)
                value = third(u)[0]
                value = abs(value) if cone is not None else value
                if (cone is None or u @ cone @ u <= 1e-9) and value < best[0]:
                    best = (value, u)
            yield SearchProgress("third_derivative", done + k + 1, total, time.perf_counter() - start)
        return best, len(starts)

    if (lam < 0).any():
        (b1, u1), n1 = yield from solve(_cone_starts(lam, vecs, n_random_starts, rng), h / scale, 0)
    else:
        b1, u1, n1 = math.nan, np.full(theta.size, np.nan), 0
    sphere_starts = [vecs[:, i] for i in range(min(int((lam < 0).sum()), 8))]
    sphere_starts += [s / np.linalg.norm(s) for s in rng.normal(size=(n_random_starts, theta.size))]
    (b2, u2), n2 = yield from solve(sphere_starts, None, n1)

    def finite(b: float) -> float:
        return float(b) if math.isfinite(b) else math.nan  # inf: no feasible direction was reached

    bounds = ThirdDerivativeBounds(finite(b1), u1, n1, finite(b2), u2, n2)
    fourth = yield from _fourth_sample(landscape, theta, vecs, radius, n_points, n_random_directions, max_eigvecs,
                                       rng, budget)
    t1, t2 = _verdicts(float(lam[0]), n_neg, n_zero, bounds, fourth, radius, b_rel_tol, budget.reason == "completed")
    return TheoremReport(float(value), float(np.linalg.norm(g)), lam, float(zero_tol), n_neg, n_zero,
                         lam.size - n_neg - n_zero, float(lam[0]), bounds, fourth, t1, t2, budget.reason,
                         time.perf_counter() - start)


def saddle_theorem_report(spec: MLPSpec, theta, x, y, radius: float, stop: threading.Event | None = None,
                          **options) -> Generator[SearchProgress, None, TheoremReport]:
    """:func:`theorem_report` for the loss of network ``spec`` on ``x: (N, d)``, ``y: (N, d_out)``."""
    return theorem_report(network_landscape(spec, x, y), theta, radius, stop=stop, **options)


__all__ = ["directional_derivatives", "third_derivative", "ThirdDerivativeBounds", "FourthDerivativeSample",
           "Theorem1Verdict", "Theorem2Verdict", "TheoremReport", "theorem_report", "saddle_theorem_report"]
