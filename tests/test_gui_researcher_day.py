"""What a researcher meets in an hour with the app: one name per kind, no stale state, Save, drag and drop,
go to seed, the training's time left, the experiment's cost, the export's file name, and a wheel that
scrolls panels while Ctrl+wheel zooms (with Back and Reset view)."""

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from lsexplorer.core.base.kinds import Kind, kind_phrase
from lsexplorer.gui._testsupport import *  # noqa: F401,F403  (fixtures)
from lsexplorer.gui._testsupport import FakeProgress, make_deep_gui_session, make_gui_session


def rows_of(window, kind: str) -> np.ndarray:
    return np.flatnonzero(window.model.session.runs.kind == kind)


# ---------------------------------------------------------------- names

def test_a_run_that_did_not_converge_is_not_called_a_not_converged(main_window):
    assert kind_phrase("not_converged") == "did not converge"
    assert kind_phrase(Kind.LOCAL_MIN) == "is a local minimum" and kind_phrase("channel") == "is a minimum at infinity"
    main_window.model.select(int(rows_of(main_window, "not_converged")[0]))
    texts = [main_window.saddle_line.missing.label.text(), main_window.slices.missing.label.text(),
             main_window.escape.missing.label.text()]
    assert all("is a not converged" not in t and "not_converged" not in t for t in texts), texts
    assert any("did not converge" in t for t in texts)


# ---------------------------------------------------------------- stale state

def test_the_kind_filter_never_leaves_a_hidden_run_selected(main_window):
    table = main_window.run_table
    main_window.model.select(int(rows_of(main_window, "not_converged")[0]))
    table.set_kind_filter("local_min")
    assert main_window.model.current in table.visible_rows()
    assert main_window.model.session.runs.kind[main_window.model.current] == "local_min"
    table.set_kind_filter("channel")  # no run of this kind: nothing is selected, nothing stale is shown
    assert main_window.model.current == -1
    table.set_kind_filter(None)
    main_window.model.select(3)
    table.set_kind_filter("local_min")  # a listed run stays selected
    assert main_window.model.current == 3


def test_a_cancelled_training_is_not_reported_after_another_session_opens(main_window):
    panel = main_window.training
    panel._on_aborted()
    assert "cancelled" in panel.status.text()
    main_window.model.set_session(make_gui_session(S=4))
    assert "cancelled" not in panel.status.text()


def test_the_training_monitor_says_how_long_is_left(main_window):
    from lsexplorer.gui.panels.training import time_left

    record = FakeProgress("train", 1000, 61_000, 10.0, epochs_per_s=100.0)
    assert time_left(record) == ", about 10 min left"
    assert time_left(FakeProgress("train", 0, 100, 0.0)) == ""
    assert time_left(FakeProgress("train", 50, 100, 5.0)) == ", about 5 s left"  # the average pace


def test_new_experiment_says_what_it_will_cost(main_window, gui_settings, tmp_path):
    from lsexplorer.gui.experiment_dialog import QtExperimentDialog

    box = QtExperimentDialog(main_window, tmp_path, gui_settings)
    box.output.setText(str(tmp_path / "s.h5"))
    box.seeds.setValue(100)
    box.epochs.setText("1e7")
    assert box.validate()
    assert box.estimate.text().startswith("Estimated: about") and "training" in box.estimate.text()
    box.epochs.setText("lots")
    assert not box.validate() and box.estimate.text() == ""
    box.deleteLater()


# ---------------------------------------------------------------- files

def test_save_writes_the_open_file_and_save_as_asks(main_window, tmp_path, qtbot):
    from lsexplorer.core.store.session import save_session

    path = tmp_path / "s.h5"
    save_session(main_window.model.session, path)
    main_window.model.set_path(path, modified=True)
    assert main_window.save_action.shortcut().matches(Qt.Modifier.CTRL | Qt.Key.Key_S)
    worker = main_window.save()
    assert worker is not None and worker.wait(30_000)
    qtbot.waitUntil(lambda: not main_window.model.modified, timeout=5000)
    asked = []
    main_window.ask_save_path = lambda *a: asked.append(a) or None
    main_window.model.set_path(None, modified=True)
    assert main_window.save() is None and len(asked) == 1  # no file yet: Save As


def test_the_quit_prompt_says_what_is_unsaved(main_window, tmp_path):
    questions = []
    main_window.ask_question = lambda title, text, *a: questions.append(text) or QMessageBox.StandardButton.Cancel
    main_window.model.set_path(tmp_path / "mine.h5", modified=True)
    main_window.close()
    main_window.model.set_path(None, modified=True)
    main_window.close()
    assert questions[0].startswith("mine.h5 has changes that are not saved")
    assert "never been saved" in questions[1]
    main_window.model.set_modified(False)


def test_a_dropped_session_file_opens(main_window, tmp_path, monkeypatch):
    from lsexplorer.gui.app import dropped_sessions

    opened = []
    monkeypatch.setattr(main_window, "open_session", opened.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt")), QUrl.fromLocalFile(str(tmp_path / "a.h5"))])
    assert dropped_sessions(mime) == [tmp_path / "a.h5"] and main_window.acceptDrops()

    class Drop:
        def mimeData(self):
            return mime

        def acceptProposedAction(self):
            self.accepted = True

    event = Drop()
    main_window.dropEvent(event)
    assert opened == [tmp_path / "a.h5"] and event.accepted


def test_go_to_a_seed_or_a_row(main_window):
    runs = main_window.model.session.runs
    assert main_window.go_to(str(int(runs.seed[5])))
    assert main_window.model.current == 5
    assert main_window.go_to("#2") and main_window.model.current == 2
    main_window.run_table.set_kind_filter("local_min")
    row = int(rows_of(main_window, "global_min")[1])
    assert main_window.go_to(str(int(runs.seed[row]))) and main_window.model.current == row
    assert row in main_window.run_table.visible_rows()  # the filter made way for it
    assert not main_window.go_to("999999") and "no seed 999999" in main_window.statusBar().currentMessage()
    assert not main_window.go_to("abc")


def test_about_names_the_version_and_what_to_cite(main_window):
    from lsexplorer._version import __version__

    box = main_window.show_about()
    assert __version__ in box.text() and "Stoican" in box.text() and "docs" in box.text()
    box.close()


def test_a_bare_slash_asks_for_a_file_name_in_the_export_dialog(figures):
    box = figures.export_figure_dialog(figures.training, "training_loss")
    box.path_edit.setText("/")
    assert not box.validate() and box.problem.text() == "give the figure a file name"
    box.close()


# ---------------------------------------------------------------- wheel and zoom

def _wheel(widget, modifiers=Qt.KeyboardModifier.NoModifier, steps: int = -3) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(QPoint(int(centre.x()), int(centre.y())))),
                        QPoint(0, 0), QPoint(0, 120 * steps), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_panel_and_ctrl_wheel_zooms_with_back_and_reset(main_window, qtbot):
    main_window.resize(1280, 720)
    main_window.model.select(int(rows_of(main_window, "local_min")[0]))
    dock = main_window.docks["Statistics"]
    dock.raise_()
    area = dock.widget()
    area.widget().setMinimumHeight(3000)  # a panel taller than its dock
    qtbot.waitUntil(lambda: area.verticalScrollBar().maximum() > 0, timeout=3000)
    view = main_window.statistics.figures()["lambda_min_vs_loss"]
    box = view.getPlotItem().getViewBox() if hasattr(view, "getPlotItem") else \
        next(i for i in view.scene().items() if isinstance(i, pg.ViewBox))
    before = [list(r) for r in box.viewRange()]
    _wheel(view.viewport())
    assert area.verticalScrollBar().value() > 0, "the wheel scrolls the panel"
    assert [list(r) for r in box.viewRange()] == before, "and does not zoom the plot"
    _wheel(view.viewport(), Qt.KeyboardModifier.ControlModifier)
    zoomed = [list(r) for r in box.viewRange()]
    assert zoomed != before, "Ctrl+wheel zooms"
    main_window.plot_navigation.back(view)
    np.testing.assert_allclose(np.array(box.viewRange()), np.array(before), rtol=1e-9)
    box.setRange(xRange=(0, 1e-40), yRange=(0, 1e-40), padding=0)
    main_window.plot_navigation.reset(view)
    box.updateAutoRange()
    assert box.viewRange()[0][1] > 1e-30, "Reset view fits the data again"
    texts = [a.text() for a in view.scene().contextMenu]
    assert "Reset view" in texts and any(t.startswith("Back") for t in texts)


def test_docs_exist_where_help_points(main_window):
    from lsexplorer.gui.app import docs_url

    assert Path(docs_url().toLocalFile()).exists()


# ---------------------------------------------------------------- the deep result, round-off

DEEP_EIGVALS = Path(__file__).parent / "data" / "mnist5k_deep_run0_layer3_neuron0_mu_eigvals.npy"


def test_the_eigenvalue_window_opens_where_an_eigenvalue_reaches_zero():
    """The deep sample's run 0 with neuron 0 of hidden layer 3 duplicated (μ sweep of 41 points; the
    smallest 70 eigenvalues and the largest are stored): λ64 rises from -1e-7 to round-off zero, the
    thesis' result, so the window starts at λ62."""
    from lsexplorer.gui.panels.saddle_line import touching_window

    assert touching_window(np.load(DEEP_EIGVALS)) == 62
    line = np.array([[-2.0, -1e-3, 0.0, 1.0], [-2.0, 0.0, 1e-17, 1.0], [-2.0, 1e-3, 0.0, 1.0]])
    assert touching_window(line) == 1  # λ2 touches zero at the middle μ; λ3 is zero all along
    assert touching_window(np.array([[-1.0, 1.0], [-1.0, 2.0]])) is None


def test_a_deep_session_opens_the_saddle_line_on_expanding_its_last_layer(main_window):
    main_window.model.set_session(make_deep_gui_session())
    panel = main_window.saddle_line
    assert panel.source == "expand" and panel.layer_spin.value() == 3
    assert "Compute" in panel.missing.label.text() and panel.missing.compute.isEnabled()
    main_window.model.set_session(make_gui_session(S=4))
    assert panel.source == "expand"  # a choice of the user's is kept for shallow sessions


def test_a_loss_that_is_round_off_is_said_in_words_not_drawn(qtbot):
    from lsexplorer.gui.roundoff import plot_unless_roundoff

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    plot, item = widget.getPlotItem(), pg.PlotDataItem()
    plot.addItem(item)
    mus = np.linspace(-1, 2, 9)
    loss = 1e-4 + np.random.default_rng(0).normal(scale=4e-20, size=9)  # a constant loss, rounded
    note = plot_unless_roundoff(plot, item, mus, loss - 1e-4, loss, 1e-4, "the loss along θ(μ)")
    assert "round-off" in note and item.getData()[0] is None or len(item.getData()[0]) == 0
    assert "round-off" in plot.getViewBox()._roundoff_label.textItem.toPlainText()
    real = 1e-4 + np.linspace(0, 1e-6, 9)
    assert plot_unless_roundoff(plot, item, mus, real - 1e-4, real, 1e-4, "the loss") == ""
    assert len(item.getData()[0]) == 9 and not plot.getViewBox()._roundoff_label.isVisible()


def test_a_panel_for_local_minima_offers_to_go_to_one(main_window):
    main_window.model.select(int(rows_of(main_window, "global_min")[0]))
    missing = main_window.escape.missing
    assert not missing.next_local.isHidden() and missing.compute.isHidden()
    missing.next_local.click()
    assert main_window.model.session.runs.kind[main_window.model.current] == "local_min"
    assert missing.next_local.isHidden() or main_window.escape._pages.currentIndex() == 1
