"""Channel analyses of a session's runs, stored under ``/analyses/channels``.

Certification (``certify.py``) analyses every diverged point as it goes; the registered analysis
``channels`` (``analyses/channels.py``, ``lsexplorer analyze --channels``) re-examines the
``not_converged`` rows of an existing session (older sessions included) from their trained and
refined points, so nothing needs retraining. A row found in a channel gets the kind
``channel`` or ``channel_saddle``; its network point, loss and spectrum in ``/runs`` stay those of
the refined end point, and the certified limit model is stored per row.

Layout: ``/analyses/channels/settings`` (:class:`ChannelSettings`), ``points/<row>``
(:meth:`ChannelResult.to_dict`) and ``summary`` (one entry per analysed row: ``run``, ``kind``,
``kind_before``, ``loss_limit``, ``network_loss``, ``train_loss``, ``n_units``, ``approach_exponent``,
``reason``).
"""

from __future__ import annotations

import numpy as np

from .channels import ChannelResult, ChannelSettings
from .session import Session


def channel_results(session: Session) -> dict[int, ChannelResult]:
    """Every stored channel analysis of ``session`` by row."""
    points = session.analyses.get("channels", {}).get("points", {})
    return {int(row): ChannelResult.from_dict(tree) for row, tree in points.items()}


def channel_result(session: Session, row: int) -> ChannelResult | None:
    """The stored channel analysis of ``row``, or None."""
    tree = session.analyses.get("channels", {}).get("points", {}).get(str(row))
    return None if tree is None else ChannelResult.from_dict(tree)


def store_channels(session: Session, results: dict[int, ChannelResult], kind_before: dict[int, str],
                   settings: ChannelSettings) -> None:
    """Write ``results`` into ``session`` (relabelling the rows' kinds) and rebuild the summary."""
    group = session.analyses.setdefault("channels", {})
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


__all__ = ["channel_result", "channel_results", "store_channels"]
