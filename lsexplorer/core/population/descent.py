"""Gradient descent on the Gaussian-input ReLU population loss, then certified critical points.

The protocol of Safran & Shamir (ICML 2018): every seed starts from a Xavier initialisation and runs
plain gradient descent with a fixed step until its gradient is tiny; the end point is then checked
with second-order conditions. Here the end of descent is refined in float64 by Newton's method with
the exact Hessian (:class:`~lsexplorer.core.population.relu_gaussian.ReluGaussian`), and classified by
:func:`lsexplorer.core.base.classify.classify`: zero loss is a global minimum, positive loss with a
positive definite Hessian a spurious local minimum. A point where some ``w_i`` is (numerically) zero
is not a point where the loss is differentiable: it is certified only when its loss is zero (a global
minimum, since the loss is non-negative) and is ``not_converged`` otherwise.

:func:`descend` and :func:`certify_population` are generators (progress records, a stop event);
:func:`run_population` chains them over all seeds.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator

import numpy as np
import torch

from ..base.classify import Tolerances, classify
from ..base.numerical_failure import failure_reason, is_numerical_failure
from ..base.record import Record
from ..base.refined import RefinedPoint, Stage, Status
from ..landscape import symmetric_eigen
from .relu_gaussian import ReluGaussian

#: Tolerances for this landscape. Refined points reach ``||grad F|| ~ 1e-15``; the loss is a
#: difference of O(k^2) sums, so exact zeros come out at ~1e-14 and ``loss_rtol`` leaves room above.
POPULATION_TOLERANCES = Tolerances(grad_tol=1e-10, eig_rtol=1e-9, eig_atol=1e-12, loss_rtol=1e-11,
                                   loss_atol=1e-14, max_norm_growth=10.0)

#: ``|w_i|`` below this (relative to the teacher's largest norm) counts as a dead neuron at ``w_i = 0``.
DEAD_NEURON_RTOL = 1e-6


@dataclasses.dataclass
class DescentConfig(Record):
    """Plain gradient descent: ``theta <- theta - lr grad F`` until ``||grad F|| <= grad_tol`` or
    ``F <= loss_rtol * E[y^2]``.

    ``lr`` None means ``2.5 / k``: Safran & Shamir's later published code steps ``5 / k`` on ``F / 2``,
    i.e. the same trajectory. The loss test ends seeds at the global minimum early: where a teacher
    neuron is split between two students the loss grows only with the cube of their angle, so the
    gradient decays like ``1 / steps^2`` and would need ~1e5 steps to reach ``grad_tol``; Newton
    refinement finishes them. ``max_steps`` caps the descent; ``snapshots`` log-spaced steps are kept.
    """

    tagged = False
    what = "descent settings"
    refuse_unknown = True

    lr: float | None = None
    grad_tol: float = 1e-9
    loss_rtol: float = 1e-10
    max_steps: int = 200_000
    check_every: int = 50
    snapshots: int = 40

    def step_size(self, problem: ReluGaussian) -> float:
        return float(self.lr) if self.lr is not None else 2.5 / problem.k


@dataclasses.dataclass
class DescentProgress:
    """``done`` seeds converged of ``total`` after ``step`` steps; ``loss (S,)`` current values."""

    step: int
    done: int
    total: int
    elapsed: float
    loss: np.ndarray


@dataclasses.dataclass
class DescentResult:
    """End of descent for ``S`` seeds: ``theta (S, P)``, ``loss``, ``grad_norm`` ``(S,)``, ``steps (S,)``
    run by each seed, ``converged (S,)`` (reached ``grad_tol`` or ``loss_rtol``), ``snapshot_steps (K,)``,
    ``snapshots (S, K, P)`` and ``snapshot_loss (S, K)``, ``stopped`` (by the event), ``elapsed``."""

    theta: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    snapshot_steps: np.ndarray
    snapshots: np.ndarray
    snapshot_loss: np.ndarray
    stopped: bool
    elapsed: float


def snapshot_schedule(max_steps: int, count: int) -> np.ndarray:
    """``count`` (or fewer) distinct log-spaced steps in ``[0, max_steps]``, starting at 0."""
    steps = np.unique(np.round(np.geomspace(1, max_steps, max(count - 1, 1))).astype(np.int64))
    return np.concatenate([[0], steps])


def descend(problem: ReluGaussian, theta0, config: DescentConfig | None = None,
            stop: threading.Event | None = None) -> Generator[DescentProgress, None, DescentResult]:
    """Gradient descent on every row of ``theta0 (S, P)``, each row until its own gradient is small.

    Converged rows leave the batch, so the cost follows the slowest seeds only where they are.
    Snapshots are taken on :func:`snapshot_schedule` up to the last step any row ran, which is always
    the last snapshot; snapshot steps past a row's end hold its final point.
    """
    config = config or DescentConfig()
    lr = config.step_size(problem)
    loss_stop = config.loss_rtol * problem.target_second_moment
    theta = torch.as_tensor(np.array(theta0, dtype=np.float64, ndmin=2)).clone()
    s_rows, n_params = theta.shape
    sched = snapshot_schedule(config.max_steps, config.snapshots)
    snaps = np.empty((s_rows, len(sched), n_params), dtype=np.float64)
    snap_loss = np.empty((s_rows, len(sched)))
    loss = np.full(s_rows, np.nan)
    gnorm = np.full(s_rows, np.nan)
    steps = np.zeros(s_rows, dtype=np.int64)
    converged = np.zeros(s_rows, dtype=bool)
    active = np.arange(s_rows)
    start = time.perf_counter()
    step, next_snap, stopped = 0, 0, False
    while True:
        value, grad = problem.loss_and_grad(theta[active], robust=False)
        norms = grad.norm(dim=1)
        if next_snap < len(sched) and step == sched[next_snap]:
            snaps[active, next_snap] = theta[active].numpy()
            snap_loss[active, next_snap] = value.numpy()
            next_snap += 1
        if step % config.check_every == 0 or step >= config.max_steps:
            loss[active], gnorm[active], steps[active] = value.numpy(), norms.numpy(), step
            ok = ((norms <= config.grad_tol) | (value <= loss_stop)).numpy()
            done = ok | ~torch.isfinite(norms).numpy()
            converged[active[done]] = ok[done]
            if step >= config.max_steps:
                done[:] = True
            if done.any():
                for j in range(next_snap, len(sched)):
                    snaps[active[done], j] = theta[active[done]].numpy()
                    snap_loss[active[done], j] = value.numpy()[done]
                active = active[~done]
                keep = torch.from_numpy(~done)
                value, grad = value[keep], grad[keep]
            yield DescentProgress(step, s_rows - len(active), s_rows, time.perf_counter() - start, loss.copy())
            if len(active) == 0:
                break
            if stop is not None and stop.is_set():
                stopped = True
                for j in range(next_snap, len(sched)):
                    snaps[active, j] = theta[active].numpy()
                    snap_loss[active, j] = loss[active]
                break
        theta[active] -= lr * grad
        step += 1
    # Snapshots end at the last step any seed ran, which is added when it is not on the schedule.
    keep = sched < step
    sched = np.concatenate([sched[keep], [step]])
    snaps = np.concatenate([snaps[:, keep], theta.numpy()[:, None]], axis=1)
    snap_loss = np.concatenate([snap_loss[:, keep], loss[:, None]], axis=1)
    return DescentResult(theta.numpy(), loss, gnorm, steps, converged, sched, snaps, snap_loss, stopped,
                         time.perf_counter() - start)


@dataclasses.dataclass
class PopulationPoints:
    """Certified points for ``S`` seeds, the fields of the session's ``/runs`` rows:
    ``theta (S, P)``, ``loss``, ``grad_norm``, ``lambda_min`` ``(S,)``, ``hessian_eigvals (S, P)``
    ascending, ``kind``, ``stop_reason`` ``(S,)`` strings, ``degeneracy (S,)``."""

    theta: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    hessian_eigvals: np.ndarray
    lambda_min: np.ndarray
    degeneracy: np.ndarray
    kind: np.ndarray
    stop_reason: np.ndarray


@dataclasses.dataclass
class CertifyProgress:
    done: int
    total: int
    elapsed: float


def newton_polish(problem: ReluGaussian, theta, iterations: int = 30, cutoff: float = 1e-10) -> RefinedPoint:
    """Newton's method on ``grad F = 0`` from ``theta (P,)``, eigenvalues below ``cutoff * max|lam|``
    left out (flat directions of degenerate minima); the point is the iterate of smallest gradient,
    its stop reason in words (``newton: converged after 4 iterations``)."""
    th = np.array(theta, dtype=np.float64)
    value, g = problem.loss_and_grad(th)
    g = g[0].numpy()
    best, best_value, best_norm = th.copy(), float(value[0]), float(np.linalg.norm(g))
    status, done = Status.MAX_ITER, iterations
    for it in range(iterations):
        lam, q = symmetric_eigen.eigh(problem.hessian(th)[0].numpy())
        keep = np.abs(lam) > cutoff * np.abs(lam).max()
        step = q[:, keep] @ ((q[:, keep].T @ g) / lam[keep])
        th = th - step
        value, g = problem.loss_and_grad(th)
        g = g[0].numpy()
        norm = float(np.linalg.norm(g))
        if not np.isfinite(norm):
            status, done = Status.NONFINITE, it + 1
            break
        if norm < best_norm:
            best, best_value, best_norm = th.copy(), float(value[0]), norm
        if norm < 1e-15 * max(1.0, problem.k) or np.linalg.norm(step) < 1e-16 * max(1.0, np.linalg.norm(th)):
            status, done = Status.CONVERGED, it + 1
            break
    return RefinedPoint(best, best_value, best_norm, done, status, Stage.NEWTON, prose=True)


def certify_population(problem: ReluGaussian, thetas, tolerances: Tolerances | None = None,
                       stop: threading.Event | None = None
                       ) -> Generator[CertifyProgress, None, PopulationPoints]:
    """Refine (Newton), take the exact spectrum of, and classify every row of ``thetas (S, P)``.

    Rows left when ``stop`` is set are measured where they are and reported ``not_converged`` with
    stop reason ``cancelled``.
    """
    tol = tolerances or POPULATION_TOLERANCES
    thetas = np.array(thetas, dtype=np.float64, ndmin=2)
    s_rows, n_params = thetas.shape
    y_scale = problem.target_second_moment
    dead = DEAD_NEURON_RTOL * float(np.linalg.norm(problem.teacher, axis=1).max())
    out = PopulationPoints(thetas.copy(), np.full(s_rows, np.nan), np.full(s_rows, np.nan),
                           np.full((s_rows, n_params), np.nan), np.full(s_rows, np.nan),
                           np.zeros(s_rows, dtype=np.int64), np.full(s_rows, "not_converged", dtype=object),
                           np.full(s_rows, "cancelled", dtype=object))

    def certify_row(row: int, cancelled: bool) -> None:
        theta0 = thetas[row]
        if cancelled or not np.isfinite(theta0).all():
            th, reason = theta0, "cancelled" if cancelled else "non-finite end of descent"
        else:
            polished = newton_polish(problem, theta0)
            th, reason = polished.theta, polished.stop_reason
            if np.linalg.norm(th) > tol.max_norm_growth * max(np.linalg.norm(theta0), 1.0):
                th, reason = theta0, reason + "+diverged"
        out.theta[row], out.stop_reason[row] = th, reason
        if np.isfinite(th).all():
            value, g = problem.loss_and_grad(th)
            out.loss[row], out.grad_norm[row] = float(value[0]), float(g.norm())
            dead_rows = np.flatnonzero(problem.neuron_norms(th)[0] <= dead)
            h = problem.hessian(th)[0].numpy()
            if len(dead_rows):
                h = _dead_neuron_hessian(h, dead_rows, problem.d)
                out.stop_reason[row] = reason + f"+{len(dead_rows)} neuron(s) at w = 0"
            out.hessian_eigvals[row] = symmetric_eigen.eigvalsh(h)
            c = classify(out.loss[row], out.grad_norm[row], out.hessian_eigvals[row], y_scale, tol)
            # With a neuron at w = 0 the loss is not differentiable; only zero loss still certifies a
            # point (a global minimum, since F >= 0).
            ok = not cancelled and "diverged" not in reason and (not len(dead_rows) or c.kind == "global_min")
            out.kind[row] = c.kind if ok else "not_converged"
            out.lambda_min[row], out.degeneracy[row] = c.lambda_min, c.n_zero

    start = time.perf_counter()
    for row in range(s_rows):
        try:
            certify_row(row, cancelled=stop is not None and stop.is_set())
        except Exception as exc:
            if not is_numerical_failure(exc):
                raise
            out.kind[row], out.stop_reason[row] = "not_converged", failure_reason(exc)
        yield CertifyProgress(row + 1, s_rows, time.perf_counter() - start)
    out.kind = out.kind.astype(str)
    out.stop_reason = out.stop_reason.astype(str)
    return out


def _dead_neuron_hessian(h: np.ndarray, dead_rows: np.ndarray, d: int) -> np.ndarray:
    """The Hessian at a point with neurons at ``w = 0``, where ``F`` is not twice differentiable: the
    live neurons' block is exact (a zero neuron adds nothing to their terms), a dead neuron's own
    block is ``I`` (``F`` grows as ``|w|^2 / 2`` along it at zero loss), its cross terms are left 0."""
    h = h.copy()
    for i in dead_rows:
        block = slice(i * d, (i + 1) * d)
        h[block, :] = 0.0
        h[:, block] = 0.0
        h[block, block] = np.eye(d)
    return h


def is_spurious_minimum(points: PopulationPoints) -> np.ndarray:
    """Safran & Shamir's criterion, per row: positive loss, critical, positive definite Hessian."""
    return (points.kind == "local_min") & (points.degeneracy == 0)


__all__ = ["POPULATION_TOLERANCES", "DescentConfig", "DescentProgress", "DescentResult", "PopulationPoints",
           "certify_population", "descend", "is_spurious_minimum", "newton_polish", "snapshot_schedule"]
