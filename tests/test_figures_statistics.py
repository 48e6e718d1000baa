"""The statistics figures of the samples: λ_min against loss, nearest-neuron and saddle distances."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure

from lsexplorer.core.base.kinds import Kind
from lsexplorer.core.symmetry.operations import nearest_neuron_pair
from lsexplorer.figures import FigureUnavailable, get, plot
from lsexplorer.figures.colors import KIND_COLORS
from lsexplorer.figures.plot import Scatter, Stairs


def with_runs(session, **fields):
    return dataclasses.replace(session, runs=dataclasses.replace(session.runs, **fields))


def test_lambda_min_vs_loss_draws_every_run_by_kind_on_a_roundoff_linear_band(sample_session, tmp_path):
    s = sample_session
    r = s.runs
    p = plot("statistics_lambda_min_vs_loss", s)
    ax = p.axes[0]
    layers = {ly.series: ly for ly in ax.layers}
    expected = {}
    for kind in Kind:
        rows = np.flatnonzero(r.kind == kind)
        if rows.size:
            expected[f"{kind.plural.capitalize()} ({rows.size})"] = rows
    assert list(layers) == list(expected)  # kind order, plural and count in the legend
    for name, rows in expected.items():
        ly = layers[name]
        assert isinstance(ly, Scatter) and ly.marker == "o" and ly.color == KIND_COLORS[str(r.kind[rows[0]])]
        np.testing.assert_array_equal(ly.x, r.loss[rows])
        np.testing.assert_array_equal(ly.y, r.lambda_min[rows])  # signed: no marker shape for the sign
    assert sum(len(ly.x) for ly in ax.layers) == r.n_runs
    # Linear within the round-off of a Hessian of the median run's size: the ±1e-16 eigenvalues of the
    # global minima sit on 0, the 1e-8..1e-5 ones of the local minima are resolved.
    median_norm = np.median(np.abs(r.hessian_eigvals).max(axis=1))
    assert ax.yscale == "symlog" and ax.xscale == "log"
    assert ax.linthresh == 10.0 ** np.ceil(np.log10(4096 * np.finfo(float).eps * median_norm)) == 1e-11
    assert np.abs(r.lambda_min[r.kind == Kind.GLOBAL_MIN]).min() < ax.linthresh
    assert r.lambda_min[r.kind == Kind.LOCAL_MIN].max() > 100 * ax.linthresh
    assert ax.xlim[0] < r.loss.min() and r.loss.max() < ax.xlim[1]
    assert ax.ylim[0] < r.lambda_min.min() and r.lambda_min.max() < ax.ylim[1] / 1.5
    assert "linear within ±10⁻¹¹" in p.caption and get("statistics_lambda_min_vs_loss").per_run is False
    check_figure(p, tmp_path)


def test_lambda_min_vs_loss_places_zero_losses_and_leaves_out_undefined_runs(sample_session):
    loss, lam = sample_session.runs.loss.copy(), sample_session.runs.lambda_min.copy()
    loss[0], lam[1] = 0.0, np.nan
    p = plot("statistics_lambda_min_vs_loss", with_runs(sample_session, loss=loss, lambda_min=lam))
    x = np.concatenate([ly.x for ly in p.axes[0].layers])
    assert x.size == sample_session.runs.n_runs - 1
    assert x.min() == pytest.approx(loss[loss > 0].min() / 10)
    assert "zero losses are drawn one decade below" in p.caption and "1 run(s) without" in p.caption


def test_lambda_min_vs_loss_of_the_deep_sample_spans_whole_decades(deep_sample_session):
    r = deep_sample_session.runs
    ax = plot("statistics_lambda_min_vs_loss", deep_sample_session).axes[0]
    # Eight runs of one loss (to round-off) get two decades around it, not an axis zoomed into round-off.
    assert ax.xlim == (0.1, 10.0) and np.ptp(r.loss) < 1e-12
    assert ax.layers[0].series == "Strict saddles (8)" and (ax.layers[0].y < -ax.linthresh).all()


def test_nearest_neuron_distance_counts_the_local_minima(sample_session, tmp_path):
    s = sample_session
    p = plot("statistics_nearest_neuron_distance", s)
    local = np.flatnonzero(s.runs.kind == Kind.LOCAL_MIN)
    d = np.array([nearest_neuron_pair(s.spec, s.runs.theta[i], 1)[2] for i in local])
    counts, edges = np.histogram(d, bins=30)
    (bars,) = p.axes[0].layers
    assert isinstance(bars, Stairs) and bars.series == f"local minima ({local.size})"
    np.testing.assert_array_equal(bars.counts, counts)
    np.testing.assert_allclose(bars.edges, edges, rtol=1e-15)
    assert bars.color == KIND_COLORS[Kind.LOCAL_MIN] and p.axes[0].xlim[0] == 0.0 < edges[-1] < p.axes[0].xlim[1]
    check_figure(p, tmp_path)


def test_nearest_neuron_distance_without_local_minima_counts_converged_runs(deep_sample_session):
    s = deep_sample_session
    (bars,) = plot("statistics_nearest_neuron_distance", s).axes[0].layers
    d = np.array([nearest_neuron_pair(s.spec, t, 1)[2] for t in s.runs.theta])
    assert bars.series == "converged runs (8)" and (d == 0).all()  # every neuron of layer 1 duplicated
    # One value: a bin range one unit wide that starts at 0, not at a negative distance.
    assert bars.edges[0] == 0.0 and bars.edges[-1] == 0.5 and bars.counts[0] == 8


def test_nearest_neuron_distance_unavailable_without_converged_runs(sample_session):
    kinds = np.full(sample_session.runs.n_runs, Kind.NOT_CONVERGED.value)
    with pytest.raises(FigureUnavailable, match="no converged runs with a finite point"):
        plot("statistics_nearest_neuron_distance", with_runs(sample_session, kind=kinds))


def test_saddle_distance_counts_the_stored_distances_in_log_bins(sample_session, tmp_path):
    # a point that lies exactly on its saddle line (distance 0), as a polished one may
    analyses = copy.deepcopy(sample_session.analyses)
    summary = analyses["closest_saddle"]["summary"]
    summary["distance"] = np.where(summary["distance"] == summary["distance"].min(), 0.0, summary["distance"])
    s = dataclasses.replace(sample_session, analyses=analyses)
    p = plot("statistics_saddle_distance", s)
    d = np.asarray(s.analyses["closest_saddle"]["summary"]["distance"], dtype=float)
    floor = d[d > 0].min() / 10  # a polished point lies on its saddle line: distance 0, a decade below the rest
    counts, edges = np.histogram(np.log10(np.maximum(d, floor)), bins=30)
    (bars,) = p.axes[0].layers
    np.testing.assert_array_equal(bars.counts, counts)
    np.testing.assert_allclose(bars.edges, 10.0 ** edges, rtol=1e-13)
    zeros = int((d == 0).sum())
    assert zeros and bars.series.startswith(f"analysed runs ({d.size}); {zeros} at distance 0, drawn at ")
    assert p.axes[0].xscale == "log" and get("statistics_saddle_distance").needs == ("closest_saddle",)
    check_figure(p, tmp_path)


def test_saddle_distance_of_the_deep_sample(deep_sample_session):
    (bars,) = plot("statistics_saddle_distance", deep_sample_session).axes[0].layers
    d = np.asarray(deep_sample_session.analyses["closest_saddle"]["summary"]["distance"], dtype=float)
    assert bars.counts.sum() == d.size == 8 and bars.series == "analysed runs (8)"
    assert bars.edges[0] == pytest.approx(d.min()) and bars.edges[-1] == pytest.approx(d.max())


def test_saddle_distance_unavailable_without_closest_saddles(sample_session):
    analyses = {k: v for k, v in sample_session.analyses.items() if k != "closest_saddle"}
    with pytest.raises(FigureUnavailable) as error:
        plot("statistics_saddle_distance", dataclasses.replace(sample_session, analyses=analyses))
    assert str(error.value) == "no closest-saddle analysis; run `lsexplorer analyze SESSION --closest-saddle`"
    assert error.value.needs == ("closest_saddle",)
