"""Trust-region Newton minimisation with the exact Hessian: the first refinement stage for deep nets.

Where training stops far from a critical point (a deep net after a CPU-sized number of Adam
epochs: ``||grad L|| ~ 1e-4..1e-3``, small negative eigenvalues), SLSQP's quasi-Newton model of
the 341-parameter Hessian is rebuilt from gradients one rank at a time and makes little progress
in a minute, and Newton's method on ``grad L = 0`` (the polish of :mod:`lsexplorer.core.critical.refine`)
converges to whatever critical point is nearest, a saddle as readily as a minimum. A trust-region
method with the *exact* Hessian (closed form, :func:`lsexplorer.core.landscape.hessian.hessian_t`) does both
jobs: it only ever lowers the loss, leaves saddles along their negative curvature, and turns into
Newton's method, converging quadratically, near a minimum with a non-singular Hessian.

Each iteration solves the trust-region subproblem ``min_p g.p + p.H.p / 2, ||p|| <= Delta`` exactly
in the eigenbasis ``H = V diag(lam) V^T``: ``p(s) = -V diag(1 / (lam + s)) V^T g`` with the smallest
``s >= max(0, -lam_min)`` that puts ``p`` inside the region (the secular equation ``||p(s)|| = Delta``
solved by Newton's method on ``1/||p(s)||``, Moré & Sorensen 1983, in the eigenbasis where each
evaluation costs ``O(P)``); in the *hard case*, where ``g`` has no component along the eigenvector
of ``lam_min < 0``, that eigenvector completes the step to the boundary (Nocedal & Wright,
*Numerical Optimization*, section 4.3). The radius follows the usual ratio of actual to predicted
decrease. The stage ends once ``||grad L||`` is at most ``gtol`` (the Newton polish then takes it to
rounding level), at ``max_iter``, at the deadline, on ``stop``, or once ``||theta||`` exceeds
``max_norm``: lowering the loss by growing the weights without bound is the mark of a flat channel to
infinity (neurons saturating, or two merging while their outgoing weights diverge), where no finite
critical point lies ahead and more iterations only cost time.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import torch

from ..base.refined import RefinedPoint, Stage, Status
from ..landscape import symmetric_eigen
from ..landscape.hessian import hessian_t, loss_grad_t
from ..landscape.nets import MLPSpec


def _result(theta: np.ndarray, value: float, g: np.ndarray, iterations: int, status: Status) -> RefinedPoint:
    return RefinedPoint(theta, value, float(np.linalg.norm(g)), iterations, status, Stage.TRUST_NEWTON, grad=g)


def trust_region_step(lam: np.ndarray, c: np.ndarray, radius: float) -> np.ndarray:
    """Exact minimiser ``p~ (P,)``, in the eigenbasis, of ``c.p + sum lam p^2 / 2`` over ``||p|| <= radius``.

    ``lam (P,)`` ascending eigenvalues of the Hessian, ``c = V^T g``. Returns the Newton step when
    ``H`` is positive definite and the step fits, else a boundary step ``-c / (lam + s)`` (plus, in
    the hard case, a multiple of the lowest eigenvector).
    """
    lam_min = float(lam[0])
    scale = max(float(np.abs(lam).max()), 1e-300)
    if lam_min > 1e-14 * scale:
        p = -c / lam
        if np.linalg.norm(p) <= radius:
            return p
    lo = max(0.0, -lam_min)
    # Newton on phi(s) = 1/||p(s)|| - 1/radius, increasing and concave in s > lo (Moré-Sorensen).
    safe = lo + max(abs(lo), scale) * 1e-14
    norm = float(np.linalg.norm(c / (lam + safe)))
    if norm < radius:  # hard case: g (almost) orthogonal to the lowest eigenvector
        p = -c / (lam + safe)
        p[0] = 0.0
        rest = radius * radius - float(p @ p)
        p[0] = math.sqrt(max(rest, 0.0)) * (-1.0 if c[0] > 0 else 1.0)
        return p
    s = safe
    for _ in range(100):
        d = lam + s
        p = -c / d
        norm = float(np.linalg.norm(p))
        if abs(norm - radius) <= 1e-10 * radius:
            break
        dnorm = -float(np.sum(c * c / d**3)) / norm  # d||p||/ds < 0
        s_new = s + (1.0 / norm - 1.0 / radius) * norm * norm / dnorm
        s = s_new if s_new > lo else 0.5 * (s + lo)
    return -c / (lam + s)


def trust_newton(spec: MLPSpec, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor, gtol: float,
                 max_iter: int, maxtime: float, stop: threading.Event | None = None,
                 max_norm: float = math.inf) -> RefinedPoint:
    """Minimise the float64 loss from ``theta (P,)`` by trust-region Newton (module docstring).

    ``x (N, d)``, ``y (N, d_out)`` float64 CPU tensors. Never raises for a bad point: a non-finite
    loss, gradient or Hessian ends the stage with status ``nonfinite`` at the last finite point. The
    status is ``grad_small``, ``max_iter``, ``maxtime``, ``cancelled``, ``stalled`` (the radius fell
    below rounding), ``runaway`` (``||theta|| > max_norm``) or ``nonfinite``; ``grad`` is set.
    """
    deadline = time.monotonic() + maxtime
    theta = np.array(theta, dtype=np.float64)

    def evaluate(th: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = loss_grad_t(spec, torch.from_numpy(th), x, y)
        return float(value), g.numpy()

    value, g = evaluate(theta)
    if not (math.isfinite(value) and np.isfinite(g).all()):
        return _result(theta, value, g, 0, Status.NONFINITE)
    radius = max(0.1 * float(np.linalg.norm(theta)), 1e-3)
    for it in range(max_iter):
        if float(np.linalg.norm(g)) <= gtol:
            return _result(theta, value, g, it, Status.GRAD_SMALL)
        if stop is not None and stop.is_set():
            return _result(theta, value, g, it, Status.CANCELLED)
        if time.monotonic() > deadline:
            return _result(theta, value, g, it, Status.MAXTIME)
        h = hessian_t(spec, torch.from_numpy(theta), x, y).numpy()
        if not np.isfinite(h).all():
            return _result(theta, value, g, it + 1, Status.NONFINITE)
        lam, vecs = symmetric_eigen.eigh(h)
        c = vecs.T @ g
        while True:
            p = trust_region_step(lam, c, radius)
            predicted = -float(c @ p + 0.5 * np.sum(lam * p * p))
            step = vecs @ p
            if not np.linalg.norm(step) > 4 * np.finfo(float).eps * max(float(np.linalg.norm(theta)), 1.0):
                return _result(theta, value, g, it + 1, Status.STALLED)
            cand_value, cand_g = evaluate(theta + step)
            finite = math.isfinite(cand_value) and np.isfinite(cand_g).all()
            rho = (value - cand_value) / predicted if finite and predicted > 0 else -1.0
            step_norm = float(np.linalg.norm(p))
            if rho < 0.25:
                radius = 0.25 * step_norm
            elif rho > 0.75 and step_norm >= 0.99 * radius:
                radius = 2.0 * radius
            if rho > 0.0 or (finite and cand_value < value):
                theta, value, g = theta + step, cand_value, cand_g
                if float(np.linalg.norm(theta)) > max_norm:
                    return _result(theta, value, g, it + 1, Status.RUNAWAY)
                break
            if stop is not None and stop.is_set():
                return _result(theta, value, g, it + 1, Status.CANCELLED)
    status = Status.GRAD_SMALL if float(np.linalg.norm(g)) <= gtol else Status.MAX_ITER
    return _result(theta, value, g, max_iter, status)


__all__ = ["trust_region_step", "trust_newton"]
