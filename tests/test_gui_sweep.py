"""The Sweep view: outcome fractions against width with 95 % intervals, clicks open a width's session."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from PySide6.QtGui import QImage

from lsexplorer.core.store.session import save_session
from lsexplorer.core.sweep.manifest import plan_sweep, write_chunk, write_manifest
from lsexplorer.core.sweep.outcomes import wilson_interval
from lsexplorer.gui._testsupport import *
from lsexplorer.gui._testsupport import make_gui_session
from lsexplorer.figures.sweep import GROUP_COLORS

#: Kinds per width of the synthetic sweep (8 seeds each); width 6 is unfinished (one chunk of two).
KINDS = {4: ["global_min"] * 4 + ["local_min"] * 3 + ["strict_saddle"],
         5: ["global_min"] * 6 + ["local_min", "channel"],
         6: ["global_min", "global_min", "not_converged", "local_min"]}


@pytest.fixture
def sweep_folder(tmp_path):
    plan = plan_sweep("toy", None, {"seeds": {"count": 8}}, [4, 5, 6], None, chunk=4)
    folder = tmp_path / "sweep"
    done, sessions = [], []
    for point in plan.points:
        chunks = [c for c in plan.chunks if c.point == point.name]
        kinds = KINDS[point.width]
        for i, chunk in enumerate(chunks):
            if 4 * i < len(kinds):
                write_chunk(folder, chunk, {"seed": np.array(chunk.seeds), "kind": np.array(kinds[4 * i:4 * i + 4])})
                done.append(chunk.key)
        if len(kinds) == 8:
            session = make_gui_session(S=8, width=point.width)
            session.runs.kind = np.array(kinds)
            for name in ("loss", "grad_norm", "lambda_min", "hessian_eigvals", "theta", "train_loss"):
                values = getattr(session.runs, name)
                values[~np.isfinite(values)] = 1.0  # the synthetic not_converged rows moved
            save_session_any_kind(session, folder / point.session_file)
            sessions.append(point.name)
    write_manifest(folder, plan, done, sessions)
    return folder


def save_session_any_kind(session, path) -> None:
    """Save, letting a kind this checkout does not know yet (``channel``) through, as another branch adds it."""
    from lsexplorer.core.store import session as session_module

    known = session_module.KINDS
    session_module.KINDS = tuple(sorted(set(known) | set(session.runs.kind.tolist())))
    try:
        save_session(session, path)
    finally:
        session_module.KINDS = known


def test_sweep_view_plots_fractions_with_intervals_and_opens_a_width(qtbot, main_window, sweep_folder, tmp_path):
    w = main_window
    view = w.open_sweep(sweep_folder)
    qtbot.waitUntil(lambda: view.outcomes is not None, timeout=10_000)
    assert view.outcomes.groups == ["global", "local", "channel", "saddle", "not converged"]

    curves = {c.name(): c for c in view.plot.getPlotItem().listDataItems()}
    assert set(curves) == set(view.outcomes.groups)
    _, y = curves["global"].getData()
    np.testing.assert_allclose(y, [4 / 8, 6 / 8, 2 / 4])
    _, y = curves["channel"].getData()
    np.testing.assert_allclose(y, [0, 1 / 8, 0])
    bars = [i for i in view.plot.getPlotItem().items if type(i).__name__ == "ErrorBarItem"]
    top = {b.opts["pen"].color().name(): b.opts for b in bars}[GROUP_COLORS["local"].lower()]
    lo, hi = wilson_interval(3, 8)
    assert top["y"][0] + top["top"][0] == pytest.approx(hi) and top["y"][0] - top["bottom"][0] == pytest.approx(lo)

    assert view.table.rowCount() == 3 and view.table.item(2, 2).text() == "4/8"
    assert "unfinished: w6" in view.header.text()

    # A click on a width's point opens its session in the main window (w4: no kind this checkout lacks).
    spots = curves["global"].scatter.points()
    curves["global"].scatter.sigClicked.emit(curves["global"].scatter, [spots[0]], None)
    qtbot.waitUntil(lambda: w.model.path is not None and w.model.path.name == "w4.h5", timeout=10_000)
    assert w.model.n_runs == 8
    view.open_point("w6")  # not assembled yet: says so, opens nothing
    assert "not assembled yet" in view.header.text() and w.model.path.name == "w4.h5"

    written = view.export_figure(tmp_path / "fractions.png")
    assert [p.name for p in written] == [f"fractions.{s}" for s in ("pdf", "svg", "png", "csv", "py")]
    image = QImage(str(tmp_path / "fractions.png"))
    assert not image.isNull() and abs(image.width() - 85 / 25.4 * 300) <= 1  # one journal column at 300 dpi
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert GROUP_COLORS["global"].lower() in colours and GROUP_COLORS["local"].lower() in colours
    drawn = {}
    for row in csv.DictReader((tmp_path / "fractions.csv").open()):
        if row["kind"] == "line":
            drawn.setdefault(row["series"], []).append((float(row["x"]), float(row["y"])))
    assert drawn["saddle"][0] == (4.0, 1 / 8)  # the CSV holds the fractions drawn, by width
    assert [a.text() for a in view.plot.scene().contextMenu] == ["Export figure…"]
    box = view.export_figure_dialog()  # the main window's dialog: a size on paper, remembered
    box.path_edit.setText(str(tmp_path / "wide"))
    box.width_mm.setValue(175)
    box.accept()
    svg = (tmp_path / "wide.svg").read_text()
    assert abs(float(re.search(r'width="([\d.]+)pt"', svg).group(1)) / 72 * 25.4 - 175) < 0.1
    path = view.export_data(tmp_path / "fractions.csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["name"] for r in rows] == ["w4", "w5", "w6"]
    assert float(rows[0]["saddle_fraction"]) == 1 / 8 and float(rows[2]["seeds_done"]) == 4
    assert float(rows[1]["local_ci95_high"]) == pytest.approx(wilson_interval(1, 8)[1], rel=1e-15)
    view.close()


def test_open_sweep_on_a_folder_that_is_not_a_sweep_shows_an_error(qtbot, main_window, tmp_path):
    view = main_window.open_sweep(tmp_path)
    qtbot.waitUntil(lambda: main_window.error_box is not None and main_window.error_box.isVisible(), timeout=10_000)
    assert "not a sweep folder" in main_window.error_box.text()
    main_window.error_box.close()
    view.close()


def test_a_learning_rate_axis_is_chosen_in_the_view(qtbot, tmp_path):
    from lsexplorer.core.sweep.outcomes import PointOutcomes, SweepOutcomes
    from lsexplorer.gui.sweep_view import QtSweepView

    points = [PointOutcomes(f"w{w}_lr{lr:g}", w, lr, tmp_path / f"w{w}_lr{lr:g}.h5", 4, 4,
                            {"global_min": k, "local_min": 4 - k})
              for lr, ks in ((1e-3, (1, 2)), (1e-2, (3, 4))) for w, k in zip((4, 5), ks)]
    view = QtSweepView()
    qtbot.addWidget(view)
    view.set_outcomes(SweepOutcomes(tmp_path, points, ["global", "local", "saddle", "not converged"], {}))
    view.show()
    assert view.lr_choice.isVisible() and view.lr_choice.count() == 2

    def global_curve():
        return next(c for c in view.plot.getPlotItem().listDataItems() if c.name() == "global").getData()[1]

    np.testing.assert_allclose(global_curve(), [0.25, 0.5])
    view.lr_choice.setCurrentIndex(1)
    np.testing.assert_allclose(global_curve(), [0.75, 1.0])
    assert [view.table.item(r, 1).text() for r in range(2)] == ["0.01", "0.01"]
