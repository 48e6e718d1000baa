"""``lsexplorer analyze`` as a user meets it: width-3 toy students, neuron expansion checked against an
independent closed-form Hessian, and the stored analyses."""

import json

import h5py
import numpy as np
import pytest

from lsexplorer.cli.commands import main
from numpy_reference import loss_grad_hessian


@pytest.fixture(scope="module")
def width3_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("analyze") / "w3.h5"
    assert main(["train", "--preset", "toy", "--width", "3", "--seeds", "4", "--epochs", "3000", "--lr", "0.02",
                 "--device", "cpu", "-q", "-o", str(path)]) == 0
    return path


def _local_minimum(path):
    with h5py.File(path, "r") as f:
        kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in f["runs/kind"][()]]
    rows = [i for i, k in enumerate(kinds) if k == "local_min"]
    assert rows, f"no local minimum among {kinds}"
    return rows[0]


def test_expand_neuron_json_agrees_with_independent_hessian(width3_session, capsys):
    run = _local_minimum(width3_session)
    mus = [-0.5, 0.0, 0.3, 1.0, 1.5]
    assert main(["analyze", str(width3_session), "--runs", str(run), "--expand-neuron", "1",
                 "--mu", *map(str, mus), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["run"], report["neuron"], report["layer"]) == (run, 1, 1)
    assert len(report["Y_eigenvalues"]) == 2
    with h5py.File(width3_session, "r") as f:
        x, y, theta = f["data/x"][()], f["data/y"][()], f["runs/theta"][run]
    w, a = theta[:6].reshape(3, 2), theta[6:]
    for point, mu in zip(report["points"], mus):
        assert point["mu"] == mu
        # Duplicate neuron 1 by hand: the copy is appended last with (1 - mu) a_1.
        wide = np.concatenate([w.ravel(), w[1], a[0:1], [mu * a[1]], a[2:3], [(1 - mu) * a[1]]])
        _, grad, hess = loss_grad_hessian(wide, x, y, m=4)
        eig = np.linalg.eigvalsh(hess)
        np.testing.assert_allclose(point["eigenvalues"], eig, rtol=0, atol=1e-10 * np.abs(eig).max())
        assert point["grad_norm"] <= 1e-12 and np.linalg.norm(grad) <= 1e-12
        tol = 1e-10 * np.abs(eig).max()
        measured = {"neg": int((eig < -tol).sum()), "zero": int((np.abs(eig) <= tol).sum()),
                    "pos": int((eig > tol).sum())}
        assert point["inertia"] == measured
        assert point["predicted_inertia"] == measured


def test_analyze_stores_every_analysis_and_counts(width3_session, tmp_path, capsys):
    run = _local_minimum(width3_session)
    out = tmp_path / "analysed.h5"
    assert main(["analyze", str(width3_session), "--runs", str(run), "-o", str(out), "--json", "-q"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["analyses"]["closest_saddle"]["runs"] == 1
    assert result["counts"]["runs"] == 4
    with h5py.File(out, "r") as f:
        groups = set(f["analyses"])
        assert {"teacher_match", "closest_saddle", "mu_sweep", "escape", "theorems"} <= groups
        assert f[f"analyses/closest_saddle/points/{run}"].attrs["distance"] >= 0
        assert f["analyses/escape/summary/run"][()].tolist() == [run]
        sweep = f["analyses/mu_sweep/summary"]
        if len(sweep["run"]):  # the closest saddle's narrower point converged
            assert sweep["inertia_agrees"][()].all()
            assert sweep["crossings_at_0"][0] == sweep["crossings_at_1"][0] == sweep["predicted_crossings"][0]
    assert main(["info", str(out), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    types = {k: counts.pop(k) for k in ("symmetry_types", "symmetry_types_by_kind")}
    assert counts == result["counts"]
    assert sum(types["symmetry_types"].values()) == result["analyses"]["closest_saddle"]["runs"]


@pytest.mark.parametrize("argv, needle", [
    (["--runs", "7"], "runs 0..3"),
    (["--runs", "x"], "comma-separated"),
    (["--runs", "0,1", "--expand-neuron", "0"], "exactly one run"),
    (["--runs", "0", "--expand-neuron", "5"], "0..2"),
    (["--runs", "0", "--expand-neuron", "0", "--layer", "2"], "1..1"),
    (["--runs", "0", "--expand-neuron", "0", "--mu", "a"], "numbers"),
    (["--mu", "0.5"], "go with --expand-neuron"),
])
def test_analyze_user_errors(width3_session, capsys, argv, needle):
    assert main(["analyze", str(width3_session), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
