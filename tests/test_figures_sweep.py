"""The sweep figure: outcome fractions against width with Wilson intervals, from a sweep folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from figure_checks import check_figure

from lsexplorer.core.sweep.outcomes import read_sweep_outcomes, wilson_interval
from lsexplorer.figures.sweep import outcome_fractions

SWEEP = Path(__file__).resolve().parents[1] / "sample_data" / "toy_sweep"


def test_the_fractions_and_intervals_drawn_are_the_counts_of_each_width(tmp_path):
    outcomes = read_sweep_outcomes(SWEEP)
    plot = outcome_fractions(outcomes)
    ax = plot.axes[0]
    lines = {layer.series: layer for layer in ax.layers if layer.kind == "line"}
    bands = {layer.series: layer for layer in ax.layers if layer.kind == "band"}
    points = sorted(outcomes.points, key=lambda p: p.width)
    for group, line in lines.items():
        counts = np.array([p.groups().get(group, 0) for p in points])
        done = np.array([p.n_done for p in points])
        np.testing.assert_array_equal(line.x, [p.width for p in points])
        np.testing.assert_allclose(line.y, counts / done, rtol=1e-15)
        low_high = np.array([wilson_interval(int(k), int(n)) for k, n in zip(counts, done)])
        np.testing.assert_allclose(bands[f"{group} 95 %"].low, low_high[:, 0], rtol=1e-15)
        np.testing.assert_allclose(bands[f"{group} 95 %"].high, low_high[:, 1], rtol=1e-15)
    assert ax.xticks == tuple(float(p.width) for p in points)
    check_figure(plot, tmp_path)
