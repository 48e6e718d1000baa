"""The counting figure (thesis Fig 4.4): how the critical points symmetry builds compare with the global minima.

``G(r, m) / T(r*, m)`` against the student width ``m`` for every narrower width ``r = 1 … r* − 1``
(grey, darker for larger ``r``) and the ratio of their sum (blue), on a log axis, for the thesis'
``r* = 30`` and ``m = r* … 3 r*``: once the student is a few neurons wider than the teacher, the
global minima outnumber the critical points of every narrower width. The numbers are the exact counts
of :mod:`lsexplorer.core.symmetry.counting`; the figure does not depend on a session.
"""

from __future__ import annotations

import numpy as np

from ..core.store.session import Session
from ..core.symmetry.counting import ZERO_TYPES, ratio_curve
from .catalog import FigureOptions, FigureSpec
from .plot import Axes, Line, Plot, Reference

#: The thesis' sizes: a teacher of irreducible width 30, students up to three times as wide.
R_STAR, M_MAX = 30, 90
TOTAL_COLOR = "#1f4e99"


def grey(index: int, count: int) -> str:
    """The grey of curve ``index`` of ``count`` (by increasing ``r``): light for small ``r``, dark for large."""
    shade = int(210 - 170 * (index / max(1, count - 1)))
    return f"#{shade:02x}{shade:02x}{shade:02x}"


def counting_ratio(session: Session | None = None, run: int | None = None,
                   options: FigureOptions | None = None) -> Plot:
    """``G(r, m) / T(r*, m)`` for every ``r < r*`` and their sum, ``r* = 30``, ``m = 30 … 90`` (module docstring)."""
    c = ratio_curve(R_STAR, np.arange(R_STAR, M_MAX + 1), ZERO_TYPES[0])
    m = c.m.astype(float)
    layers = []
    for k, r in enumerate(c.r):
        last = k == len(c.r) - 1
        series = f"G(r, m) / T(r*, m), r = 1 … {int(r)} (darker: larger r)" if last else f"r = {int(r)}"
        y = np.where(c.ratio[k] > 0, c.ratio[k], np.nan)  # an underflowed ratio has no logarithm
        layers.append(Line(series, m, y, color=grey(k, len(c.r)), width=0.7, legend=last))
    layers.append(Line("Σᵣ G(r, m) / T(r*, m)", m, c.total, color=TOTAL_COLOR, width=1.6))
    layers.append(Reference("ratio 1: G = T", 1.0, color="0.3", width=0.6))
    shown = np.concatenate([c.ratio[c.ratio > 0], c.total[c.total > 0]])
    # Ten-decade steps: matplotlib's own limits put the ticks at 10¹¹, 10⁻¹¹, 10⁻³³ …
    ylim = (float(10.0 ** (10 * np.floor(np.log10(shown.min()) / 10))),
            float(10.0 ** (10 * np.ceil(np.log10(shown.max()) / 10))))
    caption = (f"Ratio of the affine subspaces of critical points induced by an irreducible width-r point, G(r, m), "
               f"to those of global minima of a width-{R_STAR} teacher, T({R_STAR}, m), for r = 1 … {R_STAR - 1} "
               f"(grey) and their sum (blue), against the student width m (thesis Fig 4.4; zero-type neurons "
               f"counted in groups); dashed: ratio 1.")
    return Plot(name="counting_counting_ratio", caption=caption,
                axes=[Axes(layers=layers, xlabel="student width m", ylabel=f"ratio to T(r* = {R_STAR}, m)",
                           yscale="log", xlim=(float(m[0]), float(m[-1])), ylim=ylim)],
                aspect=0.7, legend_columns=1)


FIGURES = (FigureSpec("counting_counting_ratio", "counting", "critical points against global minima (counts)",
                      counting_ratio, per_run=False),)

__all__ = ["FIGURES", "M_MAX", "R_STAR", "TOTAL_COLOR", "counting_ratio", "grey"]
