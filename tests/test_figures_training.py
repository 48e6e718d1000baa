"""The training-loss figure of the sample: median and band of the stored curves, checked for print."""

from __future__ import annotations

import numpy as np
import pytest
from figure_checks import check_figure

from lsexplorer.figures import FigureUnavailable, PaperStyle, plot
from lsexplorer.figures.training import band


def test_training_loss_draws_the_median_and_band_of_the_stored_curves(sample_session, tmp_path):
    p = plot("training_loss", sample_session)
    curve = sample_session.runs.loss_curve
    keep = curve.epochs > 0
    median = np.nanmedian(np.where(curve.loss[:, keep] > 0, curve.loss[:, keep], np.nan), axis=0)
    line = p.axes[0].layers[1]
    np.testing.assert_allclose(line.y, median, rtol=1e-12)
    check_figure(p, tmp_path)
    check_figure(p, tmp_path / "two", PaperStyle.for_columns(2, font_pt=9))


def test_band_is_the_linear_percentiles_over_runs():
    rng = np.random.default_rng(0)
    losses = rng.random((7, 13))
    losses[2, 3] = np.nan
    median, low, high = band(losses)
    np.testing.assert_allclose(median, np.nanpercentile(losses, 50, axis=1), rtol=1e-13)
    np.testing.assert_allclose(low, np.nanpercentile(losses, 10, axis=1), rtol=1e-13)
    np.testing.assert_allclose(high, np.nanpercentile(losses, 90, axis=1), rtol=1e-13)


def test_an_imported_session_has_no_training_figure(sample_session):
    import dataclasses

    runs = dataclasses.replace(sample_session.runs, loss_curve=None)
    with pytest.raises(FigureUnavailable, match="no loss curves"):
        plot("training_loss", dataclasses.replace(sample_session, runs=runs))
