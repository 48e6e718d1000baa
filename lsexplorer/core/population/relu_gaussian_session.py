"""The ``relu-gaussian`` experiment: Safran & Shamir's population landscape as an lsexplorer session.

The student is ``x -> sum_j relu(w_j . x)`` (``MLPSpec(fixed_output=True)``, ``theta = (w_1, ..., w_n)``),
the teacher ``v_j = e_j`` in ``R^d`` (``d = k`` unless ``data.d_in`` says otherwise), and the loss the
expectation over ``x ~ N(0, I_d)``. The session records this in ``/data``'s ``distribution`` attribute;
``/data/x``, ``/data/y`` hold a seeded sample of the distribution for plots only.
:func:`session_landscape` gives any session's loss as a :class:`~lsexplorer.core.landscape.surface.Landscape`,
so code that explores a landscape works on both kinds of session.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any

import numpy as np

from ..._version import __version__
from ..base.distribution import APPLICABLE_ANALYSES, KIND, is_population
from ..base.progress import Progress
from ..landscape.nets import MLPSpec
from ..landscape.surface import Landscape, network_landscape
from ..store.session import LossCurve, Runs, Session, Trajectory
from .descent import (
    POPULATION_TOLERANCES,
    DescentConfig,
    PopulationPoints,
    certify_population,
    descend,
)
from .relu_gaussian import (
    ReluGaussian,
    identity_teacher,
    population_landscape,
    xavier_normal,
)

#: The preset (Table 1's k = n = 6 row, 100 seeds).
PRESET: dict[str, Any] = {
    "data": {"kind": KIND, "teacher_width": 6, "n_samples": 1000, "seed": 0},
    "network": {"width": 6, "activation": "relu", "bias": False, "fixed_output": True},
    "seeds": {"start": 0, "count": 100},
    "train": {"optimizer": "gd", **DescentConfig().to_dict()},
    "refine": {"method": "newton", "iterations": 30},
    "tolerances": POPULATION_TOLERANCES.to_dict(),
}

def population_config(layered: Mapping, preset: str, seeds: list[int]) -> dict:
    """The resolved config of a ``relu-gaussian`` experiment; raises ``ValueError`` on bad settings."""
    data = dict(layered["data"])
    unknown = set(data) - {"kind", "teacher_width", "d_in", "n_samples", "seed"}
    if unknown:
        raise ValueError(f"unknown data setting(s) for {KIND}: {', '.join(sorted(unknown))}")
    k = data.get("teacher_width")
    d = data.get("d_in", k)
    for name, value in (("teacher_width", k), ("d_in", d), ("n_samples", data.get("n_samples", 1000))):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"data.{name} must be a positive integer, got {value!r}")
    identity_teacher(k, d)
    network = dict(layered["network"])
    width = network.get("width", network.get("widths", [None, None])[1])
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"network.width must be a positive integer, got {width!r}")
    if network.get("activation", "relu") != "relu" or network.get("bias", False) or \
            not network.get("fixed_output", True) or network.get("depth", 1) != 1:
        raise ValueError(f"the {KIND} landscape is for one hidden ReLU layer without biases and with output "
                         "weights fixed to 1")
    train = dict(layered.get("train", {}))
    optimizer = train.pop("optimizer", "gd")
    if optimizer not in ("gd", "flow"):
        raise ValueError(f"the {KIND} preset trains by plain gradient descent (train.optimizer = gd) or "
                         "gradient flow (flow)")
    if train.pop("dtype", "float64") != "float64":
        raise ValueError(f"the {KIND} preset computes in float64 (train.dtype)")
    train.pop("device", None)                       # the population loss runs on the CPU
    if optimizer == "flow":
        flow = _flow_settings(train)
    if "epochs" in train:                           # the CLI's --epochs caps the descent steps
        train["max_steps"] = train.pop("epochs")
    descent = DescentConfig.from_dict(train) if optimizer == "gd" else DescentConfig()
    if descent.lr is None:                          # record the step actually taken
        descent.lr = 2.5 / k
    tolerances = type(POPULATION_TOLERANCES).from_dict(layered.get("tolerances", {}))
    spec = MLPSpec((d, width, 1), "relu", False, fixed_output=True)
    return {
        "preset": preset,
        "data": {"kind": KIND, "teacher_width": k, "d_in": d, "n_samples": int(data.get("n_samples", 1000)),
                 "seed": int(data.get("seed", 0))},
        "network": spec.to_dict(),
        "teacher": MLPSpec((d, k, 1), "relu", False, fixed_output=True).to_dict(),
        "seeds": seeds,
        "train": flow if optimizer == "flow" else {"optimizer": "gd", **descent.to_dict()},
        "refine": dict(PRESET["refine"]),
        "tolerances": tolerances.to_dict(),
    }


#: The settings gradient flow reads here (``n_snapshots``: output times), with the defaults of
#: :class:`~lsexplorer.core.training.train.TrainConfig`.
FLOW_DEFAULTS = {"flow_method": "rodas4", "rtol": 1e-3, "atol": 1e-6, "t_max": 1e7, "grad_tol": 1e-9,
                 "n_snapshots": 41, "n_loss_points": 41}


def _flow_settings(train: dict) -> dict:
    """The ``[train]`` of a gradient-flow population run: :data:`FLOW_DEFAULTS` under what was given.

    The preset's descent settings give way; any other key given explicitly is refused.
    """
    given = {k: v for k, v in train.items() if k not in DescentConfig().to_dict() or k == "grad_tol"}
    unknown = sorted(set(given) - set(FLOW_DEFAULTS) - {"epochs"})
    if unknown:
        raise ValueError(f"unknown gradient-flow setting(s) for {KIND}: {', '.join(unknown)}; "
                         f"known: {', '.join(FLOW_DEFAULTS)}")
    out = {"optimizer": "flow", "dtype": "float64", **FLOW_DEFAULTS}
    out.update({k: v for k, v in given.items() if k in FLOW_DEFAULTS})
    for key in FLOW_DEFAULTS:
        train.pop(key, None)
    return out


def population_problem(session_or_config) -> ReluGaussian:
    """The :class:`ReluGaussian` problem a ``relu-gaussian`` session or config describes."""
    config = session_or_config.config if isinstance(session_or_config, Session) else session_or_config
    data = config["data"]
    k = int(data["teacher_width"])
    return ReluGaussian(identity_teacher(k, int(data.get("d_in", k))), int(config["network"]["widths"][1]))


def session_landscape(session: Session) -> Landscape:
    """The loss a session's points are critical points of: the population loss of a ``relu-gaussian``
    session, else the mean squared error on ``/data``."""
    if is_population(session):
        return population_landscape(population_problem(session))
    return network_landscape(session.spec, session.x, session.y)


def distribution_sample(problem: ReluGaussian, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``x (N, d)`` drawn from ``N(0, I_d)`` and the teacher's outputs ``y (N, 1)``, seeded."""
    x = np.random.default_rng(seed).standard_normal((n_samples, problem.d))
    y = np.maximum(x @ problem.teacher.T, 0.0).sum(axis=1, keepdims=True)
    return x, y


#: ``(value_grad, hessians, theta0 (S, P), stop) -> generator`` returning a training result with
#: ``theta``, ``snapshot_epochs``, ``snapshots``, ``loss_epochs``, ``loss_curve``, ``epochs_done``,
#: ``stopped``, ``elapsed``, ``converged_epoch``, ``end_reason`` (the gradient-flow trainer, which
#: this package does not import: the experiment layer hands it in).
FlowTrainer = Callable[..., Generator[Any, None, Any]]


def run_population_experiment(config: Mapping, stop: threading.Event | None = None,
                              flow: FlowTrainer | None = None) -> Generator[Any, None, Session]:
    """Descend (or follow the gradient flow with ``flow``) and certify every seed of a ``relu-gaussian``
    config; returns the session.

    Yields :class:`~lsexplorer.core.base.progress.Progress` records (stage ``train``: steps, stage
    ``certify``: points), like :func:`~lsexplorer.core.experiment.experiment.run_experiment`.
    """
    config = copy.deepcopy(dict(config))
    problem = population_problem(config)
    seeds = np.asarray(config["seeds"], dtype=np.int64)
    theta_init = xavier_normal(problem.n, problem.d, seeds)
    if config["train"].get("optimizer") == "flow":
        if flow is None:
            raise ValueError("a gradient-flow population run needs the flow trainer")
        trained = yield from flow(lambda t: problem.loss_and_grad(t, robust=False), problem.hessian, theta_init, stop)
        config["run"] = {"epochs_done": int(trained.epochs_done), "stopped": bool(trained.stopped), "device": "cpu",
                         "backend": trained.backend, "train_seconds": float(trained.elapsed),
                         "grad_tol_converged": int((trained.converged_epoch >= 0).sum()),
                         "flow_end": [str(r) for r in trained.end_reason]}
        trajectory = Trajectory(trained.snapshot_epochs, trained.snapshots.astype(np.float32),
                                np.stack([problem.loss(trained.snapshots[:, k]).numpy()
                                          for k in range(trained.snapshots.shape[1])], axis=1))
        return (yield from _certified_session(config, problem, seeds, theta_init, trained.theta,
                                              trained.loss_curve[:, -1], trajectory,
                                              LossCurve(trained.loss_epochs, trained.loss_curve), stop))
    descent_cfg = DescentConfig.from_dict({k: v for k, v in config["train"].items() if k != "optimizer"})
    descent = descend(problem, theta_init, descent_cfg, stop)
    while True:
        try:
            p = next(descent)
        except StopIteration as done:
            trained = done.value
            break
        yield Progress("train", p.step, descent_cfg.max_steps, p.elapsed, loss=p.loss, converged=p.done)
    config["run"] = {"epochs_done": int(trained.steps.max()), "stopped": bool(trained.stopped), "device": "cpu",
                     "backend": "population", "train_seconds": float(trained.elapsed),
                     "grad_tol_converged": int(trained.converged.sum())}
    trajectory = Trajectory(trained.snapshot_steps, trained.snapshots.astype(np.float32), trained.snapshot_loss)
    return (yield from _certified_session(config, problem, seeds, theta_init, trained.theta, trained.loss, trajectory,
                                          LossCurve(trained.snapshot_steps, trained.snapshot_loss), stop))


def _certified_session(config: dict, problem: ReluGaussian, seeds: np.ndarray, theta_init: np.ndarray,
                       theta: np.ndarray, train_loss: np.ndarray, trajectory: Trajectory, loss_curve: LossCurve,
                       stop: threading.Event | None) -> Generator[Any, None, Session]:
    """Certify the end points ``theta (S, P)`` and make the session."""
    started = time.perf_counter()
    certifier = certify_population(problem, theta,
                                   type(POPULATION_TOLERANCES).from_dict(config["tolerances"]), stop)
    while True:
        try:
            c = next(certifier)
        except StopIteration as done:
            points: PopulationPoints = done.value
            break
        yield Progress("certify", c.done, c.total, time.perf_counter() - started)
    x, y = distribution_sample(problem, config["data"]["n_samples"], config["data"]["seed"])
    runs = Runs.from_certified(points, seed=seeds, theta_init=theta_init, train_loss=train_loss, theta_trained=theta,
                               trajectory=trajectory, loss_curve=loss_curve)
    distribution = {"kind": "standard-normal", "d": problem.d,
                    "loss": "E[(sum_i relu(w_i.x) - sum_j relu(v_j.x))^2]",
                    "sample": "x, y are a sample for plots; losses are expectations"}
    return Session(config=config, x=x, y=y, teacher_theta=problem.teacher.ravel().copy(), runs=runs,
                   analyses={}, lsexplorer_version=__version__, distribution=distribution)


__all__ = ["APPLICABLE_ANALYSES", "KIND", "PRESET", "distribution_sample", "is_population", "population_config",
           "population_problem", "run_population_experiment", "session_landscape"]
