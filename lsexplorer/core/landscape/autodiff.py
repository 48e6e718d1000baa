"""The lock around torch's forward-mode derivatives, taken by core itself wherever it uses them.

torch keeps forward-mode AD's dual levels in process-global state: two threads taking ``jvp`` (or
``torch.func.hessian``, which is forward-over-reverse) at once fail with "Trying to create a dual
Tensor for forward AD but no level exists", or worse, silently return a derivative of 0. Every core
function that enters forward mode is wrapped in :func:`forward_mode`, so callers on any thread (the
GUI's workers, a user's thread pool) need no rule of their own. The lock is re-entrant and held
only while a derivative is computed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

#: Held while core computes forward-mode derivatives (re-entrant: wrapped functions nest).
FORWARD_AD_LOCK = threading.RLock()

P = ParamSpec("P")
R = TypeVar("R")


def forward_mode(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run holding :data:`FORWARD_AD_LOCK`."""
    @functools.wraps(fn)
    def locked(*args: P.args, **kwargs: P.kwargs) -> R:
        with FORWARD_AD_LOCK:
            return fn(*args, **kwargs)
    return locked


__all__ = ["FORWARD_AD_LOCK", "forward_mode"]
