"""Each panel plots the session's own numbers: the arrays handed to the plot items are checked
against the session (and against independent numpy computations), not just that widgets exist."""

from __future__ import annotations

import numpy as np
import pytest

from lsexplorer.core.symmetry.counting import G, T, ratio_curve
from lsexplorer.core.base.kinds import KINDS
from lsexplorer.core.landscape.nets import MLPSpec
from lsexplorer.core.symmetry.operations import incoming_vectors, nearest_neuron_pair, outgoing_weights
from lsexplorer.gui._testsupport import *
from lsexplorer.gui._testsupport import make_gui_session
from lsexplorer.gui.model import SessionModel
from lsexplorer.gui.panels import QtCountingPanel, QtNeuronPanel, QtRunTable, QtStatisticsPanel, QtTrainingPanel
from lsexplorer.gui.panels.base import NO_SESSION_TEXT


def shown(qtbot, panel):
    qtbot.addWidget(panel)
    panel.resize(700, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def scatter_xy(item) -> np.ndarray:
    x, y = item.getData()
    return np.stack([np.asarray(x), np.asarray(y)], axis=1)


# --------------------------------------------------------------------------- neurons

def test_neurons_plots_incoming_weights_teacher_and_trajectory_of_selected_run(qtbot, session_model):
    s = session_model.session
    panel = shown(qtbot, QtNeuronPanel(session_model))
    for i in (0, 5, 9):
        session_model.select(i)
        spec = s.spec
        v = incoming_vectors(spec, s.runs.theta[i], 1)
        a = outgoing_weights(spec, s.runs.theta[i], 1)[0]
        np.testing.assert_array_equal(scatter_xy(panel.student_item), v)
        np.testing.assert_array_equal(scatter_xy(panel.teacher_item),
                                      incoming_vectors(s.teacher_spec, s.teacher_theta, 1))
        # Circles are coloured by outgoing weight on one symmetric map for the whole session, ending at
        # the 98th percentile of |a| over the converged runs and the teacher; larger |a| saturate.
        finite = np.isfinite(s.runs.theta).all(axis=1) & (s.runs.kind != "not_converged")
        every_a = np.concatenate([outgoing_weights(spec, th, 1)[0] for th in s.runs.theta[finite]]
                                 + [outgoing_weights(s.teacher_spec, s.teacher_theta, 1)[0]])
        limit = np.percentile(np.abs(every_a), 98)
        assert panel.colorbar.levels() == pytest.approx((-limit, limit))
        cmap = panel.colorbar.colorMap()
        j = int(np.argmin(np.abs(a)))
        expected = cmap.map([np.clip((a[j] + limit) / (2 * limit), 0, 1)], mode="qcolor")[0]
        assert panel.student_item.points()[j].brush().color().name() == expected.name()
        # Trajectories: init, every snapshot, then the refined point, one NaN-separated line per neuron.
        tx, ty = panel.trajectory_item.getData()
        K = s.runs.trajectory.epochs.size
        snaps = s.runs.trajectory.theta[i].astype(float)
        path = np.stack([incoming_vectors(spec, p, 1) for p in [*snaps, s.runs.theta[i]]])  # (K+1, m, 2)
        lines = np.stack([tx, ty], axis=1).reshape(spec.widths[1], K + 2, 2)
        np.testing.assert_allclose(lines[:, :-1], path.transpose(1, 0, 2))
        assert np.isnan(lines[:, -1]).all()
        np.testing.assert_allclose(scatter_xy(panel.init_item), incoming_vectors(spec, snaps[0], 1))
    panel.trajectory_check.setChecked(False)
    assert panel.trajectory_item.getData()[0] is None or len(panel.trajectory_item.getData()[0]) == 0


def test_neurons_colour_range_is_the_same_for_every_run(qtbot, session_model):
    s = session_model.session
    # One run with a huge outgoing weight must neither change the range nor wash the others out.
    s.runs.theta[3, -1] = 1e3
    session_model.set_session(s)
    panel = shown(qtbot, QtNeuronPanel(session_model))
    levels = set()
    for i in range(s.runs.n_runs):
        session_model.select(i)
        levels.add(tuple(panel.colorbar.levels()))
    assert len(levels) == 1
    lo, hi = levels.pop()
    assert lo == -hi and 0 < hi < 1e3


def test_neurons_legend_lists_only_what_is_drawn(qtbot, session_model):
    panel = shown(qtbot, QtNeuronPanel(session_model))
    labels = lambda: [label.text for _, label in panel.legend.items]  # noqa: E731
    assert labels() == ["teacher", "student", "trajectory from init (○)"]  # nothing is sign-flipped
    panel.trajectory_check.setChecked(False)
    assert labels() == ["teacher", "student"]


def test_neurons_tooltip_states_values(qtbot, session_model):
    panel = shown(qtbot, QtNeuronPanel(session_model))
    s = session_model.session
    point = panel.student_item.points()[2]
    text = panel._tip(point.pos().x(), point.pos().y(), point.data())
    v = incoming_vectors(s.spec, s.runs.theta[0], 1)[2]
    assert "student neuron 3" in text and f"{v[0]:.5g}" in text and "outgoing" in text


def test_neurons_sign_flipped_representatives_land_on_the_teacher(qtbot, session_model):
    s = session_model.session
    tspec = s.teacher_spec
    w_t = incoming_vectors(tspec, s.teacher_theta, 1)
    a_t = outgoing_weights(tspec, s.teacher_theta, 1)[0]
    # Student 0 learnt (-w_1, -a_1) and student 1 learnt (-w_2, -a_2); 2, 3 equal the teacher; 4 is zero-type.
    w = np.vstack([-w_t[0], -w_t[1], w_t[2], w_t[3], [3.0, 3.0]])
    a = np.array([-a_t[0], -a_t[1], a_t[2], a_t[3], 0.0])
    s.runs.theta[0] = np.concatenate([w.ravel(), a])
    session_model.set_session(s)
    panel = shown(qtbot, QtNeuronPanel(session_model))
    assert panel.flip_check.isEnabled()
    np.testing.assert_array_equal(scatter_xy(panel.student_item), w)
    panel.flip_check.setChecked(True)
    np.testing.assert_allclose(scatter_xy(panel.flipped_item), w_t[:2])  # squares on their teachers
    np.testing.assert_allclose(scatter_xy(panel.student_item), w[2:])
    assert {p.symbol() for p in panel.flipped_item.points()} == {"s"}
    # Drawn above the teacher stars they sit on, which are above the other students.
    assert panel.flipped_item.zValue() > panel.teacher_item.zValue() > panel.student_item.zValue()
    shown_in_legend = [label.text for _, label in panel.legend.items]
    assert "sign-flipped (−w, −a)" in shown_in_legend
    np.testing.assert_allclose(panel.tables()["neurons"].rows[0][4], a_t[0])  # outgoing shown as -(-a_1)


def test_neurons_wider_input_uses_a_coordinate_pair_or_pca(qtbot):
    model = SessionModel()
    model.set_session(make_gui_session(S=6, d_in=3))
    panel = shown(qtbot, QtNeuronPanel(model))
    s = model.session
    v = incoming_vectors(s.spec, s.runs.theta[0], 1)
    assert panel.axes_combo.currentData() == "pca"
    all_v = np.concatenate([incoming_vectors(s.spec, th, 1) for th in s.runs.theta[np.isfinite(s.runs.theta).all(1)]])
    _, _, vt = np.linalg.svd(all_v, full_matrices=False)
    np.testing.assert_allclose(np.abs(scatter_xy(panel.student_item)), np.abs(v @ vt[:2].T), atol=1e-12)
    panel.axes_combo.setCurrentIndex(panel.axes_combo.findData("0,2"))
    np.testing.assert_array_equal(scatter_xy(panel.student_item), v[:, [0, 2]])
    assert panel.plot.getAxis("left").labelText.startswith("w3")


# --------------------------------------------------------------------------- statistics

def test_statistics_outcome_table_scatter_and_histogram(qtbot, session_model):
    s = session_model.session
    r = s.runs
    panel = shown(qtbot, QtStatisticsPanel(session_model))
    counts = s.outcome_counts()
    for row, kind in enumerate(KINDS):
        sym = int(np.count_nonzero((r.kind == kind) & r.symmetry_induced))
        assert [panel.outcome_table.item(row, c).text() for c in range(3)] == \
            [str(counts[kind]), str(sym), str(counts[kind] - sym)]
    assert panel.outcome_table.item(len(KINDS), 0).text() == str(r.n_runs)

    # λ_min vs loss: log10 positions, one point per finite run, in the item of its kind.
    for kind, item in panel.kind_items.items():
        rows = np.flatnonzero((r.kind == kind) & np.isfinite(r.loss) & np.isfinite(r.lambda_min))
        np.testing.assert_array_equal(item.data["data"], rows)
        np.testing.assert_allclose(scatter_xy(item), np.stack([np.log10(r.loss[rows]),
                                                                np.log10(np.abs(r.lambda_min[rows]))], axis=1))
        symbols = [p.symbol() for p in item.points()]
        assert symbols == ["t" if r.lambda_min[i] < 0 else "o" for i in rows]
    panel.y_mode.setCurrentIndex(panel.y_mode.findData("linear"))
    rows = np.flatnonzero(r.kind == "strict_saddle")
    np.testing.assert_array_equal(scatter_xy(panel.kind_items["strict_saddle"])[:, 1], r.lambda_min[rows])

    # Histogram of nearest-neuron distances of the local minima = numpy's.
    local = np.flatnonzero(r.kind == "local_min")
    d = np.array([nearest_neuron_pair(s.spec, r.theta[i], 1)[2] for i in local])
    counts_np, edges_np = np.histogram(d, bins=30)
    counts, edges = panel.histogram
    np.testing.assert_array_equal(counts, counts_np)
    np.testing.assert_allclose(edges, edges_np)
    np.testing.assert_array_equal(np.asarray(panel.hist_item.getData()[1]), counts_np)
    panel.bins_spin.setValue(7)
    panel.hist_kind.setCurrentIndex(panel.hist_kind.findData(None))
    every = np.array([nearest_neuron_pair(s.spec, t, 1)[2] for t in r.theta if np.isfinite(t).all()])
    np.testing.assert_array_equal(panel.histogram[0], np.histogram(every, bins=7)[0])


def test_statistics_click_on_a_point_selects_its_run(qtbot, session_model):
    panel = shown(qtbot, QtStatisticsPanel(session_model))
    panel.resize(900, 1000)  # room for the scatter, so that no other point lies under the one clicked
    r = session_model.session.runs
    target = int(np.flatnonzero(r.kind == "strict_saddle")[1])
    item = panel.kind_items["strict_saddle"]
    point = next(p for p in item.points() if p.data() == target)
    view = panel.scatter_widget
    qtbot.wait(50)  # let the view finish auto-ranging before mapping data to pixels
    scene_pos = item.mapToScene(point.pos())
    from PySide6.QtCore import Qt

    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(scene_pos))
    assert session_model.current == target
    np.testing.assert_allclose(scatter_xy(panel.selected_item)[0], [point.pos().x(), point.pos().y()])


# --------------------------------------------------------------------------- training, counting, run table

def test_training_panel_shows_stored_loss_curves_and_the_selected_run(qtbot, session_model):
    panel = shown(qtbot, QtTrainingPanel(session_model))
    c = session_model.session.runs.loss_curve
    keep = c.epochs > 0
    x, y = panel.median_item.getOriginalDataset()
    np.testing.assert_array_equal(x, c.epochs[keep])
    np.testing.assert_allclose(y, np.median(c.loss[:, keep], axis=0))
    np.testing.assert_allclose(panel.high_item.getOriginalDataset()[1], np.percentile(c.loss[:, keep], 90, axis=0))
    session_model.select(3)
    np.testing.assert_allclose(panel.selected_item.getOriginalDataset()[1], c.loss[3, keep])
    panel.mode.setCurrentIndex(panel.mode.findData("all"))
    x, y = panel.all_item.getOriginalDataset()
    assert np.count_nonzero(np.isfinite(y)) == c.loss[:, keep].size


def test_counting_panel_shows_core_counts_and_ratio_curve(qtbot, session_model):
    panel = shown(qtbot, QtCountingPanel(session_model))
    panel.r_star.setValue(6)
    panel.m_max.setValue(15)
    panel.r.setValue(4)
    panel.m.setValue(9)
    assert panel.values == {"T": T(6, 9), "G": G(4, 9)}
    assert panel.t_label.toolTip() == str(T(6, 9))
    expected = ratio_curve(6, np.arange(6, 16))
    x, y = panel.total_item.getOriginalDataset()
    np.testing.assert_array_equal(x, expected.m)
    np.testing.assert_array_equal(y, expected.total)
    assert len(panel.r_items) == 5
    np.testing.assert_array_equal(panel.r_items[2].getOriginalDataset()[1], expected.ratio[2])
    panel.zero_type.setCurrentIndex(panel.zero_type.findData("single"))
    assert panel.values["T"] == T(6, 9, "single")


def test_run_table_rows_hold_the_runs_and_sort_numerically(qtbot, session_model):
    panel = shown(qtbot, QtRunTable(session_model))
    r = session_model.session.runs
    assert panel.proxy.rowCount() == r.n_runs
    assert panel.table_model.index(4, 0).data() == str(r.seed[4])
    panel.view.sortByColumn(2, Qt_ascending())
    loss_sorted = np.argsort(np.where(np.isnan(r.loss), np.inf, r.loss), kind="stable")
    np.testing.assert_array_equal(panel.visible_rows(), loss_sorted)
    np.testing.assert_array_equal(session_model.view_order(), loss_sorted)


def test_run_table_and_statistics_follow_kinds_relabelled_in_place(qtbot, session_model):
    """An escape search turns a local minimum into a non-strict saddle without a new session."""
    table = shown(qtbot, QtRunTable(session_model))
    stats = shown(qtbot, QtStatisticsPanel(session_model))
    r = session_model.session.runs
    row = int(np.flatnonzero(r.kind == "local_min")[0])
    kind_column = next(c for c in range(table.table_model.columnCount())
                       if table.table_model.headerData(c, Qt_horizontal()) == "Kind")
    before = table.table_model.index(row, kind_column).data()
    r.kind[row] = "nonstrict_saddle"
    session_model.runsChanged.emit()
    after = table.table_model.index(row, kind_column).data()
    assert after != before and "saddle" in after
    labels = [table.kind_filter.itemText(i) for i in range(table.kind_filter.count())]
    n = int(np.count_nonzero(r.kind == "nonstrict_saddle"))
    assert f"non-strict saddle ({n})" in labels and f"local minimum ({int(np.count_nonzero(r.kind == 'local_min'))})" in labels
    assert stats is not None


def Qt_horizontal():
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal


def Qt_ascending():
    from PySide6.QtCore import Qt

    return Qt.SortOrder.AscendingOrder


def test_panels_show_an_empty_state_without_a_session(qtbot):
    model = SessionModel()
    for cls in (QtRunTable, QtNeuronPanel, QtStatisticsPanel):
        panel = shown(qtbot, cls(model))
        assert panel._stack.currentWidget().text() == NO_SESSION_TEXT
    training = shown(qtbot, QtTrainingPanel(model))
    assert training._stack.currentIndex() == 1 and training.new_button.isEnabled()
    model.set_session(make_gui_session(S=3))
    assert panel._stack.currentIndex() == 1


def test_deeper_network_chooses_a_layer(qtbot):
    s = make_gui_session(S=4)
    # A 2-3-2-1 net: the neurons panel offers two layers and draws the second with no teacher.
    spec = MLPSpec((2, 3, 2, 1))
    rng = np.random.default_rng(1)
    s.config["network"] = spec.to_dict()
    for name in ("theta_init", "theta", "theta_trained", "hessian_eigvals"):
        setattr(s.runs, name, np.sort(rng.normal(size=(4, spec.n_params)), axis=1))
    s.runs.lambda_min = s.runs.hessian_eigvals[:, 0].copy()
    s.runs.trajectory = None
    model = SessionModel()
    model.set_session(s)
    panel = shown(qtbot, QtNeuronPanel(model))
    assert panel.layer_spin.maximum() == 2
    panel.layer_spin.setValue(2)
    assert panel.axes_combo.currentData() == "pca"  # layer 2 has 3 incoming weights
    panel.axes_combo.setCurrentIndex(panel.axes_combo.findData("1,2"))
    np.testing.assert_array_equal(scatter_xy(panel.student_item), incoming_vectors(spec, s.runs.theta[0], 2)[:, 1:])
    assert len(panel.teacher_item.getData()[0]) == 0
    stats = shown(qtbot, QtStatisticsPanel(model))
    stats.layer_spin.setValue(2)
    stats.hist_kind.setCurrentIndex(stats.hist_kind.findData(None))
    d = [nearest_neuron_pair(spec, t, 2)[2] for t in s.runs.theta]
    np.testing.assert_array_equal(stats.histogram[0], np.histogram(d, bins=30)[0])


def test_loss_band_matches_numpy_percentiles_with_nan_rows():
    from lsexplorer.gui.panels.training import band

    rng = np.random.default_rng(0)
    losses = rng.uniform(size=(40, 9))
    losses[3, 2], losses[5, :], losses[7, :8], losses[8, 1] = np.nan, np.nan, np.nan, np.inf
    finite = np.where(np.isfinite(losses), losses, np.nan)
    median, low, high = band(losses)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):  # numpy warns on the all-NaN row
        expected = [np.nanpercentile(finite, q, axis=1) for q in (50, 10, 90)]
    for got, want in zip((median, low, high), expected):
        np.testing.assert_allclose(got, want)
