"""Networks on a channel to infinity whose gradient really vanishes: the limit point corrected at each amplitude.

A realiser (:func:`.limit_model.realise`, :func:`.group_limit.realise_groups`, ...) maps the limit model's
parameters ``phi`` and an amplitude ``A`` to a network point ``theta = R_A(phi)`` whose function differs from
the limit's by ``e = E_1 / A + ...`` (``O(1/A)`` for a second-order unit's symmetric stencil). The network's
gradient on a member's incoming vector is ``a_k <r, sigma'(w_k . x) x>`` with ``a_k ~ A``; at the limit's
critical point ``phi*`` the limit's own residual ``r_inf`` contributes nothing at order one (the conditions
``dL_inf/dv = 0``, ``dL_inf/dm = 0`` and ``dL_inf/du = 0`` cancel it), but the stencil's miss does:
``A <E_1 / A, sigma'(u . x) x>`` stays of order one, on the three members in the ratio ``s (1, -2, 1)``.

The cure is to move the limit point by ``O(1/A)`` so that the network's loss is stationary in every
direction the realiser spans at this amplitude: :func:`polish_on_channel` solves

    F(phi) = J_A(phi)^T grad L(R_A(phi)) = 0,        J_A = dR_A / dphi,

the gradient of ``phi -> L(R_A(phi))``, by Newton from ``phi*`` (Jacobian ``J^T H J``, damped in its
eigenbasis). ``L(R_A(phi)) -> L_inf(phi)`` with its derivatives, so
where the limit's Hessian is nonsingular the solution ``phi_A = phi* + O(1/A)`` exists, and Newton reaches it (by
continuation from the largest amplitude down, :func:`polish_along_channel`). At ``phi_A`` the leading
``O(1)`` term is gone: the realised loss's derivative in the unit's ``v`` is ``(g_+ + g_-) / (2 s A)`` (``g_+-``
the outer members' incoming gradients), so ``F = 0`` sets the amplitude of that ``s (1, -2, 1)`` pattern to zero.

What is left of the network's gradient is orthogonal to everything the realiser spans, so it lies in the two
directions the realiser leaves out: the channel itself (the outer members' outgoing weights growing together,
along which ``dL/dA ~ 1/A^2``) and the outer members' outgoing weights drifting apart (the
stencil's asymmetry). Measured on planted limit critical points (``tests/test_channel_polish.py``): it points
along the channel (cosine above 0.99), ``||grad L||`` falls like ``A^(-2)`` (fitted exponent 2.0 .. 2.1 over
``A = 30 .. 300``) where the plain stencil's stays at its ``O(1)`` plateau, ``L - L_inf`` and the function's miss
fall like ``1/A``. From ``A ~ 1000`` float64 sets the floor (``1e-11 .. 1e-10`` there): the outgoing weights
``~A`` cancel in the network's output, so its gradient carries a rounding error that grows like ``eps A^2``.
A pair's realisation misses its gated linear unit by only ``O(1/A^2)``, so its plain gradient already falls,
but only like ``1/A``; corrected it falls like ``A^(-3)`` (its loss approaches ``L_inf`` like ``1/A^2``).

``J_A`` is taken by central differences of the realiser (exact for the realisers that are affine in ``phi``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..landscape import symmetric_eigen
from ..landscape.hessian import loss_grad_hessian
from ..landscape.nets import MLPSpec
from .limit_model import LimitStructure

_EPS = float(np.finfo(np.float64).eps)

#: A channel is accepted only where the corrected network's ``||grad L||`` at the largest amplitude is at most
#: this times the loss scale ``mean y^2``: it falls like ``A^(-2)`` (second-order unit) or ``A^(-3)`` (pairs) to a
#: float64 floor that grows like ``eps A^2`` (measured: 1e-12 .. 5e-10 at A = 1000 on planted limits and the
#: sample), while the plain stencil of a second-order unit stays near 1e-2; 1e-6 leaves orders of margin each way.
APPROACH_GRAD_TOL = 1e-6

#: ``realiser(structure, phi, amplitude) -> theta`` in the network layout ``(w_1..w_m, a_1..a_m)``.
Realiser = Callable[[LimitStructure, np.ndarray, float], np.ndarray]


@dataclasses.dataclass
class PolishedPoint:
    """A network point on the channel: ``theta (P,)`` at ``amplitude``, realised from ``phi (Q,)``; its ``loss``,
    ``grad_norm`` (the network's whole gradient), ``stationary_norm`` (``|F|``, the part the realiser spans)
    and ``stencil_grad_norm`` (the network's gradient where the plain realisation of the limit point lies)."""

    theta: np.ndarray
    phi: np.ndarray
    amplitude: float
    loss: float
    grad_norm: float
    stationary_norm: float
    stencil_grad_norm: float


def realiser_jacobian(realiser: Realiser, structure: LimitStructure, phi, amplitude: float,
                      step: float = 1e-3) -> np.ndarray:
    """``dR_A / dphi`` ``(P, Q)`` by central differences, step ``step * max(1, |phi_i|)``."""
    phi = np.asarray(phi, dtype=np.float64)
    columns = []
    for i in range(phi.size):
        h = step * max(1.0, abs(float(phi[i])))
        up, down = phi.copy(), phi.copy()
        up[i] += h
        down[i] -= h
        high, low = realiser(structure, up, amplitude), realiser(structure, down, amplitude)
        if high.shape != low.shape:
            raise ValueError("the realiser builds networks of different widths near this limit point")
        columns.append((high - low) / (2 * h))
    return np.stack(columns, axis=1)


def network_spec(structure: LimitStructure, theta) -> MLPSpec:
    """The bias-free one-hidden-layer net a realised ``theta`` belongs to."""
    width = len(theta) // (structure.d + 1)
    return MLPSpec((structure.d, width, 1), structure.activation, False)


def polish_on_channel(realiser: Realiser, structure: LimitStructure, phi, amplitude: float, x, y,
                      max_steps: int = 12, max_uphill: int = 3, start=None) -> PolishedPoint:
    """The network point ``R_A(phi_A)`` with ``phi_A`` the root of ``F`` nearest ``phi`` (module docstring), the
    Newton steps started from ``start`` (default ``phi``).

    Newton steps on ``F`` with the Jacobian ``J^T H J`` (the realiser's own curvature left out: it multiplies
    the network's gradient, which the steps drive down), damped in the eigenbasis and kept only when ``|F|``
    falls; it stops when no step lowers ``|F|`` (its float64 floor, which grows like ``eps A^2``: the outgoing
    weights ``~A`` cancel in the network's output) or after ``max_steps``.
    """
    x64 = np.asarray(x, dtype=np.float64)
    y64 = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    A = float(amplitude)
    phi = np.array(phi, dtype=np.float64)
    theta = realiser(structure, phi, A)
    spec = network_spec(structure, theta)
    stencil_grad = float(np.linalg.norm(loss_grad_hessian(spec, theta, x64, y64)[1]))
    if start is not None:
        phi = np.array(start, dtype=np.float64)

    def evaluate(p):
        t = realiser(structure, p, A)
        value, g, h = loss_grad_hessian(spec, t, x64, y64)
        jac = realiser_jacobian(realiser, structure, p, A)
        return t, value, g, h, jac, jac.T @ g

    current = evaluate(phi)
    fnorm = float(np.linalg.norm(current[5]))
    best = (fnorm, phi, current)
    mu, uphill = 0.0, 0
    for _ in range(max_steps):
        _, _, _, h, jac, f = current
        k = jac.T @ h @ jac
        lam, vecs = symmetric_eigen.eigh(0.5 * (k + k.T))
        scale = float(np.abs(lam).max())
        coef = vecs.T @ f
        mu = max(mu / 100.0, (1e-12 * scale) ** 2)
        moved = False
        for _ in range(6):
            candidate = phi - vecs @ (lam * coef / (lam * lam + mu))
            new = evaluate(candidate)
            n_new = float(np.linalg.norm(new[5]))
            # Newton may first overshoot far from the root: a few uphill steps are allowed, the best point kept
            if np.isfinite(n_new) and (n_new < fnorm or (uphill < max_uphill and n_new < 100.0 * fnorm)):
                uphill += n_new >= fnorm
                phi, current, fnorm, moved = candidate, new, n_new, True
                break
            mu = max(mu * 100.0, scale * scale * _EPS)
        if not moved:
            break
        if fnorm < best[0]:
            best = (fnorm, phi, current)
    fnorm, phi, (theta, value, g, *_) = best
    return PolishedPoint(theta, phi, A, float(value), float(np.linalg.norm(g)), fnorm, stencil_grad)


def polish_along_channel(realiser: Realiser, structure: LimitStructure, phi, amplitudes, x, y,
                         max_steps: int = 12) -> list[PolishedPoint]:
    """:func:`polish_on_channel` at each of ``amplitudes``, in their order, by continuation from the largest
    down: ``phi_A - phi = O(1/A)`` is small there, and each point starts the Newton steps at the next smaller
    amplitude (from ``phi`` itself the steps at ``A ~ 10`` can wander off); where that ends short of a root,
    longer steps from ``phi`` with more uphill steps allowed are tried too, and the better point kept."""
    order = np.argsort(-np.asarray(amplitudes, dtype=np.float64), kind="stable")
    points: list[PolishedPoint | None] = [None] * len(order)
    start = np.asarray(phi, dtype=np.float64)
    for i in order:
        A = float(amplitudes[i])
        point = polish_on_channel(realiser, structure, phi, A, x, y, max_steps, start=start)
        if point.stationary_norm > 1e-12 * max(point.stencil_grad_norm, 1.0):  # not a root: from phi itself, longer
            again = polish_on_channel(realiser, structure, phi, A, x, y, 3 * max_steps, max_uphill=10)
            point = min(point, again, key=lambda p: p.stationary_norm)
        start = point.phi
        points[i] = point
    return points


def power_law_exponent(amplitudes, values) -> float:
    """The least-squares slope ``p`` of ``log values = const - p log amplitudes`` (how fast ``values`` fall)."""
    la = np.log(np.asarray(amplitudes, dtype=np.float64))
    lv = np.log(np.maximum(np.asarray(values, dtype=np.float64), 1e-300))
    return float(-np.polyfit(la, lv, 1)[0])


__all__ = ["APPROACH_GRAD_TOL", "PolishedPoint", "Realiser", "network_spec", "polish_along_channel",
           "polish_on_channel", "power_law_exponent", "realiser_jacobian"]
