"""The Channel panel plots a sample run's flat channel from the stored analysis, offers to compute a
missing one, and the Neurons panel rings the group."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from lsexplorer.core.analyses.channels import read as channel_result
from lsexplorer.core.store.session import load_session
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.app import SAMPLE_SESSION
from lsexplorer.gui.model import SessionModel
from lsexplorer.gui.panels import QtChannelPanel, QtNeuronPanel

pytestmark = pytest.mark.skipif(not SAMPLE_SESSION.exists(), reason="the bundled sample session is missing")


@pytest.fixture(scope="module")
def sample():
    return load_session(SAMPLE_SESSION)


def shown(qtbot, panel):
    qtbot.addWidget(panel)
    panel.resize(1000, 900)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_channel_panel_plots_the_stored_limit(qapp, qtbot, sample):
    model = SessionModel()
    model.set_session(sample)
    panel = shown(qtbot, QtChannelPanel(model))
    row = 10  # a unit of two sign-flipped neurons plus an affine neuron with w -> 0
    model.select(row)
    result = channel_result(sample, row)
    assert panel._pages.currentIndex() == 1 and panel.group_combo.count() == 2
    x, y = panel.path_item.getData()  # log10 values: the plot is log-log
    assert len(x) >= 6 and (np.diff(y) < 0).all()  # the loss falls towards L_inf along the channel
    _, hist = panel.history_item.getData()
    np.testing.assert_allclose(hist, np.log10(result.history_loss - result.loss_limit))
    spectrum = panel.spectrum_item.getData()[1]
    np.testing.assert_allclose(spectrum, np.log10(np.abs(result.eigvals)))
    limit, group = panel._scatter["limit"], panel._scatter["group"]
    assert np.abs(limit - group).max() < 1e-5 * np.abs(limit).max()  # the pair is the gated linear unit
    panel.group_combo.setCurrentIndex(1)  # the affine neuron: its linear part
    assert np.abs(panel._scatter["limit"] - panel._scatter["group"]).max() < 1e-3
    assert "L∞ = 1.045029e-04" in panel.summary.text()
    assert set(panel.tables()) == {"approach", "spectrum", "unit"}
    model.select(int(np.flatnonzero(sample.runs.kind == "local_min")[0]))
    assert panel._pages.currentIndex() == 0 and not panel.missing.compute.isVisible()


def test_channel_panel_shows_a_second_order_unit(qapp, qtbot, sample):
    """Run 37: a sign-flipped pair and three neurons closing in, whose limit keeps the second moment."""
    model = SessionModel()
    model.set_session(sample)
    panel = shown(qtbot, QtChannelPanel(model))
    model.select(37)
    assert panel._pages.currentIndex() == 1 and panel.group_combo.count() == 2
    assert panel.group_combo.itemText(1) == "neurons 0+1+4"
    panel.group_combo.setCurrentIndex(1)
    limit, group = panel._scatter["limit"], panel._scatter["group"]
    assert np.abs(limit - group).max() < 1e-5 * np.abs(limit).max()
    assert "½ s σ″(u·x) (m·x)²" in panel.unit_plot.titleLabel.text
    assert "(second order)" in panel.summary.text() and "s = -1" in panel.summary.text()


def test_channel_panel_computes_a_missing_analysis(qapp, qtbot, sample):
    old = copy.deepcopy(sample)
    old.analyses.pop("channels")
    old.runs.kind[4] = "not_converged"
    model = SessionModel()
    model.set_session(old)
    panel = shown(qtbot, QtChannelPanel(model))
    model.select(4)
    assert panel._pages.currentIndex() == 0 and panel.missing.compute.isVisible()
    panel.compute()
    assert model.analysis.wait(60_000)
    assert old.runs.kind[4] == "channel" and panel._pages.currentIndex() == 1


def test_neurons_panel_rings_the_channel_group(qapp, qtbot, sample):
    model = SessionModel()
    model.set_session(sample)
    panel = shown(qtbot, QtNeuronPanel(model))
    model.select(4)
    xs, _ = panel.channel_item.getData()
    assert len(xs) == 2  # neurons 1 and 3
    model.select(int(np.flatnonzero(sample.runs.kind == "local_min")[0]))
    assert len(panel.channel_item.getData()[0]) == 0
