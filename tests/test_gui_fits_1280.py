"""At 1280×720 no dock's contents scroll sideways (the run table's columns excepted), whatever is selected.

The test drives the app's own widgets: the window is laid out as View ▸ Reset layout does, every kind of
point is selected in turn, every dock is raised, and every horizontal scroll bar inside a dock must have
nothing to scroll. A control row wider than its dock hid the Paths panel's Compute button.
"""

import numpy as np
import pytest
from PySide6.QtWidgets import QAbstractItemView, QAbstractScrollArea, QApplication

from lsexplorer.gui._testsupport import *  # noqa: F401,F403  (fixtures)
from lsexplorer.gui._testsupport import make_deep_gui_session, make_gui_session
from lsexplorer.gui.layout import arrange_docks

SIZES = [(1280, 720), (1920, 1080)]


def sideways(window) -> list[str]:
    """``dock: widget +pixels`` for every horizontal scroll bar in a dock that has something to scroll."""
    found = []
    for title, dock in window.docks.items():
        for area in dock.findChildren(QAbstractScrollArea):
            if title == "Runs" and isinstance(area, QAbstractItemView):
                continue  # the run table may scroll its columns
            bar = area.horizontalScrollBar()
            if area.isVisible() and bar.maximum() > 0:
                found.append(f"{title}: {type(area).__name__} +{bar.maximum()} px")
    return found


def settle(window, rounds: int = 6) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def check_every_dock(window, rows, wait_jobs: bool = False) -> list[str]:
    problems = []
    for row in rows:
        window.model.select(int(row))
        settle(window)
        for panel in window.panels if wait_jobs else ():
            for job in panel.jobs:
                job.wait(120_000)
        for dock in window.docks.values():
            dock.raise_()
            settle(window, 3)
        kind = str(window.model.session.runs.kind[row])
        problems += [f"{kind} (run {row}) {p}" for p in sideways(window)]
    return problems


def laid_out(window, size) -> None:
    window.resize(*size)
    settle(window)
    arrange_docks(window, window.docks)
    settle(window)


def first_of_each_kind(session) -> list[int]:
    kinds = session.runs.kind
    return [int(np.flatnonzero(kinds == k)[0]) for k in dict.fromkeys(kinds.tolist())]


@pytest.mark.parametrize("size", SIZES)
def test_no_dock_scrolls_sideways_for_any_kind(main_window, size):
    laid_out(main_window, size)
    problems = check_every_dock(main_window, first_of_each_kind(main_window.model.session))
    assert not problems, "\n".join(problems)


def test_no_dock_scrolls_sideways_for_a_deep_point(main_window):
    main_window.model.set_session(make_deep_gui_session())
    laid_out(main_window, SIZES[0])
    assert not (problems := check_every_dock(main_window, [0])), "\n".join(problems)


def test_a_point_window_fits_too(main_window, qtbot):
    window = main_window.open_point_window(make_gui_session(S=3))
    qtbot.waitExposed(window)
    laid_out(window, SIZES[0])
    problems = check_every_dock(window, [2])  # a strict saddle, as a path's saddle opens
    window.model.tasks.cancel_all()
    window.model.tasks.wait_all(10_000)
    window.model.set_modified(False)
    window.close()
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["toy_width5.h5", "mnist5k_deep.h5"])
def test_the_samples_fit_at_1280x720(main_window, name):
    from lsexplorer.core.store.samples import sample_session_path
    from lsexplorer.core.store.session import load_session

    path = sample_session_path().parent / name
    main_window.model.set_session(load_session(path))
    laid_out(main_window, SIZES[0])
    problems = check_every_dock(main_window, first_of_each_kind(main_window.model.session), wait_jobs=True)
    assert not problems, "\n".join(problems)
