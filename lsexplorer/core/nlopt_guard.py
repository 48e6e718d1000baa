"""Python exceptions carried safely through nlopt's callbacks.

nlopt calls its objective and constraints from C. An exception raised inside one — Ctrl-C's
KeyboardInterrupt, the command line's SIGTERM exception, a bug — cannot cross that layer: nlopt's
Python binding then fails with ``SystemError: ... returned a result with an exception set`` and the
original exception is lost in its traceback. :class:`CallbackGuard` keeps the exception, stops the
optimisation and raises the original again once nlopt has returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import nlopt
import numpy as np


class CallbackGuard:
    """Wraps every callback of one ``nlopt.opt`` and re-raises what they raised after ``optimize``."""

    def __init__(self, opt: nlopt.opt):
        self.opt = opt
        self.raised: BaseException | None = None

    def __call__(self, callback: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[np.ndarray, np.ndarray], float]:
        def guarded(x: np.ndarray, grad: np.ndarray) -> float:
            if self.raised is not None:
                return math.inf
            try:
                return callback(x, grad)
            except BaseException as exc:  # KeyboardInterrupt and signal handlers' exceptions too
                self.raised = exc
                self.opt.force_stop()
                return math.inf

        return guarded

    def optimize(self, x0: np.ndarray) -> np.ndarray:
        """``opt.optimize(x0)``, raising a callback's exception (as itself) if one was raised."""
        try:
            result = self.opt.optimize(x0)
        except nlopt.ForcedStop:
            if self.raised is None:
                raise
            result = x0
        if self.raised is not None:
            raise self.raised
        return result
