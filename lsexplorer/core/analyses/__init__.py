"""The analysis registry: every analysis stored under a session's ``/analyses``, in the order they run.

Each analysis is one module here exposing ``ANALYSIS`` (:class:`~.base.Analysis`): its name, what it
needs, a per-run compute generator, and the writer and typed reader of its part of ``/analyses``.
:func:`lsexplorer.core.analyze.analyze_session`, the CLI's ``analyze`` flags and ``info``, the GUI's
panels and the export all go through :data:`REGISTRY` and the modules' readers; none of them knows a
stored layout. Adding an analysis: write its module, add it to :data:`REGISTRY` below. A session is
opened with :func:`open_session`, which checks each stored analysis with its module's ``check``.

Importing this package does not import torch (heavy modules are imported when an analysis runs or
reads), so the CLI can build its flags from it quickly.
"""

from __future__ import annotations

import os

from ..session import Session, SessionError, load_session
from . import channels, closest_saddle, escape, mu_sweep, saddle_descent, teacher_match, theorems
from .base import Analysis, AnalyzeOptions, Check, Context
from .checks import PARSE_ERRORS, Malformed

#: Every analysis by name, in the order :func:`~lsexplorer.core.analyze.analyze_session` runs them
#: (an analysis runs after those it needs).
REGISTRY: dict[str, Analysis] = {a.name: a for a in (
    channels.ANALYSIS,
    teacher_match.ANALYSIS,
    closest_saddle.ANALYSIS,
    mu_sweep.ANALYSIS,
    escape.ANALYSIS,
    theorems.ANALYSIS,
)}


#: Checks of stored groups written by analyses that run apart from the registry, by group.
CHECKS_APART: dict[str, Check] = {saddle_descent.GROUP: saddle_descent.check}


def stored_checks() -> dict[str, Check]:
    """The check of every stored group that has one, by group: the registry's (as registered now)
    and those of the analyses run apart."""
    return {**{a.group: a.check for a in REGISTRY.values() if a.check is not None}, **CHECKS_APART}


def check_stored(session: Session, results: bool = True) -> None:
    """Raise ``ValueError`` naming the first stored analysis entry of ``session`` its readers cannot
    use: layouts always, every result's fields and shapes when ``results`` (which imports torch)."""
    for group, check in stored_checks().items():
        if group in session.analyses:
            try:
                check(session.analyses[group], session, results)
            except Malformed:
                raise
            except PARSE_ERRORS as e:
                raise ValueError(f"/analyses/{group} is malformed ({type(e).__name__}: {e})") from None


def open_session(path: str | os.PathLike, *, check_results: bool = True) -> Session:
    """The session at ``path``, validated as a file (:func:`~lsexplorer.core.session.load_session`)
    and in every stored analysis (:func:`check_stored`); :class:`SessionError` says why it cannot be.

    This is how every front end opens a session. ``check_results=False`` checks only the layouts,
    for a caller that reads only the summary tables (``lsexplorer info``) and starts without torch.
    """
    session = load_session(path)
    try:
        check_stored(session, check_results)
    except ValueError as e:
        raise SessionError(f"cannot open {os.fspath(path)}: {e}") from None
    return session


def get(name: str) -> Analysis:
    """The analysis called ``name``; ValueError naming the choices otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown analysis {name!r}; choose from {', '.join(REGISTRY)}") from None


__all__ = ["CHECKS_APART", "REGISTRY", "Analysis", "AnalyzeOptions", "Context", "check_stored", "get", "open_session",
           "stored_checks"]
