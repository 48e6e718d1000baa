"""One result type for a refined point, in the spirit of scipy's ``OptimizeResult``.

Every refiner (the refinement stages and polishing, trust-region Newton, Levenberg–Marquardt on
``grad L = 0``, a channel's limit model) returns a :class:`RefinedPoint`: ``theta``, its loss and
``||grad L||``, the iterations of the stage that produced it, a :class:`Status` and that
:class:`Stage`. Each status has one line in :data:`MESSAGES`, the one table of what the statuses
mean. ``stop_reason`` renders the point's stage ends exactly as sessions store them, e.g.
``"slsqp:XTOL_REACHED+gauss_newton:loss_converged+newton:grad_converged"``, so the stored strings
are the same whichever refiner wrote them.

It lives in ``base`` because refiners below ``critical`` (a channel's limit model) use it too.
"""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np


class Status(enum.StrEnum):
    """How a refiner or one of its stages ended; the value is the word stored in session files."""

    GRAD_CONVERGED = "grad_converged"
    GRAD_SMALL = "grad_small"
    LOSS_CONVERGED = "loss_converged"
    ZERO_LOSS = "zero_loss"
    CONVERGED = "converged"
    LOSS_STALLED = "loss_stalled"
    STALLED = "stalled"
    STOPPED = "stopped"
    MAX_ITER = "max_iter"
    MAX_STEPS = "max_steps"
    NEWTON_STEPS = "newton_steps"
    MAXTIME = "maxtime"
    RUNAWAY = "runaway"
    NONFINITE = "nonfinite"
    CANCELLED = "cancelled"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RESTORED = "restored"
    # nlopt's result codes by name (SLSQP)
    SUCCESS = "SUCCESS"
    STOPVAL_REACHED = "STOPVAL_REACHED"
    FTOL_REACHED = "FTOL_REACHED"
    XTOL_REACHED = "XTOL_REACHED"
    MAXEVAL_REACHED = "MAXEVAL_REACHED"
    MAXTIME_REACHED = "MAXTIME_REACHED"
    FAILURE = "FAILURE"
    INVALID_ARGS = "INVALID_ARGS"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    ROUNDOFF_LIMITED = "ROUNDOFF_LIMITED"
    FORCED_STOP = "FORCED_STOP"
    UNKNOWN = "UNKNOWN"


#: What each status means: the one message table of every refiner.
MESSAGES: dict[Status, str] = {
    Status.GRAD_CONVERGED: "||grad L|| reached its float64 floor",
    Status.GRAD_SMALL: "||grad L|| fell below the stage's tolerance",
    Status.LOSS_CONVERGED: "the loss stopped halving: what remains is rounding",
    Status.ZERO_LOSS: "the loss is exactly zero",
    Status.CONVERGED: "the minimiser reported convergence",
    Status.LOSS_STALLED: "no damping lowered the loss",
    Status.STALLED: "no step lowered ||grad L|| (the damping or radius ran away)",
    Status.STOPPED: "the minimiser stopped without reporting convergence",
    Status.MAX_ITER: "the iteration limit was reached",
    Status.MAX_STEPS: "the step limit was reached",
    Status.NEWTON_STEPS: "the Newton step limit was reached",
    Status.MAXTIME: "the time limit was reached",
    Status.RUNAWAY: "||theta|| grew past its limit: a flat channel to infinity",
    Status.NONFINITE: "the loss, gradient or Hessian is not finite",
    Status.CANCELLED: "cancelled",
    Status.ACCEPTED: "the narrower net's point, embedded back, was kept",
    Status.REJECTED: "every narrower candidate was worse; the point was kept",
    Status.RESTORED: "read back from a session file: only the stored stop reason is known",
    Status.SUCCESS: "nlopt: success",
    Status.STOPVAL_REACHED: "nlopt: the stop value was reached",
    Status.FTOL_REACHED: "nlopt: the relative loss change fell below ftol_rel",
    Status.XTOL_REACHED: "nlopt: the relative step fell below xtol_rel",
    Status.MAXEVAL_REACHED: "nlopt: the evaluation limit was reached",
    Status.MAXTIME_REACHED: "nlopt: the time limit was reached",
    Status.FAILURE: "nlopt: generic failure",
    Status.INVALID_ARGS: "nlopt: invalid arguments",
    Status.OUT_OF_MEMORY: "nlopt: out of memory",
    Status.ROUNDOFF_LIMITED: "nlopt: halted by rounding errors",
    Status.FORCED_STOP: "nlopt: forced stop",
    Status.UNKNOWN: "nlopt: an unknown result code",
}


#: The stop reasons written in words (the population Newton's ``newton: converged after 4 iterations``),
#: after ``<stage>: ``; ``{iterations}`` is the point's.
PROSE: dict[Status, str] = {
    Status.CONVERGED: "converged after {iterations} iterations",
    Status.MAX_ITER: "max iterations ({iterations})",
    Status.NONFINITE: "non-finite gradient",
}


class Stage(enum.StrEnum):
    """A refinement stage; the value is its name in stored stop reasons."""

    SLSQP = "slsqp"
    FOLLOW = "follow"
    TRUST_NEWTON = "trust_newton"
    GAUSS_NEWTON = "gauss_newton"
    NEWTON = "newton"
    POLISH = "polish"
    LM = "lm"
    TRUST = "trust"


@dataclasses.dataclass(frozen=True)
class StageEnd:
    """How one stage ended, written ``stage:status`` (``trust_newton:grad_small:21`` with a ``detail``).

    Polishing's ``detail`` holds each layer's own verdict (``L1:merged1+dropped0:accepted``) and is
    written in place of the status: ``polish:L1:merged1+dropped0:accepted``.
    """

    stage: Stage
    status: Status
    detail: str = ""

    def __str__(self) -> str:
        if self.stage is Stage.POLISH:
            return f"{self.stage}:{self.detail}"
        return f"{self.stage}:{self.status}" + (f":{self.detail}" if self.detail else "")


@dataclasses.dataclass
class RefinedPoint:
    """A refined point ``theta (P,)``, its ``loss`` and ``grad_norm``, and how refinement ended.

    ``iterations`` are those of ``stage``, the stage that produced the point (None: none ran);
    ``stages`` every stage end in order, for refiners of several stages; ``why`` a free-text
    explanation of a non-finite end. ``evaluations`` counts objective evaluations (SLSQP),
    ``elapsed`` seconds. Refiners fill the optional facts they know: ``grad (P,)``,
    ``grad_floor`` (the float64 floor of ``||grad L||`` there), ``moved`` (distance from the
    start), ``eigvals`` (the Hessian spectrum, ascending). ``prose`` writes the stop reason in words
    (:data:`PROSE`); ``stored_reason`` is the stop reason of a point read back from a file
    (:meth:`read_back`), rendered verbatim so that re-saving writes the same string.
    """

    theta: np.ndarray
    loss: float
    grad_norm: float
    iterations: int
    status: Status
    stage: Stage | None
    stages: list[StageEnd] = dataclasses.field(default_factory=list)
    why: str = ""
    evaluations: int = 0
    elapsed: float = 0.0
    grad: np.ndarray | None = None
    grad_floor: float = math.nan
    moved: float = math.nan
    eigvals: np.ndarray | None = None
    prose: bool = False
    stored_reason: str = ""

    @classmethod
    def read_back(cls, theta, loss: float, grad_norm: float, stop_reason: str, iterations: int = 0,
                  stage: Stage | None = None, **facts) -> RefinedPoint:
        """A point as a session file stored it: its status is the stored word where that is one
        :class:`Status`, else ``RESTORED``; its ``stop_reason`` is the stored string, whatever it says."""
        try:
            status = Status(stop_reason)
        except ValueError:
            status = Status.RESTORED
        return cls(np.asarray(theta), loss, grad_norm, iterations, status, stage, stored_reason=str(stop_reason),
                   **facts)

    @property
    def message(self) -> str:
        """The status in words, from :data:`MESSAGES`."""
        return MESSAGES[self.status]

    @property
    def stop_reason(self) -> str:
        """The stored stop reason: as read back, else in words, else ``status: why``, else the stage
        ends joined by ``+``, else the status."""
        if self.stored_reason:
            return self.stored_reason
        if self.prose:
            return f"{self.stage}: " + PROSE[self.status].format(iterations=self.iterations)
        if self.why:
            return f"{self.status}: {self.why}"
        if self.stages:
            return "+".join(str(end) for end in self.stages)
        return str(self.status)


__all__ = ["MESSAGES", "PROSE", "RefinedPoint", "Stage", "StageEnd", "Status"]
