"""Deep sessions (issue 5): a 10-input, three-hidden-layer session without a teacher shows in every
panel, and the saddle-line panel's "expand a neuron" source plots exactly ``core.inertia.mu_sweep``."""

from __future__ import annotations

import numpy as np
import pytest

from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.saddles.inertia import mu_sweep
from lsexplorer.core.base.progress import run_generator
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.workers import TORCH_AUTODIFF_LOCK

MUS = np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5])


@pytest.fixture
def gui_session():
    return make_deep_gui_session()


def test_every_panel_shows_a_deep_session_without_a_teacher(main_window):
    w = main_window
    s = w.model.session
    assert s.teacher_spec is None and s.spec.d_in == 10 and len(s.spec.hidden_widths) == 3
    for row in range(s.runs.n_runs):
        w.model.select(row)
        for layer in range(1, 4):
            w.neurons.layer_spin.setValue(layer)
            # Every neuron of the layer, drawn in the PCA plane of its (fan-in + bias)-long incoming vectors.
            neurons = w.neurons.tables()["neurons"]
            assert len(neurons.rows) == s.spec.hidden_widths[layer - 1]
            assert len(neurons.columns) == 6 + s.spec.widths[layer - 1] + 1
            assert np.isfinite(np.array([r[2:4] for r in neurons.rows], dtype=float)).all()
            for panel in w.panels:
                for name, fig in panel.figures().items():
                    assert not fig.grab().isNull(), (panel.title, name)
                panel.tables()
    # A deep session opens on expanding a neuron of its last layer; the closest-saddle source says why it
    # has nothing for a point that is not a local minimum, without a Compute button.
    assert w.saddle_line.source == "expand" and w.saddle_line.layer_spin.value() == 3
    w.saddle_line.source_combo.setCurrentIndex(w.saddle_line.source_combo.findData("closest"))
    assert w.saddle_line._pages.currentIndex() == 0 and "local minima only" in w.saddle_line.missing.label.text()
    assert w.error_box is None


@pytest.mark.parametrize("layer", [1, 3])
def test_expand_neuron_sweep_plots_the_core_sweep(main_window, qtbot, layer):
    w = main_window
    s, panel = w.model.session, w.saddle_line
    panel.expand_mus = MUS
    row, neuron = 1, 2
    w.model.select(row)
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("expand"))
    panel.layer_spin.setValue(layer)
    panel.neuron_spin.setValue(neuron)
    assert panel.neuron_spin.maximum() == s.spec.hidden_widths[layer - 1] - 1
    assert panel._pages.currentIndex() == 0 and panel.missing.compute.isVisible()
    panel.compute()
    assert panel.sweep_job.wait()
    assert panel._pages.currentIndex() == 1 and (row, layer, neuron) in panel._expand_cache
    tol = Tolerances.from_dict(s.config["tolerances"])
    with TORCH_AUTODIFF_LOCK:  # the live spectrum's worker computes Hessians meanwhile
        expected = run_generator(mu_sweep(s.spec, s.runs.theta[row], s.x, s.y, layer, neuron, MUS, tol))
    k = panel.k_spin.value()
    assert len(panel.curve_items) == k
    # The panel's sweep ran in a worker thread: the same numbers up to rounding, whatever the BLAS build.
    atol = 1e-12 * np.abs(expected.eigvals).max()
    first = panel.first_spin.value()  # the window opens on the first eigenvalue that reaches zero, if any
    from lsexplorer.gui.panels.saddle_line import touching_window

    assert first == (touching_window(expected.eigvals) or 1)
    for i, item in enumerate(panel.curve_items, start=first - 1):
        mus, values = item.getOriginalDataset()
        np.testing.assert_array_equal(mus, MUS)
        np.testing.assert_allclose(values, expected.eigvals[:, i], rtol=1e-10, atol=atol)
    np.testing.assert_allclose(panel.sweep.eigvals, expected.eigvals, rtol=1e-10, atol=atol)
    # A window further up the spectrum ("from λ"): the curves and the exported table follow it.
    panel.first_spin.setValue(5)
    assert [label.text for _, label in panel.eig_plot.legend.items] == [f"λ{i}" for i in range(5, 5 + k)]
    np.testing.assert_allclose(panel.curve_items[0].getOriginalDataset()[1], expected.eigvals[:, 4], rtol=1e-10,
                               atol=atol)
    assert panel.tables()["eigenvalues_vs_mu"].columns[1] == "lambda_5"
    panel.first_spin.setValue(1)
    np.testing.assert_allclose(panel.y_bars.opts["height"], expected.y_eigvals, rtol=1e-10,
                               atol=1e-12 * np.abs(expected.y_eigvals).max())
    assert panel.live_job.wait() and panel.live.mu == 0.5
    np.testing.assert_allclose(panel.live.eigvals, expected.eigvals[MUS == 0.5][0], rtol=1e-9, atol=1e-12)
    assert panel.live.predicted.as_tuple() == tuple(expected.predicted[MUS == 0.5][0])
    assert "differ" not in panel.inertia_label.text() or panel.live.measured != panel.live.predicted
    panel.set_mu(1.0)
    assert panel.live_job.wait() and panel.live.mu == 1.0
    # Cached: switching away and back shows the same sweep at once, without a new worker.
    panel.neuron_spin.setValue(0)
    assert panel._pages.currentIndex() == 0
    panel.neuron_spin.setValue(neuron)
    assert panel._pages.currentIndex() == 1 and not panel.sweep_job.busy
    np.testing.assert_allclose(panel.sweep.eigvals, expected.eigvals, rtol=1e-10, atol=atol)
    panel.source_combo.setCurrentIndex(panel.source_combo.findData("closest"))
    assert panel._pages.currentIndex() == 0
    panel.stop()
