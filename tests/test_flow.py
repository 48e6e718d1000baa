"""Gradient flow (``train.optimizer = "flow"``): the integrator against an independent solution, seeds
that fail alone, the settings, and a flow experiment from the command line to a certified session."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from lsexplorer.cli.commands import main
from lsexplorer.core.base.config_schema import ConfigValueError, check_config_values
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.data.datasets import toy_dataset
from lsexplorer.core.experiment.experiment import ConfigError, build_config, make_dataset, run_experiment
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.store.session import load_session, save_session
from lsexplorer.core.sweep.manifest import SweepError, plan_sweep
from lsexplorer.core.training.flow import FlowSettings, integrate, integrate_flow, output_times
from lsexplorer.core.training.flow_training import network_flow_functions, train_flow
from lsexplorer.core.training.train import TrainConfig

#: scipy Radau (rtol 1e-10, atol 1e-13) from the first 8 toy seeds' Xavier points, written by
#: ``benchmarks/flow.py --write-reference``.
REFERENCE = Path(__file__).parent / "data" / "flow_toy_radau.npz"
TOY = MLPSpec((2, 5, 1), "sigmoid", False)


@pytest.fixture(scope="module")
def toy_functions():
    data = toy_dataset()
    return network_flow_functions(TOY, data.x, data.y)


@pytest.mark.slow
def test_rodas4_follows_the_radau_reference_through_plateau_and_approach(toy_functions):
    """Eight toy seeds, five times from the first descent through the plateau (loss ~1e-4) into the
    approach: relative distance to an independent order-5 solution at most 1e-6."""
    ref = np.load(REFERENCE)
    np.testing.assert_array_equal(ref["theta0"], xavier_init(TOY, np.arange(8)))
    settings = FlowSettings(method="rodas4", rtol=3e-7, atol=3e-10, t_max=float(ref["times"][-1]), grad_tol=0.0)
    result = run_generator(integrate(*toy_functions, ref["theta0"], ref["times"], settings))
    assert (result.reason == "t_max").all()
    rel = np.linalg.norm(result.out_theta - ref["theta"], axis=2) / np.linalg.norm(ref["theta"], axis=2)
    assert rel[:, 1:].max() <= 1e-6, rel.max(axis=0)
    # the five times do span a descent, a plateau and an approach
    assert (ref["loss"][:, 1] > 1e-4).any() and (ref["loss"][:, -1] < 1e-6).any()


def test_the_order_2_method_agrees_at_loose_tolerance(toy_functions):
    ref = np.load(REFERENCE)
    times = ref["times"][:3]
    settings = FlowSettings(method="rosenbrock23", rtol=1e-6, atol=1e-9, t_max=float(times[-1]), grad_tol=0.0)
    result = run_generator(integrate(*toy_functions, ref["theta0"], times, settings))
    rel = np.linalg.norm(result.out_theta - ref["theta"][:, :3], axis=2) / np.linalg.norm(ref["theta"][:, :3], axis=2)
    assert rel.max() <= 1e-4


def _planted(theta: torch.Tensor):
    """Rows labelled by ``theta[:, 1]``: |label| <= 1 a bowl ``(theta_0 - 1)^2 / 2``; 20 a slope
    ``-theta_0`` (runs off to infinity); -20 the bowl with a NaN gradient past ``theta_0 = 0.5``."""
    label = theta[:, 1]
    bowl = 0.5 * (theta[:, 0] - 1.0) ** 2
    value = torch.where(label > 10, -theta[:, 0], bowl)
    g0 = torch.where(label > 10, -torch.ones_like(label), theta[:, 0] - 1.0)
    g0 = torch.where((label < -10) & (theta[:, 0] > 0.5), torch.full_like(g0, float("nan")), g0)
    return value, torch.stack([g0, torch.zeros_like(g0)], dim=1)


def _planted_hessians(theta: torch.Tensor) -> torch.Tensor:
    h = torch.zeros(theta.shape[0], 2, 2, dtype=theta.dtype)
    h[:, 0, 0] = torch.where(theta[:, 1] > 10, 0.0, 1.0)
    return h


def test_a_diverging_and_a_nan_seed_do_not_lose_the_others():
    theta0 = np.array([[0.0, 0.0], [0.0, 20.0], [-1.0, 0.5], [0.0, -20.0], [3.0, -1.0]])
    settings = FlowSettings(rtol=1e-6, atol=1e-9, t_max=1e6, grad_tol=1e-10, norm_growth=100.0)
    result = run_generator(integrate_flow(_planted, _planted_hessians, theta0, output_times(1e6, 20), settings))
    assert list(result.reason) == ["grad_tol", "diverged", "grad_tol", "step_underflow", "grad_tol"]
    np.testing.assert_allclose(result.theta[[0, 2, 4], 0], 1.0, atol=1e-9)
    assert np.linalg.norm(result.theta[1]) > 100.0 * 20.0           # ended where it ran past the limit
    assert 0.0 < result.theta[3, 0] <= 0.5 and np.isfinite(result.theta[3]).all()  # its last finite point
    assert np.isfinite(result.out_theta).all() and np.isfinite(result.out_loss[[0, 1, 2, 4]]).all()


def test_a_stop_event_ends_every_seed_as_cancelled(toy_functions):
    stop = threading.Event()
    stop.set()
    theta0 = xavier_init(TOY, [0, 1])
    result = run_generator(integrate(*toy_functions, theta0, output_times(1e3, 8), FlowSettings(t_max=1e3), stop))
    assert result.stopped and list(result.reason) == ["cancelled", "cancelled"]
    np.testing.assert_array_equal(result.theta, theta0)


@pytest.mark.parametrize("bad, word", [({"rtol": 0.0}, "rtol"), ({"rtol": 1.0}, "rtol"), ({"atol": -1e-6}, "atol"),
                                       ({"t_max": 0.5}, "t_max"), ({"flow_method": "euler"}, "flow_method"),
                                       ({"dtype": "float32"}, "float64")])
def test_bad_flow_settings_are_refused_in_one_line(bad, word):
    with pytest.raises(ValueError, match=word) as info:
        TrainConfig(**{"optimizer": "flow", "dtype": "float64", **bad})
    assert "\n" not in str(info.value)
    if "dtype" not in bad:
        with pytest.raises(ConfigValueError, match=word):
            check_config_values({"train": bad})


def test_flow_configs_run_in_float64_and_record_their_method_and_tolerances():
    config = build_config("toy", overrides={"train": {"optimizer": "flow", "rtol": 1e-5}, "seeds": [0]})
    assert config["train"]["dtype"] == "float64"
    assert {k: config["train"][k] for k in ("flow_method", "rtol", "atol", "t_max")} == \
        {"flow_method": "rodas4", "rtol": 1e-5, "atol": 1e-6, "t_max": 1e7}
    assert "rtol" not in build_config("toy", overrides={"seeds": [0]})["train"]   # Adam's config is as before
    with pytest.raises(ConfigError, match="float64"):
        build_config("toy", overrides={"train": {"optimizer": "flow", "dtype": "float32"}})


def test_train_flow_reports_times_as_epochs(toy_functions):
    data = toy_dataset()
    config = TrainConfig(optimizer="flow", dtype="float64", t_max=1e4, n_snapshots=8, n_loss_points=16,
                         grad_tol=1e-5)
    theta0 = xavier_init(TOY, [0, 1, 2])
    result = run_generator(train_flow(TOY, theta0, data.x, data.y, config))
    assert result.snapshot_epochs[0] == 0 and (np.diff(result.snapshot_epochs) > 0).all()
    assert result.snapshot_epochs[-1] == result.epochs_done == result.loss_epochs[-1] <= 10_000
    assert result.snapshots.shape == (3, len(result.snapshot_epochs), TOY.n_params)
    np.testing.assert_array_equal(result.snapshots[:, -1], result.theta)
    assert result.backend == "flow:rodas4" and result.dtype == "float64"
    assert set(result.end_reason) <= {"grad_tol", "t_max"}
    assert ((result.converged_epoch >= 0) == (result.end_reason == "grad_tol")).all()


def test_a_flow_experiment_is_certified_and_its_session_round_trips(tmp_path):
    config = build_config("toy", overrides={"train": {"optimizer": "flow", "t_max": 1e6, "grad_tol": 1e-7},
                                            "seeds": [0, 1, 2]})
    session = run_generator(run_experiment(config))
    runs = session.runs
    assert set(runs.kind) <= {"global_min", "local_min", "strict_saddle", "nonstrict_saddle", "channel",
                              "channel_saddle", "not_converged"}
    assert (runs.grad_norm[runs.kind != "not_converged"] <= 1e-10).all()   # refined and certified as Adam's
    assert session.config["run"]["backend"] == "flow:rodas4" and len(session.config["run"]["flow_end"]) == 3
    path = tmp_path / "flow.h5"
    save_session(session, path)
    again = load_session(path)
    assert again.config["train"] == session.config["train"] and again.config["run"] == session.config["run"]
    np.testing.assert_array_equal(again.runs.trajectory.epochs, runs.trajectory.epochs)


def test_cli_train_optimizer_flow_end_to_end(tmp_path, capsys):
    out = tmp_path / "f.h5"
    assert main(["train", "--preset", "toy", "--optimizer", "flow", "--seeds", "2", "--t-max", "1e5",
                 "--rtol", "1e-4", "--train-grad-tol", "1e-6", "--device", "cpu", "-q", "-o", str(out)]) == 0
    assert main(["info", str(out)]) == 0
    assert "gradient flow (rodas4, rtol 0.0001, atol 1e-06)" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 2


def test_cli_refuses_a_bad_flow_setting_in_one_line(tmp_path, capsys):
    code = main(["train", "--preset", "toy", "--optimizer", "flow", "--dtype", "float32", "-q",
                 "-o", str(tmp_path / "x.h5")])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert "float64" in err and "\n" not in err


def test_the_relu_gaussian_population_loss_under_gradient_flow():
    config = build_config("relu-gaussian", overrides={"train": {"optimizer": "flow"}, "seeds": [0, 1]})
    assert config["train"]["optimizer"] == "flow" and config["train"]["flow_method"] == "rodas4"
    session = run_generator(run_experiment(config))
    assert session.config["run"]["backend"] == "flow:rodas4"
    assert (session.runs.grad_norm <= 1e-8).all()


def test_sweeps_accept_gradient_flow():
    plan = plan_sweep("toy", None, {"seeds": {"count": 2}, "train": {"optimizer": "flow", "grad_tol": 1e-7}},
                      [4, 5])
    assert [p.config["train"]["optimizer"] for p in plan.points] == ["flow", "flow"]
    assert plan.points[0].config["train"]["dtype"] == "float64"
    with pytest.raises(SweepError, match="learning rate"):
        plan_sweep("toy", None, {"seeds": {"count": 2}, "train": {"optimizer": "flow"}}, [4], [1e-3, 1e-2])


def test_the_python_api_trains_by_gradient_flow():
    import lsexplorer as lx

    session = lx.train("toy", seeds=1, optimizer="flow", t_max=1e4, rtol=1e-4, progress=False)
    assert session.config["train"]["optimizer"] == "flow" and session.config["train"]["rtol"] == 1e-4
    assert session.config["run"]["flow_end"] == ["t_max"]


@pytest.mark.slow
def test_a_deep_net_follows_the_radau_solution():
    """Two hidden layers with biases: the per-seed closed-form Hessians drive the same integrator."""
    spec = MLPSpec((2, 3, 2, 1), "tanh", True)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=(50, 1))
    functions = network_flow_functions(spec, x, y)
    theta0, times = xavier_init(spec, [0, 1]), np.array([0.0, 1.0, 10.0])
    ours = run_generator(integrate(*functions, theta0, times, FlowSettings(rtol=1e-8, atol=1e-11, t_max=10.0,
                                                                             grad_tol=0.0)))
    ref = run_generator(integrate(*functions, theta0, times, FlowSettings(method="radau", rtol=1e-10, atol=1e-13,
                                                                            t_max=10.0, grad_tol=0.0)))
    rel = np.linalg.norm(ours.out_theta - ref.out_theta, axis=2) / np.linalg.norm(ref.out_theta, axis=2)
    assert rel.max() <= 1e-6 and (ref.out_loss[:, -1] < ref.out_loss[:, 0]).all()


def test_the_gaussian_and_deep_presets_train_by_gradient_flow():
    for preset, t_max in (("gaussian", 1e3), ("digits-pca10", 10.0)):
        config = build_config(preset, overrides={"train": {"optimizer": "flow", "t_max": t_max}, "seeds": [0]})
        trained = run_generator(train_flow(MLPSpec.from_dict(config["network"]), xavier_init(
            MLPSpec.from_dict(config["network"]), [0]), *_data(config), TrainConfig.from_dict(config["train"])))
        assert trained.end_reason.tolist() == ["t_max"] and trained.loss_curve[0, -1] < trained.loss_curve[0, 0]


def _data(config):
    data = make_dataset(config)
    return data.x, data.y


def test_cli_refuses_epochs_or_lr_with_gradient_flow(tmp_path, capsys):
    for flag, value in (("--epochs", "1000"), ("--lr", "0.01")):
        assert main(["train", "--preset", "toy", "--optimizer", "flow", flag, value, "-q",
                     "-o", str(tmp_path / "x.h5")]) != 0
        err = capsys.readouterr().err.strip()
        assert "--t-max" in err and "\n" not in err


def test_the_time_left_of_a_flow_goes_by_its_share_of_log_t_not_by_t():
    """Half of log(1 + t) done in 10 s leaves about 10 s, though t has covered a thousandth of t_max; the bar
    counts the share too."""
    from lsexplorer._api.progress import SHARE_STEPS, drive
    from lsexplorer.core.base.progress import Progress
    from lsexplorer.gui.panels.training import time_left

    record = Progress("train", 10_000, 10**7, 10.0, share=0.5)
    assert time_left(record) == ", about 10 s left"
    assert time_left(Progress("train", 10_000, 10**7, 10.0)).startswith(", about 2.8 h")  # by t: meaningless

    seen = []

    class Bar:
        def __init__(self, total, **kw):
            self.total, self.n, self.kw = total, 0, kw

        def set_postfix(self, postfix, refresh):
            self.postfix = postfix

        def refresh(self):
            seen.append((self.n, self.total, dict(self.postfix)))

        def close(self):
            pass

    def run():
        yield Progress("train", 10_000, 10**7, 10.0, share=0.5, loss=np.array([1e-3]))
        return "done"

    assert drive(run(), {"train": ("gradient flow", "t", True)}, bar=Bar) == "done"
    assert seen == [(SHARE_STEPS // 2, SHARE_STEPS, {"t": "1e+04", "median_loss": "1.000e-03"})]
