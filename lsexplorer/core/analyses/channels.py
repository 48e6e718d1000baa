"""``channels``: every chosen ``not_converged`` run re-examined for a flat channel to infinity.

A run whose trained and refined points show a group of neurons running into a channel, with a
certified critical point of the limit model, becomes ``channel`` (minimum at infinity) or
``channel_saddle`` (saddle at infinity); see :mod:`lsexplorer.core.channels.flat_channel`. Certification does
the same for new sessions; this analysis brings older sessions up to date without retraining.
Certification (``certify.py``) analyses every diverged point as it goes and stores what it finds
here too. A row found in a channel gets the kind ``channel`` or ``channel_saddle``; its network
point, loss and spectrum in ``/runs`` stay those of the refined end point, and the certified limit
model is stored per row. Stored under ``/analyses/channels`` by :func:`store`:
``settings`` (:class:`ChannelSettings`), ``points/<row>`` (:meth:`ChannelResult.to_dict`) and
``summary`` (one entry per analysed row: ``run``, ``kind``, ``kind_before``, ``loss_limit``,
``network_loss``, ``train_loss``, ``n_units``, ``approach_exponent``, ``reason``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..base.kinds import Kind
from .base import Analysis, Context, group_of

if TYPE_CHECKING:
    from ..channels.flat_channel import ChannelResult, ChannelSettings
    from ..store.session import Session

GROUP = "channels"
#: Kinds a channel analysis may (re)examine.
ELIGIBLE = (Kind.NOT_CONVERGED, Kind.CHANNEL, Kind.CHANNEL_SADDLE)


class ChannelAnalysis(NamedTuple):
    """One run's channel analysis and the kind it had before."""

    result: ChannelResult
    kind_before: str


def rows(ctx: Context) -> list[int]:
    return [r for r in ctx.rows if str(ctx.session.runs.kind[r]) in ELIGIBLE]


def compute(ctx: Context, row: int):
    from ..channels.flat_channel import analyse_channel  # at call time: the registry imports without torch

    s = ctx.session
    result = analyse_channel(s.spec, [s.runs.theta_trained[row], s.runs.theta[row]], s.x, s.y, ctx.tolerances,
                             stop=ctx.stop)
    measured = (s.runs.theta[row], s.runs.hessian_eigvals[row], [s.runs.loss[row], s.runs.grad_norm[row]])
    if result.kind != Kind.NOT_CONVERGED and not all(np.isfinite(m).all() for m in measured):
        result.kind, result.reason = str(Kind.NOT_CONVERGED), "the refined point's own spectrum is not finite"
    return None if ctx.stopped() else ChannelAnalysis(result, str(s.runs.kind[row]))
    yield  # a generator without progress of its own: one run takes well under a second


def write(session: Session, results: dict[int, ChannelAnalysis]) -> None:
    """Store the results, relabel the runs and rebuild the summary."""
    from ..channels.flat_channel import ChannelSettings  # at call time: the registry imports without torch

    if results:
        store(session, {r: a.result for r, a in results.items()}, {r: a.kind_before for r, a in results.items()},
              ChannelSettings())


def store(session: Session, results: dict[int, ChannelResult], kind_before: dict[int, str],
          settings: ChannelSettings) -> None:
    """Write ``results`` into ``session`` (relabelling the rows' kinds) and rebuild the summary.

    Certification stores the channels it finds while training through this too.
    """
    from ..channels.flat_channel import ChannelResult  # at call time: the registry imports without torch

    group = session.analyses.setdefault(GROUP, {})
    group["settings"] = settings.to_dict()
    points = group.setdefault("points", {})
    summary_before = {}
    old = group.get("summary")
    if old is not None:
        summary_before = {int(r): str(k) for r, k in zip(old["run"], old["kind_before"])}
    for row, result in results.items():
        points[str(row)] = result.to_dict()
        summary_before.setdefault(row, kind_before.get(row, str(session.runs.kind[row])))
        session.runs.kind[row] = result.kind
    rows = sorted(int(r) for r in points)
    stored = {r: ChannelResult.from_dict(points[str(r)]) for r in rows}
    group["summary"] = {
        "run": np.array(rows, dtype=np.int64),
        "kind": np.array([stored[r].kind for r in rows], dtype=str),
        "kind_before": np.array([summary_before.get(r, "not_converged") for r in rows], dtype=str),
        "loss_limit": np.array([stored[r].loss_limit for r in rows], dtype=np.float64),
        "network_loss": np.array([stored[r].network_loss for r in rows], dtype=np.float64),
        "train_loss": np.array([session.runs.train_loss[r] for r in rows], dtype=np.float64),
        "n_units": np.array([len(stored[r].groups()) for r in rows], dtype=np.int64),
        "approach_exponent": np.array([stored[r].approach_exponent for r in rows], dtype=np.float64),
        "reason": np.array([stored[r].reason for r in rows], dtype=str),
    }


def read(session: Session | None, row: int) -> ChannelResult | None:
    """The stored channel analysis of run ``row``, None if absent."""
    from ..channels.flat_channel import ChannelResult  # at call time: the registry imports without torch

    if session is None or row < 0:
        return None
    point = group_of(session, GROUP).get("points", {}).get(str(int(row)))
    return None if point is None else ChannelResult.from_dict(point)


def stored(session: Session, row: int, as_row: int) -> ChannelAnalysis | None:
    """Run ``row``'s stored analysis and its kind before, as :func:`write` takes them (for :mod:`.merge`)."""
    result = read(session, row)
    if result is None:
        return None
    table = group_of(session, GROUP).get("summary", {})
    before = {int(r): str(k) for r, k in zip(table.get("run", ()), table.get("kind_before", ()))}
    return ChannelAnalysis(result, before.get(int(row), str(Kind.NOT_CONVERGED)))


def summary(session: Session) -> dict | None:
    table = group_of(session, GROUP).get("summary")
    if table is None:
        return None
    kinds = np.asarray(table["kind"])
    return {"runs": len(table["run"]), "channel": int(np.sum(kinds == Kind.CHANNEL)),
            "channel_saddle": int(np.sum(kinds == Kind.CHANNEL_SADDLE))}


def applies(session: Session) -> bool:
    spec = session.spec
    return len(spec.hidden_widths) == 1 and spec.d_out == 1 and not spec.bias


ANALYSIS = Analysis(
    name="channels", group=GROUP,
    help="re-examine not-converged runs for flat channels to infinity (minima/saddles at infinity)",
    compute=compute, write=write, read=read, summary=summary, rows=rows, applies=applies, stored=stored)

__all__ = ["ANALYSIS", "ELIGIBLE", "ChannelAnalysis", "read", "store", "write"]
