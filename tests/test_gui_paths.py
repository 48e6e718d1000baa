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
    panel.budget = {"max_steps": 60, "follow_steps": 5, "newton_steps": 5, "lm_steps": 5, "channel_steps": 5}
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


def test_clicking_the_certified_saddle_opens_it_as_a_point(main_window, qtbot):
    from lsexplorer.core.store.samples import sample_session_path
    from lsexplorer.core.store.session import load_session

    panel = main_window.paths
    s = load_session(sample_session_path())
    main_window.model.set_session(s)
    main_window.model.select(1)  # its path to the nearest global minimum has a saddle at infinity
    panel.target.setCurrentIndex(0)
    worker = panel.compute()
    assert worker is not None and worker.wait(300_000)
    qtbot.waitUntil(lambda: panel.compute_button.isEnabled(), timeout=5000)
    assert panel.result.outcome is not None and panel.result.outcome.certified
    assert panel.open_button.isEnabled() and "at infinity" in panel.summary.text()
    with qtbot.waitSignal(panel.openPoint, timeout=5000) as opened:
        panel.saddle_item.sigPointsClicked.emit(panel.saddle_item, [], None)  # a click on the star
    point = opened.args[0]
    assert point.runs.n_runs == 1 and point.runs.kind[0] == "channel_saddle"
    windows = [w for w in getattr(main_window, "point_windows", []) if w.isVisible()]
    assert len(windows) == 1
    other = windows[0]
    assert other.model.session is point and other.model.current == 0 and other.model.modified
    assert other.model.session.spec == s.spec
    other.model.set_modified(False)  # close without the "discard?" prompt
    other.close()
