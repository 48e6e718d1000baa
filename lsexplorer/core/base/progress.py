"""The one progress record of every long computation in :mod:`lsexplorer.core`, and driving one.

Long computations in ``core`` (training, refinement, the analyses) are generators that yield
:class:`Progress` records and *return* their result; :func:`run_generator` is the loop every caller
would otherwise write by hand. One record type means one CLI bar driver and one GUI adapter serve
every computation: ``stage`` names what runs, ``done`` of ``total`` counts its units.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import numpy as np

R = TypeVar("R")


@dataclasses.dataclass
class Progress:
    """``done`` of ``total`` units of ``stage`` after ``elapsed`` seconds; plain data, safe across threads.

    ``stage`` says what runs (``"train"``, ``"certify"``, an analysis' name, a search phase).
    Optional facts some stages add (keyword-only): ``run``, the session row just finished; ``loss (S,)``, the
    training loss per seed; ``epochs_per_s``; ``converged``, seeds stopped by a gradient tolerance;
    ``mu``, the split value just computed on a saddle line; ``share``, the fraction of the stage's work done
    where ``done`` of ``total`` does not measure it (gradient flow counts time t, and its work grows with log t).
    """

    stage: str
    done: int
    total: int
    elapsed: float = 0.0
    _: dataclasses.KW_ONLY
    run: int | None = None
    loss: np.ndarray | None = None
    epochs_per_s: float | None = None
    converged: int = 0
    mu: float | None = None
    share: float | None = None


def run_generator(gen: Generator[Any, None, R], on_progress: Callable[[Any], None] | None = None) -> R:
    """Exhaust ``gen``, passing every yielded record to ``on_progress``; return the generator's result."""
    while True:
        try:
            record = next(gen)
        except StopIteration as done:
            return done.value
        if on_progress is not None:
            on_progress(record)


__all__ = ["Progress", "run_generator"]
