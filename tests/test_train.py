"""Batched training: arithmetic against torch.optim, seed independence, records, stopping, config."""

from __future__ import annotations

import platform
import threading
import time

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape import nets
from lsexplorer.core.training import kernels as tk
from lsexplorer.core.data.datasets import gaussian_teacher_dataset, toy_dataset
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.training.train import (TrainConfig, TrainProgress, log_spaced_epochs, resolve_device, train,
                                   tune_glibc_malloc)

TOY = toy_dataset()
TOY_SPEC = MLPSpec((2, 5, 1))
# A small net exercising biases, tanh and two outputs; N is small so reference runs are cheap.
SMALL_SPEC = MLPSpec((3, 4, 2), "tanh", bias=True)
SMALL = gaussian_teacher_dataset(40, MLPSpec((3, 2, 2), "tanh", bias=True), seed=3)
HAS_CUDA = torch.cuda.is_available()


def fit(spec, theta0, data, **cfg):
    cfg.setdefault("device", "cpu")
    return run_generator(train(spec, theta0, data.x, data.y, TrainConfig(**cfg)))


def reference_run(spec, theta0, data, make_opt, steps):
    """One seed through autograd and a real torch.optim optimizer, float64: ``(P,)`` after ``steps``."""
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    x, y = torch.tensor(data.x), torch.tensor(data.y)
    opt = make_opt([theta])
    for _ in range(steps):
        opt.zero_grad()
        nets.loss(spec, theta, x, y).backward()
        opt.step()
    return theta.detach().numpy()


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("backend", ["native", "torch"])
@pytest.mark.parametrize("optimizer, make_opt", [
    ("adam", lambda p: torch.optim.Adam(p, lr=3e-2, betas=(0.8, 0.99), eps=1e-7)),
    ("sgd", lambda p: torch.optim.SGD(p, lr=3e-2, momentum=0.9)),
    ("sgd", lambda p: torch.optim.SGD(p, lr=3e-2)),
])
def test_optimizer_step_equals_torch_optim(backend, optimizer, make_opt):
    theta0 = xavier_init(SMALL_SPEC, [11, 12])
    opt = make_opt([torch.zeros(1)]).defaults
    cfg = dict(optimizer=optimizer, lr=opt["lr"], epochs=6, dtype="float64", backend=backend,
               momentum=opt.get("momentum", 0.0), betas=opt.get("betas", (0.9, 0.999)), eps=opt.get("eps", 1e-8))
    result = fit(SMALL_SPEC, theta0, SMALL, **cfg)
    for s in range(2):
        ref = reference_run(SMALL_SPEC, theta0[s], SMALL, make_opt, 6)
        assert np.max(np.abs(ref - theta0[s])) > 1e-3  # the steps moved the point
        assert rel_err(result.theta[s], ref) < 1e-12


@pytest.mark.parametrize("backend, spec, data", [("native", TOY_SPEC, TOY), ("torch", SMALL_SPEC, SMALL)])
def test_batch_equals_each_seed_alone(backend, spec, data):
    seeds = [1, 2, 3, 4, 5]
    theta0 = xavier_init(spec, seeds)
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
        cfg = dict(lr=1e-2, epochs=60, dtype=dtype, backend=backend, n_snapshots=5, n_loss_points=7)
        batch = fit(spec, theta0, data, **cfg)
        assert batch.backend == backend
        for s in range(len(seeds)):
            alone = fit(spec, theta0[s:s + 1], data, **cfg)
            assert rel_err(batch.theta[s], alone.theta[0]) < tol
            assert rel_err(batch.loss_curve[s], alone.loss_curve[0]) < tol
            assert rel_err(batch.snapshots[s], alone.snapshots[0]) < tol


@pytest.mark.parametrize("spec, data, seeds", [(TOY_SPEC, TOY, [7, 8, 9]), (SMALL_SPEC, SMALL, [1, 2])])
def test_native_kernel_matches_torch_backprop(spec, data, seeds):
    """The C kernel (own exp, own loops) and nets.loss_and_grad give the same float64 trajectory."""
    theta0 = xavier_init(spec, seeds)
    native = fit(spec, theta0, data, lr=1e-2, epochs=100, dtype="float64", backend="native")
    torch_ = fit(spec, theta0, data, lr=1e-2, epochs=100, dtype="float64", backend="torch")
    assert native.backend == "native" and torch_.backend == "torch"
    assert rel_err(native.theta, torch_.theta) < 1e-11
    assert rel_err(native.loss_curve, torch_.loss_curve) < 1e-11


def test_float32_follows_float64():
    theta0 = xavier_init(TOY_SPEC, [3, 4])
    r32 = fit(TOY_SPEC, theta0, TOY, lr=1e-3, epochs=300, dtype="float32")
    r64 = fit(TOY_SPEC, theta0, TOY, lr=1e-3, epochs=300, dtype="float64")
    assert r32.theta.dtype == np.float64 and r32.dtype == "float32"
    assert rel_err(r32.theta, r64.theta) < 1e-4
    assert rel_err(r32.loss_curve, r64.loss_curve) < 1e-4


def test_training_is_deterministic():
    theta0 = xavier_init(TOY_SPEC, range(6))
    a = fit(TOY_SPEC, theta0, TOY, lr=1e-2, epochs=150)
    b = fit(TOY_SPEC, theta0, TOY, lr=1e-2, epochs=150)
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.loss_curve, b.loss_curve)


def test_loss_decreases_on_toy():
    theta0 = xavier_init(TOY_SPEC, range(8))
    result = fit(TOY_SPEC, theta0, TOY, lr=1e-2, epochs=3000)
    first, last = result.loss_curve[:, 0], result.loss_curve[:, -1]
    assert np.all(last < 0.5 * first)
    assert np.median(last) < 0.02  # well below the ~0.7 of the initial points
    assert np.all(np.diff(result.loss_curve.mean(axis=0)) < 1e-9)  # small lr: mean loss never rises


def test_records_are_log_spaced_and_consistent():
    theta0 = xavier_init(TOY_SPEC, range(3))
    result = fit(TOY_SPEC, theta0, TOY, lr=1e-2, epochs=1000, dtype="float64", n_snapshots=16, n_loss_points=40)
    for epochs, n in ((result.snapshot_epochs, 16), (result.loss_epochs, 40)):
        assert epochs.dtype == np.int64 and len(epochs) == n
        assert epochs[0] == 0 and epochs[-1] == 1000 and np.all(np.diff(epochs) > 0)
        ratios = (epochs[-6:] + 1) / (epochs[-7:-1] + 1)  # geometric where rounding no longer matters
        assert np.ptp(ratios) < 0.05 * ratios.mean()
    assert result.snapshots.shape == (3, 16, TOY_SPEC.n_params) and result.loss_curve.shape == (3, 40)
    assert np.array_equal(result.snapshots[:, 0], theta0)
    assert np.array_equal(result.snapshots[:, -1], result.theta) and result.epochs_done == 1000
    # The loss curve holds the loss of the point before that epoch's update.
    x, y = torch.tensor(TOY.x), torch.tensor(TOY.y)
    common = np.intersect1d(result.snapshot_epochs, result.loss_epochs)
    assert len(common) >= 5 and common[-1] == 1000
    for e in common:
        k, j = int(np.searchsorted(result.snapshot_epochs, e)), int(np.searchsorted(result.loss_epochs, e))
        expected = nets.loss(TOY_SPEC, torch.tensor(result.snapshots[:, k]), x, y).numpy()
        assert rel_err(result.loss_curve[:, j], expected) < 1e-12


def test_log_spaced_epochs_exact_counts():
    for end in (1, 5, 63, 64, 100, 999, 12345, 10_000_000):
        for n in (2, 64, 256):
            e = log_spaced_epochs(end, n)
            assert len(e) == min(n, end + 1) and e[0] == 0 and e[-1] == end and np.all(np.diff(e) > 0)
    steps = np.diff(np.log(log_spaced_epochs(10_000_000, 64)[20:] + 1.0))  # equal steps in log(epoch + 1)
    assert np.ptp(steps) < 1e-2 * steps.mean()


def test_stop_event_stops_quickly_with_consistent_result():
    theta0 = xavier_init(TOY_SPEC, range(50))
    stop = threading.Event()
    seen: list[TrainProgress] = []
    gen = train(TOY_SPEC, theta0, TOY.x, TOY.y, TrainConfig(epochs=10**9, device="cpu", dtype="float64"), stop)
    timer = threading.Timer(0.6, stop.set)
    timer.start()
    t0 = time.perf_counter()
    result = run_generator(gen, seen.append)
    took = time.perf_counter() - t0
    timer.cancel()
    assert result.stopped and 0 < result.epochs_done < 10**9
    assert took < 0.6 + 1.0
    assert seen[0].done == 0 and seen[0].loss is None  # the stage began; no epoch run yet
    assert seen[1:] and all(isinstance(p.loss, np.ndarray) and p.loss.shape == (50,) for p in seen[1:])
    assert all(b.done >= a.done for a, b in zip(seen, seen[1:]))
    for epochs, values, n in ((result.snapshot_epochs, result.snapshots, 64),
                              (result.loss_epochs, result.loss_curve, 256)):
        assert epochs[0] == 0 and epochs[-1] == result.epochs_done and np.all(np.diff(epochs) > 0)
        assert len(epochs) <= n and values.shape[:2] == (50, len(epochs))
    assert np.array_equal(result.snapshots[:, -1], result.theta)
    final = nets.loss(TOY_SPEC, torch.tensor(result.theta), torch.tensor(TOY.x), torch.tensor(TOY.y)).numpy()
    assert rel_err(result.loss_curve[:, -1], final) < 1e-12


def test_stop_before_start_returns_initial_point():
    stop = threading.Event()
    stop.set()
    theta0 = xavier_init(TOY_SPEC, [1, 2])
    result = run_generator(train(TOY_SPEC, theta0, TOY.x, TOY.y, TrainConfig(device="cpu", dtype="float64"), stop))
    assert result.stopped and result.epochs_done == 0
    assert list(result.snapshot_epochs) == [0] and list(result.loss_epochs) == [0]
    assert np.array_equal(result.theta, theta0) and result.snapshots.shape == (2, 1, TOY_SPEC.n_params)


def test_progress_is_yielded_regularly():
    theta0 = xavier_init(TOY_SPEC, range(100))
    times = []
    result = run_generator(train(TOY_SPEC, theta0, TOY.x, TOY.y, TrainConfig(epochs=3000, device="cpu")),
                           lambda p: times.append(time.perf_counter()))
    assert len(times) >= 2 and np.max(np.diff(times)) < 0.5
    assert result.epochs_done == 3000 and not result.stopped


def test_deep_mlp_trains_through_torch_backend():
    spec = MLPSpec((3, 6, 4, 2), "softplus", bias=True)
    data = gaussian_teacher_dataset(64, MLPSpec((3, 3, 2), "softplus", bias=True), seed=1)
    theta0 = xavier_init(spec, range(4))
    result = fit(spec, theta0, data, lr=3e-2, epochs=100, dtype="float64", backend="torch")
    assert result.backend == "torch"
    assert np.all(result.loss_curve[:, -1] < 0.5 * result.loss_curve[:, 0])
    ref = reference_run(spec, theta0[2], data, lambda p: torch.optim.Adam(p, lr=3e-2), 100)
    assert rel_err(result.theta[2], ref) < 1e-10


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is a glibc call")
def test_tune_glibc_malloc_is_accepted_by_glibc():
    assert tune_glibc_malloc() is True


def test_auto_falls_back_to_torch_without_compiler(monkeypatch):
    def no_compiler(*args):
        raise RuntimeError("the native CPU kernel is unavailable: no C compiler found")

    monkeypatch.setattr(tk, "native_library", no_compiler)
    theta0 = xavier_init(TOY_SPEC, [1])
    assert fit(TOY_SPEC, theta0, TOY, epochs=3).backend == "torch"
    with pytest.raises(ValueError, match="no C compiler"):
        fit(TOY_SPEC, theta0, TOY, epochs=3, backend="native")


@pytest.mark.parametrize("bad", [
    dict(lr=0), dict(lr=-1e-3), dict(lr=float("nan")), dict(epochs=0), dict(epochs=2.5), dict(optimizer="rmsprop"),
    dict(dtype="float16"), dict(device="tpu"), dict(betas=(1.0, 0.9)), dict(betas=(0.9,)), dict(eps=-1.0),
    dict(momentum=1.5), dict(n_snapshots=1), dict(n_loss_points=0), dict(backend="fortran"),
])
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)
    with pytest.raises(ValueError):
        TrainConfig.from_dict({**TrainConfig().to_dict(), **bad})


def test_config_round_trips_and_rejects_unknown_keys():
    cfg = TrainConfig(optimizer="sgd", lr=0.5, epochs=7, dtype="float64", momentum=0.3, betas=(0.5, 0.6))
    d = cfg.to_dict()
    assert d["betas"] == [0.5, 0.6]
    assert TrainConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_bad_shapes_raise_at_call():
    cfg = TrainConfig(device="cpu")
    with pytest.raises(ValueError, match="theta0"):
        train(TOY_SPEC, np.zeros((2, 14)), TOY.x, TOY.y, cfg)
    with pytest.raises(ValueError, match="x must be"):
        train(TOY_SPEC, np.zeros((2, 15)), TOY.x[:, :1], TOY.y, cfg)


@pytest.mark.skipif(HAS_CUDA, reason="checks the message shown when CUDA is missing")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="cuda.*(no CUDA|no CUDA GPU)"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="cpu or auto"):
        train(TOY_SPEC, xavier_init(TOY_SPEC, [1]), TOY.x, TOY.y, TrainConfig(device="cuda"))
    assert resolve_device("auto").type == "cpu"


SOFTPLUS_SPEC = MLPSpec((3, 3, 1), "softplus", bias=True)
SOFTPLUS = gaussian_teacher_dataset(50, MLPSpec((3, 2, 1), "softplus"), seed=4)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("backend", ["triton", "torch"])
@pytest.mark.parametrize("spec, data, lr", [(TOY_SPEC, TOY, 1e-3), (SMALL_SPEC, SMALL, 1e-2),
                                            (SOFTPLUS_SPEC, SOFTPLUS, 1e-2)])
def test_cuda_matches_cpu_float64(backend, spec, data, lr):
    theta0 = xavier_init(spec, range(16))
    ref = fit(spec, theta0, data, lr=lr, epochs=300, dtype="float64", backend="torch")
    gpu64 = fit(spec, theta0, data, lr=lr, epochs=300, dtype="float64", device="cuda", backend=backend)
    gpu32 = fit(spec, theta0, data, lr=lr, epochs=300, dtype="float32", device="cuda", backend=backend)
    assert gpu32.device.startswith("cuda") and gpu32.backend == backend
    assert rel_err(gpu64.theta, ref.theta) < 1e-11 and rel_err(gpu64.loss_curve, ref.loss_curve) < 1e-11
    assert rel_err(gpu32.theta, ref.theta) < 1e-4 and rel_err(gpu32.loss_curve, ref.loss_curve) < 1e-4
