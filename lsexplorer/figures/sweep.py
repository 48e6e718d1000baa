"""The sweep figure: the fraction of seeds in each outcome group against the student's width.

Thesis §6 in one picture (how often training fails as a network gets wider): per outcome group
(global, local, channel, saddle, not converged, …) the fraction of a sweep point's seeds, with its
Wilson 95 % interval as a band. Drawn from a sweep folder's outcomes, not from a session.
"""

from __future__ import annotations

import numpy as np

from ..core.sweep.outcomes import SweepOutcomes
from .available import FigureUnavailable
from .colors import KIND_COLORS
from .plot import Axes, Band, Line, Plot

#: Colours of the outcome groups: the kind colours of the other figures, Okabe–Ito for the rest.
GROUP_COLORS = {"global": KIND_COLORS["global_min"], "local": KIND_COLORS["local_min"], "channel": "#56B4E9",
                "saddle": KIND_COLORS["strict_saddle"], "not converged": KIND_COLORS["not_converged"]}
EXTRA_COLORS = ("#D55E00", "#CC79A7", "#F0E442", "#000000")
#: Matplotlib markers of the groups, so the groups differ in print without colour too.
GROUP_MARKERS = {"global": "o", "local": "s", "channel": "^", "saddle": "D", "not converged": "x"}


def group_color(group: str, index: int) -> str:
    """The colour of outcome ``group``, the ``index``-th group of its sweep."""
    return GROUP_COLORS.get(group, EXTRA_COLORS[index % len(EXTRA_COLORS)])


def lrs(outcomes: SweepOutcomes) -> list[float]:
    """The learning rates of the sweep's points, in increasing order."""
    return sorted({p.lr for p in outcomes.points})


def outcome_fractions(outcomes: SweepOutcomes, lr: float | None = None) -> Plot:
    """Fraction of seeds per outcome group against width (one learning rate: ``lr``, default the first),
    with the 95 % Wilson interval of each as a band."""
    rates = lrs(outcomes)
    if not rates:
        raise FigureUnavailable(f"sweep {outcomes.folder} has no points yet")
    lr = rates[0] if lr is None else lr
    points = sorted((p for p in outcomes.points if p.lr == lr), key=lambda p: p.width)
    points = [p for p in points if p.n_done > 0]
    if not points:
        raise FigureUnavailable(f"sweep {outcomes.folder} has no finished seeds at lr {lr:g}")
    widths = np.array([p.width for p in points], dtype=float)
    layers = []
    for index, group in enumerate(outcomes.groups):
        frac = np.array([p.fraction(group) for p in points])  # (n, 3): fraction, low, high
        if np.all(np.isnan(frac[:, 0])) or not np.any(frac[:, 2] > 0):
            continue
        color = group_color(group, index)
        layers.append(Band(f"{group} 95 %", widths, frac[:, 1], frac[:, 2], color=color, alpha=0.18, legend=False))
        layers.append(Line(group, widths, frac[:, 0], color=color, marker=GROUP_MARKERS.get(group, "h"),
                           marker_size=3.5))
    seeds = sorted({p.n_done for p in points})
    per_point = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
    several = f" at learning rate {lr:g}" if len(rates) > 1 else ""
    span = widths.max() - widths.min()
    pad = 0.3 * (np.min(np.diff(widths)) if widths.size > 1 else 1.0)
    return Plot(
        name="sweep_outcome_fractions",
        caption=f"Fraction of seeds ({per_point} per width) in each outcome against the student's width{several}, "
                "with Wilson 95 % intervals.",
        axes=[Axes(layers=layers, xlabel="student width", ylabel="fraction of seeds", ylim=(-0.02, 1.02),
                   xticks=tuple(widths),
                   xlim=(widths.min() - pad, widths.max() + pad) if span > 0 else (widths[0] - 1, widths[0] + 1))],
        aspect=0.62, legend_columns=3)


__all__ = ["GROUP_COLORS", "GROUP_MARKERS", "group_color", "lrs", "outcome_fractions"]
