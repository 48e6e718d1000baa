"""File ▸ Open sample lists the bundled sample sessions and opens the one chosen."""

from __future__ import annotations

from lsexplorer.core.store.samples import SAMPLES, bundled_samples
from lsexplorer.gui import app as app_module
from lsexplorer.gui._testsupport import *


def test_open_sample_menu_opens_the_deep_mnist_sample(qtbot, main_window, monkeypatch):
    w = main_window
    opened = []
    monkeypatch.setattr(w, "open_session", opened.append)  # opening itself is test_gui_app's
    w.sample_menu.aboutToShow.emit()
    titles = [a.text() for a in w.sample_menu.actions()]
    assert titles == [title for title, _ in bundled_samples()]
    assert SAMPLES["mnist5k_deep.h5"] in titles and SAMPLES["toy_width5.h5"] in titles
    action = w.sample_menu.actions()[titles.index(SAMPLES["mnist5k_deep.h5"])]
    action.trigger()
    assert [p.name for p in opened] == ["mnist5k_deep.h5"] and opened[0].is_file()


def test_open_sample_menu_says_when_none_is_installed(qtbot, main_window, monkeypatch):
    monkeypatch.setattr(app_module, "bundled_samples", list)
    main_window.sample_menu.aboutToShow.emit()
    (only,) = main_window.sample_menu.actions()
    assert only.text() == "(none installed)" and not only.isEnabled()
