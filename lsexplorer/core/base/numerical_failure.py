"""A numerical failure in one run, kept to that run.

Hundreds of runs share one batch; LAPACK giving up on one Hessian, nlopt stopping on round-off, or
a floating-point trap in one run must not cost the others their results. Loops over runs catch
exactly the errors :func:`is_numerical_failure` accepts, record :func:`failure_reason` as that
run's reason (its kind becomes ``not_converged``, or its analysis is left out and reported) and go
on. Anything else is a bug and still escapes with its traceback; ``KeyboardInterrupt`` and the
command line's SIGTERM exception are never caught here.
"""

from __future__ import annotations

import nlopt
import numpy as np
import torch

#: Errors that only say the numbers of one run defeated a numerical method.
NUMERICAL_ERRORS: tuple[type[BaseException], ...] = (
    np.linalg.LinAlgError, torch.linalg.LinAlgError, FloatingPointError, ZeroDivisionError, OverflowError,
    nlopt.RoundoffLimited,
)


def is_numerical_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a numerical method failing on one run's numbers (not a bug, not a stop)."""
    if isinstance(exc, NUMERICAL_ERRORS):
        return True
    # nlopt's generic failure and its complaint about non-finite values are plain built-in errors
    return isinstance(exc, (RuntimeError, ValueError)) and str(exc).startswith("nlopt")


def failure_reason(exc: BaseException) -> str:
    """One line for the run's stop reason: ``failed: <error type>: <first line of its message>``."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else "no message"
    return f"failed: {type(exc).__name__}: {message}"


__all__ = ["NUMERICAL_ERRORS", "failure_reason", "is_numerical_failure"]
