"""The command line as a user meets it: a small toy experiment end to end, and every user error."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from lsexplorer.cli.commands import main
from numpy_reference import loss_grad_hessian

KINDS = ("global_min", "local_min", "strict_saddle", "nonstrict_saddle", "channel", "channel_saddle", "not_converged")


@pytest.fixture(scope="module")
def toy_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "s.h5"
    code = main(["train", "--preset", "toy", "--seeds", "6", "--epochs", "3000", "--lr", "0.01",
                 "--device", "cpu", "-q", "-o", str(path)])
    assert code == 0
    return path


def test_info_json_counts_every_run_once(toy_session, capsys):
    assert main(["info", str(toy_session), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert set(counts) == {"runs", *KINDS, "symmetry_induced"}
    assert all(isinstance(counts[k], int) for k in ("runs", *KINDS))
    assert counts["runs"] == 6 == sum(counts[k] for k in KINDS)


def test_info_says_not_computed_for_an_analysis_that_did_not_run(toy_session, capsys):
    """After ``train`` no closest saddle is computed, so "symmetry-induced" is unknown, not 0."""
    assert main(["info", str(toy_session), "--json"]) == 0
    out_json = capsys.readouterr().out
    assert json.loads(out_json)["symmetry_induced"] is None
    assert main(["info", str(toy_session)]) == 0
    out = capsys.readouterr().out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.endswith(" not computed") and "--closest-saddle" in out
    assert total.split()[:2] == ["total", str(json.loads(out_json)["runs"])]  # the count is not run into the words
    tolerances = next(line for line in out.splitlines() if line.startswith("tolerances:"))
    assert "{" not in tolerances and "‖∇L‖ ≤ 1e-12" in tolerances


def test_info_table_names_every_outcome(toy_session, capsys):
    assert main(["info", str(toy_session), "--runs"]) == 0
    out = capsys.readouterr().out
    for label in ("global minima", "local minima", "strict saddles", "non-strict saddles", "not converged", "total"):
        assert label in out
    assert len([l for l in out.splitlines() if l.strip().startswith(tuple("012345"))]) >= 6


def test_stored_numbers_recompute_independently(toy_session):
    """Loss, gradient norm and spectrum of every stored point, from raw HDF5 and closed-form numpy."""
    with h5py.File(toy_session, "r") as f:
        x, y = f["data/x"][()], f["data/y"][()]
        theta, loss = f["runs/theta"][()], f["runs/loss"][()]
        grad_norm, eig = f["runs/grad_norm"][()], f["runs/hessian_eigvals"][()]
        kinds = [k.decode() if isinstance(k, bytes) else k for k in f["runs/kind"][()]]
        config = json.loads(f.attrs["config"])
    assert config["network"]["widths"] == [2, 5, 1]
    for s in range(theta.shape[0]):
        ref_loss, ref_grad, ref_hess = loss_grad_hessian(theta[s], x, y, m=5)
        assert loss[s] == pytest.approx(ref_loss, rel=1e-9, abs=1e-25)
        ref_eig = np.linalg.eigvalsh(ref_hess)
        np.testing.assert_allclose(eig[s], ref_eig, rtol=0, atol=1e-10 * np.abs(ref_eig).max())
        if kinds[s] not in ("not_converged", "channel", "channel_saddle"):
            # Points that ran off to ||theta|| ~ 1e3 round their gradients at ~1e-12; certified ones agree.
            assert abs(grad_norm[s] - np.linalg.norm(ref_grad)) <= 1e-13
            assert np.linalg.norm(ref_grad) <= 1e-12
        if kinds[s] == "global_min":
            assert ref_loss <= 1e-20


def test_toml_config_is_layered_under_flags(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('preset = "toy"\nseeds = 2\n[network]\nwidth = 3\n[train]\nepochs = 300\nlr = 0.05\n'
                   'optimizer = "sgd"\n')
    out = tmp_path / "t.h5"
    assert main(["train", "--config", str(cfg), "--epochs", "200", "-q", "-o", str(out), "--device", "cpu"]) == 0
    with h5py.File(out, "r") as f:
        config = json.loads(f.attrs["config"])
        assert f["runs/theta"].shape == (2, 9)
    assert config["network"]["widths"] == [2, 3, 1]
    assert config["train"]["epochs"] == 200 and config["train"]["optimizer"] == "sgd"
    assert config["seeds"] == [0, 1]


def _one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(argv))
    err = capsys.readouterr().err.strip()
    return exc.value.code, err


@pytest.mark.parametrize("argv, needle", [
    (["train", "--width", "0", "-o", "x.h5"], "positive integer"),
    (["train", "--lr", "-1", "-o", "x.h5"], "positive"),
    (["train", "--epochs", "2.5", "-o", "x.h5"], "whole number"),
    (["train", "--optimizer", "lbfgs", "-o", "x.h5"], "invalid choice"),
    (["train", "--preset", "nope", "-o", "x.h5"], "unknown preset"),
    (["train", "--seeds", "2", "-o", "/nonexistent/dir/x.h5"], "does not exist"),
    (["train", "--config", "/nonexistent.toml", "-o", "x.h5"], "does not exist"),
    (["info", "/nonexistent/s.h5"], "s.h5"),
])
def test_user_errors_exit_2_with_one_line(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    code, err = _one_line_error(capsys, argv)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err


def test_bad_toml_and_foreign_file_and_overwrite(capsys, tmp_path, toy_session):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = 1")
    code, err = _one_line_error(capsys, ["train", "--config", str(bad), "-o", str(tmp_path / "o.h5")])
    assert code == 2 and "not valid TOML" in err
    bad.write_text("[training]\nlr = 1\n")
    code, err = _one_line_error(capsys, ["train", "--config", str(bad), "-o", str(tmp_path / "o.h5")])
    assert code == 2 and "unknown config section" in err
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all")
    code, err = _one_line_error(capsys, ["info", str(text)])
    assert code == 2 and len(err.splitlines()) == 1
    code, err = _one_line_error(capsys, ["train", "--seeds", "1", "-o", str(toy_session)])
    assert code == 2 and "--force" in err


def test_cuda_without_gpu_is_a_user_error(capsys, tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, err = _one_line_error(capsys, ["train", "--device", "cuda", "--seeds", "1", "-o", str(tmp_path / "c.h5")])
    assert code == 2 and "cuda" in err.lower()


def test_console_entry_point_reports_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lsexplorer", "info", str(tmp_path / "missing.h5")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_counting_json_matches_closed_forms(capsys):
    from math import comb, factorial

    assert main(["counting", "--r", "3", "--m", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # G(r, m) = r! S(m, r); S(5, 3) = 25 by inclusion-exclusion, written out independently here.
    s53 = sum((-1) ** i * comb(3, i) * (3 - i) ** 5 for i in range(4)) // factorial(3)
    assert s53 == 25 and out["G"] == factorial(3) * s53 == 150
    assert out["T"] == 450 and out["r"] == 3 and out["m"] == 5


def test_gui_without_a_display_says_so(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "lsexplorer"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "no display" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "lsexplorer", "gui", str(tmp_path / "none.h5")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


