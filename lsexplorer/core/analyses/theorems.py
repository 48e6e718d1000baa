"""``theorems``: Theorems 1 and 2 at each closest saddle, within the saddle's distance to the minimum.

Does the theorem account for the minimum we know is there? The radius is the closest saddle's
distance (at least 1e-6); runs without a converged closest saddle are skipped. Stored as
``/analyses/theorems/<row>`` (:meth:`TheoremReport.to_dict`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from . import checks, closest_saddle
from .base import Analysis, Context, group_of, splits_neurons

if TYPE_CHECKING:
    from ..saddles.theorems import TheoremReport
    from ..store.session import Session

GROUP = "theorems"


@dataclasses.dataclass(frozen=True)
class TheoremOptions:
    """The work of Theorems 1 and 2 at each run, in counts, so that a run's report does not depend on
    the machine's speed or load; ``max_seconds`` is only a safety cap (a run it ends is reported as
    ``max_seconds`` and no theorem holds there)."""

    starts: int = dataclasses.field(default=8, metadata={"help": "random starts of each third-derivative solve"})
    maxeval: int = dataclasses.field(default=300, metadata={"help": "evaluations per third-derivative solve"})
    points: int = dataclasses.field(default=32, metadata={"help": "points of the ball where D^4 f is sampled"})
    max_seconds: float = dataclasses.field(
        default=120.0, metadata={"help": "safety cap: seconds per run before it stops incomplete (counted)"})


def compute(ctx: Context, row: int):
    from ..saddles.theorems import saddle_theorem_report  # at call time: the registry imports without torch

    saddle = closest_saddle.read(ctx.session, row)
    if saddle is None or saddle.narrower.kind == "not_converged":
        return None
    s = ctx.session
    radius = max(float(saddle.distance), 1e-6)
    o = ctx.options_of(ANALYSIS)
    report = yield from saddle_theorem_report(s.spec, saddle.saddle, s.x, s.y, radius, n_random_starts=o.starts,
                                              maxeval=o.maxeval, n_points=o.points, max_seconds=o.max_seconds,
                                              stop=ctx.stop)
    return None if ctx.stopped() else report


def write(session: Session, results: dict[int, TheoremReport]) -> None:
    group = session.analyses.setdefault(GROUP, {})
    group.update({str(int(r)): report.to_dict() for r, report in results.items()})


def read(session: Session | None, row: int) -> TheoremReport | None:
    """The stored theorem report at run ``row``'s closest saddle, None if absent."""
    from ..saddles.theorems import TheoremReport  # at call time: the registry imports without torch

    if session is None or row < 0:
        return None
    stored = group_of(session, GROUP).get(str(int(row)))
    return None if stored is None else TheoremReport.from_dict(stored)


def summary(session: Session) -> dict | None:
    """Runs stored, and how many of them the safety cap ended (only when any did)."""
    if GROUP not in session.analyses:
        return None
    reasons = [str(report.get("stop_reason", "")) for report in group_of(session, GROUP).values()]
    capped = reasons.count("max_seconds")
    return {"runs": len(reasons), **({"max_seconds": capped} if capped else {})}


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): one report per key (the driver
    keys them by run row; nothing reads the keys as rows)."""
    where = f"/analyses/{GROUP}"
    for key, report in checks.mapping(group, where).items():
        checks.mapping(report, f"{where}/{key}")
    if not results:
        return
    from ..saddles.theorems import TheoremReport  # imported here: layouts need no torch

    for key, report in group.items():
        checks.parse(TheoremReport, report, f"{where}/{key}")


ANALYSIS = Analysis(
    name="theorems", group=GROUP, help="Theorems 1 and 2 at each closest saddle",
    compute=compute, write=write, read=read, summary=summary, needs=("closest_saddle",),
    applies=splits_neurons, check=check, options=TheoremOptions)

__all__ = ["ANALYSIS", "read", "write"]
