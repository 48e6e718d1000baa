"""The example notebook ``examples/teacher_student.ipynb`` runs, headless, in a real Jupyter kernel.

It is stored without outputs; executed from the top (nbclient, ipykernel) it must finish without an
error cell within two minutes on two cores, kernel start included, and show the outcome table and
its figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the test extra (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the test extra (nbclient)")
pytest.importorskip("ipykernel", reason="the notebook test needs the test extra (ipykernel)")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "teacher_student.ipynb"
#: The whole notebook, kernel start included, on two cores.
BUDGET_SECONDS = 120


def test_the_stored_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.slow
def test_the_notebook_runs_in_a_kernel_and_shows_the_table_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's lsexplorer
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=BUDGET_SECONDS, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()  # an error in any cell raises CellExecutionError, naming the cell
    elapsed = time.perf_counter() - started
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    data = [o.get("data", {}) for o in outputs]
    tables = [d["text/html"] for d in data if "<table" in d.get("text/html", "")]
    assert any("global_min" in t and "count" in t for t in tables), "no outcome table"
    assert any("symmetry_type" in t for t in tables), "no runs table"
    assert sum("image/png" in d for d in data) >= 2, "the saddle-line and path figures did not show"
    assert any("MinimumEnergyPath(" in d.get("text/plain", "") for d in data), "no path"
    assert elapsed < BUDGET_SECONDS, f"the notebook took {elapsed:.0f} s"
