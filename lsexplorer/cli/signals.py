"""Ctrl-C and SIGTERM of the ``lsexplorer`` command, from the first moment the process runs.

Both become exceptions (:class:`KeyboardInterrupt`, :class:`Terminated`) so that every clean-up
path serves both, and end in one line and the documented status (130, 143). The handlers must be
in place before the command's heavier imports: a SIGTERM that arrives while they load would
otherwise end the process with no message and no status of its own. This module therefore imports
only the standard library's lightest modules.

An exception raised inside the import of a compiled module can come out as something else (numpy
turns it into an ImportError), so the handlers also record the signal: :func:`stop_requested` tells
the command that whatever went wrong afterwards is the stop. While the command line is parsed (the
imports of the first moments) the signals wait: :func:`signals_deferred`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import typing

#: Exit statuses of a stop by Ctrl-C (SIGINT) and by SIGTERM.
INTERRUPTED, TERMINATED = 130, 143
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: The stop signals received since the handlers were installed.
_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every clean-up path for one also serves the other."""


def _raise_stop(signum, frame) -> None:
    _received.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def install_stop_handlers() -> dict:
    """Make SIGINT raise KeyboardInterrupt and SIGTERM raise :class:`Terminated`; returns the
    previous handlers (for :func:`restore_handlers`). Only the main thread may set handlers; from
    another one nothing changes.

    A stop raised where Python cannot propagate it (a weakref callback or ``__del__`` running when
    the signal comes) is dropped with an "Exception ignored" traceback; that traceback is not shown
    (the signal is recorded, and the command reports the stop when it returns: :func:`stop_requested`).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    _received.clear()
    if sys.unraisablehook is not _quiet_stops:
        global _default_unraisable
        _default_unraisable = sys.unraisablehook
        sys.unraisablehook = _quiet_stops
    return {sig: signal.signal(sig, _raise_stop) for sig in _STOP_SIGNALS}


_default_unraisable = sys.__unraisablehook__


def _quiet_stops(unraisable) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _received:
        return
    _default_unraisable(unraisable)


def stop_requested() -> KeyboardInterrupt | None:
    """The stop (as the exception its handler raised) if a stop signal has come, else None."""
    if not _received:
        return None
    return Terminated() if signal.SIGTERM in _received else KeyboardInterrupt()


@contextlib.contextmanager
def signals_deferred(active: bool = True):
    """Hold SIGINT and SIGTERM back for the length of the block (imports that a signal would cut
    in half); one that came meanwhile is delivered, and raised, when the block ends."""
    if not active:
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def restore_handlers(previous: dict) -> None:
    """Put back what :func:`install_stop_handlers` replaced."""
    for sig, handler in previous.items():
        if handler is not None:
            signal.signal(sig, handler)


def leave(status: int) -> typing.NoReturn:
    """End the process with ``status``; a stopped command (:data:`INTERRUPTED`, :data:`TERMINATED`) leaves
    without the interpreter's finalisation, once its line is written and its files settled: a signal that
    cut the import of a compiled module in half leaves that module in a state whose finalisers can crash
    the process after the line (status −11 instead of 143). Garbage in reference cycles is collected
    first, so that a generator left suspended there still runs its clean-up (ending worker processes)."""
    if status not in (INTERRUPTED, TERMINATED):
        sys.exit(status)
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach the reader
            pass
    os._exit(status)


def report_stop(verb: str, exc: KeyboardInterrupt, what: str | None) -> int:
    """Say on stderr that ``verb`` was stopped (and ``what`` became of its files); its exit status."""
    terminated = isinstance(exc, Terminated)
    how = "terminated (SIGTERM)" if terminated else "interrupted"
    print(f"{verb}: {how}{'; ' + what if what else ''}", file=sys.stderr)
    return TERMINATED if terminated else INTERRUPTED


__all__ = ["INTERRUPTED", "TERMINATED", "Terminated", "install_stop_handlers", "leave", "restore_handlers",
           "stop_requested", "signals_deferred", "report_stop"]
