"""Python exceptions carried safely through nlopt's callbacks.

nlopt calls its objective and constraints from C. An exception raised inside one — Ctrl-C's
KeyboardInterrupt, the command line's SIGTERM exception, a bug — cannot cross that layer: nlopt's
Python binding then fails with ``SystemError: ... returned a result with an exception set`` and the
original exception is lost in its traceback. :class:`CallbackGuard` keeps the exception, stops the
optimisation and raises the original again once nlopt has returned.

A signal handler that raises (Ctrl-C's, the command line's SIGTERM handler) could still fire between
any two bytecodes of the wrapper itself, outside its ``try``. So while nlopt runs in the main thread,
such handlers are swapped for one that only records the signal and force-stops the optimisation;
once nlopt has returned, the original handler is called and raises as it always would.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
        with self._signals_deferred() as pending:
            try:
                result = self.opt.optimize(x0)
            except nlopt.ForcedStop:
                if self.raised is None and not pending:
                    raise
                result = x0
        if self.raised is not None:
            raise self.raised
        return result

    @contextmanager
    def _signals_deferred(self) -> Iterator[list]:
        """Record SIGINT/SIGTERM instead of raising inside nlopt; replay them to their handlers after."""
        pending: list[tuple[int, object]] = []
        if threading.current_thread() is not threading.main_thread():
            yield pending  # Python runs signal handlers in the main thread only
            return

        def record(signum, frame) -> None:
            pending.append((signum, frame))
            self.opt.force_stop()

        previous = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(sig)
                if callable(handler):  # a Python handler, which may raise; SIG_DFL / SIG_IGN act at once
                    previous[sig] = handler
                    signal.signal(sig, record)
            yield pending
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for signum, frame in pending[:1]:
            previous[signum](signum, frame)
