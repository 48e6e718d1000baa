"""Stored analyses of one session copied into another, run by run: results computed apart, merged.

A sweep analyses each chunk of seeds where it trains them, in a session of those seeds only; the
point's session is assembled from the chunks afterwards, so each chunk's results must land on the
rows its seeds take there. :func:`copy_results` does that through the registry's writers (which
rebuild every summary and relabel kinds as :func:`~.analyze.analyze_session` would), never by
editing a stored tree: only an analysis' own module knows its layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import REGISTRY
from .base import Analysis

if TYPE_CHECKING:
    from ..store.session import Session


def stored_result(analysis: Analysis, session: Session, row: int, as_row: int) -> Any:
    """What ``analysis.write`` takes to store run ``row``'s stored result of ``session`` as run ``as_row``."""
    if analysis.stored is not None:
        return analysis.stored(session, row, as_row)
    return analysis.read(session, row)


def copy_results(source: Session, target: Session, rows: Mapping[int, int]) -> list[str]:
    """Store every registered analysis' results of ``source`` run ``r`` as ``target`` run ``rows[r]``.

    In the registry's order (an analysis' writer may read what an earlier one stored, as the
    closest saddle reads the teacher match); results already in ``target`` for other runs are kept.
    Returns the names of the analyses stored in ``source`` (each written, with no runs when it
    stored none of ``rows``, as :func:`~.analyze.analyze_session` writes an analysis that ran).
    """
    copied = []
    for analysis in REGISTRY.values():
        if analysis.group not in source.analyses:
            continue
        results = {}
        for row, as_row in rows.items():
            result = stored_result(analysis, source, int(row), int(as_row))
            if result is not None:
                results[int(as_row)] = result
        analysis.write(target, results)  # also when empty: the analysis ran, as analyze_session stores it
        copied.append(analysis.name)
    return copied


__all__ = ["copy_results", "stored_result"]
