"""The limit model of chosen groups of a network's neurons, and networks of the same width that realise it.

A group of two neurons becomes a gated linear unit, a group of ``k >= 3`` a second-order unit
(:mod:`.limit_model`) whose curvature has rank ``min(k - 2, d)``: ``k`` neurons whose zeroth and first moments
stay finite while their outgoing weights diverge satisfy ``sum alpha_k = 0`` and ``sum alpha_k p_k = 0``, and the
quadratic form ``sum alpha_k p_k p_k^T`` of such weights has rank at most ``k - 2``. For the sigmoid and tanh
a member whose incoming vector lies nearer the negative of the group's reference (its member of largest ``|a|``)
enters sign-flipped, ``(w, a) -> (-w, -a)``, which for the sigmoid leaves the constant ``a``
(``a sigma(z) = -a sigma(-z) + a``): the limit then has a free constant ``b``, the sum of those constants.

:func:`moments` reads the groups' unit parameters off a point, :func:`group_limit` the whole limit
model, and :func:`realise_groups` builds a network of the point's own width on the channel towards a
limit point: each group realised as :func:`.limit_model.realise` does, its flipped members flipped back,
with the groups' amplitudes chosen so that the constants the flips leave sum to ``b`` (the network has
no bias to hold it).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from .limit_model import LimitParams, LimitStructure, pack, realise, second_order_code, unit_stencil, unpack

#: ``kappa`` of ``sigma(-z) = kappa - sigma(z)`` for the activations with the sign symmetry.
FLIP_CONSTANT = {"sigmoid": 1.0, "tanh": 0.0}


@dataclasses.dataclass
class GroupMoments:
    """The unit parameters of some groups: gated linear units ``u (G, d)``, ``c (G,)``, ``v (G, d)``;
    second-order units ``u2 (S, d)``, ``c2 (S,)``, ``v2 (S, d)``, curvature rows ``m2 (R, d)`` with their units'
    codes ``second_order`` (:class:`.limit_model.LimitStructure`, ``""`` when there are none);
    ``orientation (m,)`` -1 where a neuron enters its unit sign-flipped (+1 elsewhere); ``constant`` the sum of
    what the flips leave; ``flipped`` whether any member is flipped."""

    u: np.ndarray
    c: np.ndarray
    v: np.ndarray
    u2: np.ndarray
    c2: np.ndarray
    v2: np.ndarray
    m2: np.ndarray
    second_order: str
    orientation: np.ndarray
    constant: float
    flipped: bool


def curvature_factor(matrix: np.ndarray, rank: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Rows ``m_j (rank, d)`` and signs ``s_j`` with ``sum_j s_j m_j m_j^T`` the part of the symmetric ``matrix``
    on its ``rank`` eigenvalues of largest modulus, row ``j`` zero in its first ``j`` entries (an ``LDL^T``
    factor without pivoting). Rank one keeps the eigenvector: ``m = sqrt|lambda| e``."""
    lam, vec = np.linalg.eigh(np.asarray(matrix, dtype=np.float64))
    top = np.argsort(-np.abs(lam))[:rank]
    if rank == 1:
        return (math.sqrt(abs(lam[top[0]])) * vec[:, top[0]])[None, :], (1 if lam[top[0]] >= 0 else -1,)
    part = (vec[:, top] * lam[top]) @ vec[:, top].T
    d = len(part)
    lower, pivots = np.zeros((d, rank)), np.zeros(rank)
    for j in range(rank):
        pivots[j] = part[j, j] - (lower[j, :j] ** 2 * pivots[:j]).sum()
        if pivots[j] == 0.0:
            raise ValueError("the curvature has a zero pivot: no lower trapezoidal factor in this chart")
        lower[j, j] = 1.0
        lower[j + 1:, j] = (part[j + 1:, j] - (lower[j + 1:, :j] * lower[j, :j] * pivots[:j]).sum(axis=1)) / pivots[j]
    rows = (lower * np.sqrt(np.abs(pivots))).T
    return rows, tuple(1 if p > 0 else -1 for p in pivots)


def moments(w: np.ndarray, a: np.ndarray, groups: list, second_order: list, activation: str) -> GroupMoments:
    """The moments of each group of neurons (``w (m, d)``, ``a (m,)``) about its ``|a|``-weighted mean ``u``:
    ``c = sum a_k``, ``v = sum a_k delta_k`` and, where ``second_order``, the factor of
    ``sum a_k delta_k delta_k^T`` of rank ``min(k - 2, d)`` (:func:`curvature_factor`)."""
    m, d = w.shape
    kappa = FLIP_CONSTANT.get(activation)
    orientation = np.ones(m, dtype=np.int64)
    constant, flipped = 0.0, False
    first, second, rows, codes = [], [], [], []
    for members, quadratic in zip(groups, second_order):
        ref = max(members, key=lambda k: abs(a[k]))
        for k in members:
            if kappa is not None and k != ref and np.linalg.norm(w[k] + w[ref]) < np.linalg.norm(w[k] - w[ref]):
                orientation[k], flipped = -1, True
                constant += kappa * a[k]
        ws = orientation[list(members), None] * w[list(members)]
        as_ = orientation[list(members)] * a[list(members)]
        weights = np.abs(as_)
        u = weights @ ws / max(float(weights.sum()), 1e-300)
        spread = ws - u
        if not quadratic:
            first.append((u, as_.sum(), as_ @ spread))
            continue
        factor, signs = curvature_factor((as_[:, None] * spread).T @ spread, min(len(members) - 2, d))
        second.append((u, as_.sum(), as_ @ spread))
        rows.extend(factor)
        codes.append(signs)

    def stack(rows, i, shape):
        return np.array([r[i] for r in rows], dtype=np.float64).reshape(shape)

    G, S = len(first), len(second)
    code = second_order_code(codes)
    return GroupMoments(stack(first, 0, (G, d)), stack(first, 1, (G,)), stack(first, 2, (G, d)),
                        stack(second, 0, (S, d)), stack(second, 1, (S,)), stack(second, 2, (S, d)),
                        np.array(rows, dtype=np.float64).reshape(-1, d), code, orientation, float(constant), flipped)


def group_limit(w: np.ndarray, a: np.ndarray, groups: list, activation: str) -> tuple[LimitStructure, np.ndarray]:
    """The limit model of ``w (m, d)``, ``a (m,)`` with each group of ``groups`` (disjoint index tuples:
    pairs first, then groups of three or more) replaced by its unit and the other neurons kept; a free
    constant where sigmoid members are flipped. Returns ``(structure, phi (Q,))``."""
    m, d = w.shape
    quadratic = [len(g) >= 3 for g in groups]
    mo = moments(w, a, groups, quadratic, activation)
    keep = [k for k in range(m) if k not in {k for g in groups for k in g}]
    constant = bool(mo.flipped and FLIP_CONSTANT.get(activation))
    structure = LimitStructure(d=d, activation=activation, n_finite=len(keep), n_glu=len(mo.c),
                               constant=constant, linear=False, second_order=mo.second_order or None)
    params = LimitParams(w[keep].reshape(-1, d), a[keep], mo.u, mo.c, mo.v, mo.constant, np.zeros(d),
                         u2=mo.u2, c2=mo.c2, v2=mo.v2, m2=mo.m2)
    return structure, pack(structure, params)


def _gap(w: np.ndarray, i: int, j: int, flips: bool) -> float:
    gap = float(np.linalg.norm(w[i] - w[j]))
    return min(gap, float(np.linalg.norm(w[i] + w[j]))) if flips else gap


def group_candidates(w: np.ndarray, activation: str, size: int = 3, limit: int = 2) -> list[list[tuple]]:
    """Groupings whose limit models are tried where ``size`` neurons close in: each of the ``limit`` groups
    of ``size`` incoming vectors ``w (m, d)`` with the smallest largest gap (up to sign where the activation has
    the sign symmetry) alone, then with the nearest pair disjoint from it, the pair first."""
    m = len(w)
    flips = activation in FLIP_CONSTANT
    groups = sorted(itertools.combinations(range(m), size),
                    key=lambda t: max(_gap(w, i, j, flips) for i, j in itertools.combinations(t, 2)))
    out = []
    for group in groups[:limit]:
        out.append([group])
        rest = [k for k in range(m) if k not in group]
        pairs = sorted(itertools.combinations(rest, 2), key=lambda p: _gap(w, *p, flips))
        if pairs:
            out.append([pairs[0], group])
    return out


def _unit_neurons(structure: LimitStructure, p: LimitParams, unit: int, amplitude: float):
    """Incoming ``(k, d)``, outgoing ``(k,)`` of unit ``unit`` (gated linear units first) realised at
    ``amplitude``, and the outgoing weights' slopes ``(k,)`` in the amplitude."""
    A = amplitude
    if unit < structure.n_glu:
        u, c, v = p.u[unit], p.c[unit], p.v[unit]
        return np.stack([u + v / (2 * A), u - v / (2 * A)]), np.array([c / 2 + A, c / 2 - A]), np.array([1.0, -1.0])
    return unit_stencil(structure, p, unit - structure.n_glu, A)


def realise_groups(structure: LimitStructure, phi, flipped: list, amplitude: float) -> np.ndarray | None:
    """A network ``(w_1..w_m, a_1..a_m)`` of width ``n_finite + sum of the units' sizes`` on the channel towards
    ``phi``, with ``flipped[g]`` members of unit ``g`` sign-flipped, or None where no choice of flipped members
    realises the free constant ``b`` with amplitudes at least ``amplitude / 2``.

    Every unit but one gets the amplitude ``amplitude``; a flipped member of outgoing weight ``kappa A + beta``
    leaves ``-(kappa A + beta)``, and the remaining unit's amplitude is solved so that these sum to ``b``.
    Without a free constant nothing is flipped (for tanh a flip changes no loss).
    """
    p = unpack(structure, np.asarray(phi, dtype=np.float64))
    n_units = structure.n_glu + structure.n_second
    A = float(amplitude)
    amps = [A] * n_units
    slots = [()] * n_units
    if structure.constant:
        sizes = structure.unit_sizes
        choices = [list(itertools.combinations(range(size), count)) for size, count in zip(sizes, flipped)]
        found = False
        at_one = [_unit_neurons(structure, p, g, 1.0) for g in range(n_units)]
        for pick in itertools.product(*choices):
            kappa = [float(at_one[g][2][list(pick[g])].sum()) for g in range(n_units)]
            beta = [float((at_one[g][1] - at_one[g][2])[list(pick[g])].sum()) for g in range(n_units)]
            for balance in range(n_units):
                if kappa[balance] == 0.0:
                    continue
                rest = sum(kappa[g] * A + beta[g] for g in range(n_units) if g != balance)
                solved = (-float(p.b) - rest - beta[balance]) / kappa[balance]
                if solved >= A / 2:
                    amps[balance], slots, found = solved, list(pick), True
                    break
            if found:
                break
        if not found:
            return None
    ws, as_ = [p.w], [p.a]
    for g in range(n_units):
        w, a, _ = _unit_neurons(structure, p, g, amps[g])
        for k in slots[g]:
            w[k], a[k] = -w[k], -a[k]
        ws.append(w)
        as_.append(a)
    return np.concatenate([np.concatenate(ws).ravel(), np.concatenate(as_)])


def own_width_realiser(flipped: list):
    """A realiser ``(structure, phi, amplitude) -> theta`` for :mod:`.channel_polish`: :func:`realise_groups` with
    ``flipped[g]`` members of unit ``g`` sign-flipped, where the flips can hold the free constant at the point's
    own width, else :func:`.limit_model.realise` (an affine pair holds it)."""

    def realiser(structure: LimitStructure, phi, amplitude: float) -> np.ndarray:
        point = realise_groups(structure, phi, flipped, amplitude)
        return point if point is not None else realise(structure, phi, amplitude)

    return realiser


__all__ = ["FLIP_CONSTANT", "GroupMoments", "curvature_factor", "group_candidates", "group_limit", "moments",
           "own_width_realiser", "realise_groups"]
