"""The types and ranges of every experiment setting, checked in one place.

One table (:data:`SCHEMA`) says, for each section of an experiment config and each key in it, what
a value must be: an integer in a range (booleans are not integers here), a finite number in a range,
a boolean, one of a few words, a path. :func:`check_config_values` applies it to a config being
built (the CLI's flags and TOML files) and :func:`check_stored_config` to the config read from a
session file, so a wrong type, NaN, infinity, a negative count or an absurd value is refused up
front with the key named, instead of failing hours later or being stored.

Keys the table does not know are left to the callers: building a config refuses them, reading a
stored one tolerates them (sessions from other versions).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .spec import ACTIVATIONS

#: Training choices (:class:`lsexplorer.core.training.train.TrainConfig` imports them from here, so that
#: checking a config needs no torch).
OPTIMIZERS = ("adam", "sgd", "flow")
#: Integrators of ``optimizer = "flow"`` (:mod:`lsexplorer.core.training.flow`): the batched Rosenbrock
#: methods (order 4 and order 2), or scipy's Radau / BDF one seed at a time.
FLOW_METHODS = ("rodas4", "rosenbrock23", "radau", "bdf")
DTYPES = ("float32", "float64")
BACKENDS = ("auto", "native", "triton", "torch")
#: Stage-1 methods of refinement (:class:`lsexplorer.core.critical.refine.RefineConfig` imports them from here).
MINIMIZERS = ("slsqp", "trust_newton")

#: Seeds are stored as int64 and written into JSON; above 2**53 some JSON readers round them.
SEED_MAX = 2**53 - 1
#: More epochs than anyone can run (1e12 toy epochs take years); keeps every count inside int64.
EPOCHS_MAX = 10**12
#: More seeds than a session can hold rows for; the resource estimate refuses far fewer.
SEEDS_MAX = 10**8
#: Widest layer and deepest stack accepted; far past what the resource estimate lets run.
WIDTH_MAX = 10**6
DEPTH_MAX = 1000


class ConfigValueError(ValueError):
    """A setting with the wrong type or value; the message names the key."""


@dataclasses.dataclass(frozen=True)
class Integer:
    """A whole number (not a bool, not a float such as 2.7 or 2.0) in ``[lo, hi]``."""

    lo: int
    hi: int

    def check(self, key: str, v: Any) -> None:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ConfigValueError(f"{key} must be an integer, got {v!r}")
        if not self.lo <= v <= self.hi:
            raise ConfigValueError(f"{key} must be an integer in [{self.lo}, {self.hi}], got {v}")


@dataclasses.dataclass(frozen=True)
class Number:
    """A finite int or float (not a bool) in ``[lo, hi]``, ``lo`` excluded when ``lo_open``."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def check(self, key: str, v: Any) -> None:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ConfigValueError(f"{key} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ConfigValueError(f"{key} must be a finite number, got {v!r}")
        lo_ok = v > self.lo if self.lo_open else v >= self.lo
        hi_ok = v < self.hi if self.hi_open else v <= self.hi
        if not (lo_ok and hi_ok):
            raise ConfigValueError(f"{key} must lie in {'(' if self.lo_open else '['}{self.lo:g}, "
                                   f"{self.hi:g}{')' if self.hi_open else ']'}, got {v!r}")


@dataclasses.dataclass(frozen=True)
class Flag:
    """``true`` or ``false`` (not 0/1, not a string)."""

    def check(self, key: str, v: Any) -> None:
        if not isinstance(v, (bool, np.bool_)):
            raise ConfigValueError(f"{key} must be true or false, got {v!r}")


@dataclasses.dataclass(frozen=True)
class OneOf:
    """One of a few words."""

    options: tuple[str, ...]

    def check(self, key: str, v: Any) -> None:
        if not isinstance(v, str) or v not in self.options:
            raise ConfigValueError(f"{key} must be one of {', '.join(self.options)}, got {v!r}")


@dataclasses.dataclass(frozen=True)
class Text:
    """A non-empty string (a path, a device name), or None where ``nullable``."""

    nullable: bool = False

    def check(self, key: str, v: Any) -> None:
        if v is None and self.nullable:
            return
        if not isinstance(v, str) or not v or "\0" in v:
            raise ConfigValueError(f"{key} must be a non-empty string{' or null' if self.nullable else ''}, got {v!r}")


@dataclasses.dataclass(frozen=True)
class Sequence:
    """A list of ``min_len..max_len`` items, each checked by ``item``."""

    item: Any
    min_len: int
    max_len: int

    def check(self, key: str, v: Any) -> None:
        if not isinstance(v, (list, tuple)):
            raise ConfigValueError(f"{key} must be a list, got {v!r}")
        if not self.min_len <= len(v) <= self.max_len:
            raise ConfigValueError(f"{key} must hold {self.min_len}..{self.max_len} items, got {len(v)}")
        for i, x in enumerate(v):
            self.item.check(f"{key}[{i}]", x)


@dataclasses.dataclass(frozen=True)
class Nullable:
    """None, or what ``inner`` accepts."""

    inner: Any

    def check(self, key: str, v: Any) -> None:
        if v is not None:
            self.inner.check(key, v)


_WIDTH = Integer(1, WIDTH_MAX)
_WIDTHS = Sequence(_WIDTH, 2, DEPTH_MAX + 2)
_SCALE = Number(0.0, 1e6, lo_open=True)
_SECONDS = Number(0.0, 1e7, lo_open=True)
_ITERATIONS = Integer(0, 10**9)

#: Per data kind, its settings (``kind`` itself is checked first).
DATA_KINDS: dict[str, dict[str, Any]] = {
    "toy": {},
    "digits-pca10": {},
    "gaussian": {"n_samples": Integer(1, 10**9), "seed": Integer(0, SEED_MAX), "d_in": _WIDTH,
                 "teacher_widths": Sequence(_WIDTH, 1, DEPTH_MAX), "activation": OneOf(ACTIVATIONS),
                 "bias": Flag(), "input_std": _SCALE, "teacher_std": _SCALE},
    "mnist-pca10": {"mnist_dir": Text(nullable=True), "n_samples": Nullable(Integer(1, 60_000))},
    "mnist5k-pca10": {},
    "relu-gaussian": {"teacher_width": _WIDTH, "d_in": _WIDTH, "n_samples": Integer(1, 10**9),
                      "seed": Integer(0, SEED_MAX)},
}

#: Section -> key -> rule. ``data`` depends on its kind (:data:`DATA_KINDS`); ``seeds`` has three forms.
SCHEMA: dict[str, dict[str, Any]] = {
    "network": {"width": _WIDTH, "depth": Integer(1, DEPTH_MAX), "widths": _WIDTHS,
                "activation": OneOf(ACTIVATIONS), "bias": Flag()},
    # "gd": plain gradient descent of the relu-gaussian preset (its own settings: relu_gaussian_descent).
    "train": {"optimizer": OneOf((*OPTIMIZERS, "gd")), "lr": Number(0.0, 1e6, lo_open=True), "epochs": Integer(1, EPOCHS_MAX),
              "dtype": OneOf(DTYPES), "device": Text(), "betas": Sequence(Number(0.0, 1.0, hi_open=True), 2, 2),
              "eps": Number(0.0, 1.0), "momentum": Number(0.0, 1.0, hi_open=True),
              "n_snapshots": Integer(2, 100_000), "n_loss_points": Integer(2, 10**7),
              "backend": OneOf(BACKENDS), "grad_tol": Number(0.0, 1e6),
              "flow_method": OneOf(FLOW_METHODS), "rtol": Number(0.0, 1.0, lo_open=True, hi_open=True),
              "atol": Number(0.0, 1e3, lo_open=True), "t_max": Number(1.0, 1e15)},
    # nlopt reads a zero maxeval/maxtime as "no limit", so both must be positive.
    "refine": {"slsqp_maxeval": Integer(1, 10**9), "slsqp_maxtime": _SECONDS,
               "slsqp_xtol_rel": Number(0.0, 1.0), "slsqp_ftol_rel": Number(0.0, 1.0),
               "gauss_newton_below": Number(0.0, 1e6), "gauss_newton_max_iter": _ITERATIONS,
               "newton_max_iter": _ITERATIONS, "newton_rcond": Number(0.0, 1.0, hi_open=True),
               "grad_target": Number(0.0, 1e6), "polish_maxtime": _SECONDS,
               "minimizer": OneOf(MINIMIZERS), "trust_max_iter": _ITERATIONS, "trust_maxtime": _SECONDS,
               "trust_gtol": Number(0.0, 1e6), "trust_max_norm_growth": Number(1.0, 1e12),
               "polish": Flag(), "polish_merge_tol": Number(0.0, 1.0), "polish_zero_tol": Number(0.0, 1.0)},
    # Relative tolerances below 1; absolute ones up to 1e3 (anything larger classifies every point alike).
    "tolerances": {"grad_tol": Number(0.0, 1e3), "eig_rtol": Number(0.0, 1.0, hi_open=True),
                   "eig_atol": Number(0.0, 1e3), "loss_rtol": Number(0.0, 1.0, hi_open=True),
                   "loss_atol": Number(0.0, 1e3), "max_norm_growth": Number(1.0, 1e12)},
    # Written by a run, read back by the CLI and the app.
    "run": {"epochs_done": Integer(0, EPOCHS_MAX), "stopped": Flag(), "device": Text(), "backend": Text(),
            "train_seconds": Number(0.0, 1e12), "grad_tol_converged": Integer(0, SEEDS_MAX),
            "imported_from": Sequence(Text(), 0, SEEDS_MAX), "formats": Sequence(Text(), 0, SEEDS_MAX),
            "refined": Flag(), "flow_end": Sequence(Text(), 0, SEEDS_MAX)},
}


def is_flow(config: Any) -> bool:
    """Whether a config's runs followed gradient flow (``train.optimizer = "flow"``): their trajectory and
    loss-curve "epochs" are times ``t``."""
    train = config.get("train") if isinstance(config, Mapping) else None
    return isinstance(train, Mapping) and train.get("optimizer") == "flow"


def check_seeds(seeds: Any, key: str = "seeds", min_count: int = 1) -> list[int]:
    """The seed list of a count, ``{start, count}`` or a list of seeds; raises naming what is wrong.

    A stored session may have no runs (``min_count = 0``); an experiment to run needs one.
    """
    if isinstance(seeds, Mapping):
        unknown = sorted(set(seeds) - {"start", "count"})
        if unknown:
            raise ConfigValueError(f"unknown setting(s) in [{key}]: {', '.join(map(str, unknown))}; known: count, start")
        start, count = seeds.get("start", 0), seeds.get("count")
        Integer(1, SEEDS_MAX).check(f"{key}.count", count)
        Integer(0, SEED_MAX).check(f"{key}.start", start)
        if start + count - 1 > SEED_MAX:
            raise ConfigValueError(f"{key}: the last seed {start + count - 1} exceeds {SEED_MAX}")
        return list(range(start, start + count))
    if isinstance(seeds, (list, tuple)):
        Sequence(Integer(0, SEED_MAX), min_count, SEEDS_MAX).check(key, seeds)
        if len(set(seeds)) != len(seeds):
            raise ConfigValueError(f"{key} must not repeat")
        return [int(s) for s in seeds]
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        return check_seeds({"start": 0, "count": seeds}, key)
    raise ConfigValueError(f"{key} must be a count, {{start, count}} or a list of non-negative integers, got {seeds!r}")


def _check_section(name: str, section: Any, rules: Mapping[str, Any]) -> None:
    if not isinstance(section, Mapping):
        raise ConfigValueError(f"{name} must be a table of settings, got {section!r}")
    for key, value in section.items():
        rule = rules.get(key)
        if rule is not None:
            rule.check(f"{name}.{key}", value)


def check_config_values(config: Mapping, stored: bool = False) -> None:
    """Check every known value of ``config`` (sections as in a TOML file); raises :class:`ConfigValueError`.

    Missing keys and sections are allowed (defaults fill them); keys the schema does not know are
    not judged here. ``stored``: the config of a saved session, which may have no runs and may name
    a data kind of another lsexplorer version.
    """
    if not isinstance(config, Mapping):
        raise ConfigValueError(f"a config must be a table of sections, got {type(config).__name__}")
    if "preset" in config:
        Text().check("preset", config["preset"])
    for name, rules in SCHEMA.items():
        if name in config:
            _check_section(name, config[name], rules)
    if "data" in config:
        data = config["data"]
        if not isinstance(data, Mapping):
            raise ConfigValueError(f"data must be a table of settings, got {data!r}")
        kind = data.get("kind")
        newer = stored and isinstance(kind, str) and kind not in DATA_KINDS  # a newer version's kind
        if "kind" in data and not newer:
            OneOf(tuple(DATA_KINDS)).check("data.kind", kind)
            _check_section("data", data, DATA_KINDS[kind])
    if "seeds" in config:
        check_seeds(config["seeds"], min_count=0 if stored else 1)  # a stored session may have no runs


def check_stored_config(config: Any) -> None:
    """:func:`check_config_values` for a config read from a session: also every section that is
    present must have the type later code relies on (``train`` a table, ``seeds`` a list, ...)."""
    if not isinstance(config, dict):
        raise ConfigValueError("config must be a JSON object")
    for name in ("data", "train", "refine", "run", "network", "tolerances"):
        if name in config and not isinstance(config[name], dict):
            raise ConfigValueError(f'config["{name}"] must be an object, got {config[name]!r}')
    if "preset" in config and not isinstance(config["preset"], str):
        raise ConfigValueError(f'config["preset"] must be a string, got {config["preset"]!r}')
    # Every reader rebuilds the classification tolerances from this section, so it holds known keys only.
    unknown = sorted(set(config.get("tolerances", {})) - set(SCHEMA["tolerances"]))
    if unknown:
        raise ConfigValueError(f"tolerances.{unknown[0]} is not a tolerance lsexplorer knows "
                               f"({', '.join(SCHEMA['tolerances'])})")
    check_config_values(config, stored=True)


__all__ = ["OPTIMIZERS", "FLOW_METHODS", "DTYPES", "BACKENDS", "SEED_MAX", "EPOCHS_MAX", "SEEDS_MAX", "WIDTH_MAX", "DEPTH_MAX", "ConfigValueError", "Integer", "Number",
           "Flag", "OneOf", "Text", "Sequence", "Nullable", "DATA_KINDS", "SCHEMA", "check_seeds",
           "check_config_values", "check_stored_config", "is_flow"]
