"""Gradient flow ``theta' = -grad L(theta)`` integrated for many seeds at once with a stiff solver.

The flow is what the theory of basins, saddle lines and channels is about; Adam and SGD are
discretisations of it with a bias. Its time scales are very different along the way (fast
initial transients, long plateaus near saddles, a slow final approach, channels where the loss
creeps towards a limit), so an implicit, adaptive integrator with the exact Hessian as Jacobian
takes a few large steps where explicit steps would need millions.

:func:`integrate_flow` integrates ``S`` seeds in one batched computation, each with its own time,
step size and error control (nothing of one seed enters another), by a linearly implicit
Rosenbrock method with the exact Hessian ``H`` in its Jacobian ``-H``: ``rodas4``, Hairer and
Wanner's RODAS (order 4 with an order-3 embedded solution, L-stable and stiffly accurate; per step
one batched Hessian, one batched LU of ``I / (gamma h) + H``, six solves and six gradients), or
``rosenbrock23``, Shampine and Reichelt's ``ode23s`` (order 2 with an order-3 error estimate;
one Hessian, one LU, three solves and two gradients). With ``h`` large both tend to a Newton step,
so a seed's final approach to a minimum takes a few large steps. :func:`integrate_flow_scipy` does
the same per seed with scipy's ``Radau`` or ``BDF`` (exact Hessian as ``jac``): the reference.

A seed ends, with a recorded reason (:data:`END_REASONS`), where ``||grad L|| <= grad_tol``
(``grad_tol``), at ``t_max`` (``t_max``), where ``||theta||`` has grown past
``norm_growth * max(||theta_0||, 1)`` (``diverged``: running off to infinity, as in a flat
channel; its end point goes to the channel analysis like a diverged Adam run), where a gradient or
Hessian is not finite at its accepted point (``non_finite``), where the error control shrinks the
step below round-off of ``t`` (``step_underflow``), or after ``max_steps`` steps (``max_steps``).
A step that produces NaN or infinity is rejected and retried with a smaller step, so one seed's
numerical failure ends that seed only: its last accepted point is kept. ``cancelled`` marks seeds
still running when the ``stop`` event was set.

The state of every seed is recorded at the output times ``times`` (the solver lands on them
exactly); after a seed has ended, its end point stands for the later times, as a stopped Adam
seed's does.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator

import numpy as np
import torch
from scipy.integrate import solve_ivp

from ..base.config_schema import FLOW_METHODS
from ..base.progress import Progress
from .flow_steps import STEPPERS, Hessians, ValueGrad

#: Why a seed's integration ended.
END_REASONS = ("grad_tol", "t_max", "diverged", "non_finite", "step_underflow", "max_steps", "cancelled")
#: Least wall time between two progress records.
PROGRESS_SECONDS = 0.1



@dataclasses.dataclass(frozen=True)
class FlowSettings:
    """How to integrate: method, error tolerances, end time and the per-seed stopping rules.

    ``rtol``/``atol`` bound each step's local error per coordinate by ``atol + rtol |theta_i|``
    (root mean square over coordinates); ``grad_tol = 0`` never stops a seed on its gradient.
    """

    method: str = "rodas4"
    rtol: float = 1e-3
    atol: float = 1e-6
    t_max: float = 1e7
    grad_tol: float = 1e-7
    norm_growth: float = 1e3
    max_steps: int = 1_000_000


@dataclasses.dataclass
class FlowResult:
    """What an integration returns (numpy, float64).

    ``theta (S, P)`` end points at times ``t_end (S,)`` with ``loss (S,)`` and ``grad_norm (S,)``
    there; ``reason (S,)`` from :data:`END_REASONS`; ``steps``/``rejected (S,)`` step counts;
    ``out_theta (S, K, P)`` and ``out_loss (S, K)`` at ``times (K,)`` (end point after the end).
    """

    theta: np.ndarray
    t_end: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    reason: np.ndarray
    steps: np.ndarray
    rejected: np.ndarray
    times: np.ndarray
    out_theta: np.ndarray
    out_loss: np.ndarray
    stopped: bool
    elapsed: float


class _Record:
    """The per-seed end state and output arrays shared by both integrators."""

    def __init__(self, theta0: np.ndarray, times: np.ndarray) -> None:
        s, p = theta0.shape
        self.times = times
        self.out_theta = np.empty((s, len(times), p))
        self.out_loss = np.full((s, len(times)), np.nan)
        self.filled = np.zeros(s, dtype=np.int64)   # output times recorded per seed
        self.theta = theta0.copy()
        self.t_end = np.zeros(s)
        self.loss = np.full(s, np.nan)
        self.grad_norm = np.full(s, np.nan)
        self.reason = np.full(s, "", dtype=object)
        self.steps = np.zeros(s, dtype=np.int64)
        self.rejected = np.zeros(s, dtype=np.int64)

    def put(self, rows: np.ndarray, theta: np.ndarray, loss: np.ndarray) -> None:
        """Record ``theta``/``loss`` at each row's next output time."""
        k = self.filled[rows]
        self.out_theta[rows, k] = theta
        self.out_loss[rows, k] = loss
        self.filled[rows] += 1

    def end(self, rows: np.ndarray, reason: str, theta: np.ndarray, t: np.ndarray, loss: np.ndarray,
            grad_norm: np.ndarray) -> None:
        self.theta[rows], self.t_end[rows], self.loss[rows], self.grad_norm[rows] = theta, t, loss, grad_norm
        self.reason[rows] = reason

    def result(self, stopped: bool, elapsed: float) -> FlowResult:
        for row in range(len(self.filled)):  # an ended seed stays where it ended
            k = self.filled[row]
            self.out_theta[row, k:] = self.theta[row]
            self.out_loss[row, k:] = self.loss[row]
        return FlowResult(theta=self.theta, t_end=self.t_end, loss=self.loss, grad_norm=self.grad_norm,
                          reason=self.reason.astype(str), steps=self.steps, rejected=self.rejected,
                          times=self.times, out_theta=self.out_theta, out_loss=self.out_loss,
                          stopped=stopped, elapsed=elapsed)


def output_times(t_max: float, n: int) -> np.ndarray:
    """``n >= 2`` times in ``[0, t_max]``: 0, then log-spaced from ``min(1, t_max / n)`` to ``t_max``."""
    t_max = float(t_max)
    first = min(1.0, t_max / n)
    return np.concatenate([[0.0], np.geomspace(first, t_max, n - 1)]) if n > 2 else np.array([0.0, t_max])


def check_inputs(theta0: np.ndarray, times: np.ndarray, settings: FlowSettings) -> tuple[np.ndarray, np.ndarray]:
    """``theta0 (S, P)`` and ``times (K,)`` as float64, or ValueError naming what is wrong."""
    theta0 = np.array(theta0, dtype=np.float64, ndmin=2)
    times = np.asarray(times, dtype=np.float64)
    if theta0.ndim != 2 or theta0.shape[0] < 1 or not np.isfinite(theta0).all():
        raise ValueError(f"theta0 must be a finite (S, P) array, got shape {theta0.shape}")
    if times.ndim != 1 or len(times) < 2 or times[0] != 0.0 or (np.diff(times) <= 0).any() \
            or times[-1] != settings.t_max:
        raise ValueError("times must increase strictly from 0 to t_max")
    if settings.method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {settings.method!r}; choose one of {', '.join(FLOW_METHODS)}")
    return theta0, times


def _norms(v: torch.Tensor) -> np.ndarray:
    return torch.linalg.vector_norm(v, dim=-1).numpy()


def integrate_flow(value_grad: ValueGrad, hessians: Hessians, theta0: np.ndarray, times: np.ndarray,
                   settings: FlowSettings, stop: threading.Event | None = None
                   ) -> Generator[Progress, None, FlowResult]:
    """Integrate ``theta' = -grad L`` from every row of ``theta0 (S, P)`` by the batched Rosenbrock method.

    ``value_grad (K, P) -> ((K,), (K, P))`` and ``hessians (K, P) -> (K, P, P)`` are float64
    torch functions of any rows. Yields ``Progress("train", done, total)`` where ``done`` counts
    output times passed by every seed (of ``total = K``) and ``converged`` seeds ended by
    ``grad_tol``; returns a :class:`FlowResult`.
    """
    theta0, times = check_inputs(theta0, times, settings)
    step, order = STEPPERS[settings.method]
    started = time.perf_counter()
    rec = _Record(theta0, times)
    s = len(theta0)
    y = torch.from_numpy(theta0.copy())
    with torch.no_grad():
        loss, grad = value_grad(y)
    rec.put(np.arange(s), theta0, loss.numpy())
    limit = settings.norm_growth * np.maximum(np.linalg.norm(theta0, axis=1), 1.0)
    t = np.zeros(s)
    f0 = -grad
    ok = torch.isfinite(f0).all(dim=1).numpy() & np.isfinite(loss.numpy())
    running = np.ones(s, dtype=bool)
    end = _Ender(rec, running, y, t, settings, limit)
    end.now(np.flatnonzero(~ok), "non_finite", loss.numpy(), _norms(grad))
    end.check(np.flatnonzero(ok), loss.numpy(), _norms(grad))
    h = _initial_steps(y, f0, settings)
    yield Progress("train", 1, len(times), 0.0, loss=rec.out_loss[:, 0].copy())
    last_yield = time.perf_counter()
    stopped = False
    with torch.no_grad():
        while running.any():
            if stop is not None and stop.is_set():
                stopped = True
                rows = np.flatnonzero(running)
                end.now(rows, "cancelled", end.loss[rows], end.gnorm[rows])
                break
            rows = np.flatnonzero(running)
            ri = torch.from_numpy(rows)
            target = times[rec.filled[rows]]
            lands = h[rows] >= target - t[rows]
            hh = np.where(lands, target - t[rows], h[rows])
            yr, fr = y[ri], f0[ri]
            ynew, fnew, lnew, errn = step(value_grad, hessians, yr, fr, hh, settings)
            good = np.isfinite(errn) & (errn <= 1.0)
            rec.steps[rows] += 1
            rec.rejected[rows] += ~good
            # Step size: the standard controller for the error estimate's order; a non-finite step shrinks 4x.
            fit = np.clip(0.9 * np.maximum(errn, 1e-10) ** (-1 / order), 0.2, 5.0)
            factor = np.where(np.isfinite(errn), fit, 0.25)
            factor = np.where(good, factor, np.minimum(factor, 0.5))
            h_next = hh * factor
            h[rows] = np.where(good & lands, np.maximum(h[rows], h_next), h_next)
            acc = rows[good]
            if len(acc):
                ga = torch.from_numpy(np.flatnonzero(good))
                ai = torch.from_numpy(acc)
                y[ai], f0[ai] = ynew[ga], fnew[ga]
                t[acc] = np.where(lands[good], target[good], t[acc] + hh[good])
                la = lnew[ga].numpy()
                end.loss[acc] = la
                gn = _norms(fnew[ga])
                end.gnorm[acc] = gn
                hit = acc[lands[good]]
                if len(hit):
                    rec.put(hit, y[torch.from_numpy(hit)].numpy(), end.loss[hit])
                end.check(acc, la, gn)
            small = rows[~good & (h[rows] < 64 * np.finfo(float).eps * np.maximum(t[rows], 1.0))]
            small = small[running[small]]
            end.now(small, "step_underflow", end.loss[small], end.gnorm[small])
            many = rows[running[rows] & (rec.steps[rows] >= settings.max_steps)]
            end.now(many, "max_steps", end.loss[many], end.gnorm[many])
            now = time.perf_counter()
            if now - last_yield >= PROGRESS_SECONDS or not running.any():
                passed = int(rec.filled[running].min()) if running.any() else len(times)
                yield Progress("train", passed, len(times), now - started, loss=end.loss.copy(),
                               converged=int((rec.reason == "grad_tol").sum()))
                last_yield = now
    return rec.result(stopped, time.perf_counter() - started)


class _Ender:
    """Ends seeds of a batched integration: records their end state and takes them off ``running``."""

    def __init__(self, rec: _Record, running: np.ndarray, y: torch.Tensor, t: np.ndarray, settings: FlowSettings,
                 limit: np.ndarray) -> None:
        self.rec, self.running, self.y, self.t, self.settings, self.limit = rec, running, y, t, settings, limit
        self.loss = np.full(len(running), np.nan)
        self.gnorm = np.full(len(running), np.nan)

    def now(self, rows: np.ndarray, reason: str, loss: np.ndarray, gnorm: np.ndarray) -> None:
        if len(rows) == 0:
            return
        self.rec.end(rows, reason, self.y[torch.from_numpy(rows)].numpy(), self.t[rows], loss, gnorm)
        self.running[rows] = False

    def check(self, rows: np.ndarray, loss: np.ndarray, gnorm: np.ndarray) -> None:
        """End those of ``rows`` (just accepted, with these losses and gradient norms) that are done."""
        self.loss[rows], self.gnorm[rows] = loss, gnorm
        norm = _norms(self.y[torch.from_numpy(rows)])
        done_time = self.rec.filled[rows] >= len(self.rec.times)
        for reason, mask in (("grad_tol", gnorm <= self.settings.grad_tol), ("diverged", norm > self.limit[rows]),
                             ("t_max", done_time)):
            hit = rows[mask & self.running[rows]]
            self.now(hit, reason, self.loss[hit], self.gnorm[hit])


def _initial_steps(y: torch.Tensor, f: torch.Tensor, settings: FlowSettings) -> np.ndarray:
    """First step per seed (Hairer, Norsett & Wanner's estimate): ``0.01 ||y|| / ||f||`` in error units."""
    scale = settings.atol + settings.rtol * y.abs()
    d0 = torch.sqrt(((y / scale) ** 2).mean(dim=1)).numpy()
    d1 = torch.sqrt(((f / scale) ** 2).mean(dim=1)).numpy()
    d1 = np.where(np.isfinite(d1), d1, 0.0)
    return np.where((d0 > 1e-5) & (d1 > 1e-5), 0.01 * d0 / np.maximum(d1, 1e-300), 1e-6)


def integrate_flow_scipy(value_grad: ValueGrad, hessians: Hessians, theta0: np.ndarray, times: np.ndarray,
                         settings: FlowSettings, stop: threading.Event | None = None
                         ) -> Generator[Progress, None, FlowResult]:
    """:func:`integrate_flow` by scipy's ``solve_ivp`` (``Radau`` or ``BDF``, exact ``jac``), one seed at a time.

    Terminal events end a seed at ``grad_tol`` and at the norm limit; a solver failure (NaN, a step
    size too small) ends that seed with its last dense-output point.
    """
    theta0, times = check_inputs(theta0, times, settings)
    started = time.perf_counter()
    rec = _Record(theta0, times)
    method = {"radau": "Radau", "bdf": "BDF"}[settings.method]
    stopped = False
    for row, y0 in enumerate(theta0):
        if stop is not None and stop.is_set():
            stopped = True
            rec.end(np.arange(row, len(theta0)), "cancelled", theta0[row:], np.zeros(len(theta0) - row),
                    np.full(len(theta0) - row, np.nan), np.full(len(theta0) - row, np.nan))
            break
        limit = settings.norm_growth * max(float(np.linalg.norm(y0)), 1.0)
        evals = [0]

        def grad_of(y: np.ndarray) -> tuple[float, np.ndarray]:
            with torch.no_grad():
                v, g = value_grad(torch.from_numpy(np.ascontiguousarray(y))[None])
            return float(v[0]), g[0].numpy()

        def rhs(_t: float, y: np.ndarray) -> np.ndarray:
            evals[0] += 1
            return -grad_of(y)[1]

        def jac(_t: float, y: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return -hessians(torch.from_numpy(np.ascontiguousarray(y))[None])[0].numpy()

        def small_gradient(_t: float, y: np.ndarray) -> float:
            return float(np.linalg.norm(grad_of(y)[1])) - settings.grad_tol

        def too_far(_t: float, y: np.ndarray) -> float:
            return float(np.linalg.norm(y)) - limit

        small_gradient.terminal = too_far.terminal = True
        events = [too_far] + ([small_gradient] if settings.grad_tol > 0 else [])
        with np.errstate(all="ignore"):
            sol = solve_ivp(rhs, (0.0, settings.t_max), y0, method=method, jac=jac, rtol=settings.rtol,
                            atol=settings.atol, t_eval=times, events=events)
        ys = sol.y.T
        for k in range(len(sol.t)):
            v, _ = grad_of(ys[k])
            rec.put(np.array([row]), ys[k], np.array([v]))
        t_end = float(sol.t_events[0][0]) if len(sol.t_events[0]) else None
        y_end = sol.y_events[0][0] if t_end is not None else None
        reason = "diverged"
        if t_end is None and len(events) > 1 and len(sol.t_events[1]):
            t_end, y_end, reason = float(sol.t_events[1][0]), sol.y_events[1][0], "grad_tol"
        if t_end is None:
            failed = "non_finite" if not np.isfinite(sol.y).all() else "step_underflow"
            reason = "t_max" if sol.status == 0 else failed
            good = np.isfinite(sol.y).all(axis=0)
            t_end = float(sol.t[good][-1]) if good.any() else 0.0
            y_end = sol.y[:, good][:, -1] if good.any() else y0
        v, g = grad_of(y_end)
        rec.end(np.array([row]), reason, y_end[None], np.array([t_end]), np.array([v]),
                np.array([np.linalg.norm(g)]))
        rec.steps[row] = evals[0]
        yield Progress("train", row + 1, len(theta0), time.perf_counter() - started)
    return rec.result(stopped, time.perf_counter() - started)


def integrate(value_grad: ValueGrad, hessians: Hessians, theta0: np.ndarray, times: np.ndarray,
              settings: FlowSettings, stop: threading.Event | None = None) -> Generator[Progress, None, FlowResult]:
    """The integrator ``settings.method`` names (:func:`integrate_flow` or :func:`integrate_flow_scipy`)."""
    if settings.method in STEPPERS:
        return integrate_flow(value_grad, hessians, theta0, times, settings, stop)
    return integrate_flow_scipy(value_grad, hessians, theta0, times, settings, stop)


__all__ = ["FLOW_METHODS", "END_REASONS", "FlowSettings", "FlowResult", "output_times", "integrate_flow",
           "integrate_flow_scipy", "integrate"]
