"""``lsexplorer export --expand-layer L --expand-neuron J --eigs FIRST COUNT``: the Saddle line figures
of any run of a deep session, with the eigenvalue window chosen, equal to ``core.inertia.mu_sweep``."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lsexplorer.cli.commands import main
from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.saddles.inertia import default_mu_grid, mu_sweep
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.store.session import save_session
from lsexplorer.gui._testsupport import make_deep_gui_session


@pytest.fixture(scope="module")
def deep_path(tmp_path_factory):
    session = make_deep_gui_session(S=2, hidden=(3, 3), N=30)
    path = tmp_path_factory.mktemp("export_expand") / "deep.h5"
    save_session(session, path)
    return path, session


def test_export_draws_the_expanded_line_with_the_chosen_window(deep_path, tmp_path, capsys):
    path, s = deep_path
    assert main(["export", str(path), "--out", str(tmp_path / "figs"), "--expand-layer", "2", "--expand-neuron", "1",
                 "--eigs", "3", "4", "--json"]) == 0
    names = {Path(p).name for p in json.loads(capsys.readouterr().out)}
    assert {"saddle_line_eigenvalues_vs_mu.png", "saddle_line_y_eigenvalues.pdf"} <= names
    with open(tmp_path / "figs" / "saddle_line_eigenvalues_vs_mu.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["mu", "lambda_3", "lambda_4", "lambda_5", "lambda_6"]
    table = np.array(rows, dtype=float)
    mus = default_mu_grid()
    expected = run_generator(mu_sweep(s.spec, s.runs.theta[0], s.x, s.y, 2, 1, mus, Tolerances()))
    np.testing.assert_array_equal(table[:, 0], mus)
    np.testing.assert_allclose(table[:, 1:], expected.eigvals[:, 2:6], rtol=1e-9,
                               atol=1e-12 * np.abs(expected.eigvals).max())


@pytest.mark.parametrize("flags, needle", [(["--expand-layer", "3"], "--expand-layer must be in 1..2"),
                                           (["--expand-layer", "1", "--expand-neuron", "3"], "--expand-neuron")])
def test_export_refuses_a_layer_or_neuron_the_net_lacks(deep_path, tmp_path, capsys, flags, needle):
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(["export", str(deep_path[0]), "--out", str(tmp_path / "x"), *flags]))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and needle in err and len(err.splitlines()) == 1
