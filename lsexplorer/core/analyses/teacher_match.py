"""``symmetry``: which teacher neuron each student neuron reproduces, and which minima are symmetry-induced.

Teacher matching (:func:`lsexplorer.core.symmetry.operations.match_to_teacher`) of every chosen run, for
two-layer students of a session with a teacher. The symmetry-induced decision itself needs the
closest saddle, which this analysis therefore runs in full.

Stored under ``/analyses/teacher_match/summary``: ``run (R,)`` int64, ``residual (R,)`` float64,
``teacher_of (R, m)`` int64 (``-1``: zero-type neuron), ``flipped (R, m)`` bool. Runs matched
before keep their row unless matched again.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from . import checks
from .base import Analysis, Context, group_of, splits_neurons

if TYPE_CHECKING:
    from ..store.session import Session

GROUP = "teacher_match"
#: A run counts as matching the teacher when the match residual is below this (parameter units);
#: refined toy global minima measure 1e-15 to 2e-5, other points 0.1 and more.
MATCH_RESIDUAL = 1e-4


@dataclasses.dataclass
class TeacherMatch:
    """A stored match of one run: ``residual`` (0 when the student is the teacher up to symmetry),
    ``teacher_of (m,)`` the teacher neuron of each student neuron (-1: zero-type), ``flipped (m,)``."""

    run: int
    residual: float
    teacher_of: np.ndarray
    flipped: np.ndarray

    @property
    def matched(self) -> bool:
        return self.residual < MATCH_RESIDUAL


def applies(session: Session) -> bool:
    return session.teacher_theta is not None and len(session.spec.hidden_widths) == 1 and splits_neurons(session)


def compute(ctx: Context, row: int):
    from ..symmetry.operations import match_to_teacher  # at call time: the registry imports without torch

    yield from ()  # one match takes milliseconds: nothing to report before the result
    s = ctx.session
    if not np.isfinite(s.runs.theta[row]).all():
        return None  # a diverged (not_converged) run may hold NaN: there is no point to match
    m = match_to_teacher(s.spec, s.runs.theta[row], s.teacher_spec, s.teacher_theta)
    return TeacherMatch(row, float(m.residual), np.asarray(m.teacher_of, dtype=np.int64),
                        np.asarray(m.flipped, dtype=bool))


def read_all(session: Session) -> list[TeacherMatch]:
    """Every stored match, by run."""
    table = group_of(session, GROUP).get("summary")
    if table is None:
        return []
    return [TeacherMatch(int(r), float(res), np.asarray(t, dtype=np.int64), np.asarray(f, dtype=bool))
            for r, res, t, f in zip(table["run"], table["residual"], table["teacher_of"], table["flipped"])]


def read(session: Session, row: int) -> TeacherMatch | None:
    return next((m for m in read_all(session) if m.run == int(row)), None)


def stored(session: Session, row: int, as_row: int) -> TeacherMatch | None:
    """Run ``row``'s stored match as the match of run ``as_row`` (for :mod:`.merge`)."""
    match = read(session, row)
    return None if match is None else dataclasses.replace(match, run=int(as_row))


def write(session: Session, results: dict[int, TeacherMatch]) -> None:
    if not results:
        return
    merged = {m.run: m for m in read_all(session)} | {int(r): m for r, m in results.items()}
    matches = [merged[r] for r in sorted(merged)]
    session.analyses[GROUP] = {"summary": {
        "run": np.array([m.run for m in matches], dtype=np.int64),
        "residual": np.array([m.residual for m in matches]),
        "teacher_of": np.array([m.teacher_of for m in matches], dtype=np.int64),
        "flipped": np.array([m.flipped for m in matches], dtype=bool),
    }}


def summary(session: Session) -> dict | None:
    matches = read_all(session)
    if not matches:
        return None
    return {"runs": len(matches), "matched": int(sum(m.matched for m in matches))}


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): the summary table."""
    where = f"/analyses/{GROUP}"
    g = checks.mapping(group, where)
    if "summary" in g:
        checks.summary_table(g["summary"], f"{where}/summary", session.runs.n_runs,
                             ("run", "residual", "teacher_of", "flipped"))


ANALYSIS = Analysis(
    name="symmetry", group=GROUP, summary_key=GROUP,
    help="match each run to the teacher; decide which critical points (any kind) are symmetry-induced",
    compute=compute, write=write, read=read, summary=summary, rows=lambda ctx: list(ctx.rows),
    includes=("closest_saddle",), applies=applies, check=check, stored=stored)

__all__ = ["ANALYSIS", "MATCH_RESIDUAL", "TeacherMatch", "read", "read_all", "write"]
