"""Levenberg–Marquardt on ``grad L = 0``: the nearest critical point of any index, degenerate or not.

A saddle search that follows a mode (:mod:`.saddle_search`) or a plain Newton iteration stalls where
the critical points are not isolated: a duplicated neuron, a neuron whose outgoing weight is zero,
a symmetry direction, each makes the Hessian singular along a manifold of critical points, and a
Newton step along the null space is arbitrary. Treating the gradient as a residual ``r(theta) =
grad L`` with Jacobian ``J = H`` (symmetric) and minimising ``1/2 ||r||^2`` by Levenberg–Marquardt,

    s = -(H^2 + mu I)^-1 H g,

makes the steps along near-null modes vanish instead (the damped pseudo-inverse), so the iteration
converges onto the critical manifold, quadratically in the directions across it (Yamashita &
Fukushima 2001: LM with ``mu ~ ||r||^2`` converges quadratically to a solution set under a local
error bound, without isolated solutions). The damping follows the gain ratio of Nielsen (1999):
``rho`` = actual over predicted decrease of ``||r||^2``; ``mu *= max(1/3, 1 - (2 rho - 1)^3)`` after a
successful step, ``mu *= nu, nu *= 2`` after a failed one.

It stops at the float64 floor of ``||grad L||``, ``max|lam| * eps * max(||theta||, 1)``, or when the
damping grows without a successful step (a minimum of ``||grad L||`` that is not a zero: no critical
point nearby, e.g. one at infinity).

Works on any function given as ``value_grad_hessian(theta) -> (value, grad (P,), hessian (P, P))``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..base.refined import RefinedPoint, Stage, Status
from ..landscape import symmetric_eigen

_EPS = float(np.finfo(np.float64).eps)

ValueGradHessian = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def grad_floor(eigvals: np.ndarray, theta: np.ndarray) -> float:
    """``max|lam| * eps * max(||theta||, 1)``: how small ``||grad L||`` can get in float64 there."""
    return float(np.abs(eigvals).max(initial=0.0)) * _EPS * max(float(np.linalg.norm(theta)), 1.0)


def critical_point_lm(value_grad_hessian: ValueGradHessian, theta0, max_steps: int = 500,
                      stop: threading.Event | None = None) -> RefinedPoint:
    """Levenberg–Marquardt on ``grad L = 0`` from ``theta0 (P,)`` (module docstring).

    ``iterations`` counts successful steps; ``grad_floor`` and ``moved`` (distance from the start)
    are set. Status: ``grad_converged``, ``stalled`` (the damping ran away), ``max_steps``,
    ``nonfinite`` or ``cancelled``.
    """
    x0 = np.array(theta0, dtype=np.float64)
    x = x0.copy()
    value, g, h = value_grad_hessian(x)
    if not (np.isfinite(value) and np.isfinite(g).all() and np.isfinite(h).all()):
        return RefinedPoint(x, float(value), float("nan"), 0, Status.NONFINITE, Stage.LM, grad_floor=float("nan"),
                            moved=0.0)
    lam, vec = symmetric_eigen.eigh(h)
    r2 = float(g @ g)
    scale = float(np.abs(lam).max(initial=0.0)) or 1.0
    mu, nu = 1e-3 * scale * scale, 2.0
    steps, tries, reason = 0, 0, Status.MAX_STEPS
    while tries < 20 * max_steps and steps < max_steps:
        if r2 <= grad_floor(lam, x) ** 2:
            reason = Status.GRAD_CONVERGED
            break
        if stop is not None and stop.is_set():
            reason = Status.CANCELLED
            break
        gi = vec.T @ g
        coef = lam * gi / (lam * lam + mu)
        step = -vec @ coef
        if float(np.linalg.norm(step)) <= _EPS * max(float(np.linalg.norm(x)), 1.0):
            reason = Status.STALLED
            break
        # predicted ||g + H s||^2 in the eigenbasis: sum (gi - lam coef)^2
        predicted = r2 - float(((gi - lam * coef) ** 2).sum())
        tries += 1
        v_new, g_new, h_new = value_grad_hessian(x + step)
        r2_new = float(g_new @ g_new) if np.isfinite(g_new).all() else float("inf")
        rho = (r2 - r2_new) / predicted if predicted > 0 else -1.0
        if rho > 0 and np.isfinite(h_new).all():
            x, value, g, r2 = x + step, v_new, g_new, r2_new
            lam, vec = symmetric_eigen.eigh(h_new)
            scale = float(np.abs(lam).max(initial=0.0)) or scale
            mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            mu = max(mu, (_EPS * scale) ** 2)
            nu = 2.0
            steps += 1
        else:
            mu *= nu
            nu *= 2.0
            if mu > 1e16 * scale * scale:
                reason = Status.STALLED
                break
    g_norm = float(np.sqrt(r2))
    return RefinedPoint(x, float(value), g_norm, steps, reason, Stage.LM, grad_floor=grad_floor(lam, x),
                        moved=float(np.linalg.norm(x - x0)))


def fold_ratio(grad: np.ndarray, hessian: np.ndarray) -> float:
    """``||H g|| / (max|lam| ||g||)``: how much of the gradient ``grad (P,)`` the Hessian ``hessian (P, P)`` sees.

    Where Levenberg–Marquardt stalls at a non-zero gradient, ``H g = 0`` is exactly the condition for a
    stationary point of ``||grad L||^2`` that is not a zero: the gradient lies along a flat Hessian direction, the
    loss there is an inflection with a non-zero slope (a fold, the trace a pair of critical points leaves where
    they have merged and vanished), and no critical point is nearby. A ratio near float64's ``eps`` says so; a
    stall with a ratio of order one is the damping's failure, not the landscape's."""
    g = np.asarray(grad, dtype=np.float64)
    h = np.asarray(hessian, dtype=np.float64)
    scale = float(np.abs(symmetric_eigen.eigvalsh(0.5 * (h + h.T))).max(initial=0.0))
    norm = float(np.linalg.norm(g))
    if not (scale > 0.0 and norm > 0.0):
        return float("nan")
    return float(np.linalg.norm(h @ g)) / (scale * norm)


#: A stalled gradient whose :func:`fold_ratio` is below this lies in the Hessian's null space.
FOLD_RATIO = 1e-6


__all__ = ["FOLD_RATIO", "critical_point_lm", "fold_ratio", "grad_floor"]
