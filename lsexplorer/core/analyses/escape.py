"""``escape``: Algorithms 1 and 2 (thesis §6.2.4) at every chosen local minimum.

A run where a search escapes to lower loss becomes a ``nonstrict_saddle``
(:func:`lsexplorer.core.saddles.escape.escape_verdict`); the kind before is kept. Stored under
``/analyses/escape``: ``points/<row>/{scan,flat}`` (:meth:`EscapeScan.to_dict`,
:meth:`FlatSearch.to_dict`) with the attribute ``kind_before``, and ``summary``, rebuilt from all
points: ``run (R,)`` int64, ``kind_before``, ``kind_after (R,)`` str, ``scan_found_lower``,
``flat_found_lower (R,)`` bool.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..base.kinds import KINDS, Kind
from . import checks
from .base import Analysis, Context, group_of

if TYPE_CHECKING:
    from ..saddles.escape import EscapeScan, FlatSearch
    from ..store.session import Session

GROUP = "escape"


class EscapeResult(NamedTuple):
    """Algorithm 1's scan, Algorithm 2's search and the run's kind before them."""

    scan: EscapeScan
    flat: FlatSearch
    kind_before: str


@dataclasses.dataclass(frozen=True)
class EscapeOptions:
    """Budget of Algorithm 2 (the flat-direction search) at each run, in points visited, so that a
    run's search does not depend on the machine's speed or load; ``max_seconds`` is only a safety cap
    (a search it ends is reported as ``max_seconds`` and counted in the summary)."""

    max_seconds: float = dataclasses.field(
        default=60.0, metadata={"help": "safety cap: seconds per run of Algorithm 2 before it stops (counted)"})
    max_nodes: int = dataclasses.field(default=2000, metadata={"help": "points Algorithm 2 visits per run"})


def compute(ctx: Context, row: int):
    from ..population.relu_gaussian_session import session_landscape  # at call time: the registry imports without torch
    from ..saddles.escape import direction_scan, flat_search  # at call time: the registry imports without torch

    s, o = ctx.session, ctx.options_of(ANALYSIS)
    theta = s.runs.theta[row]
    landscape = session_landscape(s)      # the data's loss, or a population loss
    scan = yield from direction_scan(landscape, theta, stop=ctx.stop)
    flat = yield from flat_search(landscape, theta, max_nodes=o.max_nodes, max_seconds=o.max_seconds, stop=ctx.stop)
    return None if ctx.stopped() else EscapeResult(scan, flat, str(s.runs.kind[row]))


def write(session: Session, results: dict[int, EscapeResult]) -> None:
    """Store the searches and relabel each run whose search escaped; rebuild the summary."""
    from ..saddles.escape import escape_verdict  # at call time: the registry imports without torch

    group = session.analyses.setdefault(GROUP, {})
    points = group.setdefault("points", {})
    for row, r in results.items():
        points[str(int(row))] = {"scan": r.scan.to_dict(), "flat": r.flat.to_dict(), "kind_before": r.kind_before}
        session.runs.kind[row] = escape_verdict(r.kind_before, r.scan, r.flat)
    ordered = sorted(points, key=int)
    group["summary"] = {
        "run": np.array([int(r) for r in ordered], dtype=np.int64),
        "kind_before": np.array([points[r]["kind_before"] for r in ordered], dtype=str),
        "kind_after": np.array([session.runs.kind[int(r)] for r in ordered], dtype=str),
        "scan_found_lower": np.array([bool(points[r]["scan"]["found_lower"]) for r in ordered], dtype=bool),
        "flat_found_lower": np.array([bool(points[r]["flat"]["found_lower"]) for r in ordered], dtype=bool),
    }


def analysed_rows(session: Session | None) -> list[int]:
    """Runs with stored escape searches, ascending."""
    return [] if session is None else sorted(int(r) for r in group_of(session, GROUP).get("points", {}))


def read(session: Session | None, row: int) -> EscapeResult | None:
    """The stored searches of run ``row``, None if absent."""
    from ..saddles.escape import EscapeScan, FlatSearch  # at call time: the registry imports without torch

    if session is None or row < 0:
        return None
    point = group_of(session, GROUP).get("points", {}).get(str(int(row)))
    if point is None:
        return None
    return EscapeResult(EscapeScan.from_dict(point["scan"]), FlatSearch.from_dict(point["flat"]),
                        str(point.get("kind_before", "")))


def summary(session: Session) -> dict | None:
    table = group_of(session, GROUP).get("summary")
    if table is None:
        return None
    capped = sum(str(point["flat"].get("stop_reason", "")) == "max_seconds"
                 for point in group_of(session, GROUP).get("points", {}).values())
    return {"runs": int(len(table["run"])),
            "nonstrict_saddle": int(np.sum(np.asarray(table["kind_after"]) == Kind.NONSTRICT_SADDLE)),
            **({"max_seconds": capped} if capped else {})}


SUMMARY_COLUMNS = ("run", "kind_before", "kind_after", "scan_found_lower", "flat_found_lower")


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): layout and kinds, then every
    search's shapes."""
    where = f"/analyses/{GROUP}"
    g = checks.points_and_summary(group, where, session.runs.n_runs, SUMMARY_COLUMNS)
    for row, point in g.get("points", {}).items():
        if point.get("kind_before") not in KINDS:
            checks.bad(f"{where}/points/{row}/kind_before", f"must be one of {', '.join(KINDS)}")
    if not results:
        return
    from ..saddles.escape import EscapeScan, FlatSearch  # imported here: layouts need no torch

    p = session.spec.n_params
    for row, point in g.get("points", {}).items():
        at = f"{where}/points/{row}"
        scan = checks.parse(EscapeScan, point.get("scan"), f"{at}/scan")
        flat = checks.parse(FlatSearch, point.get("flat"), f"{at}/flat")
        checks.shape(f"{at}/scan/direction", scan.direction, p)
        n = scan.eps.shape[0] if scan.eps.ndim == 1 else -1
        for name in ("eps", "loss", "grad_norm"):
            checks.shape(f"{at}/scan/{name}", getattr(scan, name), n)
        if flat.lower_point.size:  # empty when nothing lower was found
            checks.shape(f"{at}/flat/lower_point", flat.lower_point, p)
        if flat.path.size:
            checks.shape(f"{at}/flat/path", flat.path, None, p)
            checks.shape(f"{at}/flat/path_loss", flat.path_loss, flat.path.shape[0])


ANALYSIS = Analysis(
    name="escape", group=GROUP, help="escape searches, Algorithms 1 and 2 (§6.2.4)",
    compute=compute, write=write, read=read, summary=summary, check=check, options=EscapeOptions)

__all__ = ["ANALYSIS", "EscapeResult", "analysed_rows", "read", "write"]
