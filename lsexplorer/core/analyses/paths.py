"""``paths`` storage: minimum-energy paths between two runs, one group per ordered pair.

Not a batch analysis of the registry: a path runs between two runs the caller picks
(:func:`lsexplorer.core.paths.minimum_energy.path_analysis`, ``lsexplorer path``, the app's Paths panel), which
computes it; :func:`write` stores it under ``/analyses/paths/<from>_to_<to>``
(:meth:`PathResult.to_dict`); a new path between the same runs replaces the earlier one.
:func:`lsexplorer.core.paths.minimum_energy.write_path` / ``read_path`` move one result to and from any HDF5 group
in the same layout.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import checks
from .base import group_of

if TYPE_CHECKING:
    from ..paths.minimum_energy import PathResult
    from ..store.session import Session

GROUP = "paths"


def key(run_from: int, run_to: int) -> str:
    return f"{int(run_from)}_to_{int(run_to)}"


def path(run_from: int, run_to: int) -> str:
    """Where the path from run ``run_from`` to run ``run_to`` is stored in the file."""
    return f"/analyses/{GROUP}/{key(run_from, run_to)}"


def write(session: Session, result: PathResult) -> None:
    session.analyses.setdefault(GROUP, {})[key(result.run_from, result.run_to)] = result.to_dict()


def read(session: Session | None, run_from: int, run_to: int) -> PathResult | None:
    """The stored path from run ``run_from`` to run ``run_to``, None if absent."""
    from ..paths.minimum_energy import PathResult  # at call time: listing the registry and `info` start without torch

    if session is None:
        return None
    stored = group_of(session, GROUP).get(key(run_from, run_to))
    return None if stored is None else PathResult.from_dict(stored)


def read_all(session: Session | None) -> dict[str, PathResult]:
    """Every stored path by key."""
    from ..paths.minimum_energy import PathResult  # at call time: listing the registry and `info` start without torch

    if session is None:
        return {}
    return {k: PathResult.from_dict(v) for k, v in group_of(session, GROUP).items()}


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): one group per ``<from>_to_<to>`` of
    two runs, each a stored :class:`~lsexplorer.core.paths.minimum_energy.PathResult`. The paths are
    parsed even when only layouts are checked, since ``info`` summarises them."""
    where = f"/analyses/{GROUP}"
    n = session.runs.n_runs
    for name, stored in checks.mapping(group, where).items():
        match = re.fullmatch(r"(\d+)_to_(\d+)", name)
        if match is None or not all(int(r) < n for r in match.groups()):
            checks.bad(f"{where}/{name}", f"does not name two runs as FROM_to_TO (the session has runs 0..{n - 1})")
        checks.mapping(stored, f"{where}/{name}")
    if not group:
        return
    from ..paths.minimum_energy import PathResult  # at call time: sessions without paths open without torch

    for name, stored in group.items():
        checks.parse(PathResult, stored, f"{where}/{name}")


def summary_rows(session: Session | None) -> list[dict]:
    """One JSON-ready record per stored path, sorted by (from, to): ``from``, ``to``, ``to_global``,
    ``barrier``, ``straight_barrier``, ``outcome`` (what the highest point is, :data:`path_saddle.OUTCOMES`,
    ``"unresolved"`` for a path stored without one), ``index`` (-1 if not certified) and ``label``."""
    if session is None or not group_of(session, GROUP):
        return []  # without stored paths, nothing numerical is imported (`info` stays light)
    rows = []
    for result in read_all(session).values():
        o = result.outcome
        rows.append({"from": result.run_from, "to": result.run_to, "to_global": result.to_global,
                     "barrier": result.barrier, "straight_barrier": result.straight_barrier,
                     "outcome": "unresolved" if o is None else o.outcome, "index": -1 if o is None else o.index,
                     "label": highest_point_label(result)})
    return sorted(rows, key=lambda r: (r["from"], r["to"]))


def highest_point_label(result: PathResult) -> str:
    """What the highest point of the path ``result`` is, in words (its outcome; for a path stored
    before outcomes existed, its saddle certificate)."""
    from ..paths.path_saddle import outcome_label  # at call time: the registry imports without torch

    o, s = result.outcome, result.saddle
    if o is not None or s is None:
        return outcome_label(o)
    if s.index1:
        return "index-1 saddle"
    return f"not certified: |grad| {s.grad_norm:.1e}, {s.n_negative} negative eigenvalues"


def to_global(session: Session | None, run_from: int) -> PathResult | None:
    """The stored path from run ``run_from`` to the global minimum picked as nearest, None if absent."""
    for k, v in group_of(session, GROUP).items() if session is not None else ():
        if k.startswith(f"{int(run_from)}_to_") and bool(v.get("to_global")):
            return read(session, run_from, int(k.split("_to_")[1]))
    return None


__all__ = ["GROUP", "check", "highest_point_label", "key", "path", "read", "read_all", "summary_rows", "to_global",
           "write"]
