"""File ▸ Import students…: the dialog, the import in a worker, the session opened; bad files show one line."""

from __future__ import annotations

import numpy as np
import torch

from lsexplorer.core.data.datasets import toy_teacher
from lsexplorer.core.experiment.importer import to_state_dict
from lsexplorer.core.symmetry.operations import duplicate_neuron
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.import_dialog import QtImportDialog


def test_dialog_imports_in_a_worker_and_opens_the_session(qtbot, main_window, tmp_path):
    w = main_window
    spec, theta = duplicate_neuron(*toy_teacher(), 1, 2, 0.5)
    np.savez(tmp_path / "a.npz", theta=np.stack([theta, theta + 0.01]))
    torch.save(to_state_dict(spec, theta), tmp_path / "b.pt")
    dialog = w.import_dialog()
    assert isinstance(dialog, QtImportDialog) and not dialog.validate()
    assert "files" in dialog.problem.text()
    dialog.add_files([str(tmp_path / "a.npz"), str(tmp_path / "b.pt")])
    dialog.output.setText(str(tmp_path / "imported.h5"))
    assert dialog.validate()
    files, source, refine, path = dialog.job()
    assert source == {"preset": "toy", "width": None} and not refine
    dialog.accept()
    qtbot.waitUntil(lambda: w.model.path is not None and w.model.path.name == "imported.h5", timeout=30_000)
    runs = w.model.session.runs
    assert runs.n_runs == 3 and list(runs.kind[[0, 2]]) == ["global_min", "global_min"]
    qtbot.waitUntil(lambda: not w.model.tasks.active, timeout=10_000)


def test_a_bad_file_shows_the_importer_reason(qtbot, main_window, tmp_path):
    w = main_window
    np.save(tmp_path / "short.npy", np.zeros(14))
    worker = w.import_students([str(tmp_path / "short.npy")], {"preset": "toy"}, False, tmp_path / "x.h5")
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    qtbot.waitUntil(lambda: getattr(w, "error_box", None) is not None, timeout=5000)
    assert "14 parameters per point" in w.error_box.text() and not (tmp_path / "x.h5").exists()
