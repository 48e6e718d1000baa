"""The symmetry types in the app: the run table's Type column and the Statistics table's types, on the sample."""

from __future__ import annotations

import pytest

from lsexplorer.core.analyses import closest_saddle
from lsexplorer.gui._testsupport import *  # noqa: F403  (the qapp fixture)
from lsexplorer.gui.model import SessionModel
from lsexplorer.gui.panels import QtRunTable, QtStatisticsPanel
from lsexplorer.gui.panels.run_table import COLUMNS


def shown(qtbot, panel):
    qtbot.addWidget(panel)
    panel.resize(700, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.fixture
def sample_model(qapp, sample_session):
    model = SessionModel()
    model.set_session(sample_session)
    return model


def test_the_run_table_shows_each_runs_type_and_why_a_run_did_not_converge(qtbot, sample_model):
    panel = shown(qtbot, QtRunTable(sample_model))
    column = [field for _, field, _ in COLUMNS].index("symmetry_type")
    cells = [panel.table_model.index(row, column).data() for row in range(100)]
    assert cells[2] == "dup" and cells[5] == "a=0" and cells[28] == "w=0" and cells[0] == "flip"
    assert cells[1] == "–" and cells[62] == ""  # a local minimum; an unanalysed run
    assert cells[37] == cells[4]  # minima at infinity (run 37: three neurons close in)
    tip = panel.table_model.index(37, 0).data(3)  # ToolTipRole
    assert "minimum at infinity" in tip and "why:" not in tip
    assert "why:" in panel.table_model.index(62, 0).data(3)
    assert "finite, large weights" in panel.table_model.index(62, 0).data(3)


def test_the_statistics_panel_counts_the_types_of_the_analysed_runs(qtbot, sample_model):
    panel = shown(qtbot, QtStatisticsPanel(sample_model))
    table = panel.type_table
    rows = {table.verticalHeaderItem(r).text(): (table.item(r, 0).text(), table.item(r, 1).text())
            for r in range(table.rowCount())}
    assert rows["duplicate"] == ("25", "25 global minima")
    assert rows["zero outgoing"] == ("14", "14 global minima")
    assert rows["zero incoming"] == ("8", "8 global minima")
    assert rows["flipped duplicate"] == ("4", "4 global minima")
    assert rows["irreducible"][0] == "48" and table.verticalHeaderItem(table.rowCount() - 1).text() == "irreducible"
    stored = closest_saddle.type_counts(sample_model.session)
    assert sum(stored.values()) == len(closest_saddle.analysed_rows(sample_model.session)) == 99
    assert stored["duplicate"] == 25 and stored["irreducible"] == 99 - 51
    assert panel.tables()["symmetry_types"].rows[0] == ["duplicate", 25, "global_min 25"]
