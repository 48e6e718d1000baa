"""``saddle_descent`` storage: thesis §6.3.2 from one run's saddle line, kept per run, layer and neuron.

Not a batch analysis of the registry: it runs on one run and a neuron the caller picks
(:func:`lsexplorer.core.analyses.analyze.saddle_descent_analysis`). Stored under
``/analyses/saddle_descent/<row>/layer<L>_neuron<J>`` (:meth:`SaddleDescent.to_dict`); a new
descent of the same neuron replaces the earlier one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import checks
from .base import group_of

if TYPE_CHECKING:
    from ..saddles.saddle_descent import SaddleDescent
    from ..store.session import Session

GROUP = "saddle_descent"


def key(layer: int, neuron: int) -> str:
    return f"layer{int(layer)}_neuron{int(neuron)}"


def path(row: int, layer: int, neuron: int) -> str:
    """Where the descent of run ``row``, neuron ``neuron`` of hidden ``layer`` is stored in the file."""
    return f"/analyses/{GROUP}/{int(row)}/{key(layer, neuron)}"


def write(session: Session, row: int, result: SaddleDescent) -> None:
    per_run = session.analyses.setdefault(GROUP, {}).setdefault(str(int(row)), {})
    per_run[key(result.layer, result.neuron)] = result.to_dict()


def read(session: Session | None, row: int, layer: int, neuron: int) -> SaddleDescent | None:
    """The stored descent from run ``row``'s line through neuron ``neuron`` of hidden ``layer``, None if absent."""
    from ..saddles.saddle_descent import SaddleDescent  # at call time: the registry imports without torch

    if session is None:
        return None
    stored = group_of(session, GROUP).get(str(int(row)), {}).get(key(layer, neuron))
    return None if stored is None else SaddleDescent.from_dict(stored)


def check(group, session: Session, results: bool) -> None:
    """Refuse a stored group its readers cannot use (:mod:`.checks`): per run, one group per neuron."""
    where = f"/analyses/{GROUP}"
    for row, per_run in checks.run_rows(group, where, session.runs.n_runs).items():
        for name, result in checks.mapping(per_run, f"{where}/{row}").items():
            checks.mapping(result, f"{where}/{row}/{name}")
    if not results:
        return
    from ..saddles.saddle_descent import SaddleDescent  # imported here: layouts need no torch

    for row, per_run in group.items():
        for name, result in per_run.items():
            checks.parse(SaddleDescent, result, f"{where}/{row}/{name}")


__all__ = ["GROUP", "check", "path", "read", "write"]
