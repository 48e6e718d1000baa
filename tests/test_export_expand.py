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
                 "--eigs", "3", "4", "--runs", "0", "--figures",
                 "saddle_line_eigenvalues_vs_mu,saddle_line_y_eigenvalues", "--json"]) == 0
    names = {Path(p).name for p in json.loads(capsys.readouterr().out)["written"]}
    assert {"saddle_line_eigenvalues_vs_mu_run0.png", "saddle_line_y_eigenvalues_run0.pdf"} <= names
    curves: dict[str, list[tuple[float, float]]] = {}
    with open(tmp_path / "figs" / "saddle_line_eigenvalues_vs_mu_run0.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "line":
                curves.setdefault(row["series"], []).append((float(row["x"]), float(row["y"])))
    assert list(curves) == ["λ₃", "λ₄", "λ₅", "λ₆"]
    mus = default_mu_grid()
    expected = run_generator(mu_sweep(s.spec, s.runs.theta[0], s.x, s.y, 2, 1, mus, Tolerances()))
    table = np.array([[y for _, y in points] for points in curves.values()]).T
    for points in curves.values():
        np.testing.assert_array_equal([x for x, _ in points], mus)
    np.testing.assert_allclose(table, expected.eigvals[:, 2:6], rtol=1e-9,
                               atol=1e-12 * np.abs(expected.eigvals).max())


@pytest.mark.parametrize("flags, needle", [(["--expand-layer", "3"], "--expand-layer must be in 1..2"),
                                           (["--expand-layer", "1", "--expand-neuron", "3"], "--expand-neuron")])
def test_export_refuses_a_layer_or_neuron_the_net_lacks(deep_path, tmp_path, capsys, flags, needle):
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(["export", str(deep_path[0]), "--out", str(tmp_path / "x"), *flags]))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and needle in err and len(err.splitlines()) == 1
