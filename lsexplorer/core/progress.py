"""Driving the progress generators of :mod:`lsexplorer.core` to completion.

Long computations in ``core`` are generators that yield small progress records and *return* their
result; this helper is the loop every caller would otherwise write by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

R = TypeVar("R")


def run_generator(gen: Generator[Any, None, R], on_progress: Callable[[Any], None] | None = None) -> R:
    """Exhaust ``gen``, passing every yielded record to ``on_progress``; return the generator's result."""
    while True:
        try:
            record = next(gen)
        except StopIteration as done:
            return done.value
        if on_progress is not None:
            on_progress(record)
