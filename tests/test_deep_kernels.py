"""The generated native kernel for deep MLPs against the torch path and torch.optim, seed by seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape import nets
from lsexplorer.core.data.datasets import gaussian_teacher_dataset
from lsexplorer.core.training.deep_kernels import MAX_DEEP_PARAMS, deep_sample_code, deep_supports
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.training.train import TrainConfig, check_backend, train

SPECS = [MLPSpec((3, 4, 3, 2), "tanh", bias=True), MLPSpec((2, 3, 3, 3, 1), "sigmoid", bias=True),
         MLPSpec((4, 3, 2, 1), "softplus", bias=False)]
DATA = {s: gaussian_teacher_dataset(70, MLPSpec((s.d_in, 2, s.d_out), s.activation, bias=True), seed=5) for s in SPECS}


def fit(spec, theta0, **cfg):
    data = DATA[spec]
    return run_generator(train(spec, theta0, data.x, data.y, TrainConfig(device="cpu", **cfg)))


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_deep_native_equals_torch_path(spec, optimizer):
    theta0 = xavier_init(spec, range(3))
    cfg = dict(optimizer=optimizer, lr=2e-2, momentum=0.5 if optimizer == "sgd" else 0.0, epochs=80, dtype="float64",
               n_snapshots=4, n_loss_points=5)
    native, ref = fit(spec, theta0, backend="native", **cfg), fit(spec, theta0, backend="torch", **cfg)
    assert native.backend == "native" and ref.backend == "torch"
    assert rel_err(native.theta, ref.theta) < 1e-11
    assert rel_err(native.loss_curve, ref.loss_curve) < 1e-11
    assert np.all(native.loss_curve[:, -1] < native.loss_curve[:, 0])


def test_deep_native_equals_torch_optim_adam_for_each_seed_alone():
    spec = SPECS[1]
    data = DATA[spec]
    theta0 = xavier_init(spec, [3, 8])
    batch = fit(spec, theta0, lr=1e-2, epochs=40, dtype="float64", backend="auto")
    assert batch.backend == "native"
    for s in range(2):
        theta = torch.tensor(theta0[s], requires_grad=True)
        opt = torch.optim.Adam([theta], lr=1e-2)
        for _ in range(40):
            opt.zero_grad()
            nets.loss(spec, theta, torch.tensor(data.x), torch.tensor(data.y)).backward()
            opt.step()
        assert rel_err(batch.theta[s], theta.detach().numpy()) < 1e-11


def test_deep_native_float32_tracks_float64():
    spec = SPECS[1]
    theta0 = xavier_init(spec, range(2))
    f32 = fit(spec, theta0, lr=1e-2, epochs=50, dtype="float32", backend="native")
    f64 = fit(spec, theta0, lr=1e-2, epochs=50, dtype="float64", backend="native")
    assert rel_err(f32.theta, f64.theta) < 1e-4


def test_deep_coverage_and_backend_checks():
    thesis = MLPSpec((10, 10, 10, 10, 1), "sigmoid", bias=True)
    assert deep_supports(thesis) and thesis.n_params == 341
    assert not deep_supports(MLPSpec((2, 5, 1)))  # one hidden layer: train_kernels' kernel
    wide = MLPSpec((10, 40, 40, 1), "sigmoid", bias=True)
    assert wide.n_params > MAX_DEEP_PARAMS and not deep_supports(wide)
    check_backend("native", thesis, torch.device("cpu"))
    with pytest.raises(ValueError, match="at most 1024"):
        check_backend("native", wide, torch.device("cpu"))
    with pytest.raises(ValueError, match="one hidden layer"):
        check_backend("triton", thesis, torch.device("cuda"))


def test_deep_sample_code_touches_every_gradient_entry_once():
    spec = MLPSpec((10, 10, 10, 10, 1), "sigmoid", bias=True)
    code = deep_sample_code(spec)
    updated = [line.split(" += ")[0] for line in code if line.startswith("acc") and not line.startswith("acc_loss")]
    assert sorted(updated) == sorted(f"acc{i}" for i in range(spec.n_params))
