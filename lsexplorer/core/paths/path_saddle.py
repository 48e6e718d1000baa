"""What the highest point of a minimum-energy path is: a certified critical point, finite or at infinity.

The climbing image of a band sits near the band's saddle only to the band's force tolerance, and on
these networks a saddle search from there often stalls (``||grad L||`` 1e-8..1e-5), for two reasons:

* the critical points are **degenerate** (a neuron switched off, a duplicated neuron, symmetry
  directions): Newton's null-space steps are arbitrary. Levenberg–Marquardt on ``grad L = 0``
  (:mod:`.critical_lm`) converges onto such a critical manifold;
* the saddle lies **at infinity**, at the end of a flat channel (Martinelli et al. 2025, arXiv
  2506.14951): two neurons' incoming vectors close in as ``v / A`` while their outgoing weights
  ``c/2 +- A`` grow with opposite signs, the pair tending to the gated linear unit
  ``c sigma(u . x) + (v . x) sigma'(u . x)``. No finite point has ``grad L = 0``; the critical point
  belongs to the finite *limit model* (:mod:`.channel_model`), whose gradient and exact Hessian are
  certified instead. Its index is the number of descent directions across the channel; along the
  channel the network's loss approaches ``L_inf``.

:func:`resolve_highest_point` tries, in this order, and keeps the first candidate that is certified
(``||grad|| <= grad_tol`` in float64) **and** whose loss lies in the band's barrier range, i.e.
between the higher end point and the band's highest image, widened by ``range_slack`` of the
barrier (a critical point outside that range is not the saddle of this band):

1. the saddle search's end point (``route = "direct"``);
2. Levenberg–Marquardt on the network from the search's end and from the climbing image (``"lm"``);
3. the narrower net through a saddle line (:func:`symmetry_reduced_saddle`, ``"merged L:i,j"``);
4. the limit model of the nearest neuron pairs with outgoing weights of opposite sign, refined by
   Levenberg–Marquardt (``"channel i+j"``), then checked on the network itself: along the channel
   :func:`channel_model.realise` builds towards the limit, the network's loss must approach
   ``L_inf`` and its gradient norm must fall; then, for the sigmoid and tanh, the limit model of the
   nearest sign-flipped pairs (``w_i ~ -w_j``, outgoing weights of the same sign), two at a time when
   their constants must cancel, with the free constant they leave (:mod:`..channels.flipped_pairs`,
   ``"channel i-j & k-l"``), checked on networks of the point's own width that realise it; then, where
   three neurons close in, the second-order limit of the nearest triples (a curvature of rank one), then of the
   nearest groups of four (rank two, in two or more inputs), each alone and with the nearest pair
   (:mod:`..channels.group_limit`, ``"channel i+j-k & l-m"``, ``-`` a member that enters sign-flipped), checked
   on networks of the point's own width where the flips can hold the free constant; then the pair nearest zero
   incoming weight as an affine group (the limit's free constant and linear term), alone and with the nearest
   opposite-sign or sign-flipped pair (``"channel affine i,j & k-l"``). A candidate whose Levenberg–Marquardt run
   stalls with its gradient in the Hessian's null space is reported as a fold (no critical point nearby).
   Every channel is checked on the corrected networks of :func:`..channels.channel_polish.polish_along_channel`
   (at each amplitude the limit point moved by ``O(1/A)`` so that the network is stationary in every direction
   the realiser spans): the symmetric stencil that realises a second-order unit misses it by ``O(1/A)``, which
   outgoing weights of order ``A`` turn into an ``O(1)`` gradient, and a pair's ``O(1/A^2)`` miss leaves a
   gradient that falls only like ``1/A``; the corrected networks' ``||grad L||`` falls like ``A^(-2)``
   (second-order unit) or ``A^(-3)`` (pairs) to float64's floor, and a channel is accepted only where it is at
   most :data:`APPROACH_GRAD_TOL` times the loss scale at the largest amplitude (the reason gives it, and the
   plain realisation's, there).

Every certificate is re-checked independently by central finite differences of the gradient: the
Hessian's relative error and the inertia of the finite-difference Hessian (:func:`fd_check`).
The result is a :class:`SaddleOutcome`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import threading
from collections.abc import Callable

import numpy as np

from ..base.classify import Tolerances, classify, loss_scale
from ..base.record import Record
from ..base.refined import Status
from ..channels.channel_polish import APPROACH_GRAD_TOL, network_spec, polish_along_channel
from ..channels.flat_channel import _network_loss
from ..channels.flipped_pairs import flipped_candidates, flipped_pair_limit, realise_flipped
from ..channels.group_limit import FLIP_CONSTANT, group_candidates, group_limit, moments, own_width_realiser
from ..channels.limit_model import (
    AT_ZERO,
    LimitParams,
    LimitStructure,
    limit_loss_grad_hessian,
    pack,
    realise,
    unpack,
)
from ..critical.critical_lm import FOLD_RATIO, critical_point_lm, fold_ratio
from ..landscape import symmetric_eigen
from ..landscape.hessian import loss_grad_hessian, spectrum
from ..landscape.nets import MLPSpec
from ..landscape.slices import batched_loss
from ..landscape.surface import network_landscape
from ..symmetry.operations import (
    duplicate_neuron,
    merge_neurons,
    nearest_neuron_pair,
    outgoing_weights,
    permute_neurons,
)
from .saddle_search import SaddleConfig, find_saddle

_EPS = float(np.finfo(np.float64).eps)

#: What a path's highest point turned out to be (``SaddleOutcome.outcome``).
OUTCOMES = ("saddle", "symmetry_induced", "channel", "not_certified")


@dataclasses.dataclass
class SaddleOutcome(Record):
    """The classification of a path's highest point.

    outcome: one of :data:`OUTCOMES`: ``saddle`` (a finite certified critical point of the network),
    ``symmetry_induced`` (certified through the narrower net, on a saddle line), ``channel`` (a
    certified critical point of a flat channel's limit model: at infinity), ``not_certified``.
    index, n_zero: negative and (near-)zero Hessian eigenvalues of the certified point (the limit
    model's for a channel); -1, 0 when not certified. loss, grad_norm, eigvals (Q,): of the certified
    point (for a channel ``L_inf`` and the limit model's gradient and spectrum). route: how it was
    found (module docstring). in_range: its loss lies in the band's barrier range [range_low,
    range_high]. fd_hessian_error: ``max|H - H_fd| / max|H|``; fd_index: negative eigenvalues of the
    symmetrised finite-difference Hessian (tolerance as for the exact one). theta (P,): the certified
    network point (for a channel: the search's end, where the band was heading). For a channel:
    pair (2G,) the network neurons that merge, pair by pair, limit_structure (JSON), limit_phi (Q,), and along
    the realised channel approach_amplitude (K,), approach_loss (K,), approach_grad (K,) (the
    network's loss and gradient norm). reason: one line.
    """

    outcome: str
    index: int
    n_zero: int
    loss: float
    grad_norm: float
    eigvals: np.ndarray
    route: str
    in_range: bool
    range_low: float
    range_high: float
    fd_hessian_error: float
    fd_index: int
    theta: np.ndarray
    pair: np.ndarray
    limit_structure: str
    limit_phi: np.ndarray
    approach_amplitude: np.ndarray
    approach_loss: np.ndarray
    approach_grad: np.ndarray
    reason: str

    @property
    def certified(self) -> bool:
        return self.outcome != "not_certified"

    @property
    def index1(self) -> bool:
        return self.certified and self.index == 1


def outcome_label(o: SaddleOutcome | None) -> str:
    """A short phrase for a person: e.g. ``index-1 saddle``, ``index-1 saddle at infinity (channel 2+3)``."""
    if o is None:
        return "no saddle search"
    if not o.certified:
        return f"not certified: {o.reason}"
    what = "minimum" if o.index == 0 else f"index-{o.index} saddle"
    if o.outcome == "channel":
        return f"{what} at infinity ({o.route})"
    if o.outcome == "symmetry_induced":
        return f"symmetry-induced {what} ({o.route})"
    return what + ("" if o.route == "direct" else f" ({o.route})")


ValueGradHessian = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def fd_check(value_grad_hessian: ValueGradHessian, theta, zero_eig_tol: float, step: float = 1e-5) -> tuple[float, int]:
    """``(max|H - H_fd| / max|H|, negative eigenvalues of H_fd)`` with ``H_fd`` from central
    differences of the gradient, step ``step * max(1, |theta_k|)``."""
    theta = np.asarray(theta, dtype=np.float64)
    _, _, h = value_grad_hessian(theta)
    cols = []
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = step * max(1.0, abs(theta[k]))
        cols.append((value_grad_hessian(theta + e)[1] - value_grad_hessian(theta - e)[1]) / (2 * e[k]))
    h_fd = np.stack(cols, axis=1)
    h_fd = 0.5 * (h_fd + h_fd.T)
    err = float(np.abs(h - h_fd).max() / max(np.abs(h).max(), 1e-300))
    return err, int((symmetric_eigen.eigvalsh(h_fd) < -zero_eig_tol).sum())


def _empty(**kw) -> SaddleOutcome:
    base = {"outcome": "not_certified", "index": -1, "n_zero": 0, "loss": math.nan, "grad_norm": math.nan,
            "eigvals": np.zeros(0), "route": "", "in_range": False, "range_low": math.nan, "range_high": math.nan,
            "fd_hessian_error": math.nan, "fd_index": -1, "theta": np.zeros(0), "pair": np.zeros(0, np.int64),
            "limit_structure": "", "limit_phi": np.zeros(0), "approach_amplitude": np.zeros(0),
            "approach_loss": np.zeros(0), "approach_grad": np.zeros(0), "reason": ""}
    base.update(kw)
    return SaddleOutcome(**base)


def _certify(vgh: ValueGradHessian, point, y_scale: float, tolerances: Tolerances, low: float, high: float,
             **kw) -> SaddleOutcome:
    """A :class:`SaddleOutcome` for ``point`` (of ``vgh``) from an independent evaluation there; ``kw``
    the other fields."""
    point = np.asarray(point, dtype=np.float64)
    value, g, h = vgh(point)
    gnorm = float(np.linalg.norm(g))
    eig = symmetric_eigen.eigvalsh(h) if np.isfinite(h).all() else np.full(len(g), np.nan)
    c = classify(value, gnorm, eig, y_scale, tolerances)
    certified = bool(math.isfinite(value) and gnorm <= tolerances.grad_tol and np.isfinite(eig).all())
    in_range = bool(low <= value <= high)
    out = _empty(index=c.n_negative if certified else -1, n_zero=c.n_zero, loss=float(value), grad_norm=gnorm,
                 eigvals=eig, in_range=in_range, range_low=low, range_high=high, **kw)
    if certified and in_range:
        out.fd_hessian_error, out.fd_index = fd_check(vgh, point, c.zero_eig_tol)
    return out


# --------------------------------------------------------------------------- channels

def channel_pairs(spec: MLPSpec, theta, limit: int = 2) -> list[tuple[int, int]]:
    """Up to ``limit`` neuron pairs of a two-layer net with outgoing weights of opposite sign, nearest
    incoming vectors first; ``[]`` for nets the limit model does not cover."""
    return _opposite_pairs(spec, theta)[:limit]


def channel_candidates(spec: MLPSpec, theta, limit: int = 2) -> list[list[tuple[int, int]]]:
    """The sets of pairs whose limit models are tried: each of the ``limit`` nearest opposite-sign
    pairs alone, then each with the nearest opposite-sign pair disjoint from it (two channels at once:
    a limit model whose own critical point runs off is heading into a second channel)."""
    pairs = _opposite_pairs(spec, theta)
    out = [[p] for p in pairs[:limit]]
    for p in pairs[:limit]:
        other = next((q for q in pairs if not set(q) & set(p)), None)
        if other is not None and sorted([p, other]) not in out:
            out.append(sorted([p, other]))
    return out


def _opposite_pairs(spec: MLPSpec, theta) -> list[tuple[int, int]]:
    if len(spec.hidden_widths) != 1 or spec.d_out != 1 or spec.bias:
        return []
    m, d = spec.hidden_widths[0], spec.d_in
    theta = np.asarray(theta, dtype=np.float64)
    w, a = theta[:m * d].reshape(m, d), theta[m * d:m * d + m]
    pairs = sorted((float(np.linalg.norm(w[i] - w[j])), i, j) for i in range(m) for j in range(i + 1, m)
                   if a[i] * a[j] < 0)
    return [(i, j) for _, i, j in pairs]


def pair_limit(spec: MLPSpec, theta, pairs: list[tuple[int, int]]) -> tuple[LimitStructure, np.ndarray]:
    """The limit model with each pair ``(i, j)`` of ``pairs`` (disjoint) of a two-layer net replaced by
    one gated linear unit.

    Its parameters are the pair's moments (:mod:`.channel_model`): ``c = a_i + a_j``, ``u`` the
    ``|a|``-weighted mean of ``w_i, w_j`` and ``v = a_i (w_i - u) + a_j (w_j - u)``; the other
    neurons are kept. Exact in the limit ``A -> inf`` along the channel, ``O(1/A^2)`` before.
    """
    m, d = spec.hidden_widths[0], spec.d_in
    theta = np.asarray(theta, dtype=np.float64)
    w, a = theta[:m * d].reshape(m, d), theta[m * d:m * d + m]
    merged = {k for p in pairs for k in p}
    keep = [k for k in range(m) if k not in merged]
    us, cs, vs = [], [], []
    for i, j in pairs:
        weights = np.abs(a[[i, j]])
        u = (weights[0] * w[i] + weights[1] * w[j]) / max(float(weights.sum()), 1e-300)
        us.append(u)
        cs.append(a[i] + a[j])
        vs.append(a[i] * (w[i] - u) + a[j] * (w[j] - u))
    structure = LimitStructure(d=d, activation=spec.activation, n_finite=len(keep), n_glu=len(pairs),
                               constant=False, linear=False)
    params = LimitParams(w[keep].reshape(-1, d), a[keep], np.array(us), np.array(cs), np.array(vs), 0.0,
                         np.zeros(d))
    return structure, pack(structure, params)


#: Outgoing amplitudes at which a certified channel is realised as a network and checked.
APPROACH_AMPLITUDES = (10.0, 30.0, 100.0, 300.0, 1000.0)


def channel_saddle(spec: MLPSpec, x, y, theta, tolerances: Tolerances, low: float, high: float,
                   max_steps: int = 150, stop: threading.Event | None = None, heading=None) -> SaddleOutcome | None:
    """The first certified in-range critical point of a pair's limit model (module docstring, step 4).

    The groups of three and four are read off ``heading (P,)`` when given (the saddle search's end: where the band
    was going; the network's nearest near-critical point may have left that channel), else off ``theta``.
    """
    x64, y64 = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64).reshape(-1)
    y_scale = loss_scale(y64[:, None])
    tried = []
    heading = theta if heading is None else heading
    candidates = [(pairs, "pairs", theta) for pairs in channel_candidates(spec, theta)]
    candidates += [(pairs, "flipped", theta) for pairs in flipped_candidates(spec, theta)]
    if spec.activation in AT_ZERO and len(spec.hidden_widths) == 1 and spec.d_out == 1 and not spec.bias:
        # three neurons closing in keep a rank-one curvature; four, in two or more inputs, one of rank two
        sizes = (3, 4) if spec.d_in >= 2 else (3,)
        candidates += [(groups, "groups", heading) for size in sizes
                       for groups in group_candidates(_incoming(spec, heading), spec.activation, size)]
        candidates += [(groups, "affine", heading) for groups in affine_candidates(spec, heading)]
    for pairs, how, start in candidates:
        if stop is not None and stop.is_set():
            return None
        name, structure, phi0, realiser = _limit_candidate(spec, start, pairs, how)

        def vgh(p, structure=structure):
            return limit_loss_grad_hessian(structure, p, x64, y64)

        lm = critical_point_lm(vgh, phi0, max_steps, stop)
        out = _certify(vgh, lm.theta, y_scale, tolerances, low, high, outcome="channel", route=f"channel {name}",
                       theta=np.asarray(start, dtype=np.float64).copy(),
                       pair=np.array([k for g in pairs for k in g], dtype=np.int64),
                       limit_structure=_json(structure), limit_phi=lm.theta)
        if out.index < 0:
            tried.append(f"{name}: |grad| {out.grad_norm:.1e}, L_inf {out.loss:.4e}{_fold_note(vgh, lm)}")
            continue
        if not out.in_range:
            tried.append(f"{name}: limit certified (|grad| {out.grad_norm:.1e}) but L_inf {out.loss:.4e} lies outside "
                         f"the band's barrier range [{low:.4e}, {high:.4e}]")
            continue
        amps = np.array(APPROACH_AMPLITUDES)
        approach = _approach(realiser, structure, lm.theta, amps, x64, y64)
        out.approach_amplitude, out.approach_loss, out.approach_grad, stencil_grad = amps, *approach
        excess = np.abs(out.approach_loss - out.loss)
        limit = APPROACH_GRAD_TOL * y_scale
        if not _approaches(excess, out.approach_grad, out.loss, limit):
            # a limit with v = 0 is a plain neuron: every realised point is the same function, a finite
            # critical point on the saddle line of the duplicated neuron (split c/2 +- A)
            line = None if how != "pairs" else _on_saddle_line(spec, x64, y64, structure, lm.theta, pairs,
                                                               y_scale, tolerances, low, high, name)
            if line is not None:
                return line
            tried.append(f"{name}: the realised channel does not approach the limit")
            continue
        if not out.approach_grad[-1] <= limit:
            tried.append(f"{name}: limit certified (L_inf {out.loss:.4e}) but the corrected network's |grad| "
                         f"{out.approach_grad[-1]:.1e} at A = {amps[-1]:g} exceeds {limit:.1e}")
            continue
        corrected = "" if stencil_grad is None else f" (corrected; plain realisation {stencil_grad[-1]:.1e})"
        out.reason = (f"limit model of neurons {name} certified: L_inf {out.loss:.6e}, |grad| {out.grad_norm:.1e}; "
                      f"network along the channel: L - L_inf {excess[-1]:.1e}, |grad| {out.approach_grad[-1]:.1e}"
                      f"{corrected} at A = {amps[-1]:g}")
        return out
    return None if not tried else _empty(reason="no channel limit certifies (" + "; ".join(tried) + ")")


def _approach(realiser, structure: LimitStructure, phi, amps, x, y):
    """Loss ``(K,)`` and gradient norm ``(K,)`` of the corrected networks of
    :func:`..channels.channel_polish.polish_along_channel` towards ``phi``, one per amplitude, and the plain
    realisation's gradient norms ``(K,)``; where the realiser changes the network's width near ``phi`` the plain
    points themselves, and None for the third."""
    try:
        points = polish_along_channel(realiser, structure, phi, amps, x, y)
        return (np.array([p.loss for p in points]), np.array([p.grad_norm for p in points]),
                np.array([p.stencil_grad_norm for p in points]))
    except ValueError:
        pass
    losses, grads = [], []
    for amp in amps:
        theta = realiser(structure, phi, amp)
        wide = network_spec(structure, theta)
        losses.append(_network_loss(wide, theta, x, y))
        grads.append(float(np.linalg.norm(loss_grad_hessian(wide, theta, x, y[:, None])[1])))
    return np.array(losses), np.array(grads), None


def _approaches(excess, grads, loss: float, limit: float) -> bool:
    """Whether networks along a channel approach its limit: their excess loss ``excess (K,)`` over ``L_inf = loss``
    falls from above float64's rounding of the loss, and their gradient norms ``grads (K,)`` fall too or are all
    at most ``limit`` already (corrected networks can reach float64's floor at the smallest amplitude, where the
    last digits then go either way). A limit whose realised networks are all the same function (a plain neuron
    on its saddle line) leaves the excess at rounding level throughout."""
    rounding = 1e3 * _EPS * abs(loss)
    falls = excess[0] > rounding and excess[-1] < excess[0]
    return bool(falls and (grads[-1] < grads[0] or np.max(grads) <= limit))


def _fold_note(vgh: ValueGradHessian, lm) -> str:
    """``" (a fold: ...)"`` where Levenberg–Marquardt stalled with the gradient in the Hessian's null space
    (:func:`..critical.critical_lm.fold_ratio`), else ``""``."""
    if lm.status is not Status.STALLED:
        return ""
    _, g, h = vgh(lm.theta)
    ratio = fold_ratio(g, h)
    if not ratio <= FOLD_RATIO:
        return ""
    return (f" (a fold: |grad| has a non-zero minimum there, the gradient along a flat Hessian direction, "
            f"|H g| / (max|lambda| |g|) = {ratio:.0e}: no critical point nearby)")


def _incoming(spec: MLPSpec, theta) -> np.ndarray:
    m, d = spec.hidden_widths[0], spec.d_in
    return np.asarray(theta, dtype=np.float64)[:m * d].reshape(m, d)


def affine_candidates(spec: MLPSpec, theta, limit: int = 1) -> list[list[tuple[int, int]]]:
    """Groupings whose limit models are tried where two neurons head for zero incoming weight while their
    outgoing weights grow (an affine group: ``a sigma(w . x) -> a sigma(0) + sigma'(0) a (w . x)``, the free
    constant and linear term of the limit): the ``limit`` pairs of smallest largest incoming norm, alone, then
    with the nearest opposite-sign pair and with the nearest sign-flipped pair disjoint from them, the affine
    pair first."""
    w = _incoming(spec, theta)
    a = np.asarray(theta, dtype=np.float64)[w.size:]
    norms = np.linalg.norm(w, axis=1)
    pairs = sorted(itertools.combinations(range(len(w)), 2), key=lambda p: max(norms[p[0]], norms[p[1]]))
    out = []
    for pair in pairs[:limit]:
        out.append([pair])
        rest = [k for k in range(len(w)) if k not in pair]
        partners = [min(((i, j) for i, j in itertools.combinations(rest, 2) if a[i] * a[j] < 0),
                        key=lambda q: float(np.linalg.norm(w[q[0]] - w[q[1]])), default=None)]
        if spec.activation in FLIP_CONSTANT:
            partners.append(min(((i, j) for i, j in itertools.combinations(rest, 2) if a[i] * a[j] > 0),
                                key=lambda q: float(np.linalg.norm(w[q[0]] + w[q[1]])), default=None))
        out += [[pair, q] for q in partners if q is not None]
    return out


def _affine_limit(spec: MLPSpec, theta, groups: list[tuple]) -> tuple[LimitStructure, np.ndarray]:
    """The limit model with the pair ``groups[0]`` an affine group (its constant ``sigma(0) sum a_k`` and linear
    term ``sigma'(0) sum a_k w_k``) and each further group a unit as :func:`..channels.group_limit.group_limit`
    reads it (a sign-flipped member's constant joins ``b``)."""
    w = _incoming(spec, theta)
    a = np.asarray(theta, dtype=np.float64)[w.size:]
    affine = list(groups[0])
    keep = [k for k in range(len(w)) if k not in affine]
    local = [tuple(keep.index(k) for k in g) for g in groups[1:]]
    inner, inner_phi = group_limit(w[keep], a[keep], local, spec.activation)
    p = unpack(inner, inner_phi)
    s0, ds0 = AT_ZERO[spec.activation]
    structure = LimitStructure(d=spec.d_in, activation=spec.activation, n_finite=inner.n_finite, n_glu=inner.n_glu,
                               constant=s0 != 0.0, linear=True, second_order=inner.second_order)
    b = float(p.b) + s0 * float(a[affine].sum())
    params = LimitParams(p.w, p.a, p.u, p.c, p.v, b, ds0 * (a[affine] @ w[affine]), p.u2, p.c2, p.v2, p.m2)
    return structure, pack(structure, params)


def _limit_candidate(spec: MLPSpec, theta, groups: list[tuple], how: str):
    """``(name, structure, phi0, realiser)`` of a candidate: ``how`` is ``"pairs"`` (opposite-sign pairs),
    ``"flipped"`` (sign-flipped pairs) or ``"groups"`` (a second-order unit for each group of three or more, a
    member marked ``-`` where it enters sign-flipped); ``realiser(structure, phi, amplitude)`` builds a
    network on the channel, of the point's own width where the constant of the flips allows."""
    if how == "affine":
        structure, phi0 = _affine_limit(spec, theta, groups)
        w = _incoming(spec, theta)
        partners = [f"{i}{'-' if np.linalg.norm(w[i] + w[j]) < np.linalg.norm(w[i] - w[j]) else '+'}{j}"
                    for i, j in groups[1:]]
        # the affine pair realised at +-l / (2 A sigma'(0)) holds b and l; the partner is realised unflipped
        return " & ".join([f"affine {groups[0][0]},{groups[0][1]}", *partners]), structure, phi0, realise
    if how != "groups":
        name = " & ".join(f"{i}{'-' if how == 'flipped' else '+'}{j}" for i, j in groups)
        structure, phi0 = (flipped_pair_limit if how == "flipped" else pair_limit)(spec, theta, groups)
        return name, structure, phi0, realise_flipped if how == "flipped" else realise
    w = _incoming(spec, theta)
    a = np.asarray(theta, dtype=np.float64)[w.size:]
    structure, phi0 = group_limit(w, a, groups, spec.activation)
    orientation = moments(w, a, groups, [len(g) >= 3 for g in groups], spec.activation).orientation
    name = " & ".join("".join(("" if n == 0 else "-" if orientation[k] < 0 else "+") + str(k)
                              for n, k in enumerate(g)) for g in groups)
    counts = [int((orientation[list(g)] < 0).sum()) for g in groups]
    return name, structure, phi0, own_width_realiser(counts)


def _on_saddle_line(spec, x, y, structure, phi, pairs, y_scale, tolerances, low, high, name) -> SaddleOutcome | None:
    """The realised point at the smallest checked amplitude, in the network's neuron order, if the
    network certifies it there (a finite critical point), else None."""
    m, d = spec.hidden_widths[0], spec.d_in
    real = realise(structure, phi, APPROACH_AMPLITUDES[0])
    order = [k for k in range(m) if k not in {k for p in pairs for k in p}] + [k for p in pairs for k in p]
    w, a = np.zeros((m, d)), np.zeros(m)
    w[order], a[order] = real[:m * d].reshape(m, d), real[m * d:]
    theta = np.concatenate([w.ravel(), a])
    out = _certify(lambda t: loss_grad_hessian(spec, t, x, y[:, None]), theta, y_scale, tolerances, low, high,
                   outcome="symmetry_induced", route=f"saddle line of {name}", theta=theta)
    if out.index < 0 or not out.in_range:
        return None
    out.reason = (f"the limit of {name} is a plain neuron: a duplicated neuron on its saddle line, certified on "
                  "the network")
    return out


def _json(structure: LimitStructure) -> str:
    return json.dumps(structure.to_dict())


# --------------------------------------------------------------------------- a point's certificate

@dataclasses.dataclass
class SaddleCertificate(Record):
    """The refined highest image, measured independently: ``theta (P,)``, ``loss``, ``grad_norm``,
    ``eigvals (P,)`` ascending exact Hessian spectrum, inertia ``n_negative`` / ``n_zero`` /
    ``n_positive`` under ``zero_eig_tol``, ``kind`` (:func:`classify.classify`), ``certified``
    (``grad_norm <= grad_tol``), ``index1`` (certified with exactly one negative eigenvalue), and
    ``distance_to_climbing`` (how far the search moved from the climbing image), ``route``:
    ``"direct"``, or ``"merged L:i,j"`` when the point was found in the narrower net with neurons
    ``i`` and ``j`` of hidden layer ``L`` merged and put back on its saddle line
    (:func:`symmetry_reduced_saddle`)."""

    theta: np.ndarray
    loss: float
    grad_norm: float
    eigvals: np.ndarray
    n_negative: int
    n_zero: int
    n_positive: int
    zero_eig_tol: float
    kind: str
    certified: bool
    index1: bool
    distance_to_climbing: float
    route: str = "direct"


def certify_saddle(spec: MLPSpec, theta, x, y, tolerances: Tolerances | None = None,
                   start=None) -> SaddleCertificate:
    """Certificate of ``theta (P,)`` from the exact loss, gradient and Hessian of :mod:`.hessian`."""
    tolerances = tolerances or Tolerances()
    theta = np.asarray(theta, dtype=np.float64)
    value, g, h = loss_grad_hessian(spec, theta, x, y)
    eig = spectrum(h)[0] if np.isfinite(h).all() else np.full(spec.n_params, np.nan)
    y2 = np.asarray(y, dtype=np.float64)
    c = classify(value, float(np.linalg.norm(g)), eig, loss_scale(y2.reshape(len(y2), -1)), tolerances)
    certified = bool(np.isfinite(value) and np.linalg.norm(g) <= tolerances.grad_tol)
    moved = float("nan") if start is None else float(np.linalg.norm(theta - np.asarray(start)))
    return SaddleCertificate(theta, float(value), float(np.linalg.norm(g)), eig, c.n_negative, c.n_zero,
                             c.n_positive, c.zero_eig_tol, c.kind, certified, certified and c.n_negative == 1, moved)


def symmetry_reduced_saddle(spec: MLPSpec, x, y, theta, config: SaddleConfig, tolerances: Tolerances | None = None,
                            start=None, stop: threading.Event | None = None) -> SaddleCertificate | None:
    """A certified critical point on the saddle line through ``theta (P,)``, or None.

    A saddle search that creeps towards two neurons merging (nearest incoming vectors shrinking, one
    eigenvalue going to 0) is converging onto a *line* of critical points, the image of a critical
    point of the narrower net under neuron duplication (thesis section 4.3), where Newton converges
    only linearly. For every hidden layer the nearest pair is merged, the narrower net's critical
    point searched from there (:func:`find_saddle`), and the neuron duplicated back with the outgoing
    split it had, in the original neuron order; the first certified result is returned (Newton alone
    is tried first, then eigenvector following). A pair whose merge raises the loss by more than 1 %
    is skipped: neurons that approach each other with opposite, growing outgoing weights are entering
    a flat channel towards infinity (Martinelli et al. 2025), not a saddle line.
    """
    theta = np.asarray(theta, dtype=np.float64)
    for layer in range(1, len(spec.hidden_widths) + 1):
        if spec.widths[layer] < 2:
            continue
        i, j, _ = nearest_neuron_pair(spec, theta, layer)
        a = outgoing_weights(spec, theta, layer)
        total = a[:, i] + a[:, j]
        mu = float(a[:, i] @ total / (total @ total)) if float(total @ total) > 0 else 0.5
        nspec, ntheta = merge_neurons(spec, theta, layer, i, j)
        if not _merge_keeps_loss(spec, theta, nspec, ntheta, x, y):
            continue  # not near a saddle line: the merged net computes another function
        narrow = network_landscape(nspec, x, y)
        # Newton first (the nearest critical point of the narrower net), then eigenvector following
        for cfg in (dataclasses.replace(config, follow_steps=0), config):
            search = find_saddle(narrow, ntheta, None, cfg, stop)
            if search.point.status is Status.CANCELLED:
                return None
            if not np.isfinite(search.theta).all():
                continue
            wide = duplicate_neuron(nspec, search.theta, layer, i, mu)[1]
            keep = [k for k in range(spec.widths[layer]) if k != j]
            wide = permute_neurons(spec, wide, layer, np.argsort(keep + [j]))
            cert = certify_saddle(spec, wide, x, y, tolerances, start)
            if cert.certified:
                cert.route = f"merged {layer}:{i},{j}"
                return cert
    return None


def _merge_keeps_loss(spec: MLPSpec, theta, nspec: MLPSpec, ntheta, x, y, rtol: float = 1e-2) -> bool:
    """Whether merging raised the loss by at most ``rtol`` of it (near a saddle line it changes only
    to second order in the split, and lowers it when the line holds a minimum)."""
    wide, narrow = batched_loss(spec, theta[None], x, y)[0], batched_loss(nspec, ntheta[None], x, y)[0]
    return bool(narrow <= (1 + rtol) * wide + 1e-30)


# --------------------------------------------------------------------------- the cascade

def resolve_highest_point(spec: MLPSpec, x, y, band_values, climbing_theta, search_theta, saddle_config,
                          tolerances: Tolerances | None = None, range_slack: float = 0.1,
                          stop: threading.Event | None = None) -> SaddleOutcome:
    """Classify a band's highest point (module docstring); ``band_values (K,)`` the band's losses,
    ``saddle_config`` a :class:`saddle_search.SaddleConfig` (its step budgets)."""
    tolerances = tolerances or Tolerances()
    values = np.asarray(band_values, dtype=np.float64)
    top, ends = float(values.max()), float(max(values[0], values[-1]))
    slack = range_slack * max(top - ends, 0.0)
    low, high = ends - slack, top + slack
    x64, y64 = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    y_scale = loss_scale(y64.reshape(len(y64), -1))

    def vgh(t):
        return loss_grad_hessian(spec, t, x64, y64)

    notes = []

    def finish(out: SaddleOutcome) -> SaddleOutcome | None:
        if out.index >= 0 and out.in_range:
            return out
        notes.append(f"{out.route}: |grad| {out.grad_norm:.1e}" + ("" if out.in_range or out.index < 0
                                                                    else f", loss {out.loss:.4e} outside the band"))
        return None

    search_theta = np.asarray(search_theta, dtype=np.float64)
    got = finish(_certify(vgh, search_theta, y_scale, tolerances, low, high, outcome="saddle", route="direct",
                          theta=search_theta))
    if got:
        return got
    best_theta, best_norm = search_theta, float(np.linalg.norm(vgh(search_theta)[1]))
    for start, name in ((search_theta, "lm"), (np.asarray(climbing_theta, dtype=np.float64), "lm from climbing image")):
        if stop is not None and stop.is_set():
            return _empty(reason="cancelled")
        lm = critical_point_lm(vgh, start, saddle_config.lm_steps, stop)
        got = finish(_certify(vgh, lm.theta, y_scale, tolerances, low, high, outcome="saddle", route=name,
                              theta=lm.theta))
        if got:
            return got
        notes[-1] += _fold_note(vgh, lm)
        if lm.grad_norm < best_norm:
            best_theta, best_norm = lm.theta, lm.grad_norm
    if spec.hidden_widths:
        reduced = symmetry_reduced_saddle(spec, x, y, best_theta, saddle_config, tolerances, None, stop)
        if reduced is not None:
            got = finish(_certify(vgh, reduced.theta, y_scale, tolerances, low, high, outcome="symmetry_induced",
                                  route=reduced.route, theta=reduced.theta))
            if got:
                return got
    channel = channel_saddle(spec, x, y, best_theta, tolerances, low, high, saddle_config.channel_steps, stop,
                             heading=search_theta)
    if channel is not None and channel.certified:
        return channel
    if channel is not None:
        notes.append(channel.reason)
    return _empty(theta=best_theta, grad_norm=best_norm, range_low=low, range_high=high,
                  reason="; ".join(notes) or "no candidate")


__all__ = ["APPROACH_AMPLITUDES", "OUTCOMES", "SaddleCertificate", "SaddleOutcome", "certify_saddle", "channel_pairs",
           "channel_saddle", "fd_check", "outcome_label", "pair_limit", "resolve_highest_point",
           "symmetry_reduced_saddle"]
