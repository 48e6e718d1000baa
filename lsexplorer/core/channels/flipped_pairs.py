"""Flat channels of sign-flipped pairs: the limit model with a free constant, and networks that realise it.

For the sigmoid ``a sigma(z) = -a sigma(-z) + a`` and for tanh ``a tanh(z) = -a tanh(-z)``, so two neurons
with opposite incoming vectors ``w_i ~ -w_j`` and outgoing weights of the same sign growing without bound
are an ordinary channel pair (``w_i ~ w_j``, outgoing weights of opposite sign) in disguise: flipping
``j`` gives the pair ``(w_i, a_i), (-w_j, -a_j)`` and, for the sigmoid, the constant ``a_j``. One such pair
leaves a constant that grows with the channel; two (or more) leave the sum of theirs, which stays finite
when they cancel, so the limit model (:mod:`.limit_model`) is the one of the flipped pairs with a **free
constant** ``b`` (tanh leaves none).

:func:`flipped_pairs` lists the candidates, :func:`flipped_pair_limit` reads a point as that limit model, and
:func:`realise_flipped` builds a network of the point's own width on the channel towards a limit point:
each unit as the pair ``a = c/2 +- A_k``, ``w = u +- v/(2 A_k)`` (as :func:`.limit_model.realise`), one member
of each pair flipped back, with amplitudes ``A_k`` chosen so that the constants the flips leave sum to
``b`` (the network has no bias to hold it).
"""

from __future__ import annotations

import numpy as np

from ..landscape.nets import MLPSpec
from .limit_model import LimitParams, LimitStructure, pack, unpack

#: ``kappa`` of ``sigma(-z) = kappa - sigma(z)``.
_FLIP_CONSTANT = {"sigmoid": 1.0, "tanh": 0.0}


def _parts(spec: MLPSpec, theta) -> tuple[np.ndarray, np.ndarray]:
    m, d = spec.hidden_widths[0], spec.d_in
    theta = np.asarray(theta, dtype=np.float64)
    return theta[:m * d].reshape(m, d), theta[m * d:m * d + m]


def flipped_pairs(spec: MLPSpec, theta) -> list[tuple[int, int]]:
    """Neuron pairs ``(i, j)`` of a two-layer net without biases, outgoing weights of the same sign, nearest
    ``||w_i + w_j||`` first; ``[]`` for nets or activations without the sign symmetry."""
    if (len(spec.hidden_widths) != 1 or spec.d_out != 1 or spec.bias or spec.fixed_output
            or spec.activation not in _FLIP_CONSTANT):
        return []
    w, a = _parts(spec, theta)
    m = len(a)
    pairs = sorted((float(np.linalg.norm(w[i] + w[j])), i, j) for i in range(m) for j in range(i + 1, m)
                   if a[i] * a[j] > 0)
    return [(i, j) for _, i, j in pairs]


def flipped_candidates(spec: MLPSpec, theta, limit: int = 2) -> list[list[tuple[int, int]]]:
    """Sets of flipped pairs whose limit models are tried: for tanh each of the ``limit`` nearest alone;
    then (sigmoid and tanh) each with the nearest flipped pair disjoint from it, whose constant may cancel its."""
    pairs = flipped_pairs(spec, theta)
    out = [[p] for p in pairs[:limit]] if spec.activation == "tanh" else []
    for p in pairs[:limit]:
        other = next((q for q in pairs if not set(q) & set(p)), None)
        if other is not None and sorted([p, other]) not in out:
            out.append(sorted([p, other]))
    return out


def flipped_pair_limit(spec: MLPSpec, theta, pairs: list[tuple[int, int]]) -> tuple[LimitStructure, np.ndarray]:
    """The limit model of ``theta (P,)`` with each flipped pair ``(i, j)`` of ``pairs`` (disjoint) read as
    one gated linear unit after flipping ``j``: ``c = a_i - a_j``, ``u`` the ``|a|``-weighted mean of
    ``w_i, -w_j``, ``v = a_i (w_i - u) - a_j (-w_j - u)``; the other neurons are kept, and the constants the
    flips leave (``sum a_j`` for the sigmoid) are the free constant ``b``. Returns ``(structure, phi (Q,))``."""
    w, a = _parts(spec, theta)
    m, d = w.shape
    kappa = _FLIP_CONSTANT[spec.activation]
    merged = {k for p in pairs for k in p}
    keep = [k for k in range(m) if k not in merged]
    us, cs, vs, b = [], [], [], 0.0
    for i, j in pairs:
        wi, wj, ai, aj = w[i], -w[j], a[i], -a[j]
        b += kappa * a[j]
        weights = np.abs([ai, aj])
        u = (weights[0] * wi + weights[1] * wj) / max(float(weights.sum()), 1e-300)
        us.append(u)
        cs.append(ai + aj)
        vs.append(ai * (wi - u) + aj * (wj - u))
    structure = LimitStructure(d=d, activation=spec.activation, n_finite=len(keep), n_glu=len(pairs),
                               constant=bool(kappa), linear=False)
    params = LimitParams(w[keep].reshape(-1, d), a[keep], np.array(us), np.array(cs), np.array(vs), b, np.zeros(d))
    return structure, pack(structure, params)


def realise_flipped(structure: LimitStructure, phi, amplitude: float) -> np.ndarray:
    """A network ``(w_1..w_m, a_1..a_m)`` of width ``n_finite + 2 n_glu`` on the channel towards ``phi``.

    Unit 0's pair has amplitude ``A_0 = amplitude`` and its minus member flipped (leaving ``A_0 - c_0/2``);
    every other unit's plus member is flipped (leaving ``-(A_k + c_k/2)``), with the ``A_k`` equal and such
    that the constants sum to ``b``. Needs two units or more when ``b`` is free. Its function differs from
    the limit by ``O(1/A^2)``.
    """
    p = unpack(structure, np.asarray(phi, dtype=np.float64))
    n = structure.n_glu
    if structure.constant and n < 2:
        raise ValueError("one flipped pair leaves a constant that grows with the channel: give two or more")
    A0 = float(amplitude)
    b = float(p.b) if structure.constant else 0.0
    rest = (A0 - b - float(np.sum(p.c)) / 2) / (n - 1) if structure.constant else A0
    ws, as_ = [p.w], [p.a]
    for k, (u, c, v) in enumerate(zip(p.u, p.c, p.v)):
        amp = A0 if k == 0 else rest
        pair_w = np.stack([u + v / (2 * amp), u - v / (2 * amp)])
        pair_a = np.array([c / 2 + amp, c / 2 - amp])
        flip = 1 if k == 0 else 0
        if structure.constant:
            pair_w[flip], pair_a[flip] = -pair_w[flip], -pair_a[flip]
        ws.append(pair_w)
        as_.append(pair_a)
    return np.concatenate([np.concatenate(ws).ravel(), np.concatenate(as_)])


__all__ = ["flipped_candidates", "flipped_pair_limit", "flipped_pairs", "realise_flipped"]
