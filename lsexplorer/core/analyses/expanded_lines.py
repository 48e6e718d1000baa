"""``expanded_lines`` storage: μ sweeps along the line of a run's own point with one neuron duplicated.

Not a batch analysis of the registry: which neuron of which layer to expand is the user's choice
(the app's Saddle line panel, "expand a neuron"; the export's ``--expand-layer/--expand-neuron``),
and on a deep net one sweep takes minutes, so a sweep once computed is kept with the session under
``/analyses/expanded_lines/<row>_<layer>_<neuron>`` (:meth:`MuSweep.to_dict`); computing the same
line again replaces it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import checks
from .base import group_of
from .mu_sweep import check_sweep

if TYPE_CHECKING:
    from ..saddles.inertia import MuSweep
    from ..store.session import Session

GROUP = "expanded_lines"


def key(row: int, layer: int, neuron: int) -> str:
    return f"{int(row)}_{int(layer)}_{int(neuron)}"


def write(session: Session, row: int, sweep: MuSweep) -> None:
    """Keep ``sweep`` (of run ``row``, its ``layer`` and ``neuron``) with ``session``; a cancelled sweep is refused."""
    if sweep.stopped:
        raise ValueError("a cancelled μ sweep holds only part of its line and is not stored")
    session.analyses.setdefault(GROUP, {})[key(row, sweep.layer, sweep.neuron)] = sweep.to_dict()


def read(session: Session | None, row: int, layer: int, neuron: int) -> MuSweep | None:
    """The stored sweep of run ``row`` with ``neuron`` of hidden ``layer`` duplicated, None if absent."""
    from ..saddles.inertia import MuSweep  # at call time: listing the registry and `info` start without torch

    if session is None or row < 0:
        return None
    stored = group_of(session, GROUP).get(key(row, layer, neuron))
    return None if stored is None else MuSweep.from_dict(stored)


def stored_keys(session: Session | None) -> list[tuple[int, int, int]]:
    """``(row, layer, neuron)`` of every stored sweep, ascending."""
    if session is None:
        return []
    return sorted(tuple(int(v) for v in k.split("_")) for k in group_of(session, GROUP))


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): one group per ``<row>_<layer>_<neuron>``
    naming a run, a hidden layer and a neuron of it, each a stored sweep of that layer and neuron."""
    where = f"/analyses/{GROUP}"
    n, hidden = session.runs.n_runs, session.spec.hidden_widths
    for name, stored in checks.mapping(group, where).items():
        match = re.fullmatch(r"(\d+)_(\d+)_(\d+)", name)
        ok = match is not None
        if ok:
            row, layer, neuron = (int(v) for v in match.groups())
            ok = row < n and 1 <= layer <= len(hidden) and neuron < hidden[layer - 1]
        if not ok:
            checks.bad(f"{where}/{name}", f"does not name a run, a hidden layer and a neuron as ROW_LAYER_NEURON "
                                          f"(runs 0..{n - 1}, layers 1..{len(hidden)})")
        checks.mapping(stored, f"{where}/{name}")
    if not results or not group:
        return
    from ..saddles.inertia import MuSweep  # at call time: layouts need no torch

    for name, stored in group.items():
        sw = checks.parse(MuSweep, stored, f"{where}/{name}")
        if key(0, sw.layer, sw.neuron).split("_", 1)[1] != name.split("_", 1)[1]:
            checks.bad(f"{where}/{name}", f"holds the sweep of layer {sw.layer}, neuron {sw.neuron}")
        check_sweep(sw, f"{where}/{name}")


__all__ = ["GROUP", "check", "key", "read", "stored_keys", "write"]
