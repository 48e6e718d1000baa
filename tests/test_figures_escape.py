"""The escape figure of the sample: the stored scan drawn as it is, for print; the escape marked when there
is one; and why a run has none."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure

from lsexplorer.figures import FigureUnavailable, plot
from lsexplorer.figures.escape import lambda_linthresh
from lsexplorer.figures.plot import Line, Reference

RUN = 1  # a local minimum of the toy sample with a stored escape analysis


def lines(ax) -> dict[str, Line]:
    return {layer.series: layer for layer in ax.layers if isinstance(layer, Line)}


def stored_scan(session, run: int) -> dict:
    """The scan as the session file holds it (not through the analysis' reader)."""
    return session.analyses["escape"]["points"][str(run)]["scan"]


def test_escape_draws_the_stored_scan(sample_session, tmp_path):
    p = plot("escape_escape", sample_session, RUN)
    scan = stored_scan(sample_session, RUN)
    left, right = (lines(ax) for ax in p.axes)
    np.testing.assert_array_equal(left["loss"].x, scan["eps"])
    np.testing.assert_array_equal(left["loss"].y, scan["loss"])
    grad = np.asarray(scan["grad_norm"], dtype=float)
    np.testing.assert_array_equal(left["‖∇L‖"].y, np.where(grad > 0, grad, np.nan))
    np.testing.assert_array_equal(right["λₘᵢₙ"].x, scan["curvature_eps"])
    np.testing.assert_array_equal(right["λₘᵢₙ"].y, scan["lambda_min"])
    assert (p.axes[0].yscale, p.axes[1].yscale) == ("log", "symlog")
    # the linear part of λ_min's axis holds its small positive values at the minimum
    assert 0 < np.max(scan["lambda_min"]) <= p.axes[1].linthresh < 10 * np.max(scan["lambda_min"])
    assert np.max(scan["lambda_min"]) < p.axes[1].ylim[1] < 2 * p.axes[1].linthresh  # no empty decades on top
    # ‖∇L‖ → 0 at ε = 0 runs off the bottom instead of stretching the axis to round-off
    assert p.axes[0].ylim[0] > np.min(grad)
    assert not scan["escape"] and not any(r.series.startswith("escape") for ax in p.axes for r in ax.layers)
    check_figure(p, tmp_path)


def test_an_escape_is_marked_on_both_plots(sample_session, tmp_path):
    analyses = dict(sample_session.analyses)
    analyses["escape"] = copy.deepcopy(sample_session.analyses["escape"])
    scan = analyses["escape"]["points"][str(RUN)]["scan"]
    scan["escape"], scan["escape_eps"] = True, 0.5
    p = plot("escape_escape", dataclasses.replace(sample_session, analyses=analyses), RUN)
    for ax in p.axes:
        mark = next(x for x in ax.layers if isinstance(x, Reference) and x.series.startswith("escape"))
        assert (mark.axis, mark.value) == ("x", 0.5)
    assert "escapes at ε = 0.5" in p.caption
    check_figure(p, tmp_path)


def test_lambda_linthresh_is_the_decade_of_the_positive_curvature():
    assert lambda_linthresh(np.array([-3.0, 2.6e-5, 1e-5]), 2.3e-8) == pytest.approx(1e-4)
    assert lambda_linthresh(np.array([-3.0, -0.2]), -0.02) == pytest.approx(0.1)
    assert lambda_linthresh(np.array([0.0]), 0.0) == 1.0


def test_runs_without_an_escape_scan_say_why(sample_session):
    with pytest.raises(FigureUnavailable, match="run 0 is a global minimum: the escape algorithms run at local minima"):
        plot("escape_escape", sample_session, 0)
    bare = dataclasses.replace(sample_session, analyses={})
    with pytest.raises(FigureUnavailable, match=r"no escape analysis; run `lsexplorer analyze SESSION --runs 1 "
                                                r"--escape`") as caught:
        plot("escape_escape", bare, RUN)
    assert caught.value.needs == ("escape",)
