"""What a loaded session's ``/analyses`` must look like for the code that reads it back.

:func:`lsexplorer.core.session.load_session` checks that ``/analyses`` is a tree of dicts, arrays
and scalars; this module checks the analyses lsexplorer itself writes (teacher matching, closest
saddles, mu sweeps, escape searches, theorem reports, saddle descents) in two steps.
:func:`check_analyses_layout` needs no torch: groups are groups, per-run keys name existing runs,
every summary table has its columns with one row per analysed run. :func:`check_analysis_results`
parses every stored result with the reader the analyses and panels use, checks each field's
declared type and the shapes the session's network implies. A file edited by hand or damaged in
transit is then refused when it is opened, with the path of the first bad entry, instead of crashing
an analysis, a panel or an export later. Other names under ``/analyses`` are left alone.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from .kinds import KINDS

_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


class _Bad(ValueError):
    pass


def _bad(where: str, reason: str):
    raise _Bad(f"{where} {reason}")


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        _bad(where, f"must be a group, got {type(value).__name__}")
    return value


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
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


def _parse(cls, d: Any, where: str):
    """``cls.from_dict(d)`` with every field of the declared type, or :class:`_Bad` naming ``where``."""
    _mapping(d, where)
    try:
        obj = cls.from_dict(d)
        hints = typing.get_type_hints(cls)
    except _PARSE_ERRORS as e:
        _bad(where, f"is not a stored {cls.__name__} ({type(e).__name__}: {e})")
    for f in dataclasses.fields(obj):
        if not _matches(getattr(obj, f.name), hints[f.name]):
            _bad(f"{where}/{f.name}", f"must be {getattr(hints[f.name], '__name__', hints[f.name])}, "
                                       f"got {getattr(obj, f.name)!r:.60}")
    return obj


def _shape(where: str, arr: np.ndarray, *dims) -> None:
    """``arr`` has ``len(dims)`` axes; a None dim is free."""
    if arr.ndim != len(dims) or any(d is not None and d != s for d, s in zip(dims, arr.shape)):
        _bad(where, f"has shape {arr.shape}, expected ({', '.join('any' if d is None else str(d) for d in dims)})")


def _rows(group: Any, where: str, n_runs: int) -> dict:
    """A per-run group: keys are run rows ``"0"``..``"S-1"``."""
    for key in _mapping(group, where):
        if not (key.isdigit() and int(key) < n_runs):
            _bad(f"{where}/{key}", f"does not name a run (the session has runs 0..{n_runs - 1})")
    return group


def _summary(group: Any, where: str, n_runs: int, keys: tuple[str, ...]) -> None:
    s = _mapping(group, where)
    missing = [k for k in keys if k not in s]
    if missing:
        _bad(where, f"lacks {', '.join(missing)}")
    run = s["run"]
    if not (isinstance(run, np.ndarray) and run.ndim == 1 and run.dtype.kind in "iu"):
        _bad(f"{where}/run", "must be a 1-D integer array")
    if run.size and (run.min() < 0 or run.max() >= n_runs):
        _bad(f"{where}/run", f"names runs outside 0..{n_runs - 1}")
    for key in keys:
        v = s[key]
        if not (isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == run.shape[0]):
            _bad(f"{where}/{key}", f"must be an array with one row per entry of run ({run.shape[0]})")


_SUMMARIES = {
    "teacher_match": ("run", "residual", "teacher_of", "flipped"),
    "closest_saddle": ("run", "seed", "distance", "mu", "nearest_neuron_distance", "saddle_eigvals", "narrower_kind",
                       "symmetry_induced", "corollary_verdict"),
    "mu_sweep": ("run", "neuron", "layer", "predicted_crossings", "crossings_at_0", "crossings_at_1", "inertia_agrees"),
    "escape": ("run", "kind_before", "kind_after", "scan_found_lower", "flat_found_lower"),
}


def _layout(name: str, g: Any, session) -> None:
    where, S = f"/analyses/{name}", session.runs.n_runs
    g = _mapping(g, where)
    if name == "teacher_match":
        if "summary" in g:
            _summary(g["summary"], f"{where}/summary", S, _SUMMARIES[name])
        return
    if name == "theorems":  # keyed by run row when the driver writes them; nothing reads the keys as rows
        for key, report in g.items():
            _mapping(report, f"{where}/{key}")
        return
    if name == "saddle_descent":
        for row, per_run in _rows(g, where, S).items():
            for key, result in _mapping(per_run, f"{where}/{row}").items():
                _mapping(result, f"{where}/{row}/{key}")
        return
    if "settings" in g:
        _mapping(g["settings"], f"{where}/settings")
    for row, point in _rows(g.get("points", {}), f"{where}/points", S).items():
        _mapping(point, f"{where}/points/{row}")
    if "summary" in g:
        _summary(g["summary"], f"{where}/summary", S, _SUMMARIES[name])
    if name == "escape":
        for row, point in g.get("points", {}).items():
            if point.get("kind_before") not in KINDS:
                _bad(f"{where}/points/{row}/kind_before", f"must be one of {', '.join(KINDS)}")


def _closest_saddle(g: dict, where: str, session) -> None:
    from .closest_saddle import ClosestSaddle, SymmetryInduced

    spec = session.spec
    for row, point in g.get("points", {}).items():
        at = f"{where}/points/{row}"
        c = _parse(ClosestSaddle, point, at)
        _parse(SymmetryInduced, point.get("symmetry_induced"), f"{at}/symmetry_induced")
        if not isinstance(point.get("seed"), int):
            _bad(f"{at}/seed", "must be an integer")
        if not 1 <= c.layer <= len(spec.hidden_widths):
            _bad(f"{at}/layer", f"must be a hidden layer of {spec.describe()}")
        m = spec.widths[c.layer]
        for name in ("line_origin", "line_direction", "saddle"):
            _shape(f"{at}/{name}", getattr(c, name), spec.n_params)
        _shape(f"{at}/perm", c.perm, m)
        if c.perm.dtype.kind not in "iu" or sorted(c.perm.tolist()) != list(range(m)):
            _bad(f"{at}/perm", f"must be a permutation of 0..{m - 1}")
        if not all(0 <= k < m for k in (*c.pair, *c.positions)) or not 0 <= c.neuron < m - 1:
            _bad(at, f"names a neuron outside hidden layer {c.layer} (width {m})")
        narrow = list(spec.widths)
        narrow[c.layer] -= 1
        if list(c.narrower.spec.widths) != narrow:
            _bad(f"{at}/narrower/spec", f"widths {list(c.narrower.spec.widths)} are not {narrow}")
        _shape(f"{at}/narrower/theta", c.narrower.theta, c.narrower.spec.n_params)
        _shape(f"{at}/narrower/eigvals", c.narrower.eigvals, c.narrower.spec.n_params)
        _shape(f"{at}/saddle_eigvals", c.saddle_eigvals, None)


def _mu_sweep(g: dict, where: str, session) -> None:
    from .inertia import MuSweep

    for row, point in g.get("points", {}).items():
        at = f"{where}/points/{row}"
        sw = _parse(MuSweep, point, at)
        K = sw.mus.shape[0] if sw.mus.ndim == 1 else -1
        for name in ("mus", "loss", "grad_norm", "zero_tol"):
            _shape(f"{at}/{name}", getattr(sw, name), K)
        _shape(f"{at}/eigvals", sw.eigvals, K, None)
        _shape(f"{at}/measured", sw.measured, K, 3)
        _shape(f"{at}/predicted", sw.predicted, K, 3)
        for name in ("y_eigvals", "y_restricted_eigvals", "u_singular_values", "narrow_eigvals"):
            _shape(f"{at}/{name}", getattr(sw, name), None)


def _escape(g: dict, where: str, session) -> None:
    from .escape import EscapeScan, FlatSearch

    P = session.spec.n_params
    for row, point in g.get("points", {}).items():
        at = f"{where}/points/{row}"
        scan = _parse(EscapeScan, point.get("scan"), f"{at}/scan")
        flat = _parse(FlatSearch, point.get("flat"), f"{at}/flat")
        _shape(f"{at}/scan/direction", scan.direction, P)
        n = scan.eps.shape[0] if scan.eps.ndim == 1 else -1
        for name in ("eps", "loss", "grad_norm"):
            _shape(f"{at}/scan/{name}", getattr(scan, name), n)
        if flat.lower_point.size:  # empty when nothing lower was found
            _shape(f"{at}/flat/lower_point", flat.lower_point, P)
        if flat.path.size:
            _shape(f"{at}/flat/path", flat.path, None, P)
            _shape(f"{at}/flat/path_loss", flat.path_loss, flat.path.shape[0])


def _theorems(g: dict, where: str, session) -> None:
    from .theorems import TheoremReport

    for key, report in g.items():
        _parse(TheoremReport, report, f"{where}/{key}")


def _saddle_descent(g: dict, where: str, session) -> None:
    from .saddle_descent import SaddleDescent

    for row, per_run in g.items():
        for name, result in per_run.items():
            _parse(SaddleDescent, result, f"{where}/{row}/{name}")


_RESULTS: dict[str, Callable[[dict, str, Any], None]] = {
    "closest_saddle": _closest_saddle, "mu_sweep": _mu_sweep, "escape": _escape, "theorems": _theorems,
    "saddle_descent": _saddle_descent,
}
_LAYOUTS = ("teacher_match", *_RESULTS)


def check_analyses_layout(session) -> None:
    """Raise ``ValueError`` naming the first stored analysis of ``session`` whose layout its readers
    cannot use (groups, per-run keys, summary tables). Needs no torch."""
    for name in _LAYOUTS:
        if name in session.analyses:
            try:
                _layout(name, session.analyses[name], session)
            except _Bad:
                raise
            except _PARSE_ERRORS as e:
                raise ValueError(f"/analyses/{name} is malformed ({type(e).__name__}: {e})") from None


def check_analysis_results(session) -> None:
    """Raise ``ValueError`` naming the first stored result of ``session`` that does not parse with its
    reader, has a field of the wrong type or an array of the wrong shape. Call after
    :func:`check_analyses_layout`; imports the analyses' modules (torch)."""
    for name, check in _RESULTS.items():
        if name in session.analyses:
            try:
                check(session.analyses[name], f"/analyses/{name}", session)
            except _Bad:
                raise
            except _PARSE_ERRORS as e:
                raise ValueError(f"/analyses/{name} is malformed ({type(e).__name__}: {e})") from None


__all__ = ["check_analyses_layout", "check_analysis_results"]
