"""The counting figure (thesis Fig 4.4): G(r, m) / T(r*, m) from the exact counts, checked for print."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from figure_checks import check_figure

from lsexplorer.core.symmetry.counting import G, T
from lsexplorer.figures import get, plot
from lsexplorer.figures.plot import Line, Reference


def test_counting_ratio_draws_every_narrower_width_and_their_sum(sample_session, tmp_path):
    p = plot("counting_counting_ratio", sample_session)
    lines = [ly for ly in p.axes[0].layers if isinstance(ly, Line)]
    *per_r, total = lines
    m = np.arange(30, 91)
    assert len(per_r) == 29
    for r, line in enumerate(per_r, start=1):
        np.testing.assert_array_equal(line.x, m)
        expected = np.array([float(Fraction(G(r, int(k)), T(30, int(k)))) for k in m])
        np.testing.assert_allclose(line.y, np.where(expected > 0, expected, np.nan), rtol=1e-15)
    np.testing.assert_allclose(total.y, [float(Fraction(sum(G(r, int(k)) for r in range(1, 30)), T(30, int(k))))
                                         for k in m], rtol=1e-15)
    # The sum exceeds the count of global minima only for the narrowest students (thesis §4.4).
    assert total.y[0] > 1 > total.y[-1]
    assert [ly.series for ly in p.axes[0].layers if ly.legend] == [
        "G(r, m) / T(r*, m), r = 1 … 29 (darker: larger r)", "Σᵣ G(r, m) / T(r*, m)", "ratio 1: G = T"]
    assert isinstance(p.axes[0].layers[-1], Reference) and p.axes[0].layers[-1].value == 1.0
    shades = [int(line.color[1:3], 16) for line in per_r]
    assert shades == sorted(shades, reverse=True)  # darker for larger r
    ax = p.axes[0]
    shown = np.concatenate([ly.y for ly in lines])
    assert ax.yscale == "log" and ax.ylim[0] <= np.nanmin(shown) and np.nanmax(shown) <= ax.ylim[1]
    assert ax.xlim == (30.0, 90.0) and get("counting_counting_ratio").per_run is False
    check_figure(p, tmp_path)


def test_counting_ratio_does_not_depend_on_the_session(sample_session, deep_sample_session):
    a, b = plot("counting_counting_ratio", sample_session), plot("counting_counting_ratio", deep_sample_session)
    for x, y in zip(a.axes[0].layers, b.axes[0].layers):
        if isinstance(x, Line):
            np.testing.assert_array_equal(x.y, y.y)
