"""The checks every stored analysis is held to when a session is opened, and the tools to write one.

A file edited by hand or damaged in transit is refused when it is opened, naming the first bad
entry, instead of crashing an analysis, a panel or an export later. Each analysis module checks its
own group with these tools (its ``check``); :func:`lsexplorer.core.analyses.check_stored` calls them
all. A check has two parts: the layout (groups are groups, per-run keys name existing runs, summary
tables have their columns with one row per analysed run), which needs no torch, and, when
``results`` is asked for, every stored result parsed with the reader the analyses and panels use,
each field of its declared type and each array of the shape the session's network implies.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import numpy as np

#: What a reader raises on a result it cannot parse.
PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


class Malformed(ValueError):
    """A stored analysis entry its readers cannot use; the message starts with the entry's path."""


def bad(where: str, reason: str) -> typing.NoReturn:
    raise Malformed(f"{where} {reason}")


def mapping(value: Any, where: str) -> dict:
    """``value`` if it is a group (a dict), else :class:`Malformed`."""
    if not isinstance(value, dict):
        bad(where, f"must be a group, got {type(value).__name__}")
    return value


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if hint is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if hint is str:
        return isinstance(value, str)
    if hint is np.ndarray:
        return isinstance(value, np.ndarray) and value.dtype.kind in "biufcU"
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    if origin is tuple:
        return isinstance(value, tuple) and all(isinstance(v, (int, float, np.number)) for v in value)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint) and _fields_ok(value)
    return True  # a type this checker does not model (e.g. MLPSpec, validated by its constructor)


def _fields_ok(obj: Any) -> bool:
    hints = typing.get_type_hints(type(obj))
    return all(_matches(getattr(obj, f.name), hints[f.name]) for f in dataclasses.fields(obj))


def parse(cls, d: Any, where: str):
    """``cls.from_dict(d)`` with every field of the declared type, or :class:`Malformed` naming ``where``."""
    mapping(d, where)
    try:
        obj = cls.from_dict(d)
        hints = typing.get_type_hints(cls)
    except PARSE_ERRORS as e:
        bad(where, f"is not a stored {cls.__name__} ({type(e).__name__}: {e})")
    for f in dataclasses.fields(obj):
        if not _matches(getattr(obj, f.name), hints[f.name]):
            bad(f"{where}/{f.name}", f"must be {getattr(hints[f.name], '__name__', hints[f.name])}, "
                                     f"got {getattr(obj, f.name)!r:.60}")
    return obj


def shape(where: str, arr: np.ndarray, *dims) -> None:
    """``arr`` has ``len(dims)`` axes; a None dim is free."""
    if arr.ndim != len(dims) or any(d is not None and d != s for d, s in zip(dims, arr.shape)):
        bad(where, f"has shape {arr.shape}, expected ({', '.join('any' if d is None else str(d) for d in dims)})")


def run_rows(group: Any, where: str, n_runs: int) -> dict:
    """A per-run group: keys are run rows ``"0"``..``"S-1"``."""
    for key in mapping(group, where):
        if not (key.isdigit() and int(key) < n_runs):
            bad(f"{where}/{key}", f"does not name a run (the session has runs 0..{n_runs - 1})")
    return group


def summary_table(group: Any, where: str, n_runs: int, keys: tuple[str, ...]) -> None:
    """A summary table: every column of ``keys``, ``run`` naming runs, one row per entry of ``run``."""
    s = mapping(group, where)
    missing = [k for k in keys if k not in s]
    if missing:
        bad(where, f"lacks {', '.join(missing)}")
    run = s["run"]
    if not (isinstance(run, np.ndarray) and run.ndim == 1 and run.dtype.kind in "iu"):
        bad(f"{where}/run", "must be a 1-D integer array")
    if run.size and (run.min() < 0 or run.max() >= n_runs):
        bad(f"{where}/run", f"names runs outside 0..{n_runs - 1}")
    for key in keys:
        v = s[key]
        if not (isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == run.shape[0]):
            bad(f"{where}/{key}", f"must be an array with one row per entry of run ({run.shape[0]})")


def points_and_summary(group: Any, where: str, n_runs: int, summary_keys: tuple[str, ...]) -> dict:
    """The common layout ``settings``, ``points/<row>`` and ``summary``; returns the group."""
    g = mapping(group, where)
    if "settings" in g:
        mapping(g["settings"], f"{where}/settings")
    for row, point in run_rows(g.get("points", {}), f"{where}/points", n_runs).items():
        mapping(point, f"{where}/points/{row}")
    if "summary" in g:
        summary_table(g["summary"], f"{where}/summary", n_runs, summary_keys)
    return g


__all__ = ["PARSE_ERRORS", "Malformed", "bad", "mapping", "parse", "points_and_summary", "run_rows", "shape",
           "summary_table"]
