"""The first three stages of refinement, shared by :func:`lsexplorer.core.critical.refine.refine` and polishing.

:mod:`lsexplorer.core.critical.refine` describes the stages (SLSQP or trust-region Newton, Gauss-Newton on
the residuals near zero loss, Newton on ``grad L = 0``) and why each is there. They live here, apart
from the fourth stage, because symmetry-aware polishing (:mod:`lsexplorer.core.critical.polish`) refines a
narrower network with exactly these stages and finishes a candidate with stage 3 alone, while
:func:`~lsexplorer.core.critical.refine.refine` runs the stages and then polishing.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time

import nlopt
import numpy as np
import torch

from ..base.classify import loss_scale
from ..base.config_schema import MINIMIZERS
from ..base.nlopt_guard import CallbackGuard
from ..base.record import Record
from ..base.refined import RefinedPoint, Stage, StageEnd, Status
from ..landscape import symmetric_eigen
from ..landscape.hessian import float64_problem, hessian_t, loss_grad_t, output_jacobian_t
from ..landscape.nets import MLPSpec, forward
from ..landscape.point_loss import PointLoss
from .trust_newton import trust_newton

_EPS = float(np.finfo(np.float64).eps)

#: nlopt result codes by number, e.g. ``4 -> "XTOL_REACHED"``.
NLOPT_RESULTS = {getattr(nlopt, name): name for name in (
    "SUCCESS", "STOPVAL_REACHED", "FTOL_REACHED", "XTOL_REACHED", "MAXEVAL_REACHED", "MAXTIME_REACHED",
    "FAILURE", "INVALID_ARGS", "OUT_OF_MEMORY", "ROUNDOFF_LIMITED", "FORCED_STOP")}


@dataclasses.dataclass
class RefineConfig(Record):
    """Settings of :func:`refine`; stored with every session so a refinement can be repeated.

    slsqp_maxeval, slsqp_maxtime:
        Hard limits on SLSQP (objective evaluations; seconds). End points of the toy problem need
        70..3000 evaluations (0.02..0.3 s); ones escaping to infinity take 7000 to all 20000
        (1..2.5 s). The limits guarantee a refinement never hangs.
    slsqp_xtol_rel, slsqp_ftol_rel:
        nlopt's relative step and loss-change tolerances, near float64 resolution so that SLSQP runs
        to convergence as in the thesis rather than stopping on a plateau, from where the Newton
        polish would go to whatever critical point is nearest.
    slsqp_max_norm_growth:
        When positive, SLSQP stops (``runaway``) once ``||theta||`` exceeds ``slsqp_max_norm_growth *
        max(||theta_0||, 1)``: a start on a flat channel to infinity then costs a few hundred
        evaluations instead of ``slsqp_maxeval``, and ends ``not_converged`` as it would anyway.
        Off (0) for end points, which must run far out for their channel to be recognised; the closest
        saddle's narrower refinements, which only need the finite critical points, turn it on.
    gauss_newton_below, gauss_newton_max_iter:
        Stage 2 runs when the loss after SLSQP is at most ``gauss_newton_below * mean ||y_i||^2``
        (the loss of the zero function), for at most this many Jacobians. 1e-8 is far below the
        non-global critical losses of the toy problem (~5e-4 relative) and far above the ~1e-19
        where gradient methods leave a split zero-loss point.
    newton_max_iter:
        Limit on stage 3 iterations (each costs one exact Hessian); 2..3 are typical.
    newton_rcond:
        Eigenvalues below ``newton_rcond * max|lam|`` in modulus get (almost) no Newton step (initial
        LM ``mu = (newton_rcond * max|lam|)^2``, also stage 2's smallest damping). 1e-10 keeps the
        small genuine curvatures of the toy problem (``lam_min / lam_max`` down to 5e-9) fully Newton while
        numerically zero ones (~1e-16 relative) get no step.
    grad_target:
        Stage 3 stops once ``||grad L|| <= max(grad_target, max|lam| * eps * ||theta||)``; the second
        term is the rounding floor (module docstring). 0 means "as far as float64 allows".
    polish_maxtime:
        Seconds for stages 2 and 3 together.
    minimizer:
        Stage 1: ``"slsqp"`` (above) or ``"trust_newton"``, trust-region Newton with the exact Hessian
        (:mod:`lsexplorer.core.critical.trust_newton`), for deep nets whose training ends far from a
        critical point; it runs for at most ``trust_max_iter`` Hessians and ``trust_maxtime``
        seconds, or until ``||grad L|| <= trust_gtol``, where stage 3 takes over, and gives up
        ("runaway") once ``||theta||`` exceeds ``trust_max_norm_growth * max(||theta_0||, 1)``,
        the growth at which certification calls a point diverged.
    polish, polish_merge_tol, polish_zero_tol:
        Stage 4 (:mod:`lsexplorer.core.critical.polish`): neurons of a hidden layer whose incoming vectors are
        within ``polish_merge_tol`` (relative to their norms, floor 1) are merged, neurons whose
        outgoing weights are below ``polish_zero_tol`` (relative) dropped, the narrower point refined
        and embedded back exactly. Refined toy points left half-merged by stages 1..3 have pairs 1e-8
        .. 2e-2 apart; distinct neurons of toy critical points are >= 0.2 apart. The embedded point
        replaces the refined one only if it is no worse (``polish.py``, step 4).
    """

    tagged = False
    what = "refine settings"
    refuse_unknown = True

    slsqp_maxeval: int = 20000
    slsqp_maxtime: float = 30.0
    slsqp_xtol_rel: float = 1e-16
    slsqp_ftol_rel: float = 1e-16
    slsqp_max_norm_growth: float = 0.0
    gauss_newton_below: float = 1e-8
    gauss_newton_max_iter: int = 100
    newton_max_iter: int = 30
    newton_rcond: float = 1e-10
    grad_target: float = 0.0
    polish_maxtime: float = 30.0
    minimizer: str = "slsqp"
    trust_max_iter: int = 3000
    trust_maxtime: float = 600.0
    trust_gtol: float = 1e-9
    trust_max_norm_growth: float = 10.0
    polish: bool = True
    polish_merge_tol: float = 0.05
    polish_zero_tol: float = 1e-3

    def __post_init__(self) -> None:
        if self.minimizer not in MINIMIZERS:
            raise ValueError(f"unknown refine minimizer {self.minimizer!r}; choose one of {', '.join(MINIMIZERS)}")


class _Problem:
    """One refinement's float64 tensors and its stop conditions."""

    def __init__(self, spec: MLPSpec, x: torch.Tensor, y: torch.Tensor, config: RefineConfig,
                 stop: threading.Event | None):
        self.spec, self.x, self.y, self.config, self.stop = spec, x, y, config, stop
        self.deadline = math.inf
        self.point_loss = PointLoss(spec, x, y)

    def interrupted(self) -> Status | None:
        """``cancelled`` or ``maxtime`` if the current stage must end now, else None."""
        if self.stop is not None and self.stop.is_set():
            return Status.CANCELLED
        if time.monotonic() > self.deadline:
            return Status.MAXTIME
        return None

    def residuals(self, theta: np.ndarray) -> torch.Tensor:
        """``f(x_i) - y_i`` flattened: ``(N * d_out,)``."""
        with torch.no_grad():
            return (forward(self.spec, torch.from_numpy(theta), self.x) - self.y).reshape(-1)


def _slsqp(pb: _Problem, theta0: np.ndarray) -> tuple[np.ndarray, float, int, Status]:
    """Stage 1: (best point seen, its loss, objective evaluations, nlopt's result, ``nonfinite`` or ``runaway``)."""
    best = {"f": math.inf, "x": theta0.copy(), "nonfinite": False, "runaway": False}
    growth = pb.config.slsqp_max_norm_growth
    max_norm = growth * max(float(np.linalg.norm(theta0)), 1.0) if growth > 0 else math.inf
    opt = nlopt.opt(nlopt.LD_SLSQP, theta0.size)
    opt.set_exceptions_enabled(False)
    guard = CallbackGuard(opt)

    def objective(th: np.ndarray, grad_out: np.ndarray) -> float:
        if pb.stop is not None and pb.stop.is_set():
            opt.force_stop()
        f, g = pb.point_loss(th)
        if grad_out.size:
            grad_out[:] = g
        if not (math.isfinite(f) and np.isfinite(grad_out).all()):
            best["nonfinite"] = True
            opt.force_stop()
            return math.inf
        if f < best["f"]:
            best["f"], best["x"] = f, th.copy()
        if float(th @ th) > max_norm * max_norm:
            best["runaway"] = True
            opt.force_stop()
        return f

    opt.set_min_objective(guard(objective))
    opt.set_xtol_rel(pb.config.slsqp_xtol_rel)
    opt.set_ftol_rel(pb.config.slsqp_ftol_rel)
    opt.set_maxeval(pb.config.slsqp_maxeval)
    opt.set_maxtime(pb.config.slsqp_maxtime)
    guard.optimize(theta0.copy())
    status = (Status.NONFINITE if best["nonfinite"] else Status.RUNAWAY if best["runaway"]
              else Status(NLOPT_RESULTS.get(opt.last_optimize_result(), "UNKNOWN")))
    return best["x"], best["f"], opt.get_numevals(), status


def _gauss_newton(pb: _Problem, theta: np.ndarray) -> tuple[np.ndarray, Status]:
    """Stage 2: Levenberg–Marquardt on the residuals, accepting only steps that lower the loss.

    Step ``-V diag(s / (s^2 + lm * s_max^2)) U^T r`` from the SVD ``J = U diag(s) V^T`` (no normal
    equations: squaring ``J`` would lose the small singular values across a split neuron). Stops when
    the loss is exactly 0, when no damping lowers it ("loss_stalled"), or when five accepted steps in
    a row failed to halve it ("loss_converged": what remains is rounding noise).
    """
    r = pb.residuals(theta)
    sq = float(r @ r)
    lm_floor = pb.config.newton_rcond ** 2
    lm = lm_floor  # try the plain Gauss-Newton step first: it is right wherever the model is
    window = [sq]
    for _ in range(pb.config.gauss_newton_max_iter):
        if sq == 0.0:
            return theta, Status.ZERO_LOSS
        if (why := pb.interrupted()) is not None:
            return theta, why
        u, s, vh = torch.linalg.svd(output_jacobian_t(pb.spec, torch.from_numpy(theta), pb.x), full_matrices=False)
        ur = u.T @ r
        while True:
            step = -(vh.T @ (s * ur / (s * s + lm * s[0] * s[0]))).numpy()
            candidate = theta + step
            r_new = pb.residuals(candidate)
            sq_new = float(r_new @ r_new)
            if sq_new < sq:  # False for NaN
                theta, r, sq = candidate, r_new, sq_new
                lm = max(lm / 10.0, lm_floor)
                break
            lm *= 10.0
            if lm > 1e10:
                return theta, Status.LOSS_STALLED
        window.append(sq)
        if len(window) > 5 and window[-1] > 0.5 * window[-6]:
            return theta, Status.LOSS_CONVERGED
    return theta, Status.MAX_ITER


def _newton_lookahead(pb: _Problem, theta: np.ndarray, g: np.ndarray, mu: float
                      ) -> tuple[np.ndarray, float, np.ndarray, float] | None:
    """One more damped Newton step from ``theta``: ``(point, loss, gradient, ||gradient||)`` or None."""
    h = hessian_t(pb.spec, torch.from_numpy(theta), pb.x, pb.y).numpy()
    if not np.isfinite(h).all():
        return None
    lam, vecs = symmetric_eigen.eigh(h)
    point = theta - vecs @ (lam * (vecs.T @ g) / (lam * lam + mu))
    value, grad = loss_grad_t(pb.spec, torch.from_numpy(point), pb.x, pb.y)
    grad = grad.numpy()
    norm = float(np.linalg.norm(grad))
    return (point, value, grad, norm) if math.isfinite(value) and math.isfinite(norm) else None


def _newton(pb: _Problem, theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, int, Status]:
    """Stage 3: LM/Newton on ``grad L = 0`` (module docstring).

    Returns (point, loss, gradient, exact Hessians computed, status).
    """
    def evaluate(th: np.ndarray) -> tuple[float, np.ndarray, float]:
        value, g = loss_grad_t(pb.spec, torch.from_numpy(th), pb.x, pb.y)
        g = g.numpy()
        return value, g, float(np.linalg.norm(g))

    value, g, gnorm = evaluate(theta)
    if not (math.isfinite(value) and math.isfinite(gnorm)):
        return theta, value, g, 0, Status.NONFINITE
    mu = 0.0
    for it in range(pb.config.newton_max_iter):
        if (why := pb.interrupted()) is not None:
            return theta, value, g, it, why
        h = hessian_t(pb.spec, torch.from_numpy(theta), pb.x, pb.y).numpy()
        if not np.isfinite(h).all():
            return theta, value, g, it + 1, Status.NONFINITE
        lam, vecs = symmetric_eigen.eigh(h)
        scale = float(np.abs(lam).max())
        if gnorm <= max(pb.config.grad_target, scale * _EPS * float(np.linalg.norm(theta))):
            return theta, value, g, it + 1, Status.GRAD_CONVERGED
        c = vecs.T @ g
        mu_floor = (pb.config.newton_rcond * scale) ** 2
        mu = max(mu / 100.0, mu_floor)
        first_try = True
        while True:
            step = -vecs @ (lam * c / (lam * lam + mu))
            if (why := pb.interrupted()) is not None:
                return theta, value, g, it + 1, why
            if np.linalg.norm(step) <= _EPS * np.linalg.norm(theta):
                return theta, value, g, it + 1, Status.STALLED
            candidate = theta + step
            cand_value, cand_g, cand_norm = evaluate(candidate)
            if math.isfinite(cand_value) and cand_norm < gnorm:
                theta, value, g, gnorm = candidate, cand_value, cand_g, cand_norm
                break
            if first_try and math.isfinite(cand_value):
                # Watchdog: along a small eigenvalue the full step is long, and the cubic term
                # raises ||grad|| once before Newton converges quadratically; judge the pair.
                first_try = False
                look = _newton_lookahead(pb, candidate, cand_g, mu)
                if look is not None and look[3] < gnorm:
                    theta, value, g, gnorm = look
                    break
            mu = max(mu * 100.0, scale * scale * _EPS)
    return theta, value, g, pb.config.newton_max_iter, Status.MAX_ITER


def newton_stage(spec: MLPSpec, theta: np.ndarray, x: torch.Tensor, y: torch.Tensor, config: RefineConfig,
                 stop: threading.Event | None = None) -> RefinedPoint:
    """Stage 3 alone from ``theta (P,)`` on float64 tensors; ``grad`` is set, ``iterations`` counts Hessians."""
    pb = _Problem(spec, x, y, config, stop)
    pb.deadline = time.monotonic() + config.polish_maxtime
    theta, value, g, iters, status = _newton(pb, np.asarray(theta, dtype=np.float64).copy())
    return RefinedPoint(theta, value, float(np.linalg.norm(g)), iters, status, Stage.NEWTON, grad=g)


# ----------------------------------------------------------------- stage 1 for deep nets (trust region)

def _trust_newton_stage(pb: _Problem, theta: np.ndarray) -> tuple[np.ndarray, float, int, StageEnd]:
    """Stage 1 by trust-region Newton: (point, loss, 0 SLSQP evaluations, ``trust_newton:STATUS:ITERATIONS``)."""
    c = pb.config
    max_norm = c.trust_max_norm_growth * max(float(np.linalg.norm(theta)), 1.0)
    res = trust_newton(pb.spec, theta, pb.x, pb.y, c.trust_gtol, c.trust_max_iter, c.trust_maxtime, pb.stop, max_norm)
    return res.theta, res.loss, 0, StageEnd(Stage.TRUST_NEWTON, res.status, str(res.iterations))


@dataclasses.dataclass
class StagesOutcome:
    """Where stages 1-3 left a point: ``theta (P,)``, its loss and gradient norm, each stage's end,
    SLSQP's evaluations and stage 3's Hessians, the stage that produced the point (None: none ran),
    and the float64 data tensors they ran on."""

    theta: np.ndarray
    loss: float
    grad_norm: float
    stages: list[StageEnd]
    slsqp_evals: int
    newton_iters: int
    stage: Stage | None
    x: torch.Tensor
    y: torch.Tensor
    problem: _Problem | None = None

    def interrupted(self) -> bool:
        return self.problem is not None and self.problem.interrupted() is not None


def run_stages(spec: MLPSpec, theta0, x, y, config: RefineConfig, stop: threading.Event | None = None
               ) -> StagesOutcome:
    """Stages 1-3 from ``theta0 (P,)``; a NaN/inf start is returned as it is, with no stage run."""
    t, xt, yt = float64_problem(spec, theta0, x, y)
    theta = t.numpy().copy()
    if not np.isfinite(theta).all():
        return StagesOutcome(theta, math.nan, math.nan, [], 0, 0, None, xt, yt)
    pb = _Problem(spec, xt, yt, config, stop)
    if config.minimizer == "trust_newton":
        theta, slsqp_loss, evals, first = _trust_newton_stage(pb, theta)
    else:
        theta, slsqp_loss, evals, slsqp_status = _slsqp(pb, theta)
        first = StageEnd(Stage.SLSQP, slsqp_status)
    stages = [first]
    pb.deadline = time.monotonic() + config.polish_maxtime
    if slsqp_loss <= config.gauss_newton_below * loss_scale(yt.numpy()) and not pb.interrupted():
        theta, gn_status = _gauss_newton(pb, theta)
        stages.append(StageEnd(Stage.GAUSS_NEWTON, gn_status))
    theta, value, g, iters, newton_status = _newton(pb, theta)
    stages.append(StageEnd(Stage.NEWTON, newton_status))
    return StagesOutcome(theta, value, float(np.linalg.norm(g)), stages, evals, iters, Stage.NEWTON, xt, yt, pb)


def finish(outcome: StagesOutcome, stop: threading.Event | None, started: float) -> RefinedPoint:
    """The :class:`RefinedPoint` of ``outcome``: its status is the last stage's, ``cancelled`` when
    ``stop`` is set (no stage ends kept), ``nonfinite`` with a ``why`` for a NaN/inf start or end."""
    elapsed = time.perf_counter() - started
    if outcome.stage is None:
        return RefinedPoint(outcome.theta, math.nan, math.nan, 0, Status.NONFINITE, None,
                            why="the start point has NaN/inf entries", elapsed=elapsed)
    value, gnorm = outcome.loss, outcome.grad_norm
    status, why, stages = outcome.stages[-1].status, "", outcome.stages
    if stop is not None and stop.is_set():
        status, stages = Status.CANCELLED, []
    elif not (math.isfinite(value) and math.isfinite(gnorm)):
        status, why = Status.NONFINITE, f"loss {value}, gradient norm {gnorm} after {'+'.join(map(str, stages))}"
    return RefinedPoint(outcome.theta, value, gnorm, outcome.newton_iters, status, outcome.stage, stages, why,
                        outcome.slsqp_evals, elapsed)


def refine_stages(spec: MLPSpec, theta0, x, y, config: RefineConfig | None = None,
                  stop: threading.Event | None = None) -> RefinedPoint:
    """Stages 1-3 only: :func:`lsexplorer.core.critical.refine.refine` without symmetry-aware polishing."""
    started = time.perf_counter()
    return finish(run_stages(spec, theta0, x, y, config or RefineConfig(), stop), stop, started)


__all__ = ["NLOPT_RESULTS", "RefineConfig", "StagesOutcome", "finish", "newton_stage",
           "refine_stages", "run_stages"]
