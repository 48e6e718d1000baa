"""Driving a core progress generator under progress bars, and stopping it cleanly on Ctrl-C.

Every long computation of the core is a generator that yields :class:`~lsexplorer.core.base.progress.Progress`
records and takes a ``threading.Event`` to stop. :func:`drive` runs one to its return value with a
progress bar per stage (``tqdm.auto``: widgets in a notebook with ipywidgets, text elsewhere). A
``KeyboardInterrupt`` (Ctrl-C, a notebook's kernel interrupt) sets the stop event, closes the
generator so that its own clean-up runs, closes the bars and then propagates: the caller has written
nothing yet, so nothing is half written. The command line drives its verbs through the same function.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any

from ..core.base.threads import INTRA_OP_VARIABLES

#: Steps of a bar that shows a share of the work done (``Progress.share``): per mille.
SHARE_STEPS = 1000
#: A stage's progress bar: ``(description, unit, unit_scale)``.
StageBar = tuple[str, str, bool]


def auto_bar() -> Callable[..., Any]:
    """``tqdm.auto.tqdm``: a widget in a Jupyter kernel that has ipywidgets, a text bar otherwise.

    Without ipywidgets tqdm warns on import that it falls back to text; the text bar is what is
    wanted then, so the warning is not shown.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*IProgress not found.*")
        from tqdm.auto import tqdm
    return tqdm


def drive(runner: Generator[Any, None, Any], stages: Mapping[str, StageBar], *, progress: bool = True,
          stop: threading.Event | None = None, bar: Callable[..., Any] | None = None) -> Any:
    """Run ``runner`` to its return value with one progress bar per stage.

    Parameters
    ----------
    runner
        A core progress generator; its records need ``stage``, ``done`` and ``total``, and a
        ``loss (S,)`` attribute shows as the median loss.
    stages
        ``stage -> (description, unit, unit_scale)``; other stages are named as they are.
    progress
        Whether bars are shown.
    stop
        The event ``runner`` watches; set when the drive ends by an exception (Ctrl-C included).
    bar
        The progress-bar class (default :func:`auto_bar`).

    Returns
    -------
    Any
        What ``runner`` returns.

    Raises
    ------
    KeyboardInterrupt
        After ``stop`` is set, ``runner`` closed and the bars closed.
    """
    bar = bar or auto_bar()
    bars: dict[str, Any] = {}
    with one_intra_op_thread():
        return _drive(runner, stages, progress, stop, bar, bars)


def _drive(runner, stages, progress, stop, bar, bars) -> Any:
    import numpy as np

    try:
        while True:
            try:
                p = next(runner)
            except StopIteration as done:
                return done.value
            current = bars.get(p.stage)
            share = getattr(p, "share", None)
            if current is None:
                for other in bars.values():
                    other.close()
                desc, unit, scale = stages.get(p.stage, (p.stage, "point", False))
                if share is not None:  # the bar, and its time left, go by the share of the work done
                    desc, unit, scale = f"{desc} ({unit} on a log scale)", "‰", False
                current = bars[p.stage] = bar(total=SHARE_STEPS if share is not None else p.total, desc=desc,
                                              unit=unit, disable=not progress, dynamic_ncols=True, unit_scale=scale)
            current.n = round(share * SHARE_STEPS) if share is not None else p.done
            # where the stage stands in its own unit (gradient flow: t = 1.2e+03)
            postfix = {} if share is None else {stages.get(p.stage, (p.stage, "point", False))[1]: f"{p.done:.3g}"}
            loss = getattr(p, "loss", None)
            if loss is not None and len(loss):
                postfix["median_loss"] = f"{float(np.median(loss)):.3e}"
            if postfix:
                current.set_postfix(postfix, refresh=False)
            current.refresh()
    except BaseException:
        if stop is not None:
            stop.set()
        runner.close()  # its finally blocks run now, not whenever it is collected
        raise
    finally:
        for current in bars.values():
            current.close()


@contextlib.contextmanager
def one_intra_op_thread() -> Iterator[None]:
    """Within: torch computes each operation on one thread, unless the user sized its pool.

    The core's operations are small (Hessians and refinements of networks with a few hundred
    parameters); a second intra-op thread buys little on an idle machine and spin-waits on a loaded
    one (the closest-saddle analysis of 12 sample runs took 28 s with two threads on a busy 2-core
    machine, 2 s with one). The command line pins the pools at start-up; a notebook imports numpy and
    torch before lsexplorer, so the API pins torch's pool around each computation instead.
    """
    torch = sys.modules.get("torch")
    if torch is None or any(name in os.environ for name in INTRA_OP_VARIABLES):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def signals_ask_to_stop(stop: threading.Event) -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM set ``stop`` (and are listed) for the ``with`` block instead of raising.

    For work whose main thread sits in a library that must not be cut short half-way through its
    bookkeeping (Dask's client): it stops between two looks at its tasks instead, and the caller
    raises the stop once the block has ended. Outside the main thread nothing changes.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def ask_to_stop(signum, frame) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["StageBar", "auto_bar", "drive", "one_intra_op_thread", "signals_ask_to_stop"]
