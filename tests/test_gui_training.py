"""Background work: the generator Worker, and training in a QThread with live curves, cancel, stop and save."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from lsexplorer.core.store.session import load_session
from lsexplorer.gui._testsupport import *
from lsexplorer.gui._testsupport import fake_experiment, make_gui_session
from lsexplorer.gui.workers import Worker, running_threads



# --------------------------------------------------------------------------- Worker

def test_generator_worker_yields_returns_and_runs_off_the_gui_thread(qtbot):
    gui_thread = threading.get_ident()
    threads = []

    def work(n):
        for k in range(n):
            threads.append(threading.get_ident())
            yield k
        return "done"

    worker = Worker(work, 5)
    got, result, slot_threads = [], [], set()
    worker.yielded.connect(lambda r: (got.append(r), slot_threads.add(threading.get_ident())))
    worker.returned.connect(lambda r: (result.append(r), slot_threads.add(threading.get_ident())))
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    assert got == [0, 1, 2, 3, 4] and result == ["done"]
    assert threads and all(t != gui_thread for t in threads)
    assert slot_threads == {gui_thread}  # even lambdas run on the GUI thread
    assert not worker.is_running and running_threads() == []


def test_results_are_not_kept_alive_by_the_worker(qtbot):
    """Records and results pass through queued signals; nothing may keep them alive afterwards."""
    import gc
    import sys

    payload = np.zeros(1000)
    before = sys.getrefcount(payload)

    def work():
        yield payload
        return payload

    worker = Worker(work)
    seen = []
    worker.yielded.connect(seen.append)
    worker.returned.connect(seen.append)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    assert len(seen) == 2
    seen.clear()
    del worker
    gc.collect()
    assert sys.getrefcount(payload) == before


def test_worker_abort_is_honoured_at_the_next_yield_and_closes_the_generator(qtbot):
    closed = threading.Event()

    def endless():
        try:
            while True:
                time.sleep(0.01)
                yield 1
        finally:
            closed.set()

    worker = Worker(endless)
    events, records = [], []
    worker.aborted.connect(lambda: events.append("aborted"))
    worker.returned.connect(lambda r: events.append("returned"))
    worker.yielded.connect(records.append)
    worker.start()
    qtbot.waitUntil(lambda: len(records) > 0, timeout=2000)
    started = time.perf_counter()
    with qtbot.waitSignal(worker.finished, timeout=2000):
        worker.quit()
    assert time.perf_counter() - started < 0.5
    assert events == ["aborted"] and closed.is_set()


def test_worker_reports_errors_and_runs_plain_functions(qtbot):
    def fails():
        raise ValueError("bad input")
        yield  # a generator

    worker = Worker(fails)
    errors = []
    worker.errored.connect(errors.append)
    with qtbot.waitSignal(worker.finished, timeout=2000):
        worker.start()
    assert isinstance(errors[0], ValueError) and str(errors[0]) == "bad input"

    worker = Worker(np.arange, 4)
    out = []
    worker.returned.connect(out.append)
    with qtbot.waitSignal(worker.finished, timeout=2000):
        worker.start()
    np.testing.assert_array_equal(out[0], np.arange(4))
    with pytest.raises(RuntimeError, match="only once"):
        worker.start()


# --------------------------------------------------------------------------- training panel

CONFIG = {"train": {"epochs": 10**9}, "seeds": [0, 1, 2]}


def test_live_training_curves_and_cancel_within_a_second(qtbot, main_window, tmp_path):
    w = main_window
    panel = w.training
    before = w.model.session
    panel.experiment_runner = fake_experiment(make_gui_session(S=3))
    out = tmp_path / "never.h5"
    worker = panel.start(CONFIG, out)
    assert not panel.new_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel._epochs) >= 5, timeout=5000)
    panel.redraw()
    epochs, losses = np.asarray(panel._epochs, float), np.stack(panel._losses)
    x, y = panel.median_item.getOriginalDataset()
    np.testing.assert_array_equal(x, epochs)
    np.testing.assert_allclose(y, np.median(losses, axis=1))
    assert panel.progress.isVisible() and panel.progress.value() == panel._epochs[-1]
    assert "Training 3 seeds" in panel.status.text()

    started = time.perf_counter()
    with qtbot.waitSignal(worker.finished, timeout=1000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert time.perf_counter() - started < 1.0
    assert running_threads() == []
    assert w.model.session is before and not out.exists()
    assert "cancelled" in panel.status.text() and panel.new_button.isEnabled()


def test_stop_early_certifies_saves_and_opens_the_session(qtbot, main_window, tmp_path):
    w = main_window
    panel = w.training
    result = make_gui_session(S=3, seed=7)
    panel.experiment_runner = fake_experiment(result)
    out = tmp_path / "trained.h5"
    worker = panel.start(CONFIG, out)
    qtbot.waitUntil(lambda: len(panel._epochs) >= 2, timeout=5000)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert w.model.session is result and w.model.path == out and not w.model.modified
    np.testing.assert_array_equal(load_session(out).runs.theta, result.runs.theta)
    assert w.run_table.proxy.rowCount() == 3 and "trained.h5" in w.windowTitle()
    # Back to the stored curves of the new session.
    x, _ = panel.median_item.getOriginalDataset()
    np.testing.assert_array_equal(x, result.runs.loss_curve.epochs[1:])


def test_a_failed_save_keeps_the_session_open_and_marked_unsaved(qtbot, main_window, tmp_path):
    w = main_window
    panel = w.training
    result = make_gui_session(S=2)
    panel.experiment_runner = fake_experiment(result)
    worker = panel.start({"train": {"epochs": 300}, "seeds": [0, 1]}, tmp_path / "no-such-dir" / "x.h5")
    qtbot.waitUntil(lambda: not worker.is_running, timeout=5000)
    assert w.model.session is result and w.model.modified and w.model.path is None
    assert w.error_box is not None and "not saved" in w.error_box.windowTitle()
    w.error_box.close()


def test_new_experiment_dialog_validates_through_build_config(qtbot, main_window, tmp_path, monkeypatch):
    from lsexplorer.core.experiment import experiment
    dialog = main_window.training.new_experiment()
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    dialog.output.setText(str(tmp_path / "new.h5"))
    dialog.seeds.setValue(2)
    dialog.epochs.setText("300")
    dialog.lr.setText("0.01")
    dialog.device.setCurrentText("cpu")
    assert ok.isEnabled(), dialog.problem.text()
    expected = experiment.build_config("toy", None, {"seeds": {"start": 0, "count": 2},
                                                     "network": {"width": 5},
                                                     "train": {"epochs": 300, "lr": 0.01, "device": "cpu",
                                                               "optimizer": "adam", "dtype": "float32"}})
    assert dialog.config == expected
    dialog.lr.setText("-1")
    assert not ok.isEnabled() and "lr" in dialog.problem.text()
    dialog.lr.setText("abc")
    assert not ok.isEnabled() and "learning rate" in dialog.problem.text()
    dialog.lr.setText("0.01")
    dialog.output.setText(str(tmp_path / "missing" / "x.h5"))
    assert not ok.isEnabled() and "does not exist" in dialog.problem.text()
    # Accepting a valid dialog starts the training with exactly that config.
    dialog.output.setText(str(tmp_path / "new.h5"))
    seen = []

    def runner(config, stop):
        seen.append(config)
        yield from ()
        return make_gui_session(S=2)

    main_window.training.experiment_runner = runner
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not main_window.training.running, timeout=5000)
    assert seen == [expected] and (tmp_path / "new.h5").exists()


@pytest.mark.slow
def test_real_tiny_training_finishes_saves_and_opens(qtbot, main_window, tmp_path):
    from lsexplorer.core.experiment.experiment import build_config

    config = build_config("toy", None, {"seeds": {"start": 0, "count": 2},
                                        "train": {"epochs": 300, "lr": 0.01, "device": "cpu"}})
    out = tmp_path / "tiny.h5"
    worker = main_window.training.start(config, out)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)
    assert main_window.model.n_runs == 2 and main_window.model.path == out
    assert load_session(out).runs.n_runs == 2


def test_real_training_cancels_within_a_second(qtbot, main_window, tmp_path):
    from lsexplorer.core.experiment.experiment import build_config

    config = build_config("toy", None, {"seeds": {"start": 0, "count": 2},
                                        "train": {"epochs": 10_000_000, "lr": 0.01, "device": "cpu"}})
    worker = main_window.training.start(config, tmp_path / "never.h5")
    qtbot.waitUntil(lambda: len(main_window.training._epochs) >= 2, timeout=20_000)
    started = time.perf_counter()
    with qtbot.waitSignal(worker.finished, timeout=1000):
        main_window.training.cancel()
    assert time.perf_counter() - started < 1.0 and not (tmp_path / "never.h5").exists()


def test_the_legend_lists_the_selected_run_only_while_it_is_drawn(qtbot, session_model):
    from lsexplorer.gui.panels.training import QtTrainingPanel

    panel = QtTrainingPanel(session_model)
    qtbot.addWidget(panel)

    def listed() -> list[str]:
        return [label.text for _, label in panel.plot.legend.items]

    session_model.select(0)
    assert "selected run" in listed() and len(panel.selected_item.getData()[0]) > 0
    session_model.set_session(None)  # nothing selected: no selected curve, so no legend entry for it
    assert "selected run" not in listed()
    assert len(panel.selected_item.getData()[0] if panel.selected_item.getData()[0] is not None else []) == 0


def test_gradient_flow_in_the_new_experiment_dialog(qtbot, main_window, tmp_path):
    """Choosing gradient flow turns the length into an end time t, fixes float64 and builds a flow config."""
    from lsexplorer.core.experiment import experiment
    dialog = main_window.training.new_experiment()
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    dialog.output.setText(str(tmp_path / "flow.h5"))
    dialog.seeds.setValue(2)
    dialog.device.setCurrentText("cpu")
    dialog.optimizer.setCurrentIndex(dialog.optimizer.findData("flow"))
    assert dialog.optimizer.currentText() == "gradient flow"
    assert dialog.epochs_label.text() == "End time t" and dialog.epochs.text() == "1e+07"
    assert not dialog.lr.isEnabled() and dialog.dtype.currentText() == "float64"
    dialog.epochs.setText("1e5")
    assert ok.isEnabled(), dialog.problem.text()
    expected = experiment.build_config("toy", None, {"seeds": {"start": 0, "count": 2}, "network": {"width": 5},
                                                     "train": {"optimizer": "flow", "t_max": 1e5, "device": "cpu"}})
    assert dialog.config == expected and dialog.config["train"]["dtype"] == "float64"
    dialog.epochs.setText("0.5")
    assert not ok.isEnabled() and "t_max" in dialog.problem.text()
    dialog.optimizer.setCurrentIndex(dialog.optimizer.findData("adam"))
    assert dialog.epochs_label.text() == "Epochs" and dialog.lr.isEnabled() and dialog.epochs.text() == "1e+07"


@pytest.mark.slow
def test_a_real_gradient_flow_training_shows_time_t(qtbot, main_window, tmp_path):
    from lsexplorer.core.experiment.experiment import build_config

    config = build_config("toy", None, {"seeds": {"start": 0, "count": 2},
                                        "train": {"optimizer": "flow", "t_max": 1e4, "device": "cpu"}})
    worker = main_window.training.start(config, tmp_path / "flow.h5")
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60_000)
    assert main_window.model.n_runs == 2
    assert main_window.training.plot.getAxis("bottom").labelText == "time t"
