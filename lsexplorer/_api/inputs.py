"""What the public functions are given, checked the way the command line checks its flags.

Every refusal is an :class:`~lsexplorer.core.base.errors.InputError` with a one-line message, raised
before any work starts and before anything is written.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.base.errors import InputError

#: Sections of an experiment config that keyword overrides may set as a whole (``train={"lr": 0.01}``).
SECTIONS = ("data", "network", "seeds", "train", "refine", "tolerances")
#: Settings of ``[network]`` a keyword sets directly (``width=3``).
NETWORK_SETTINGS = ("width", "depth", "widths", "activation", "bias", "fixed_output")


@contextlib.contextmanager
def one_line_errors(*kinds: type[Exception]) -> Iterator[None]:
    """Turn ``kinds`` (the core's ``ValueError`` for a bad argument, say) into :class:`InputError`."""
    try:
        yield
    except InputError:
        raise
    except kinds as exc:
        raise InputError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None


def train_settings() -> tuple[str, ...]:
    """The ``[train]`` settings a keyword sets directly (``epochs=20_000``, ``lr=0.01``)."""
    import dataclasses

    from ..core.training.train import TrainConfig

    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def config_layers(config: str | os.PathLike | Mapping | None, seeds: int | Sequence[int] | None,
                  first_seed: int | None, overrides: Mapping[str, Any]) -> tuple[dict | None, dict]:
    """``(table, overrides)`` for :func:`~lsexplorer.core.experiment.experiment.build_config`.

    ``config`` is a TOML file or a table in the config's layout (a session's ``config`` will do);
    ``seeds`` a count or a list of seeds; ``first_seed`` the first of a count; ``overrides`` whole
    sections (:data:`SECTIONS`) or single ``[network]`` and ``[train]`` settings by name.
    """
    from ..core.experiment.experiment import read_toml

    if config is None or isinstance(config, Mapping):
        table = None if config is None else dict(config)
    else:
        table = read_toml(config)
    layered: dict[str, Any] = {}
    train = train_settings()
    for key, value in overrides.items():
        if key in SECTIONS:
            if not isinstance(value, Mapping):
                raise InputError(f"{key}= takes a dict of [{key}] settings, got {value!r}")
            layered.setdefault(key, {}).update(value)
        elif key in NETWORK_SETTINGS:
            layered.setdefault("network", {})[key] = value
        elif key in train:
            layered.setdefault("train", {})[key] = value
        else:
            raise InputError(f"unknown setting {key}=; give [network] settings ({', '.join(NETWORK_SETTINGS)}), "
                             f"[train] settings ({', '.join(train)}) or whole sections ({', '.join(SECTIONS)})")
    if first_seed is not None and not is_index(seeds):
        raise InputError("first_seed= goes with a count of seeds (seeds=16), not with a list or none")
    if is_index(seeds):
        layered["seeds"] = {"start": 0 if first_seed is None else int(first_seed), "count": int(seeds)}
    elif seeds is not None:
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
            raise InputError(f"seeds= must be a count or a list of seeds, got {seeds!r}")
        layered["seeds"] = [int(s) if is_index(s) else s for s in seeds]
    return table, layered


def is_index(value: Any) -> bool:
    """An integer (Python's or numpy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def run_rows(runs: int | Sequence[int] | None, n_runs: int, name: str = "runs=") -> list[int] | None:
    """Row indices from ``runs`` (one, several, or None for all), each checked to be in ``0..n_runs - 1``;
    ``name`` is how a refusal calls the argument."""
    if runs is None:
        return None
    rows = [runs] if is_index(runs) else runs
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or not rows:
        raise InputError(f"{name} must be a run index, a list of them or None (every run), got {runs!r}")
    bad = [r for r in rows if not is_index(r) or not 0 <= r < n_runs]
    if bad:
        raise InputError(f"{name}: the session has runs 0..{n_runs - 1}, got {bad[0]!r}")
    return [int(r) for r in rows]


def analysis_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """``{analysis: its options}`` from ``{analysis: {option: value}}``, each value checked as the CLI's
    ``--<analysis>-<option>`` flag checks it (a positive number; a whole one where the option counts)."""
    import dataclasses
    import math

    from ..core.analyses import REGISTRY
    from ..core.analyses.base import option_fields

    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InputError(f"options= takes {{analysis: {{option: value}}}}, got {options!r}")
    out = {}
    for name, given in options.items():
        if name not in REGISTRY:
            raise InputError(f"options= names an unknown analysis {name!r}; choose from {', '.join(REGISTRY)}")
        fields = {f.name: f for f in option_fields(REGISTRY[name])}
        if not isinstance(given, Mapping):
            raise InputError(f"options[{name!r}] takes {{option: value}}, got {given!r}")
        for key, value in given.items():
            field = fields.get(key)
            if field is None:
                known = ", ".join(fields) or "none"
                raise InputError(f"{name} has no option {key!r}; its options: {known}")
            whole = field.type in (int, "int")
            ok = is_index(value) if whole else isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not ok or not 0 < value < math.inf:
                raise InputError(f"options[{name!r}][{key!r}] must be a positive {'integer' if whole else 'number'}, "
                                 f"got {value!r}")
        out[name] = dataclasses.replace(REGISTRY[name].options(), **given)
    return out


def output_path(output: str | os.PathLike, overwrite: bool) -> Path:
    """``output`` checked as the CLI checks ``-o``: absent (or ``overwrite``), in a folder that exists."""
    out = Path(output)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass overwrite=True to overwrite it")
    if not out.parent.exists():
        raise InputError(f"directory {out.parent} does not exist")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent} is not a directory")
    return out


__all__ = ["NETWORK_SETTINGS", "SECTIONS", "analysis_options", "config_layers", "is_index", "one_line_errors",
           "output_path", "run_rows", "train_settings"]
