"""Outcome fractions of a sweep: per sweep point, how many seeds ended in each kind of point, with
binomial 95 % intervals (the over-parameterization curve).

Kinds are counted from the stored strings, whatever they are, and gathered into display groups:
global minima, local minima, channels (any kind naming a channel, where the session has them),
saddles (every kind naming a saddle), not converged, and any other kind under its own name. A point
whose session is not assembled yet is counted from its finished chunks, so an unfinished sweep
can be inspected while it runs. A sweep that analysed its seeds (``sweep --analyze``) also counts
the symmetry-induced points of each sweep point.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np

from .manifest import SweepChunk, SweepError, read_chunk, read_manifest

#: The standard normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n`` (Wilson 1927); ``(nan, nan)`` for n = 0.

    Unlike the normal (Wald) interval it stays inside [0, 1] and does not collapse to a point at
    k = 0 or k = n, which matter here: rare outcomes are the point of a sweep.
    """
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The bounds at k = 0 and k = n are exactly 0 and 1; the formula gives them only to rounding.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def group_of(kind: str) -> str:
    """The display group of a stored kind string."""
    if kind == "global_min":
        return "global"
    if kind == "local_min":
        return "local"
    if "channel" in kind:
        return "channel"
    if "saddle" in kind:
        return "saddle"
    if kind == "not_converged":
        return "not converged"
    return kind


#: Display order of the groups; others follow alphabetically.
GROUP_ORDER = ("global", "local", "channel", "saddle", "not converged")


def ordered_groups(groups: Iterable[str]) -> list[str]:
    """``groups`` in display order: the known ones first, ``global`` and ``local`` always."""
    present = set(groups) | {"global", "local", "saddle", "not converged"}
    known = [g for g in GROUP_ORDER if g in present]
    return known + sorted(present - set(GROUP_ORDER))


@dataclasses.dataclass
class PointOutcomes:
    """One sweep point: its width, lr, session path, seeds done of those asked, and kind counts;
    ``symmetry_induced``: how many of the seeds done ended at a symmetry-induced point (None when
    the sweep did not analyse them: no closest saddle)."""

    name: str
    width: int
    lr: float
    session: Path
    n_done: int
    n_asked: int
    kinds: dict[str, int]
    symmetry_induced: int | None = None

    @property
    def complete(self) -> bool:
        return self.n_done == self.n_asked and self.session.exists()

    def groups(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for kind, n in self.kinds.items():
            counts[group_of(kind)] += n
        return dict(counts)

    def fraction(self, group: str) -> tuple[float, float, float]:
        """``(fraction, low, high)`` of seeds in ``group`` among those done, with its 95 % interval."""
        return _fraction(self.groups().get(group, 0), self.n_done)

    def symmetry_induced_fraction(self) -> tuple[float, float, float]:
        """``(fraction, low, high)`` of symmetry-induced seeds among those done (NaN when not analysed)."""
        return _fraction(self.symmetry_induced, self.n_done)


def _fraction(k: int | None, n: int) -> tuple[float, float, float]:
    if k is None:
        return math.nan, math.nan, math.nan
    lo, hi = wilson_interval(k, n)
    return (k / n if n else math.nan), lo, hi


@dataclasses.dataclass
class SweepOutcomes:
    """Every point of a sweep folder with its outcome counts; ``groups`` in display order."""

    folder: Path
    points: list[PointOutcomes]
    groups: list[str]
    config: dict

    def to_json(self) -> dict:
        """A JSON-able table: per point counts, fractions and 95 % Wilson intervals per group."""
        rows = []
        for p in self.points:
            fractions = {}
            for g in self.groups:
                f, lo, hi = p.fraction(g)
                fractions[g] = {"count": p.groups().get(g, 0), "fraction": _finite(f),
                                "ci95": [_finite(lo), _finite(hi)]}
            si = None
            if p.symmetry_induced is not None:
                f, lo, hi = p.symmetry_induced_fraction()
                si = {"count": p.symmetry_induced, "fraction": _finite(f), "ci95": [_finite(lo), _finite(hi)]}
            rows.append({"name": p.name, "width": p.width, "lr": p.lr, "session": str(p.session),
                         "seeds_done": p.n_done, "seeds_asked": p.n_asked, "complete": p.complete,
                         "kinds": dict(sorted(p.kinds.items())), "outcomes": fractions, "symmetry_induced": si})
        return {"folder": str(self.folder), "interval": "Wilson score, 95 %", "points": rows}


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _session_kinds(path: Path) -> tuple[np.ndarray, int | None]:
    """The kinds of a session file, and its symmetry-induced count when its closest saddles were analysed."""
    with h5py.File(path, "r") as f:
        kinds = np.asarray(f["runs/kind"].asstr()[()])
        analysed = "analyses/closest_saddle" in f and "runs/symmetry_induced" in f
        return kinds, (int(np.count_nonzero(f["runs/symmetry_induced"][()])) if analysed else None)


def read_sweep_outcomes(folder: str | os.PathLike) -> SweepOutcomes:
    """The outcome counts of every point of the sweep in ``folder``; :class:`SweepError` if it is not one."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    seeds = [int(s) for s in manifest["axes"]["seeds"]]
    chunk = int(manifest["chunk"])
    points = []
    for p in manifest["points"]:
        session = folder / p["session"]
        kinds: Counter[str] = Counter()
        n_done = 0
        symmetry_induced: int | None = None
        if session.exists():
            try:
                stored, symmetry_induced = _session_kinds(session)
            except (OSError, KeyError) as exc:
                raise SweepError(f"cannot read {session}: {exc}") from None
            kinds.update(str(k) for k in stored)
            n_done = len(stored)
        else:
            for i in range(0, len(seeds), chunk):
                arrays = read_chunk(folder, SweepChunk(p["name"], i // chunk, tuple(seeds[i:i + chunk])))
                if arrays is not None:
                    kinds.update(str(k) for k in arrays["kind"])
                    n_done += len(arrays["kind"])
                    if "symmetry_induced" in arrays:
                        symmetry_induced = (symmetry_induced or 0) + int(np.count_nonzero(arrays["symmetry_induced"]))
        points.append(PointOutcomes(p["name"], int(p["width"]), float(p["lr"]), session, n_done, len(seeds),
                                    dict(kinds), symmetry_induced))
    groups = ordered_groups(g for p in points for g in p.groups())
    config = manifest["points"][0]["config"] if manifest["points"] else {}
    return SweepOutcomes(folder, points, groups, config)


def format_sweep_table(outcomes: SweepOutcomes) -> str:
    """The outcome fractions per point as a text table, each with its 95 % interval."""
    cfg = outcomes.config
    train = cfg.get("train", {})
    lines = [f"{outcomes.folder}: {cfg.get('preset', '?')} preset, {len(outcomes.points)} points, "
             f"{train.get('optimizer', '?')} {train.get('epochs', '?')} epochs; fractions with Wilson 95 % intervals"]
    several_lrs = len({p.lr for p in outcomes.points}) > 1
    analysed = any(p.symmetry_induced is not None for p in outcomes.points)
    head = f"{'width':>5}" + (f"{'lr':>9}" if several_lrs else "") + f"{'seeds':>11}"
    head += "".join(f"  {g:>21}" for g in outcomes.groups)
    head += f"  {'symmetry-induced':>21}" if analysed else ""
    lines.append(head)
    for p in outcomes.points:
        row = f"{p.width:>5}" + (f"{p.lr:>9.2g}" if several_lrs else "")
        row += f"{f'{p.n_done}/{p.n_asked}':>11}"
        cells = [p.fraction(g) for g in outcomes.groups] + ([p.symmetry_induced_fraction()] if analysed else [])
        for f, lo, hi in cells:
            row += f"  {'—':>21}" if math.isnan(f) else f"  {f'{f:.3f} [{lo:.3f}, {hi:.3f}]':>21}"
        lines.append(row + ("" if p.complete else "   (running or interrupted)"))
    return "\n".join(lines)


__all__ = ["GROUP_ORDER", "PointOutcomes", "SweepOutcomes", "Z95", "format_sweep_table", "group_of",
           "ordered_groups", "read_sweep_outcomes", "wilson_interval"]
