"""Float64 refinement of a training end point to a nearby critical point.

Up to four stages; the :class:`~lsexplorer.core.base.refined.RefinedPoint`'s ``stop_reason`` records how each ended, e.g.
``"slsqp:XTOL_REACHED+gauss_newton:loss_converged+newton:grad_converged"``.

1. **nlopt ``LD_SLSQP``** (the thesis protocol, section 6.2.1) minimises the float64 loss with its
   exact gradient until one of nlopt's stop criteria (``xtol_rel``, ``ftol_rel``, ``maxeval``,
   ``maxtime``) or a failure; the name of nlopt's result code is recorded. The best point seen is
   kept whatever the exit.
2. **Gauss–Newton (Levenberg–Marquardt on the residuals)**, only where SLSQP ended at nearly zero
   loss (``loss <= gauss_newton_below * mean ||y_i||^2``). A duplicated neuron at a zero-loss point
   makes the loss grow only *quartically* across the split, ``L ~ |w_j - w_k|^4``, in a curved
   valley; gradient-based methods stop where ``||grad L|| ~ |w_j - w_k|^3`` reaches rounding level,
   about ``|w_j - w_k| ~ 1e-4`` and ``L ~ 1e-19``, leaving spurious Hessian eigenvalues of ~1e-10
   across the split. The residuals ``f(x_i) - y_i`` resolve the split to ``~1e-8`` (they are
   quadratic in it, with rounding 1e-16), so LM on them reaches ``L ~ 1e-32`` and zero eigenvalues of
   ~1e-16. It only ever lowers the loss, which near zero loss cannot pass by a saddle.
3. **Newton on the gradient system** ``grad L(theta) = 0`` with the exact Hessian, for every point.
   It reaches machine precision where SLSQP (quasi-Newton) stalls around 1e-8..1e-12, and, being
   root finding, converges to the nearby critical point of *any* kind, saddles included: the point
   is then certified by its Hessian, not assumed to be a minimum. Critical points of
   over-parameterised nets are rarely isolated, so the Hessian ``H = V diag(lam) V^T`` is often
   singular; the step is a Levenberg–Marquardt step on ``grad L = 0`` in the eigenbasis,
   ``-V diag(lam / (lam^2 + mu)) V^T grad L``: Newton along every ``|lam| >> sqrt(mu)``, no step along
   (near-)null directions. ``mu`` starts at ``(newton_rcond * max|lam|)^2``; a step is accepted only if
   it lowers ``||grad L||``, otherwise ``mu`` grows a hundredfold (the step turns to steepest descent
   on ``||grad L||^2``, which lowers it for a small enough step).

4. **Symmetry-aware polishing** (:mod:`lsexplorer.core.critical.polish`), where a hidden layer has
   near-duplicate neurons or neurons with zero outgoing weight: reduce to the narrower net, refine
   there, embed back exactly, keep the result if it is no worse. Stages 2 and 3 cannot be relied on
   to close a split pair at zero loss (``polish.py`` says why); this stage does, whatever the start.

How far ``||grad L||`` can go: a float64 point is known to one unit in the last place per
coordinate, and moving it by that much changes the gradient by up to ``max|lam| * eps * ||theta||``
(``eps = 2.2e-16``); stage 3 stops once below that (``"grad_converged"``), which on the toy problem
(section 6.2) is ~1e-15. Newton's last step usually lands well below: refined toy points have
``||grad L||`` of 3e-18..2e-16. Those figures are real, not rounding noise: at such points the
float64 gradient (a sum over N = 1681 samples) differs from an 80-bit recomputation of the exact
gradient at the same float64 point by 7e-18..3e-17. Points running off to infinity (weights in the
hundreds or thousands, ``max|lam| ~ 1e6``) have a floor of 1e-12..1e-7 and are left there, to be
certified as not converged.
"""

from __future__ import annotations

import math
import threading
import time

from ..landscape.nets import MLPSpec
from .polish import polish
from ..base.refined import RefinedPoint, Stage, Status
from .refine_stages import NLOPT_RESULTS, RefineConfig, finish, newton_stage, run_stages


def refine(spec: MLPSpec, theta0, x, y, config: RefineConfig | None = None,
           stop: threading.Event | None = None) -> RefinedPoint:
    """Refine ``theta0 (P,)`` on data ``x (N, d)``, ``y (N, d_out)`` to a nearby critical point, float64.

    Never raises for a bad point: a NaN/inf start or a divergence returns the best finite point
    known (or the start) with a ``stop_reason`` starting ``"nonfinite"``. Setting ``stop`` ends the
    current stage at its next evaluation; the result then has ``stop_reason == "cancelled"``.
    """
    config = config or RefineConfig()
    started = time.perf_counter()
    outcome = run_stages(spec, theta0, x, y, config, stop)
    if (config.polish and outcome.problem is not None and math.isfinite(outcome.loss)
            and math.isfinite(outcome.grad_norm) and not outcome.interrupted()):
        polished = polish(spec, outcome.theta, outcome.x, outcome.y, config, stop)
        outcome.stages.extend(polished.stages)
        if polished.status is Status.ACCEPTED:
            outcome.theta, outcome.loss, outcome.grad_norm = polished.theta, polished.loss, polished.grad_norm
            outcome.stage = Stage.POLISH
    return finish(outcome, stop, started)


__all__ = ["NLOPT_RESULTS", "RefineConfig", "newton_stage", "refine"]
