"""The main window on a laptop screen: minimum size, remembered layout, Reset layout, unclipped axis labels."""

from __future__ import annotations

import html
import re

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QApplication

from lsexplorer.core.store.session import load_session
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.app import SAMPLE_SESSION, MainWindow
from lsexplorer.figures.export import showcase_run as showcase_row
from lsexplorer.gui.layout import Role, arrange_docks, dock_role, fitted_size, focus_columns
from lsexplorer.gui.panels import PANELS


def _window(qtbot, settings) -> MainWindow:
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _arrange(window: MainWindow, width: int, height: int) -> None:
    """The default layout at ``width`` × ``height`` (the offscreen test screen is smaller, and
    Reset layout would shrink the window to it)."""
    window.resize(width, height)
    arrange_docks(window, window.docks)
    _settle()


def _settle(rounds: int = 4) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def test_every_panel_of_the_table_has_a_dock_and_an_attribute(qtbot, gui_settings):
    w = _window(qtbot, gui_settings)
    assert [type(p) for p in w.panels] == [spec.panel_class for spec in PANELS]
    for spec in PANELS:
        panel = getattr(w, spec.attribute)
        assert w.roles[panel.title] is dock_role(panel.title) and panel.title in w.docks
    assert sum(r is Role.FOCUS for r in w.roles.values()) >= 4


def test_the_panel_table_names_export_files_and_requests_registered_analyses():
    from lsexplorer.core.analyses import REGISTRY

    slugs = {spec.title: spec.slug for spec in PANELS}
    assert len(set(slugs.values())) == len(PANELS)  # no two panels write the same files
    assert {t: slugs[t] for t in ("Runs", "Saddle line", "Curvature plane")} == {
        "Runs": "runs", "Saddle line": "saddle_line", "Curvature plane": "curvature_plane"}
    requested = {spec.title: spec.analyses for spec in PANELS if spec.analyses}
    assert requested == {"Saddle line": ("closest_saddle", "mu_sweep"), "Slices": ("closest_saddle",),
                         "Escape": ("escape",), "Channel": ("channels",)}
    assert {name for names in requested.values() for name in names} <= set(REGISTRY)


def test_window_fits_a_1024x640_screen(qtbot, gui_settings, gui_session):
    w = _window(qtbot, gui_settings)
    w.model.set_session(gui_session)
    w.model.select(1)
    _settle()
    hint = w.minimumSizeHint().expandedTo(w.minimumSize())
    assert hint.width() <= 1024 and hint.height() <= 640, hint
    w.resize(1024, 640)
    _settle()
    assert w.width() == 1024 and w.height() == 640


def test_focus_views_side_by_side_at_1280x720(qtbot, gui_settings, gui_session):
    w = _window(qtbot, gui_settings)
    w.model.set_session(gui_session)
    _arrange(w, 1280, 720)
    shown = [t for t, r in w.roles.items() if r is Role.FOCUS and not w.docks[t].visibleRegion().isEmpty()]
    assert len(shown) == focus_columns(1280) == 2
    a, b = (w.docks[t].geometry() for t in shown)
    assert not a.intersects(b) and abs(a.top() - b.top()) < 5  # side by side, not stacked
    assert min(a.width(), b.width()) > 0.3 * 1280
    assert focus_columns(1920) == 3 and focus_columns(800) == 1


def test_reset_layout_never_grows_past_the_screen(qtbot, gui_settings):
    w = _window(qtbot, gui_settings)
    available = w.screen().availableGeometry()
    w.resize(available.width() + 400, available.height() + 300)
    w.docks["Statistics"].close()
    w.docks["Neurons"].setFloating(True)
    w.reset_layout()
    assert w.width() <= available.width() and w.height() <= available.height()
    assert all(d.isVisible() and not d.isFloating() for d in w.docks.values())
    small = QSize(700, 500)
    assert fitted_size(small, QRect(0, 0, 1920, 1080)) == small  # never grows
    assert fitted_size(QSize(3000, 900), QRect(0, 0, 1280, 720)) == QSize(1280, 720)


def test_layout_and_geometry_survive_a_restart(qtbot, gui_settings):
    first = _window(qtbot, gui_settings)
    first.resize(760, 620)  # inside the 800 × 800 offscreen screen
    first.docks["Counting"].raise_()
    first.docks["Escape"].close()
    _settle()
    splitter_width = first.docks["Runs"].width()
    assert first.close()
    second = _window(qtbot, gui_settings)
    _settle()
    assert second.size() == QSize(760, 620)
    assert not second.docks["Escape"].isVisible()
    assert not second.docks["Counting"].visibleRegion().isEmpty()
    assert abs(second.docks["Runs"].width() - splitter_width) <= 2


def _shown(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", text)).split())


def _label_problems(view: pg.GraphicsView) -> list[str]:
    """Axis labels of ``view`` not inside the view or swallowed by HTML; legends over the data."""
    bounds = view.rect().adjusted(-1, -1, 1, 1)
    bad = []
    for item in view.scene().items():
        if isinstance(item, pg.AxisItem) and item.isVisible() and item.label.isVisible() and item.labelText:
            margin = item.label.document().documentMargin()  # blank padding around the text
            text = item.label.boundingRect().adjusted(margin, margin, -margin, -margin)
            rect = view.mapFromScene(item.label.mapRectToScene(text)).boundingRect()
            if not bounds.contains(rect):
                bad.append(f"{item.orientation} '{item.labelText}' at {rect.getRect()} outside {bounds.getRect()}")
            if _shown(item.labelText) not in " ".join(item.label.toPlainText().split()):
                bad.append(f"{item.orientation} '{item.labelText}' shows as '{item.label.toPlainText()}'")
    for item in view.scene().items():
        legend = getattr(item, "legend", None) if isinstance(item, pg.PlotItem) else None
        if legend is not None and legend.isVisible() and legend.items:
            overlap = legend.sceneBoundingRect().intersected(item.vb.sceneBoundingRect())
            if overlap.width() > 1 and overlap.height() > 1:
                bad.append(f"legend of '{item.titleLabel.text}' covers the data area")
    return bad


@pytest.mark.skipif(not SAMPLE_SESSION.exists(), reason="the bundled sample session is missing")
def test_axis_labels_fit_in_every_plot_at_1280x720(qtbot, gui_settings, tmp_path):
    w = _window(qtbot, gui_settings)
    _arrange(w, 1280, 720)
    session = load_session(SAMPLE_SESSION)
    w.model.set_session(session)
    w.model.select(showcase_row(session))
    checked, problems = 0, []
    for panel in w.panels:
        w.docks[panel.title].raise_()
        _settle()
        for job in panel.jobs:
            job.wait()
        _settle()
        for name, view in panel.figures().items():
            if view.isVisible() and isinstance(view, pg.GraphicsView):
                checked += 1
                problems += [f"{panel.title}/{name}: {p}" for p in _label_problems(view)]
    w.model.tasks.cancel_all()
    w.model.tasks.wait_all(10_000)
    w.saddle_line.stop()
    assert checked >= 8
    assert not problems, "\n".join(problems)


def test_runs_kind_column_and_filter_items_are_not_cut(qtbot, gui_settings, gui_session):
    from lsexplorer.core.base.kinds import KINDS
    from lsexplorer.gui.panels.run_table import COLUMNS, SHORT_KINDS

    w = _window(qtbot, gui_settings)
    w.model.set_session(gui_session)
    table = w.run_table
    metrics = table.view.fontMetrics()
    column = [f for _, f, _ in COLUMNS].index("kind")
    widest = max(metrics.horizontalAdvance(SHORT_KINDS[k]) for k in KINDS)
    assert table.view.horizontalHeader().sectionSize(column) >= widest + 16
    combo = table.kind_filter
    assert all(combo.view().minimumWidth() >= metrics.horizontalAdvance(combo.itemText(i)) + 16
               for i in range(combo.count()))


def test_new_experiment_dialog_remembers_values_and_folder_across_a_restart(qtbot, gui_settings, tmp_path):
    from PySide6.QtCore import QSettings

    from lsexplorer.gui.experiment_dialog import QtExperimentDialog

    folder = tmp_path / "runs"
    folder.mkdir()
    first = QtExperimentDialog(None, None, gui_settings)
    qtbot.addWidget(first)
    first.width.setValue(7)
    first.seeds.setValue(3)
    first.lr.setText("0.003")
    first.epochs.setText("250")
    first.output.setText(str(folder / "mine.h5"))
    first.accept()
    assert first.result() == first.DialogCode.Accepted
    restarted = QSettings(gui_settings.fileName(), QSettings.Format.IniFormat)  # a new process' view
    second = QtExperimentDialog(None, tmp_path / "elsewhere", restarted)
    qtbot.addWidget(second)
    assert (second.width.value(), second.seeds.value(), second.lr.text(), second.epochs.text()) == \
        (7, 3, "0.003", "250")
    assert second.preset.currentText() == first.preset.currentText()
    assert second.output_path is not None and second.output_path.parent == folder  # not the session's folder


def test_export_dialogs_start_in_the_last_export_folder_after_a_restart(qtbot, main_window, gui_settings, tmp_path):
    from PySide6.QtCore import QSettings

    w = main_window
    out = tmp_path / "figures"
    out.mkdir()
    w.ask_save_path = lambda caption, suggested, filters: str(out / "loss.svg")
    w.model.select(1)
    box = w.export_figure_dialog(w.training, "training_loss")
    box._browse()  # "Browse…" asks through ask_save_path
    box.accept()
    assert (out / "loss.svg").exists() and (out / "loss.py").exists()
    restarted = MainWindow(settings=QSettings(gui_settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(restarted)
    restarted.model.set_session(w.model.session)
    suggested = []
    restarted.ask_save_path = lambda caption, path, filters: suggested.append(path)
    box = restarted.export_figure_dialog(restarted.training, "training_loss")
    suggested.append(str(box.path))
    box.reject()
    restarted.export_data_dialog(restarted.neurons, "neurons")
    assert [str(p) for p in suggested] == [str(out / "training_loss"), str(out / "neurons.csv")]


def test_training_dock_is_raised_when_training_starts(qtbot, main_window, tmp_path):
    w = main_window
    w.docks["Statistics"].raise_()
    _settle()
    assert w.docks["Training"].visibleRegion().isEmpty()
    w.training.experiment_runner = fake_experiment(make_gui_session(S=2))
    w.training.start({"train": {"epochs": 10**9}, "seeds": [0, 1]}, tmp_path / "new.h5")
    _settle()
    assert not w.docks["Training"].visibleRegion().isEmpty()
    w.training.cancel()
    w.model.tasks.wait_all(10_000)


def test_reset_layout_makes_the_files_tab_groups_and_sets_the_window_icon(qtbot, gui_settings):
    from lsexplorer.gui.layout_file import load_layout

    w = MainWindow(settings=gui_settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert not w.windowIcon().isNull() and w.windowIcon().availableSizes()
    layout = load_layout()
    w.resize(760, 600)  # inside the 800 × 800 offscreen screen: the file's "laptop" columns
    w.docks["Neurons"].setFloating(True)
    w.reset_layout()
    for column in layout.screen_for(w.width()).focus_tabs:
        first = w.docks[column[0]]
        assert {d.windowTitle() for d in w.tabifiedDockWidgets(first)} == set(column[1:])
        assert not first.isFloating() and w.dockWidgetArea(first) == w.dockWidgetArea(w.docks["Runs"])
    assert {d.windowTitle() for d in w.tabifiedDockWidgets(w.docks["Statistics"])} == \
        set(layout.secondary_tabs) - {"Statistics"}
