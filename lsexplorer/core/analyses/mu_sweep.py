"""``mu_sweep``: Theorem 3's Hessian spectra along the saddle line of each closest saddle (thesis Fig 6.17).

Needs the run's closest saddle (computed first where missing); runs whose narrower point did not
converge are skipped. Stored under ``/analyses/mu_sweep``: ``points/<row>`` (:meth:`MuSweep.to_dict`)
and ``summary``, rebuilt from all points: ``run``, ``neuron``, ``layer``, ``predicted_crossings``,
``crossings_at_0``, ``crossings_at_1`` ``(R,)`` int64 and ``inertia_agrees (R,)`` bool (measured
inertia equals the predicted one at every grid point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import checks, closest_saddle
from .base import Analysis, Context, group_of, splits_neurons

if TYPE_CHECKING:
    from ..saddles.inertia import MuSweep
    from ..store.session import Session

GROUP = "mu_sweep"


def compute(ctx: Context, row: int):
    from ..saddles.inertia import default_mu_grid, mu_sweep  # at call time: the registry imports without torch

    saddle = closest_saddle.read(ctx.session, row)
    if saddle is None or saddle.narrower.kind == "not_converged":
        return None
    s = ctx.session
    sweep = yield from mu_sweep(saddle.narrower.spec, saddle.narrower.theta, s.x, s.y, saddle.layer, saddle.neuron,
                                default_mu_grid(cover=(saddle.mu,)), tolerances=ctx.tolerances, stop=ctx.stop)
    return None if sweep is None or sweep.stopped else sweep


def write(session: Session, results: dict[int, MuSweep]) -> None:
    group = session.analyses.setdefault(GROUP, {})
    points = group.setdefault("points", {})
    points.update({str(int(r)): sweep.to_dict() for r, sweep in results.items()})
    rows = analysed_rows(session)
    sweeps = [read(session, r) for r in rows]
    crossings = np.array([sw.zero_crossings() for sw in sweeps], dtype=np.int64).reshape(-1, 2)
    group["summary"] = {
        "run": np.array(rows, dtype=np.int64),
        "neuron": np.array([sw.neuron for sw in sweeps], dtype=np.int64),
        "layer": np.array([sw.layer for sw in sweeps], dtype=np.int64),
        "predicted_crossings": np.array([sw.predicted_crossings for sw in sweeps], dtype=np.int64),
        "crossings_at_0": crossings[:, 0], "crossings_at_1": crossings[:, 1],
        "inertia_agrees": np.array([bool(np.array_equal(sw.measured, sw.predicted)) for sw in sweeps], dtype=bool),
    }


def analysed_rows(session: Session | None) -> list[int]:
    """Runs with a stored sweep, ascending."""
    return [] if session is None else sorted(int(r) for r in group_of(session, GROUP).get("points", {}))


def read(session: Session | None, row: int) -> MuSweep | None:
    """The stored Theorem 3 sweep along run ``row``'s closest saddle line, None if absent."""
    from ..saddles.inertia import MuSweep  # at call time: the registry imports without torch

    if session is None or row < 0:
        return None
    point = group_of(session, GROUP).get("points", {}).get(str(int(row)))
    return None if point is None else MuSweep.from_dict(point)


def summary(session: Session) -> dict | None:
    table = group_of(session, GROUP).get("summary")
    if table is None:
        return None
    return {"runs": int(len(table["run"])), "inertia_agrees_everywhere": int(np.sum(table["inertia_agrees"]))}


SUMMARY_COLUMNS = ("run", "neuron", "layer", "predicted_crossings", "crossings_at_0", "crossings_at_1",
                   "inertia_agrees")


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): layout, then every sweep's shapes."""
    where = f"/analyses/{GROUP}"
    g = checks.points_and_summary(group, where, session.runs.n_runs, SUMMARY_COLUMNS)
    if not results:
        return
    from ..saddles.inertia import MuSweep  # imported here: layouts need no torch

    for row, point in g.get("points", {}).items():
        check_sweep(checks.parse(MuSweep, point, f"{where}/points/{row}"), f"{where}/points/{row}")


def check_sweep(sw: MuSweep, at: str) -> None:
    """Every array of a parsed sweep stored at ``at`` has the shape its grid implies (:mod:`.checks`)."""
    k = sw.mus.shape[0] if sw.mus.ndim == 1 else -1
    for name in ("mus", "loss", "grad_norm", "zero_tol"):
        checks.shape(f"{at}/{name}", getattr(sw, name), k)
    checks.shape(f"{at}/eigvals", sw.eigvals, k, None)
    checks.shape(f"{at}/measured", sw.measured, k, 3)
    checks.shape(f"{at}/predicted", sw.predicted, k, 3)
    for name in ("y_eigvals", "y_restricted_eigvals", "u_singular_values", "narrow_eigvals"):
        checks.shape(f"{at}/{name}", getattr(sw, name), None)


ANALYSIS = Analysis(
    name="mu_sweep", group=GROUP, help="Hessian spectra along each closest saddle line (Thm 3)",
    compute=compute, write=write, read=read, summary=summary, needs=("closest_saddle",),
    applies=splits_neurons, check=check)

__all__ = ["ANALYSIS", "analysed_rows", "check_sweep", "read", "write"]
