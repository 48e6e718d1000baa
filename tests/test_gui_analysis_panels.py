"""Saddle line, Slices, Escape and the saddle-distance histogram plot the sample session's stored
analyses and the values core computes; headless export writes every figure of every panel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from lsexplorer.core.landscape.hessian import loss_grad_hessian
from lsexplorer.core.landscape.slices import batched_loss
from lsexplorer.core.saddles.closest_saddle import ClosestSaddle
from lsexplorer.core.saddles.escape import EscapeScan
from lsexplorer.core.saddles.inertia import MuSweep
from lsexplorer.core.store.session import load_session
from lsexplorer.core.symmetry.operations import duplicate_neuron
from lsexplorer.figures.export import showcase_run as showcase_row
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.app import SAMPLE_SESSION
from lsexplorer.gui.model import SessionModel
from lsexplorer.gui.panels import (
    QtCurvaturePlanePanel,
    QtEscapePanel,
    QtSaddleLinePanel,
    QtSlicesPanel,
    QtStatisticsPanel,
)

pytestmark = pytest.mark.skipif(not SAMPLE_SESSION.exists(), reason="the bundled sample session is missing")


@pytest.fixture(scope="module")
def sample():
    return load_session(SAMPLE_SESSION)


@pytest.fixture
def sample_model(qapp, sample):
    model = SessionModel()
    model.set_session(sample)
    yield model
    model.analysis.wait(60_000)


def shown(qtbot, panel):
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def saddle_of(session, row) -> ClosestSaddle:
    return ClosestSaddle.from_dict(session.analyses["closest_saddle"]["points"][str(row)])


def spectrum_at(session, c: ClosestSaddle, mu: float) -> np.ndarray:
    spec, theta = duplicate_neuron(c.narrower.spec, c.narrower.theta, c.layer, c.neuron, mu)
    return np.linalg.eigvalsh(loss_grad_hessian(spec, theta, session.x, session.y)[2])


def test_saddle_line_curves_are_the_stored_sweep_and_mu_moves_the_live_spectrum(qtbot, sample_model):
    s = sample_model.session
    row = showcase_row(s)
    panel = shown(qtbot, QtSaddleLinePanel(sample_model))
    sample_model.select(row)
    c, sweep = saddle_of(s, row), MuSweep.from_dict(s.analyses["mu_sweep"]["points"][str(row)])
    assert panel._pages.currentIndex() == 1
    assert len(panel.curve_items) == 6
    for i, item in enumerate(panel.curve_items):
        x, y = item.getOriginalDataset()
        np.testing.assert_array_equal(x, sweep.mus)
        np.testing.assert_array_equal(y, sweep.eigvals[:, i])
    np.testing.assert_array_equal(panel.y_bars.opts["height"], sweep.y_eigvals)
    # Starts at the closest saddle's μ*.
    assert panel.live_job.wait() and panel.live.mu == pytest.approx(c.mu)
    # The slider: the spectrum becomes core's at the slider's μ; the cursors follow.
    panel.slider.setValue(700)
    lo, hi = panel.mu_range
    mu = lo + (hi - lo) * 0.7
    assert panel.cursor.value() == pytest.approx(mu) and panel.loss_cursor.value() == pytest.approx(mu)
    assert panel.live_job.wait()
    np.testing.assert_allclose(panel.spectrum_values(), spectrum_at(s, c, mu), rtol=1e-9, atol=1e-15)
    # Dragging the cursor (what a mouse drag does: setValue + sigPositionChanged) moves the slider.
    panel.cursor.setValue(0.25)
    assert panel.mu == 0.25 and panel.slider.value() == round((0.25 - lo) / (hi - lo) * 1000)
    assert panel.live_job.wait()
    expected = spectrum_at(s, c, 0.25)
    np.testing.assert_allclose(panel.spectrum_values(), expected, rtol=1e-9, atol=1e-15)
    assert panel.live.measured == panel.live.predicted  # Theorem 3 on the sample's saddle line
    np.testing.assert_allclose(panel.live_item.getData()[1], expected[:6], rtol=1e-9, atol=1e-15)
    # A burst of requests is coalesced: the last one wins.
    for mu in np.linspace(-0.5, 1.5, 15):
        panel.set_mu(float(mu))
    assert panel.live_job.wait() and panel.live.mu == 1.5
    assert len(panel.update_seconds) < 2 + 1 + 1 + 15


def test_saddle_line_without_a_closest_saddle_offers_compute_not_an_empty_plot(qtbot, sample_model):
    s = sample_model.session
    panel = shown(qtbot, QtSaddleLinePanel(sample_model))
    summary = s.analyses["closest_saddle"]["summary"]
    # A global minimum has a closest saddle (every certified kind gets one) but no μ sweep: nothing to compute.
    glob = next(int(r) for r, k in zip(summary["run"], summary["narrower_kind"])
                if s.runs.kind[r] == "global_min" and k != "not_converged")
    sample_model.select(glob)
    assert panel._pages.currentIndex() == 0 and "local minima only" in panel.missing.label.text()
    assert not panel.missing.compute.isVisible()
    sample_model.select(int(np.flatnonzero(s.runs.kind == "not_converged")[0]))
    assert panel._pages.currentIndex() == 0 and "local minima only" in panel.missing.label.text()
    assert not panel.missing.compute.isVisible()
    unconverged = int(s.analyses["closest_saddle"]["summary"]["run"][
        list(s.analyses["closest_saddle"]["summary"]["narrower_kind"]).index("not_converged")])
    sample_model.select(unconverged)
    assert panel._pages.currentIndex() == 0 and "did not converge" in panel.missing.label.text()


def test_compute_button_runs_the_missing_analysis_in_the_background(qtbot, sample):
    s = load_session(SAMPLE_SESSION)
    row = showcase_row(s)
    del s.analyses["mu_sweep"]["points"][str(row)]
    model = SessionModel()
    model.set_session(s)
    panel = shown(qtbot, QtSaddleLinePanel(model))
    model.select(row)
    assert panel._pages.currentIndex() == 0 and panel.missing.compute.isEnabled()
    qtbot.mouseClick(panel.missing.compute, Qt.MouseButton.LeftButton)
    assert model.analysis.pending(row, "mu_sweep")
    assert model.analysis.wait(60_000)
    assert model.modified and str(row) in s.analyses["mu_sweep"]["points"]
    assert panel._pages.currentIndex() == 1
    expected = MuSweep.from_dict(sample.analyses["mu_sweep"]["points"][str(row)])
    # The new grid reaches μ* (the stored one may not); where both have a μ, the spectra agree.
    mus, lowest = panel.curve_items[0].getOriginalDataset()
    assert mus.min() <= panel.saddle.mu <= mus.max()
    common = np.isin(mus, expected.mus)
    assert common.sum() >= expected.mus.size - 1
    np.testing.assert_allclose(lowest[common], expected.eigvals[np.isin(expected.mus, mus), 0], atol=1e-12)
    panel.stop()


def test_slices_image_is_the_loss_on_the_plane_and_fills_row_by_row(qtbot, sample_model):
    s = sample_model.session
    row = showcase_row(s)
    panel = shown(qtbot, QtSlicesPanel(sample_model))
    panel.resolution.setValue(21)
    rows_seen = []
    sample_model.select(row)
    panel.image.sigImageChanged.connect(lambda: rows_seen.append(panel.rows_done))
    assert panel.job.wait() and panel.complete
    assert rows_seen == sorted(rows_seen) and len(set(rows_seen)) > 5  # progressive
    setup = panel.setup
    image = panel.image_values()
    assert image.shape == (21, 21)
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 21, size=(12, 2))
    points = [setup.plane.origin + setup.us[c] * setup.plane.basis[0] + setup.vs[r] * setup.plane.basis[1]
              for r, c in pix]
    np.testing.assert_allclose(image[pix[:, 0], pix[:, 1]], np.log10(batched_loss(s.spec, points, s.x, s.y)),
                               rtol=1e-12)
    # The 1D slice runs from the saddle (t = 0) to the minimum (t = 1).
    c = saddle_of(s, row)
    t, loss = panel.line_item.getOriginalDataset()
    k = int(np.argmin(np.abs(t - 1.0)))
    assert t[k] == pytest.approx(1.0)
    assert loss[k] == pytest.approx(batched_loss(s.spec, [s.runs.theta[row]], s.x, s.y)[0], rel=1e-9)
    np.testing.assert_allclose(loss, batched_loss(s.spec, c.saddle + t[:, None] * (s.runs.theta[row] - c.saddle),
                                                  s.x, s.y), rtol=1e-12)
    # The minimum is marked, the trajectory drawn with its out-of-plane distance in the legend.
    np.testing.assert_allclose(np.array(panel.minimum_item.getData()).ravel(), setup.plane.minimum)
    tx = panel.trajectory_item.getData()[0]
    assert len(tx) == s.runs.trajectory.theta.shape[1] + 1
    assert "off-plane" in panel.plane_plot.legend.getLabel(panel.trajectory_item).text
    assert panel.plane_plot.legend.getLabel(panel.minimum_item).text == f"run {row} (local minimum)"
    assert "saddle_to_minimum" in panel.tables() and "plane" in panel.tables()
    # A plane flat to round-off still gets a colour bar with a span (and so tick labels).
    panel.plane_values = np.full_like(panel.plane_values, 1e-20)
    panel._draw_image()
    lo, hi = panel.colorbar.levels()
    assert hi - lo == pytest.approx(0.1) and lo < -20 < hi


def test_curvature_plane_redraws_for_a_new_half_width_only(qtbot, sample_model):
    panel = shown(qtbot, QtCurvaturePlanePanel(sample_model))
    panel.resolution.setValue(9)
    sample_model.select(showcase_row(sample_model.session))
    qtbot.waitUntil(lambda: panel.job.busy or panel.complete, timeout=10_000)
    assert panel.job.wait() and panel.complete
    panel.half_width.editingFinished.emit()  # focus left the box (as when the panel closes): nothing to redo
    assert not panel.job.busy and panel.complete
    panel.half_width.setValue(0.25)
    panel.half_width.editingFinished.emit()
    assert panel.job.busy or not panel.complete
    assert panel.job.wait() and panel.complete
    assert np.abs(panel.setup.us).max() == pytest.approx(0.25)


def test_escape_curves_are_the_stored_scan(qtbot, sample_model):
    s = sample_model.session
    panel = shown(qtbot, QtEscapePanel(sample_model))
    for row in [showcase_row(s), int(np.flatnonzero(s.runs.kind == "local_min")[-1])]:
        sample_model.select(row)
        scan = EscapeScan.from_dict(s.analyses["escape"]["points"][str(row)]["scan"])
        for item, (x, y) in ((panel.loss_item, (scan.eps, scan.loss)),
                             (panel.lambda_item, (scan.curvature_eps, scan.lambda_min)),
                             (panel.grad_item, (scan.eps, scan.grad_norm))):
            gx, gy = item.getOriginalDataset()
            np.testing.assert_array_equal(gx, x)
            np.testing.assert_array_equal(gy, y)
        assert "Algorithm 2" in panel.outcome.text()
    assert panel.lambda_plot.getViewBox().linkedView(0) is panel.loss_plot.getViewBox()


def test_saddle_distance_histogram_counts_are_numpys(qtbot, sample_model):
    s = sample_model.session
    panel = shown(qtbot, QtStatisticsPanel(sample_model))
    d = s.analyses["closest_saddle"]["summary"]["distance"]
    # Polished symmetry-induced points lie on their line exactly (distance 0): one decade below the rest.
    floor = d[d > 0].min() / 10
    counts, edges = panel.saddle_hist
    np.testing.assert_array_equal(counts, np.histogram(np.log10(np.maximum(d, floor)), bins=30)[0])
    np.testing.assert_allclose(edges, np.histogram(np.log10(np.maximum(d, floor)), bins=30)[1])
    assert counts.sum() == d.size
    panel.saddle_converged.setCurrentIndex(1)
    kinds = s.analyses["closest_saddle"]["summary"]["narrower_kind"].astype(str)
    conv = d[kinds != "not_converged"]
    np.testing.assert_array_equal(panel.saddle_hist[0],
                                  np.histogram(np.log10(np.maximum(conv, conv[conv > 0].min() / 10)), bins=30)[0])
    row = showcase_row(s)
    sample_model.select(row)
    assert panel.saddle_marker.isVisible()
    assert panel.saddle_marker.value() == pytest.approx(np.log10(saddle_of(s, row).distance))


def test_selection_changes_update_the_new_panels_in_the_main_window(main_window, qtbot, sample):
    w = main_window
    w.model.set_session(sample)
    rows = [int(r) for r in sample.analyses["mu_sweep"]["points"]][:2]
    for row in rows:
        w.model.select(row)
        assert w.saddle_line.saddle.distance == saddle_of(sample, row).distance
        assert w.slices.saddle.distance == saddle_of(sample, row).distance
        np.testing.assert_array_equal(w.escape.loss_item.getOriginalDataset()[1],
                                      sample.analyses["escape"]["points"][str(row)]["scan"]["loss"])
        w.saddle_line.live_job.wait()
        w.slices.job.wait()
    w.saddle_line.stop()
