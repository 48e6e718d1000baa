"""``closest_saddle``: thesis §6.2.5 for every chosen certified critical point, and the symmetry-induced decision.

Every kind gets the decision (:data:`lsexplorer.core.saddles.closest_saddle.SI_KINDS`: global and local
minima, strict and non-strict saddles): a duplicated neuron embeds a narrower critical point of any
kind, and ``/runs/symmetry_induced`` must be right for every analysed row. Besides the closest saddle
line, every point gets its certified reduction under every symmetry
(:func:`lsexplorer.core.saddles.symmetry_type.reduce_and_certify`: duplicated, sign-flipped, zero-outgoing
and zero-incoming neurons and their combinations); a point is symmetry-induced when it lies on its closest
saddle line or its reduction is certified, and its symmetry type is the reduction's.

The computation is :func:`lsexplorer.core.saddles.closest_saddle.closest_saddle_all`; this module owns the
stored layout of ``/analyses/closest_saddle``: ``settings`` (attributes; ``merge``, ``refine``,
``tolerances`` sub-groups), ``points/<row>`` (one :class:`ClosestSaddle` per analysed row, plus
``seed`` and the :class:`SymmetryInduced` decision), and ``summary``, rebuilt from all points:
``run``, ``seed (R,)`` int64, ``distance``, ``mu``, ``nearest_neuron_distance (R,)`` float64 (the
merged pair's initial distance), ``saddle_eigvals (R, 3)``, ``narrower_kind (R,)`` str,
``symmetry_induced (R,)`` bool (saddle line or certified reduction), ``corollary_verdict (R,)`` str
(``""`` where the check did not run), ``symmetry_type (R,)`` str (the ``+``-joined types of a certified
reduction, else ``irreducible``; ``duplicate`` for a point on its saddle line; for a point stored before
reductions were, ``duplicate`` on its line and ``""`` off it),
``reduction_reason (R,)`` str (one line: why). Each point's reduction is ``points/<row>/reduction``
(:class:`~lsexplorer.core.saddles.symmetry_type.Reduction`: types, is_si, defect, moved, tolerance,
reason, and its certified ``narrower`` point). Rows analysed before keep their entry unless analysed
again; ``/runs/symmetry_induced`` is set for every analysed row.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from . import checks
from .base import Analysis, Context, group_of, splits_neurons

if TYPE_CHECKING:
    from ..saddles.closest_saddle import ClosestSaddle, SymmetryInduced
    from ..saddles.symmetry_type import Reduction
    from ..store.session import Session

GROUP = "closest_saddle"
#: The symmetry type of a point with no certified reduction (``core/symmetry/reduction.py``).
IRREDUCIBLE = "irreducible"


@dataclasses.dataclass
class ClosestSaddleTable:
    """The stored summary: one entry per analysed run, in run order (module docstring)."""

    run: np.ndarray
    seed: np.ndarray
    distance: np.ndarray
    mu: np.ndarray
    nearest_neuron_distance: np.ndarray
    saddle_eigvals: np.ndarray
    narrower_kind: np.ndarray
    symmetry_induced: np.ndarray
    corollary_verdict: np.ndarray
    symmetry_type: np.ndarray
    reduction_reason: np.ndarray


@dataclasses.dataclass(frozen=True)
class ClosestSaddleOptions:
    """The knob of the closest-saddle search (thesis §6.2.5)."""

    lam: float = dataclasses.field(default=0.1, metadata={
        "help": "penalty lam * ||w_i - w_j|| that pulls the nearest pair of neurons together (the thesis' 0.1)"})


def compute(ctx: Context, row: int):
    """``{"settings", "points": {row: ...}}`` of :func:`closest_saddle_all` for one run, with the point's
    certified reduction; None if stopped."""
    from ..saddles.closest_saddle import closest_saddle_all  # at call time: the registry imports without torch
    from ..saddles.symmetry_type import reduce_and_certify

    result = yield from closest_saddle_all(ctx.session, [row], lam=ctx.options_of(ANALYSIS).lam, tolerances=ctx.tolerances,
                                           stop=ctx.stop)
    if result is None or not result["points"] or (ctx.stop is not None and ctx.stop.is_set()):
        return None
    session = ctx.session
    reduction = reduce_and_certify(session.spec, session.runs.theta[row], session.x, session.y,
                                   tolerances=ctx.tolerances, stop=ctx.stop)
    result["points"][str(int(row))]["reduction"] = reduction.to_dict()
    return result


def write(session: Session, results: dict[int, dict]) -> None:
    """Merge analyses of :func:`closest_saddle_all` (``{row: {"settings", "points"}}``) into ``session``."""
    for analysis in results.values():
        store(session, analysis)


def store(session: Session, analysis: dict) -> None:
    """Merge one result of :func:`closest_saddle_all` into ``session`` (in memory); layout above."""
    group = session.analyses.setdefault(GROUP, {})
    group["settings"] = analysis["settings"]
    points = group.setdefault("points", {})
    points.update(analysis["points"])
    rows = sorted(points, key=int)
    entries = [points[r] for r in rows]
    group["summary"] = {
        "run": np.array([int(r) for r in rows], dtype=np.int64),
        "seed": np.array([e["seed"] for e in entries], dtype=np.int64),
        "distance": np.array([e["distance"] for e in entries], dtype=np.float64),
        "mu": np.array([e["mu"] for e in entries], dtype=np.float64),
        "nearest_neuron_distance": np.array([e["merge"]["distance_before"] for e in entries], dtype=np.float64),
        "saddle_eigvals": np.array([np.pad(e["saddle_eigvals"], (0, 3 - len(e["saddle_eigvals"])),
                                           constant_values=np.nan) for e in entries]).reshape(-1, 3),
        "narrower_kind": np.array([e["narrower"]["kind"] for e in entries], dtype=str),
        "symmetry_induced": np.array([e["symmetry_induced"]["is_si"] for e in entries], dtype=bool),
        "corollary_verdict": np.array([e["symmetry_induced"].get("corollary", {}).get("verdict", "")
                                       for e in entries], dtype=str),
        "symmetry_type": np.array([_symmetry_type(e) for e in entries], dtype=str),
        "reduction_reason": np.array([e.get("reduction", {}).get("reason", "") for e in entries], dtype=str),
    }
    group["summary"]["symmetry_induced"] |= np.array([bool(e.get("reduction", {}).get("is_si", False))
                                                      for e in entries], dtype=bool)
    session.runs.symmetry_induced[group["summary"]["run"]] = group["summary"]["symmetry_induced"]


def stored(session: Session, row: int, as_row: int) -> dict | None:
    """Run ``row``'s stored analysis as :func:`write` takes it for run ``as_row`` (for :mod:`.merge`)."""
    point = _point(session, row)
    if point is None:
        return None
    return {"settings": copy.deepcopy(group_of(session, GROUP)["settings"]),
            "points": {str(int(as_row)): copy.deepcopy(point)}}


def _symmetry_type(entry: dict) -> str:
    """The type of a certified reduction (``irreducible`` when it did not certify), ``duplicate`` for a point on
    its saddle line; for a point stored before reductions were and not on its line, ``""``."""
    on_line = bool(entry["symmetry_induced"]["is_si"])
    if "reduction" in entry:
        reduced = entry["reduction"]
        found = str(reduced["types"]) if reduced["is_si"] else IRREDUCIBLE
        return "duplicate" if on_line and found == IRREDUCIBLE else found
    return "duplicate" if on_line else ""


def _point(session: Session | None, row: int) -> dict | None:
    if session is None or row < 0:
        return None
    return group_of(session, GROUP).get("points", {}).get(str(int(row)))


def read(session: Session | None, row: int) -> ClosestSaddle | None:
    """The stored closest saddle of run ``row``, None if it was not analysed."""
    from ..saddles.closest_saddle import ClosestSaddle  # at call time: the registry imports without torch

    point = _point(session, row)
    return None if point is None else ClosestSaddle.from_dict(point)


def read_decision(session: Session | None, row: int) -> SymmetryInduced | None:
    """The stored symmetry-induced decision of run ``row``, None if it was not analysed."""
    from ..saddles.closest_saddle import SymmetryInduced  # at call time: the registry imports without torch

    point = _point(session, row)
    return None if point is None else SymmetryInduced.from_dict(point["symmetry_induced"])


def read_reduction(session: Session | None, row: int) -> Reduction | None:
    """The stored certified reduction of run ``row``, None if it was not analysed (or stored without one)."""
    from ..saddles.symmetry_type import Reduction  # at call time: the registry imports without torch

    point = _point(session, row)
    return None if point is None or "reduction" not in point else Reduction.from_dict(point["reduction"])


def analysed_rows(session: Session | None) -> list[int]:
    """Runs with a stored closest saddle, ascending."""
    return [] if session is None else sorted(int(r) for r in group_of(session, GROUP).get("points", {}))


def read_table(session: Session | None) -> ClosestSaddleTable | None:
    """The stored summary table, None when no closest saddle is stored."""
    table = None if session is None else group_of(session, GROUP).get("summary")
    if table is None:
        return None
    si = np.asarray(table["symmetry_induced"], dtype=bool)
    # a summary stored before reductions were: its symmetry-induced points lie on a saddle line
    later = {"symmetry_type": np.where(si, "duplicate", ""), "reduction_reason": np.full(si.shape, "")}
    return ClosestSaddleTable(**{f.name: np.asarray(table[f.name] if f.name in table else later[f.name])
                                 for f in dataclasses.fields(ClosestSaddleTable)})


def type_counts(session: Session | None) -> dict[str, int]:
    """How many analysed runs have each stored symmetry type (``""``: stored before reductions were)."""
    table = read_table(session)
    if table is None:
        return {}
    types, counts = np.unique(table.symmetry_type.astype(str), return_counts=True)
    return {str(t): int(c) for t, c in zip(types, counts)}


def summary(session: Session) -> dict | None:
    table = read_table(session)
    if table is None:
        return None
    types = ", ".join(f"{n} {t or 'untyped'}" for t, n in sorted(type_counts(session).items(), key=lambda i: -i[1]))
    return {"runs": len(table.run), "symmetry_induced": int(np.sum(table.symmetry_induced)), "symmetry_types": types}


def critical_rows(ctx: Context) -> list[int]:
    """The runs asked for that are certified critical points, whatever their kind."""
    from ..saddles.closest_saddle import SI_KINDS  # at call time: the registry imports without torch

    return [r for r in ctx.rows if str(ctx.session.runs.kind[r]) in SI_KINDS]


SUMMARY_COLUMNS = ("run", "seed", "distance", "mu", "nearest_neuron_distance", "saddle_eigvals", "narrower_kind",
                   "symmetry_induced", "corollary_verdict")


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): layout, then every point's fields
    and the shapes the network implies."""
    where = f"/analyses/{GROUP}"
    g = checks.points_and_summary(group, where, session.runs.n_runs, SUMMARY_COLUMNS)
    if not results:
        return
    from ..saddles.closest_saddle import ClosestSaddle, SymmetryInduced  # imported here: layouts need no torch
    from ..saddles.symmetry_type import Reduction

    spec = session.spec
    for row, point in g.get("points", {}).items():
        at = f"{where}/points/{row}"
        c = checks.parse(ClosestSaddle, point, at)
        checks.parse(SymmetryInduced, point.get("symmetry_induced"), f"{at}/symmetry_induced")
        if "reduction" in point:
            reduced = checks.parse(Reduction, point["reduction"], f"{at}/reduction")
            if reduced.narrower is not None:
                checks.shape(f"{at}/reduction/narrower/theta", reduced.narrower.theta, reduced.narrower.spec.n_params)
        if not isinstance(point.get("seed"), int):
            checks.bad(f"{at}/seed", "must be an integer")
        if not 1 <= c.layer <= len(spec.hidden_widths):
            checks.bad(f"{at}/layer", f"must be a hidden layer of {spec.describe()}")
        m = spec.widths[c.layer]
        for name in ("line_origin", "line_direction", "saddle"):
            checks.shape(f"{at}/{name}", getattr(c, name), spec.n_params)
        checks.shape(f"{at}/perm", c.perm, m)
        if c.perm.dtype.kind not in "iu" or sorted(c.perm.tolist()) != list(range(m)):
            checks.bad(f"{at}/perm", f"must be a permutation of 0..{m - 1}")
        if not all(0 <= k < m for k in (*c.pair, *c.positions)) or not 0 <= c.neuron < m - 1:
            checks.bad(at, f"names a neuron outside hidden layer {c.layer} (width {m})")
        narrow = list(spec.widths)
        narrow[c.layer] -= 1
        if list(c.narrower.spec.widths) != narrow:
            checks.bad(f"{at}/narrower/spec", f"widths {list(c.narrower.spec.widths)} are not {narrow}")
        checks.shape(f"{at}/narrower/theta", c.narrower.theta, c.narrower.spec.n_params)
        checks.shape(f"{at}/narrower/eigvals", c.narrower.eigvals, c.narrower.spec.n_params)
        checks.shape(f"{at}/saddle_eigvals", c.saddle_eigvals, None)


ANALYSIS = Analysis(
    name="closest_saddle", group=GROUP, help="closest saddle of every certified critical point, any kind (§6.2.5)",
    compute=compute, write=write, read=read, summary=summary, rows=critical_rows,
    applies=splits_neurons, check=check, options=ClosestSaddleOptions, stored=stored)

__all__ = ["ANALYSIS", "ClosestSaddleTable", "analysed_rows", "read", "read_decision", "read_reduction", "read_table",
           "store", "type_counts", "write"]
