"""Paths panel: a path computed in the background lands in the session and is drawn; Cancel stops it."""

import numpy as np

from lsexplorer.gui._testsupport import *  # noqa: F401,F403  (fixtures)
from lsexplorer.gui.workers import stop_all_workers


def test_paths_panel_computes_stores_draws_and_exports(main_window, qtbot):
    panel = main_window.paths
    s = main_window.model.session
    row = int(np.flatnonzero(s.runs.kind == "local_min")[0])
    target = int(np.flatnonzero(s.runs.kind == "global_min")[0])
    main_window.model.select(row)
    panel.images.setValue(4)
    panel.budget = {"max_steps": 60, "follow_steps": 5, "newton_steps": 5}
    panel.target.setCurrentIndex(1)
    panel.target_run.setValue(target)
    worker = panel.compute()
    assert worker is not None and not panel.compute_button.isEnabled() and panel.cancel_button.isEnabled()
    assert worker.wait(300_000)
    qtbot.waitUntil(lambda: panel.compute_button.isEnabled(), timeout=5000)
    key = f"{row}_to_{target}"
    assert key in s.analyses["paths"] and main_window.model.modified
    assert panel.result is not None and panel.result.key == key
    x, y = panel.band_item.getData()
    assert len(x) == 6 and np.all(np.diff(x) > 0)
    assert panel.image.image is not None and panel.image.image.shape == (61, 61)
    tables = panel.tables()
    assert len(tables["path"].rows) == 6 and len(tables["straight"].rows) == 101
    assert len(tables["saddle_spectrum"].rows) == s.spec.n_params
    assert "barrier" in panel.summary.text()
    # selecting another run and back reloads the stored path
    main_window.model.select(target)
    assert panel.result is None
    main_window.model.select(row)
    assert panel.result is not None and panel.result.key == key


def test_run_table_offers_the_path_to_the_nearest_global_minimum(main_window):
    assert main_window.path_action in main_window.run_table.view.actions()
    assert main_window.docks["Paths"].widget().widget() is main_window.paths  # the panel, in its scroll area


def test_paths_panel_cancel_stores_nothing(main_window, qtbot):
    panel = main_window.paths
    s = main_window.model.session
    row = int(np.flatnonzero(s.runs.kind == "local_min")[1])
    main_window.model.select(row)
    worker = panel.compute()
    assert worker is not None
    panel.cancel()
    assert worker.wait(60_000)
    qtbot.waitUntil(lambda: panel.compute_button.isEnabled(), timeout=5000)
    assert not any(k.startswith(f"{row}_to_") for k in s.analyses.get("paths", {}))
    assert stop_all_workers()
