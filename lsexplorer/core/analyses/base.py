"""What an analysis is to the registry: a name, what it needs, a per-run computation, its storage.

An :class:`Analysis` is one stored result kind under ``/analyses/<group>`` of a session. The
registry (:mod:`lsexplorer.core.analyses`) runs analyses in its order over chosen runs; an analysis
module supplies plain functions and never loops over runs, stores progress or handles ``stop``
itself. Everything works on the session in memory; the caller saves.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from ..base.distribution import is_population
from ..base.progress import Progress

if TYPE_CHECKING:  # the registry imports without torch, so the CLI can list analyses quickly
    from ..base.classify import Tolerances
    from ..store.session import Session


@dataclasses.dataclass
class Context:
    """What every per-run computation may read: the session, its tolerances, ``stop``, and the options
    of each analysis by name (:meth:`options_of`).

    ``rows`` are the runs asked for; ``local`` those of them that were local minima when the batch
    started (an escape analysis may relabel a run later in the same batch).
    """

    session: Session
    tolerances: Tolerances
    rows: list[int]
    local: list[int]
    stop: threading.Event | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def options_of(self, analysis: Analysis) -> Any:
        """The options ``analysis`` runs with: those given for it by name, else its defaults."""
        given = self.options.get(analysis.name)
        return given if given is not None else analysis.options()


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of an analysis that has none."""


def option_fields(analysis: Analysis) -> tuple[dataclasses.Field, ...]:
    """The fields of ``analysis``' options: each a budget or knob with a default and a help line."""
    return dataclasses.fields(analysis.options)


#: Per-run computation: ``(context, row)`` -> generator of progress records returning the run's
#: result, or None when the run has nothing to store (skipped, or stopped part-way).
Compute = Callable[[Context, int], Generator[Progress, None, Any]]


#: A stored group's check: ``(group, session, results) -> None``, raising :class:`~.checks.Malformed`.
Check = Callable[[Any, "Session", bool], None]


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One analysis: how the registry finds its runs, computes each and stores and reads the results.

    name:
        Registry and CLI name (``--closest-saddle`` is ``closest_saddle``); also the progress ``stage``.
    group:
        Its key under ``/analyses`` (usually ``name``).
    help:
        One line for the CLI.
    needs:
        Analyses whose stored results it reads; they run first, only for runs that lack them.
    includes:
        Analyses that run in full whenever this one is asked for.
    rows:
        ``context -> runs`` it computes (default: the local minima asked for).
    compute, write:
        Per-run computation and the writer that merges ``{row: result}`` into the session (and
        rebuilds any summary); the writer is the only code that knows the stored layout.
    read:
        ``(session, row) -> typed result or None``: the reader every view uses.
    summary:
        ``session -> headline counts`` (JSON-able) or None when nothing is stored.
    summary_key:
        Name of the summary in :func:`analyze_session`'s result (default ``group``).
    applies:
        ``session -> bool``: whether the analysis makes sense for this session at all.
    options:
        A frozen dataclass of the analysis' budgets and knobs, every field with its default and a
        ``metadata={"help": ...}``; the CLI offers each as ``--<name>-<field>``.
    check:
        ``(group, session, results)``: refuses (:class:`~.checks.Malformed`) a stored group its
        readers cannot use, when a session is opened; the result fields only when ``results``.
    stored:
        ``(session, row, as_row) -> what write takes`` to store run ``row``'s stored result as run
        ``as_row`` of another session (None when absent), for results computed apart and merged
        (:mod:`.merge`); None: the reader's result, which must not name its row.
    """

    name: str
    group: str
    help: str
    compute: Compute
    write: Callable[[Session, dict[int, Any]], None]
    read: Callable[[Session, int], Any]
    summary: Callable[[Session], dict | None]
    rows: Callable[[Context], list[int]] = lambda ctx: list(ctx.local)
    needs: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    applies: Callable[[Session], bool] = lambda session: True
    summary_key: str | None = None
    check: Check | None = None
    options: type = NoOptions
    stored: Callable[[Session, int, int], Any] | None = None


def splits_neurons(session: Session) -> bool:
    """Whether the session's landscape has the neuron-splitting symmetry (free output weights) that
    the closest-saddle family of analyses follows; a population landscape with fixed output weights
    does not."""
    return not is_population(session)


def drive(gen: Generator[Any, None, Any]):
    """An inner generator's return value; its own progress records are not forwarded."""
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value


def group_of(session: Session, group: str) -> dict:
    """``/analyses/<group>`` as stored, ``{}`` when absent (read-only use)."""
    return session.analyses.get(group, {})


__all__ = ["Analysis", "Check", "Compute", "NoOptions", "option_fields", "Context", "drive", "group_of", "splits_neurons"]
