"""The app's figure export: paper figures through lsexplorer.figures (the same files as the CLI writes),
on the File menu and on every plot's right-click menu; tables to exact CSV."""

from __future__ import annotations

import csv

import numpy as np
from PySide6.QtCore import QSettings

from lsexplorer.cli.commands import main
from lsexplorer.core.store.session import save_session
from lsexplorer.core.symmetry.operations import incoming_vectors
from lsexplorer.figures import PaperStyle
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.export import write_csv
from lsexplorer.gui.figure_export import figure_spec
from lsexplorer.gui.panels import PANELS


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_csv_holds_exactly_the_plotted_numbers(figures, tmp_path):
    w = figures
    s = w.model.session
    r = s.runs
    # λ_min vs loss: every run, full precision.
    table = w.statistics.tables()["lambda_min_vs_loss"]
    header, rows = read_csv(write_csv(tmp_path / "scatter.csv", table.columns, table.rows))
    assert header == ["seed", "kind", "loss", "lambda_min"]
    np.testing.assert_array_equal([int(x[0]) for x in rows], r.seed)
    np.testing.assert_array_equal(np.array([float(x[2]) for x in rows]), r.loss)  # NaN == NaN here
    np.testing.assert_array_equal(np.array([float(x[3]) for x in rows]), r.lambda_min)
    # Histogram bins and counts.
    table = w.statistics.tables()["nearest_neuron_distance"]
    header, rows = read_csv(write_csv(tmp_path / "hist.csv", table.columns, table.rows))
    counts, edges = w.statistics.histogram
    np.testing.assert_array_equal([int(x[2]) for x in rows], counts)
    np.testing.assert_array_equal([float(x[0]) for x in rows], edges[:-1])
    # Neurons: the selected run's incoming vectors and the teacher's.
    i = w.model.current
    table = w.neurons.tables()["neurons"]
    header, rows = read_csv(write_csv(tmp_path / "neurons.csv", table.columns, table.rows))
    student = np.array([[float(x[2]), float(x[3])] for x in rows if x[0] == "student"])
    np.testing.assert_array_equal(student, incoming_vectors(s.spec, r.theta[i], 1))
    assert sum(x[0] == "teacher" for x in rows) == 4
    # Run table through the File menu path, with the dialog answered.
    target = tmp_path / "runs.csv"
    w.ask_save_path = lambda *a: str(target)
    w.export_data_dialog(w.run_table, "runs")
    header, rows = read_csv(target)
    assert header[:3] == ["seed", "kind", "loss"] and len(rows) == r.n_runs
    np.testing.assert_array_equal([float(x[3]) for x in rows], r.grad_norm)


def test_export_menus_list_every_paper_figure_and_table(figures):
    w = figures
    w._fill_export_menu(w.export_figure_menu, True)
    names = [a.text() for a in w.export_figure_menu.actions()]
    assert "Training: training loss" in names
    for spec, panel in zip(PANELS, w.panels):  # only plots that have a paper figure are offered
        for name in panel.figures():
            assert (f"{panel.title}: {name.replace('_', ' ')}" in names) == (figure_spec(spec.slug, name) is not None)
    w._fill_export_menu(w.export_data_menu, False)
    assert "Runs: runs" in [a.text() for a in w.export_data_menu.actions()]


def test_the_app_writes_the_same_files_as_the_cli_for_the_same_figure_and_run(figures, tmp_path, capsys):
    w = figures
    session_file = tmp_path / "session.h5"
    save_session(w.model.session, session_file)
    style = PaperStyle(width_mm=120, font_pt=9, dpi=150)
    written = w.export_figure(w.training, "training_loss", tmp_path / "app" / "training_loss.pdf", style)
    assert [p.name for p in written] == [f"training_loss.{s}" for s in ("pdf", "svg", "png", "csv", "py")]
    assert main(["export", str(session_file), "--out", str(tmp_path / "cli"), "--figures", "training_loss",
                 "--width-mm", "120", "--font-pt", "9", "--dpi", "150", "-q",
                 "--runs", str(w.model.current)]) == 0
    for path in written:
        assert path.read_bytes() == (tmp_path / "cli" / path.name).read_bytes(), path.name


def test_every_plot_with_a_paper_figure_offers_it_on_right_click(figures, tmp_path):
    w = figures
    for spec, panel in zip(PANELS, w.panels):
        for name, view in panel.figures().items():
            if figure_spec(spec.slug, name) is None or not hasattr(view, "scene"):
                continue
            actions = [a.text() for a in view.scene().contextMenu]
            assert actions[-1] == "Export figure…" and "Reset view" in actions, (spec.slug, name)
    import pyqtgraph as pg

    for view in w.findChildren(pg.GraphicsView):  # pyqtgraph's own "Export..." is offered nowhere
        assert "Export..." not in [a.text() for a in view.scene().contextMenu]
    w.training.plot_widget.scene().contextMenu[-1].trigger()
    box = w.figure_box
    assert box.isVisible() and box.path_edit.text().endswith("training_loss")
    (tmp_path / "out").mkdir()
    box.path_edit.setText(str(tmp_path / "out" / "loss"))
    box.format_boxes["svg"].setChecked(False)
    box.accept()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["loss.csv", "loss.pdf", "loss.png", "loss.py"]


def test_export_dialog_checks_its_fields_and_remembers_them_across_a_restart(figures, gui_settings, tmp_path):
    from lsexplorer.gui.figure_export_dialog import PRESETS, QtFigureExportDialog

    w = figures
    box = w.export_figure_dialog(w.training, "training_loss")
    assert box.width_mm.value() == 85 and box.auto_height.isChecked() and box.dpi.value() == 300
    assert all(b.isChecked() for b in box.format_boxes.values())
    box.preset.setCurrentIndex(1)
    assert box.width_mm.value() == 175
    box.auto_height.setChecked(False)
    box.height_mm.setValue(100)
    box.dpi.setValue(120)
    box.format_boxes["pdf"].setChecked(False)
    box.path_edit.setText(str(tmp_path / "loss.png"))  # a typed suffix names the files, every format is written
    assert box.validate() and box.path == tmp_path / "loss" and box.formats == ("svg", "png")
    box.accept()
    assert (tmp_path / "loss.png").exists() and (tmp_path / "loss.svg").exists()
    assert not (tmp_path / "loss.pdf").exists()

    restarted = QtFigureExportDialog(None, tmp_path / "x", QSettings(gui_settings.fileName(),
                                                                     QSettings.Format.IniFormat))
    assert (restarted.width_mm.value(), restarted.height_mm.value(), restarted.dpi.value()) == (175, 100, 120)
    assert not restarted.auto_height.isChecked() and restarted.preset.currentIndex() == 1
    assert not restarted.format_boxes["pdf"].isChecked()
    restarted.width_mm.setValue(120)
    assert restarted.preset.currentText() == PRESETS[-1][0]  # a typed width is a custom one
    restarted.path_edit.setText(str(tmp_path / "missing" / "x"))
    assert not restarted.validate() and "does not exist" in restarted.problem.text()
    restarted.path_edit.setText(str(tmp_path / "x"))
    for b in restarted.format_boxes.values():
        b.setChecked(False)
    assert not restarted.validate() and "format" in restarted.problem.text()
    restarted.format_boxes["png"].setChecked(True)
    restarted.style_edit.setText("no-such-style")
    assert not restarted.validate() and "unknown style" in restarted.problem.text()
    style_file = tmp_path / "paper.mplstyle"
    style_file.write_text("axes.grid: True\n")
    restarted.style_edit.setText(str(style_file))
    assert restarted.validate() and restarted.style.style == str(style_file)
    restarted.deleteLater()


def test_a_figure_the_run_cannot_give_is_refused_in_one_line(figures, tmp_path):
    import dataclasses

    w = figures
    session = w.model.session
    w.model.set_session(dataclasses.replace(session, runs=dataclasses.replace(session.runs, loss_curve=None)))
    errors = []
    w.show_error = lambda title, text: errors.append((title, text))
    assert w.export_figure(w.training, "training_loss", tmp_path / "out" / "loss") == []
    assert errors and "no loss curves" in errors[0][1] and "\n" not in errors[0][1]
    assert not (tmp_path / "out").exists()


def test_a_per_run_figure_from_the_app_is_the_cli_figure_of_that_run_and_mu(main_window, tmp_path, capsys, qtbot):
    import shutil

    from conftest import SAMPLE
    from lsexplorer.core.analyses.opening import open_session

    w = main_window
    session_file = tmp_path / "session.h5"
    shutil.copy(SAMPLE, session_file)
    w.model.set_session(open_session(session_file), session_file)
    w.model.select(1)  # a local minimum with its closest saddle
    panel = w.saddle_line
    w.docks[panel.title].raise_()
    qtbot.wait(50)
    options = panel.figure_options()
    errors = []
    w.show_error = lambda title, text: errors.append(text)
    written = w.export_figure(panel, "spectrum_at_mu", tmp_path / "app" / "spectrum", formats=("svg",))
    assert not errors, errors
    assert [p.name for p in written] == ["spectrum.svg", "spectrum.csv", "spectrum.py"]
    run = w.model.current
    assert main(["export", str(session_file), "--out", str(tmp_path / "cli"), "--figures",
                 "saddle_line_spectrum_at_mu", "--runs", str(run), "--mu", repr(options.mu),
                 "--eigs", *map(str, options.eigs), "--formats", "svg", "-q"]) == 0
    for path in written:
        cli = tmp_path / "cli" / f"saddle_line_spectrum_at_mu_run{run}{path.suffix}"
        assert path.read_bytes() == cli.read_bytes().replace(cli.stem.encode(), b"spectrum"), path.name
    w.model.tasks.cancel_all()
    w.model.tasks.wait_all(10_000)
    panel.stop()
