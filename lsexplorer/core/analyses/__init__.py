"""The analysis registry: every analysis stored under a session's ``/analyses``, in the order they run.

Each analysis is one module here exposing ``ANALYSIS`` (:class:`~.base.Analysis`): its name, what it
needs, a per-run compute generator, and the writer and typed reader of its part of ``/analyses``.
:func:`lsexplorer.core.analyses.analyze.analyze_session`, the CLI's ``analyze`` flags and ``info``, the GUI's
panels and the export all go through :data:`REGISTRY` and the modules' readers; none of them knows a
stored layout. Adding an analysis: write its module, add it to :data:`REGISTRY` below. A session is
opened with :func:`lsexplorer.core.analyses.opening.open_session`, which checks each stored analysis
with its module's ``check``.

Importing this package does not import torch (heavy modules are imported when an analysis runs or
reads), so the CLI can build its flags from it quickly.
"""

from __future__ import annotations

from . import (
    channels,
    closest_saddle,
    escape,
    expanded_lines,
    mu_sweep,
    paths,
    saddle_descent,
    teacher_match,
    theorems,
)
from .base import Analysis, Check, Context

#: Every analysis by name, in the order :func:`~lsexplorer.core.analyses.analyze.analyze_session` runs them
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
CHECKS_APART: dict[str, Check] = {saddle_descent.GROUP: saddle_descent.check, paths.GROUP: paths.check,
                                  expanded_lines.GROUP: expanded_lines.check}


def stored_checks() -> dict[str, Check]:
    """The check of every stored group that has one, by group: the registry's (as registered now)
    and those of the analyses run apart."""
    return {**{a.group: a.check for a in REGISTRY.values() if a.check is not None}, **CHECKS_APART}


def get(name: str) -> Analysis:
    """The analysis called ``name``; ValueError naming the choices otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown analysis {name!r}; choose from {', '.join(REGISTRY)}") from None


__all__ = ["CHECKS_APART", "REGISTRY", "Analysis", "Context", "get", "stored_checks"]
