"""``lsexplorer import``: points made elsewhere round-trip into a session; bad files fail in one line."""

import json

import numpy as np
import pytest
import torch

from lsexplorer.cli.commands import main
from lsexplorer.core.experiment.importer import to_state_dict
from lsexplorer.core.store.session import load_session


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("import") / "trained.h5"
    assert main(["train", "--preset", "toy", "--width", "3", "--seeds", "3", "--epochs", "2000", "--lr", "0.02",
                 "--device", "cpu", "-q", "-o", str(path)]) == 0
    return path


def _info(path, capsys) -> dict:
    capsys.readouterr()
    assert main(["info", str(path), "--json", "--runs"]) == 0
    return json.loads(capsys.readouterr().out)


def test_npz_and_state_dict_round_trip(trained, tmp_path, capsys):
    session = load_session(trained)
    original = _info(trained, capsys)
    np.savez(tmp_path / "theta.npz", theta=session.runs.theta, seed=session.runs.seed)
    files = []
    for k, theta in enumerate(session.runs.theta):
        files.append(tmp_path / f"student{k}.pt")
        torch.save(to_state_dict(session.spec, theta), files[-1])
    for name, sources in (("npz", [tmp_path / "theta.npz"]), ("state_dict", files)):
        out = tmp_path / f"{name}.h5"
        assert main(["import", *map(str, sources), "--like", str(trained), "-q", "-o", str(out)]) == 0
        back = _info(out, capsys)
        assert {k: v for k, v in back.items() if k != "per_run"} == {k: v for k, v in original.items() if k != "per_run"}
        assert [r["kind"] for r in back["per_run"]] == [r["kind"] for r in original["per_run"]]
        np.testing.assert_allclose([r["loss"] for r in back["per_run"]], [r["loss"] for r in original["per_run"]],
                                   rtol=1e-12, atol=1e-30)
        imported = load_session(out)
        np.testing.assert_array_equal(imported.runs.theta, session.runs.theta)
        np.testing.assert_array_equal(imported.x, session.x)
    assert list(load_session(tmp_path / "npz.h5").runs.seed) == list(session.runs.seed)


def test_saved_sequential_and_csv_import_and_refine(tmp_path, capsys):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Sigmoid(), nn.Linear(3, 1, bias=False)).double()
    torch.save(model, tmp_path / "model.pt")
    theta = np.concatenate([model[0].weight.detach().numpy().ravel(), model[2].weight.detach().numpy().ravel()])
    np.savetxt(tmp_path / "theta.csv", theta[None], delimiter=",", header="w11,w12,w21,w22,w31,w32,a1,a2,a3",
               comments="")
    out = tmp_path / "refined.h5"
    assert main(["import", str(tmp_path / "model.pt"), str(tmp_path / "theta.csv"), "--preset", "toy", "--width", "3",
                 "--refine", "-q", "-o", str(out)]) == 0
    s = load_session(out)
    np.testing.assert_array_equal(s.runs.theta_trained[0], s.runs.theta_trained[1])
    np.testing.assert_allclose(s.runs.theta_trained[0], theta, rtol=0, atol=0)
    assert s.runs.kind[0] != "not_converged" and s.runs.grad_norm[0] < 1e-12
    assert s.config["run"]["refined"] is True


def _bad_files(tmp):
    nn = torch.nn
    np.savez(tmp / "short.npz", theta=np.zeros((2, 14)))
    np.save(tmp / "nan.npy", np.full((1, 15), np.nan))
    (tmp / "ragged.csv").write_text("1,2,3\n1,2\n")
    torch.save({"0.weight": torch.zeros(5, 2)}, tmp / "missing.pt")
    torch.save({"0.weight": torch.zeros(4, 2), "2.weight": torch.zeros(1, 4)}, tmp / "widths.pt")
    torch.save(nn.Sequential(nn.Linear(2, 5, bias=False), nn.ReLU(), nn.Linear(5, 1, bias=False)), tmp / "relu.pt")
    (tmp / "junk.pth").write_bytes(b"not a torch file")
    return {"short.npz": "15", "nan.npy": "NaN", "ragged.csv": "different numbers", "missing.pt": "1 Linear weight",
            "widths.pt": "layer widths 2-4-1", "relu.pt": "unknown layer type ReLU", "junk.pth": "torch.load"}


def test_malformed_files_exit_2_with_one_line(tmp_path, capsys):
    for name, phrase in _bad_files(tmp_path).items():
        capsys.readouterr()
        assert main(["import", str(tmp_path / name), "--preset", "toy", "-q", "-o", str(tmp_path / "x.h5")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and phrase in err and name in err, err
        assert not (tmp_path / "x.h5").exists()
