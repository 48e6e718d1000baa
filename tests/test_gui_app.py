"""The main window: one selection across panels, keyboard navigation, filtering, files, layout, closing."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from lsexplorer.core.store.session import load_session, save_session
from lsexplorer.core.symmetry.operations import incoming_vectors
from lsexplorer.gui import app as app_module
from lsexplorer.gui._testsupport import *
from lsexplorer.gui._testsupport import fake_experiment, make_gui_session
from lsexplorer.gui.app import MainWindow


def student_xy(window) -> np.ndarray:
    x, y = window.neurons.student_item.getData()
    return np.stack([x, y], axis=1)


def test_selection_in_one_panel_updates_the_others(qtbot, main_window):
    w = main_window
    s = w.model.session
    r = s.runs
    # Table click -> neurons, statistics ring, training highlight.
    view = w.run_table.view
    row = 6
    rect = view.visualRect(w.run_table.proxy.index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.model.current == row
    np.testing.assert_array_equal(student_xy(w), incoming_vectors(s.spec, r.theta[row], 1))
    sx, sy = w.statistics.selected_item.getData()
    assert (sx[0], sy[0]) == pytest.approx((np.log10(r.loss[row]), np.log10(abs(r.lambda_min[row]))))
    np.testing.assert_allclose(w.training.selected_item.getOriginalDataset()[1], r.loss_curve.loss[row, 1:])
    # Model selection (e.g. from a scatter click) -> the table's current row follows.
    w.model.select(11)
    assert w.run_table.proxy.mapToSource(view.currentIndex()).row() == 11
    np.testing.assert_array_equal(student_xy(w), incoming_vectors(s.spec, r.theta[11], 1))
    assert "seed 34" in w.neurons.plot.titleLabel.text


def test_keyboard_walks_rows_and_jumps_between_local_minima(qtbot, main_window):
    w = main_window
    r = w.model.session.runs
    view = w.run_table.view
    view.setFocus()
    w.model.select(0)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert w.model.current == 2
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert w.model.current == 1
    local = np.flatnonzero(r.kind == "local_min")
    w.model.select(0)
    seen = []
    for _ in range(len(local) + 1):
        qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
        seen.append(w.model.current)
    assert seen == [*local, local[0]]  # wraps around
    qtbot.keyClick(view, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert w.model.current == local[-1]
    # Same-kind stepping from a strict saddle.
    saddles = np.flatnonzero(r.kind == "strict_saddle")
    w.model.select(int(saddles[0]))
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.model.current == saddles[1]


def test_filter_by_kind_and_navigation_follow_the_visible_rows(qtbot, main_window):
    w = main_window
    r = w.model.session.runs
    table = w.run_table
    table.set_kind_filter("strict_saddle")
    saddles = np.flatnonzero(r.kind == "strict_saddle")
    np.testing.assert_array_equal(table.visible_rows(), saddles)
    assert table.count_label.text() == f"{len(saddles)} of {r.n_runs}"
    table.view.setFocus()
    table.view.setCurrentIndex(table.proxy.index(0, 0))
    assert w.model.current == saddles[0]
    qtbot.keyClick(table.view, Qt.Key.Key_Down)
    assert w.model.current == saddles[1]
    # No local minimum is visible under this filter: the shortcut says so and keeps the selection.
    messages = []
    w.model.message.connect(messages.append)
    w.next_local_action.trigger()
    assert w.model.current == saddles[1] and messages == ["no local minimum in the run table"]
    # Sorted by loss, descending: stepping follows the sorted order.
    table.set_kind_filter(None)
    table.view.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    order = table.visible_rows()
    finite = order[np.isfinite(r.loss[order])]
    assert np.all(np.diff(r.loss[finite]) <= 0)
    w.model.select(int(order[0]))
    qtbot.keyClick(table.view, Qt.Key.Key_Down)
    assert w.model.current == order[1]


def test_opening_a_session_file_and_a_corrupt_one(qtbot, main_window, tmp_path):
    w = main_window
    good = tmp_path / "good.h5"
    other = make_gui_session(S=7, seed=3)
    save_session(other, good)
    worker = w.open_session(good)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    assert w.model.n_runs == 7 and w.model.path == good
    assert w.run_table.proxy.rowCount() == 7
    assert "good.h5" in w.windowTitle()
    assert w.recent_files()[0] == str(good.resolve())
    before = w.model.session

    bad = tmp_path / "corrupt.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 100)
    worker = w.open_session(bad)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    assert w.error_box is not None and w.error_box.isVisible()
    assert "corrupt.h5" in w.error_box.text()
    assert w.model.session is before and w.model.path == good  # the current session is kept
    w.error_box.close()

    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:2000])
    worker = w.open_session(truncated)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    assert "truncated.h5" in w.error_box.text() and w.model.session is before
    w.error_box.close()


def test_save_as_writes_the_session_and_adopts_the_path(qtbot, main_window, tmp_path):
    w = main_window
    target = tmp_path / "copy.h5"
    w.ask_save_path = lambda *a: str(target)
    w.model.set_modified(True)
    w.save_as_dialog()
    qtbot.waitUntil(lambda: not w.model.tasks.active, timeout=10_000)
    assert w.model.path == target and not w.model.modified
    np.testing.assert_array_equal(load_session(target).runs.theta, w.model.session.runs.theta)


def test_layout_is_remembered_and_can_be_reset(qtbot, gui_settings, gui_session):
    first = MainWindow(settings=gui_settings)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.docks["Statistics"].close()
    assert first.close()
    second = MainWindow(settings=gui_settings)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    assert not second.docks["Statistics"].isVisible()
    assert second.docks["Neurons"].isVisible()
    second.reset_layout()
    assert second.docks["Statistics"].isVisible()


def test_closing_during_training_asks_stops_and_keeps_saved_files(qtbot, main_window, tmp_path):
    w = main_window
    saved = tmp_path / "saved.h5"
    save_session(w.model.session, saved)
    saved_bytes = saved.read_bytes()
    w.training.experiment_runner = fake_experiment(make_gui_session(S=2))
    out = tmp_path / "new.h5"
    worker = w.training.start({"train": {"epochs": 10**9}, "seeds": [0, 1]}, out)
    qtbot.waitUntil(lambda: len(w.training._epochs) >= 2, timeout=5000)
    assert w.task_cancel.isVisible() and w.task_label.text() == "Training"

    w.answers = [QMessageBox.StandardButton.No]
    assert not w.close()  # declined: still open, still training
    assert w.asked == ["Work in progress"] and worker.is_running

    w.answers = [QMessageBox.StandardButton.Yes]
    assert w.close()
    assert not worker.is_running and not out.exists()
    assert saved.read_bytes() == saved_bytes


def test_status_bar_cancel_stops_a_background_task(qtbot, main_window, tmp_path):
    w = main_window
    w.training.experiment_runner = fake_experiment(make_gui_session(S=2))
    worker = w.training.start({"train": {"epochs": 10**9}, "seeds": [0, 1]}, tmp_path / "x.h5")
    qtbot.waitUntil(lambda: w.task_progress.maximum() == 10**9, timeout=5000)
    assert 0 < w.task_progress.value() < 10**9
    with qtbot.waitSignal(worker.finished, timeout=1000):
        qtbot.mouseClick(w.task_cancel, Qt.MouseButton.LeftButton)
    assert not w.task_cancel.isVisible()


def test_run_gui_opens_the_given_session_or_an_empty_window(qtbot, gui_settings, tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    save_session(make_gui_session(S=4), path)
    seen = {}

    def inspect_and_quit():
        windows = [x for x in QApplication.topLevelWidgets() if isinstance(x, MainWindow) and x.isVisible()]
        if not windows or (seen.get("want_session") and not windows[-1].model.has_session):
            QTimer.singleShot(20, inspect_and_quit)
            return
        win = windows[-1]
        seen["runs"] = win.model.n_runs
        seen["message"] = win.statusBar().currentMessage()
        win.close()
        win.deleteLater()

    seen["want_session"] = True
    QTimer.singleShot(0, inspect_and_quit)
    assert app_module.run_gui(path) == 0
    assert seen["runs"] == 4

    monkeypatch.setattr(app_module, "SAMPLE_SESSION", tmp_path / "missing.h5")
    seen.clear()
    QTimer.singleShot(0, inspect_and_quit)
    assert app_module.run_gui(None) == 0
    assert seen["runs"] == 0 and "missing.h5" in seen["message"]
    QApplication.processEvents()


def test_default_settings_use_the_organisation_and_application_names(gui_settings):
    settings = app_module.default_settings()
    assert settings.organizationName() == "lsexplorer" and settings.applicationName() == "lsexplorer"
    assert settings.format() == QSettings.Format.IniFormat


def test_a_new_experiment_over_unsaved_changes_is_confirmed_and_sessions_become_recent(main_window, monkeypatch,
                                                                                       tmp_path):
    from PySide6.QtWidgets import QMessageBox

    started = []
    monkeypatch.setattr(main_window.training, "new_experiment", lambda: started.append(True))
    main_window.model.set_modified(True)
    main_window.answers = [QMessageBox.StandardButton.No]
    main_window.new_action.trigger()
    assert started == [] and main_window.asked[-1] == "Unsaved changes"
    main_window.answers = [QMessageBox.StandardButton.Yes]
    main_window.new_action.trigger()
    assert started == [True]
    main_window.model.set_modified(False)
    main_window.new_action.trigger()  # nothing unsaved: no question
    assert started == [True, True] and main_window.asked.count("Unsaved changes") == 2
    # A session shown from a new file (as a finished training does) joins Open Recent.
    target = tmp_path / "trained.h5"
    main_window.model.set_session(main_window.model.session, target)
    assert main_window.recent_files()[0] == str(target.resolve())
