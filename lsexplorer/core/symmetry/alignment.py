"""The copy of a network point, under its permutation and sign symmetries, nearest another point.

Permuting the neurons of a hidden layer (and, for sigmoid and tanh, flipping signs) gives the same
network function at another point of parameter space. A path between two points that ignores this
mostly measures a relabelling, so before a path is built the target is replaced by its equivalent
copy nearest the source.

For one hidden layer the squared distance is a sum over neurons of
``||v_i - v'_pi(i)||^2 + ||c_i - c'_pi(i)||^2`` (incoming vector ``v``, outgoing column ``c``), so the
best permutation is a linear assignment (Hungarian method, exact). For several hidden layers the
layers are matched one after another and swept until nothing changes (the weight matching of
Ainsworth et al., "Git Re-Basin", 2023): each assignment is exact given the others, the whole a
local optimum. Sign flips:

* ``tanh``: a flip negates a neuron's incoming vector and outgoing column and nothing else, so each
  pair ``(i, j)`` of the assignment takes the cheaper of flipped and not flipped (exact).
* ``sigmoid`` with biases: a flip also moves the outgoing column into the next layer's bias
  (:func:`symmetry.sign_flip`); the assignment uses the per-neuron cost, then single flips are
  toggled while the exact distance falls.
* ``sigmoid`` without biases: only flips of sets whose outgoing weights sum to zero keep the function
  (:func:`symmetry.flips_preserve_function`); every such pair of the target is tried.
* ``softplus``: no sign symmetry.

Every candidate is checked to compute the same function as the target (the caller can verify the
loss), and the distance never grows: the identity is a candidate.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..base.record import Record
from ..landscape.nets import MLPSpec, unflatten
from .operations import flips_preserve_function, permute_neurons, sign_flip

#: Relative size (of the outgoing weights) below which a sigmoid pair's outgoing weights count as
#: summing to zero, so that flipping the pair keeps the function without biases.
PAIR_FLIP_RTOL = 1e-10


@dataclasses.dataclass
class Alignment(Record):
    """The aligned target and how it was obtained.

    theta (P,) the aligned copy; permutation (sum of hidden widths,) int, hidden layer by hidden
    layer, aligned neuron ``k`` of a layer is target neuron ``permutation[offset + k]`` of the
    flipped target; flipped (sum of hidden widths,) bool, target neurons (in the target's own
    numbering) whose sign was flipped before permuting; distance_before, distance_after the
    Euclidean distances from the source to the target and to the aligned copy; saved their
    difference; method ``"hungarian"`` (one hidden layer, exact), ``"layer_sweeps"`` or ``"none"``.
    """

    theta: np.ndarray
    permutation: np.ndarray
    flipped: np.ndarray
    distance_before: float
    distance_after: float
    saved: float
    method: str


def _apply(spec: MLPSpec, theta: np.ndarray, flips: list[np.ndarray], perms: list[np.ndarray]) -> np.ndarray:
    out = np.array(theta, dtype=np.float64)
    for layer, idx in enumerate(flips, 1):
        if idx.size:
            # callers only pass flips that keep the function (checked where they are chosen)
            out = sign_flip(spec, out, layer, idx, atol=np.inf)
    for layer, perm in enumerate(perms, 1):
        out = permute_neurons(spec, out, layer, perm)
    return out


def _neuron_cost(spec: MLPSpec, source: np.ndarray, target: np.ndarray, layer: int, signed: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Cost ``(m, m)`` of giving source neuron ``i`` target neuron ``j`` of hidden ``layer``, and
    whether the flipped target neuron is cheaper ``(m, m)`` (always False unless ``signed``)."""
    (ws, bs), (wo_s, _) = unflatten(spec, source)[layer - 1], unflatten(spec, source)[layer]
    (wt, bt), (wo_t, _) = unflatten(spec, target)[layer - 1], unflatten(spec, target)[layer]
    vs = ws if bs is None else np.concatenate([ws, bs[:, None]], 1)
    vt = wt if bt is None else np.concatenate([wt, bt[:, None]], 1)
    fs, ft = np.concatenate([vs, wo_s.T], 1), np.concatenate([vt, wo_t.T], 1)
    plain = ((fs[:, None, :] - ft[None, :, :]) ** 2).sum(-1)
    if not signed:
        return plain, np.zeros_like(plain, dtype=bool)
    flipped = ((fs[:, None, :] + ft[None, :, :]) ** 2).sum(-1)
    return np.minimum(plain, flipped), flipped < plain


def _match_layers(spec: MLPSpec, source: np.ndarray, target: np.ndarray, signed: bool, sweeps: int = 20
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Permutations (and, with ``signed``, tanh-style flips) of every hidden layer of ``target``."""
    hidden = spec.hidden_widths
    perms = [np.arange(m) for m in hidden]
    flips = [np.zeros(m, dtype=bool) for m in hidden]
    best = np.linalg.norm(source - target)
    for _ in range(sweeps if len(hidden) > 1 else 1):
        changed = False
        for layer in range(1, len(hidden) + 1):
            current = _apply(spec, target, [np.flatnonzero(f) for f in flips], perms)
            cost, cheaper_flipped = _neuron_cost(spec, source, current, layer, signed)
            rows, cols = linear_sum_assignment(cost)
            new_perm = perms[layer - 1][cols]
            new_flips = flips[layer - 1].copy()
            new_flips[new_perm[cheaper_flipped[rows, cols]]] ^= True
            trial_p, trial_f = list(perms), list(flips)
            trial_p[layer - 1], trial_f[layer - 1] = new_perm, new_flips
            d = np.linalg.norm(source - _apply(spec, target, [np.flatnonzero(f) for f in trial_f], trial_p))
            if d < best * (1 - 1e-14):
                perms, flips, best, changed = trial_p, trial_f, d, True
        if not changed:
            break
    return perms, flips


def align_to(spec: MLPSpec, source, target) -> Alignment:
    """The copy of ``target (P,)`` nearest ``source (P,)`` under the symmetries of ``spec`` (module docstring)."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    for name, t in (("source", source), ("target", target)):
        if t.shape != (spec.n_params,):
            raise ValueError(f"{name} must have shape ({spec.n_params},) for {spec.describe()}, got {t.shape}")
    hidden = spec.hidden_widths
    before = float(np.linalg.norm(source - target))
    if not hidden:
        return Alignment(target.copy(), np.zeros(0, np.int64), np.zeros(0, bool), before, before, 0.0, "none")
    signed = spec.activation == "tanh"
    candidates = []  # (distance, flips per layer (index arrays), perms)
    perms, flips = _match_layers(spec, source, target, signed)
    candidates.append((flips, perms))
    if spec.activation == "sigmoid":
        for layer in range(1, len(hidden) + 1):
            for idx in _sigmoid_flip_sets(spec, target, layer):
                base = [np.zeros(m, dtype=bool) for m in hidden]
                base[layer - 1][list(idx)] = True
                flipped = _apply(spec, target, [np.flatnonzero(f) for f in base], [np.arange(m) for m in hidden])
                p, _ = _match_layers(spec, source, flipped, False)
                candidates.append((base, p))
    best = None
    for flips_c, perms_c in candidates:
        flips_c = [f.copy() for f in flips_c]
        theta = _apply(spec, target, [np.flatnonzero(f) for f in flips_c], perms_c)
        d = float(np.linalg.norm(source - theta))
        if spec.activation == "sigmoid" and spec.bias:
            flips_c, perms_c, theta, d = _toggle_single_flips(spec, source, target, flips_c, perms_c, d)
        if best is None or d < best[0]:
            best = (d, flips_c, perms_c, theta)
    d, flips_c, perms_c, theta = best
    if d >= before:
        theta, d = target.copy(), before
        flips_c = [np.zeros(m, dtype=bool) for m in hidden]
        perms_c = [np.arange(m) for m in hidden]
    return Alignment(theta, np.concatenate(perms_c).astype(np.int64), np.concatenate(flips_c), before, d,
                     before - d, "hungarian" if len(hidden) == 1 else "layer_sweeps")


def _sigmoid_flip_sets(spec: MLPSpec, target: np.ndarray, layer: int) -> list[tuple[int, ...]]:
    """Single neurons (with biases) or pairs (without) of ``layer`` whose flip keeps the function."""
    m = spec.widths[layer]
    if spec.bias:
        return [(i,) for i in range(m)]
    w_out = unflatten(spec, target)[layer][0]
    atol = PAIR_FLIP_RTOL * max(float(np.abs(w_out).max()), 1e-300)
    return [pair for pair in itertools.combinations(range(m), 2)
            if flips_preserve_function(spec, target, layer, pair, atol)]


def _toggle_single_flips(spec, source, target, flips, perms, d):
    """Sigmoid with biases: toggle single flips (re-matching permutations) while the distance falls."""
    theta = _apply(spec, target, [np.flatnonzero(f) for f in flips], perms)
    improved = True
    while improved:
        improved = False
        for layer, m in enumerate(spec.hidden_widths, 1):
            for i in range(m):
                trial = [f.copy() for f in flips]
                trial[layer - 1][i] ^= True
                flipped = _apply(spec, target, [np.flatnonzero(f) for f in trial], [np.arange(w) for w in spec.hidden_widths])
                p, _ = _match_layers(spec, source, flipped, False)
                t = _apply(spec, target, [np.flatnonzero(f) for f in trial], p)
                dt = float(np.linalg.norm(source - t))
                if dt < d * (1 - 1e-14):
                    flips, perms, theta, d, improved = trial, p, t, dt, True
    return flips, perms, theta, d


__all__ = ["Alignment", "PAIR_FLIP_RTOL", "align_to"]
