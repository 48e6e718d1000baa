"""Deep networks (thesis §6.3): the closed-form Hessian against autograd and finite differences, neuron
duplication at every layer of a refined deep critical point, Theorem 3's zero crossings end to end
through ``lsexplorer analyze``, the digits-pca10 preset, and the trainer's grad_tol stop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lsexplorer.cli.commands import main
from lsexplorer.core.training import train as train_mod
from lsexplorer.core.data.datasets import digits_pca10_dataset, toy_dataset
from lsexplorer.core.experiment.experiment import build_config
from lsexplorer.core.landscape.hessian import float64_problem, hessian, loss_grad_hessian, loss_grad_t
from lsexplorer.core.saddles.inertia import theorem3
from lsexplorer.core.landscape.nets import MLPSpec, forward, loss, loss_and_grad, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.store.session import load_session
from lsexplorer.core.symmetry.operations import duplicate_neuron
from lsexplorer.core.training.train import TrainConfig, train

# torch.autograd.functional.hessian scripts helpers on first use, which warns on torch >= 2.9.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

DEEP = MLPSpec((10, 10, 10, 10, 1), "sigmoid", bias=True)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return digits_pca10_dataset()


# --- the exact Hessian --------------------------------------------------------------------------

def test_deep_hessian_equals_autograd_and_differences_of_the_gradient(digits):
    x, y = digits.x[:300], digits.y[:300]
    theta = xavier_init(DEEP, [3])[0] + np.random.default_rng(0).normal(scale=0.3, size=DEEP.n_params)
    value, g, h = loss_grad_hessian(DEEP, theta, x, y)
    t, xt, yt = float64_problem(DEEP, theta, x, y)
    reference = torch.autograd.functional.hessian(lambda p: loss(DEEP, p, xt, yt), t).numpy()
    assert np.abs(h - reference).max() <= 1e-12 * np.abs(reference).max()
    auto_g = torch.func.grad(lambda p: loss(DEEP, p, xt, yt))(t).numpy()
    assert np.abs(g - auto_g).max() <= 1e-13 * np.abs(auto_g).max()
    assert value == pytest.approx(float(loss(DEEP, t, xt, yt)), rel=1e-14)
    step = 1e-5
    grad = lambda p: loss_grad_t(DEEP, torch.from_numpy(p), xt, yt)[1].numpy()  # noqa: E731
    fd = np.stack([(grad(theta + step * e) - grad(theta - step * e)) / (2 * step) for e in np.eye(DEEP.n_params)])
    # Central differences: truncation step^2 L'''' / 6 and rounding eps |grad| / step, both ~1e-10.
    assert np.abs(h - fd).max() <= 1e-7 * np.abs(h).max()


@pytest.mark.parametrize("spec", [MLPSpec((3, 4, 5, 3, 2), "tanh", bias=False),
                                  MLPSpec((2, 6, 3, 1), "softplus", bias=True)], ids=lambda s: s.describe())
def test_deep_hessian_other_activations_and_outputs(spec):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, spec.d_in)), rng.normal(size=(40, spec.d_out))
    theta = rng.normal(scale=1.5, size=spec.n_params)
    t, xt, yt = float64_problem(spec, theta, x, y)
    reference = torch.autograd.functional.hessian(lambda p: loss(spec, p, xt, yt), t).numpy()
    assert np.abs(hessian(spec, theta, x, y) - reference).max() <= 1e-12 * np.abs(reference).max()


# --- a refined deep critical point --------------------------------------------------------------

@pytest.fixture(scope="module")
def deep_session(tmp_path_factory):
    """One 2-2-2-1 sigmoid student with biases on the toy data, trained and refined by the CLI: a strict
    local minimum (no zero eigenvalue) with ||grad L|| ~ 1e-16."""
    folder = tmp_path_factory.mktemp("deep")
    config = folder / "deep.toml"
    config.write_text('preset = "toy"\nseeds = [0]\n[network]\nwidths = [2, 2, 2, 1]\nbias = true\n'
                      '[train]\nepochs = 3000\nlr = 0.05\ndevice = "cpu"\n')
    path = folder / "deep.h5"
    assert main(["train", "--config", str(config), "-q", "-o", str(path)]) == 0
    session = load_session(path)
    assert session.runs.kind[0] == "local_min" and session.runs.grad_norm[0] <= 1e-14
    assert session.runs.degeneracy[0] == 0
    return path, session


@pytest.mark.parametrize("layer", [1, 2])
def test_duplication_keeps_function_and_criticality_for_every_mu(deep_session, layer):
    _, session = deep_session
    spec, theta = session.spec, session.runs.theta[0]
    x, y = session.x, session.y
    with torch.no_grad():
        f = forward(spec, torch.from_numpy(theta), torch.from_numpy(x)).numpy()
    for j in range(spec.widths[layer]):
        for mu in (-1.0, -0.3, 0.0, 0.4, 1.0, 1.7, 3.0):
            wide_spec, wide = duplicate_neuron(spec, theta, layer, j, mu)
            with torch.no_grad():
                f_wide = forward(wide_spec, torch.from_numpy(wide), torch.from_numpy(x)).numpy()
            assert np.abs(f_wide - f).max() <= 1e-14
            _, g, _ = loss_grad_hessian(wide_spec, wide, x, y)
            assert np.linalg.norm(g) <= 1e-14


def _crossings(points, mu0):
    """Eigenvalues changing sign at ``mu0``, from the measured inertia at ``mu0`` and its grid neighbours."""
    mus = [p["mu"] for p in points]
    k = mus.index(mu0)
    below, at, above = (points[i]["inertia"] for i in (k - 1, k, k + 1))
    neg_lo, pos_lo = below["neg"] - at["neg"], below["pos"] - at["pos"]
    neg_hi, pos_hi = above["neg"] - at["neg"], above["pos"] - at["pos"]
    return min(neg_lo, pos_hi) + min(pos_lo, neg_hi)


@pytest.mark.parametrize("layer, expected", [(1, 2), (2, 3)])
def test_zero_crossings_through_the_cli_equal_theorem_3(deep_session, capsys, layer, expected):
    """Layer 2 feeds the single output: U = 0 and all q = 3 eigenvalues of Y cross. Layer 1 feeds
    n = 2 neurons: U has rank k = 1 (U a = 0 at a critical point), and only the q - k = 2
    eigenvalues of Z^T Y Z cross; the k pair of U gives one negative eigenvalue for every mu."""
    path, session = deep_session
    mus = [-0.05, 0.0, 0.05, 0.5, 0.95, 1.0, 1.05, 2.0]
    for j in range(session.spec.widths[layer]):
        assert main(["analyze", str(path), "--runs", "0", "--expand-neuron", str(j), "--layer", str(layer),
                     "--mu", *map(str, mus), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["layer"] == layer and len(report["Y_eigenvalues"]) == 3
        for point in report["points"]:
            assert point["inertia"] == point["predicted_inertia"]
            assert point["grad_norm"] <= 1e-14
        th = theorem3(session.spec, session.runs.theta[0], session.x, session.y, layer, j)
        assert th.u_rank == (1 if layer == 1 else 0)
        assert th.crossings == expected
        assert _crossings(report["points"], 0.0) == _crossings(report["points"], 1.0) == expected


# --- the digits-pca10 preset ----------------------------------------------------------------------

def test_digits_pca10_preset_is_the_thesis_network():
    config = build_config("digits-pca10")
    assert config["network"] == {"widths": [10, 10, 10, 10, 1], "activation": "sigmoid", "bias": True}
    assert MLPSpec.from_dict(config["network"]).n_params == 341
    assert config["teacher"] is None and config["data"] == {"kind": "digits-pca10"}
    assert config["train"]["optimizer"] == "adam" and config["train"]["lr"] == 1e-4
    assert config["train"]["grad_tol"] == 1e-6
    assert build_config("digits-pca10", overrides={"network": {"width": 4}})["network"]["widths"] == [10, 4, 4, 4, 1]


def test_digits_pca10_trains_into_a_session(tmp_path, capsys):
    config = tmp_path / "short.toml"
    config.write_text("[refine]\nslsqp_maxeval = 50\nnewton_max_iter = 2\n")
    path = tmp_path / "digits.h5"
    assert main(["train", "--preset", "digits-pca10", "--config", str(config), "--width", "3", "--seeds", "2",
                 "--epochs", "20", "--device", "cpu", "-q", "-o", str(path)]) == 0
    session = load_session(path)
    assert session.x.shape == (1797, 10) and session.teacher_theta is None
    assert session.runs.theta.shape == (2, 61)
    assert main(["info", str(path)]) == 0
    assert "digits-pca10 preset" in capsys.readouterr().out


# --- training: grad_tol and the compiled torch epoch ----------------------------------------------

@pytest.mark.parametrize("backend", ["native", "torch"])
def test_grad_tol_stops_each_seed_and_then_training(monkeypatch, backend):
    monkeypatch.setattr(train_mod, "GRAD_CHECK_SECONDS", 0.0)
    data = toy_dataset()
    spec = MLPSpec((2, 1, 1))
    theta0 = xavier_init(spec, [0, 1, 2])
    tol = 1e-4
    result = run_generator(train(spec, theta0, data.x, data.y, TrainConfig(
        epochs=200_000, lr=0.02, device="cpu", backend=backend, grad_tol=tol)))
    assert (result.converged_epoch > 0).all() and result.epochs_done < 200_000 and not result.stopped
    assert result.epochs_done == result.converged_epoch.max()
    t, xt, yt = (torch.from_numpy(a) for a in (result.theta, data.x, data.y))
    _, g = loss_and_grad(spec, t, xt, yt)
    assert (torch.linalg.vector_norm(g, dim=1) <= tol).all()
    # A stopped seed's trajectory and loss stay where it stopped.
    for s, epoch in enumerate(result.converged_epoch):
        after = result.snapshot_epochs >= epoch
        np.testing.assert_array_equal(result.snapshots[s, after], np.broadcast_to(result.theta[s], (after.sum(), 3)))
        late = result.loss_epochs >= epoch
        assert np.ptp(result.loss_curve[s, late]) == 0.0


def test_without_grad_tol_nothing_stops():
    data = toy_dataset()
    spec = MLPSpec((2, 2, 1))
    result = run_generator(train(spec, xavier_init(spec, [0]), data.x, data.y, TrainConfig(epochs=300, device="cpu")))
    assert result.epochs_done == 300 and (result.converged_epoch == -1).all()
