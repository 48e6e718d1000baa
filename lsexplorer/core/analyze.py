"""Run the symmetry analyses on chosen runs of a session and store them under ``/analyses``.

One generator drives them all, in dependency order, so the CLI and the GUI share it:

``symmetry``        teacher matching of every chosen run (two-layer nets with a teacher) and the
                    symmetry-induced decision, which needs the closest saddle;
``closest_saddle``  thesis §6.2.5 for every chosen local minimum (sets ``/runs/symmetry_induced``);
``mu_sweep``        Theorem 3 spectra along the saddle line of each closest saddle (Fig 6.17);
``escape``          Algorithms 1 and 2 at every chosen local minimum; an escape turns the run's
                    kind into ``nonstrict_saddle`` (the kind before is kept in the summary);
``theorems``        Theorems 1 and 2 at each closest saddle, with radius the saddle's distance to
                    the minimum (does the theorem account for the minimum we know is there?).

Layout written (each result's ``to_dict``): ``/analyses/teacher_match/summary``,
``/analyses/closest_saddle/{settings,points/<row>,summary}``, ``/analyses/mu_sweep/{points/<row>,summary}``,
``/analyses/escape/{points/<row>/{scan,flat},summary}``, ``/analyses/theorems/<row>``.

:func:`saddle_descent_analysis` runs apart from these, on one run and a neuron the caller picks
(thesis §6.3.2), into ``/analyses/saddle_descent/<row>/layer<L>_neuron<J>``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator, Sequence

import numpy as np

from .classify import Tolerances
from .closest_saddle import ClosestSaddle, closest_saddle_all, store_closest_saddle
from .escape import direction_scan, escape_verdict, flat_search
from .inertia import MuSweep, mu_sweep
from .saddle_descent import DescentConfig, DescentProgress, SaddleDescent, saddle_descent
from .session import Session
from .symmetry import match_to_teacher
from .relu_gaussian_session import APPLICABLE_ANALYSES, is_population, session_landscape
from .theorems import saddle_theorem_report

ANALYSES = ("symmetry", "closest_saddle", "mu_sweep", "escape", "theorems")
#: A run counts as matching the teacher when the match residual is below this (parameter units);
#: refined toy global minima measure 1e-15 to 2e-5, other points 0.1 and more.
MATCH_RESIDUAL = 1e-4


@dataclasses.dataclass
class AnalyzeProgress:
    """``analysis`` in :data:`ANALYSES`; ``done``/``total`` count runs within it."""

    analysis: str
    done: int
    total: int
    run: int | None
    elapsed: float


@dataclasses.dataclass
class AnalyzeOptions:
    """Budgets and knobs of the batch analyses (each analysis also has finer options in its module)."""

    escape_max_seconds: float = 10.0
    escape_max_nodes: int = 2000
    theorem_max_seconds: float = 10.0
    lam: float = 0.1


def _drive(gen):
    """An inner generator's return value (its own progress records are not forwarded)."""
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value


def _closest(session: Session, row: int) -> ClosestSaddle | None:
    point = session.analyses.get("closest_saddle", {}).get("points", {}).get(str(row))
    return None if point is None else ClosestSaddle.from_dict(point)


def analyze_session(session: Session, runs: Sequence[int] | None = None, analyses: Sequence[str] = ANALYSES,
                    options: AnalyzeOptions | None = None, stop: threading.Event | None = None
                    ) -> Generator[AnalyzeProgress, None, dict]:
    """Compute ``analyses`` for ``runs`` (row indices; default all) and store them in ``session``.

    Works in memory; the caller saves. Returns a JSON-able summary: per analysis the rows done and
    headline counts. A set ``stop`` ends after the current run, keeping what is complete.
    """
    options = options or AnalyzeOptions()
    unknown = set(analyses) - set(ANALYSES)
    if unknown:
        raise ValueError(f"unknown analyses {sorted(unknown)}; choose from {', '.join(ANALYSES)}")
    refused = sorted(set(analyses) - set(APPLICABLE_ANALYSES)) if is_population(session) else []
    if refused:
        raise ValueError(f"{' and '.join(refused)} {'does' if len(refused) == 1 else 'do'} not apply to the "
                         "relu-gaussian landscape (output weights are fixed, so neurons cannot be split); "
                         f"choose {', '.join(APPLICABLE_ANALYSES)}")
    n = len(session.runs.seed)
    rows = np.arange(n) if runs is None else np.asarray(list(runs), dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"run indices must be in 0..{n - 1}, got {rows.tolist()}")
    tolerances = Tolerances.from_dict(session.config.get("tolerances", {}))
    summary: dict = {}
    started = time.perf_counter()
    wanted = set(analyses)
    local = [int(r) for r in rows if session.runs.kind[r] == "local_min"]

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    if "symmetry" in wanted and session.teacher_theta is not None and len(session.spec.hidden_widths) == 1:
        matches = []
        for done, row in enumerate(rows, 1):
            if stopped():
                break
            matches.append((int(row), match_to_teacher(session.spec, session.runs.theta[row], session.teacher_spec,
                                                       session.teacher_theta)))
            yield AnalyzeProgress("symmetry", done, len(rows), int(row), time.perf_counter() - started)
        if matches:
            session.analyses["teacher_match"] = {"summary": {
                "run": np.array([r for r, _ in matches], dtype=np.int64),
                "residual": np.array([m.residual for _, m in matches]),
                "teacher_of": np.array([m.teacher_of for _, m in matches], dtype=np.int64),
                "flipped": np.array([m.flipped for _, m in matches], dtype=bool),
            }}
            summary["teacher_match"] = {"runs": len(matches),
                                        "matched": int(sum(m.residual < MATCH_RESIDUAL for _, m in matches))}

    needs_saddle = wanted & {"symmetry", "closest_saddle", "mu_sweep", "theorems"}
    if needs_saddle and local and not stopped():
        todo = local if "closest_saddle" in wanted or "symmetry" in wanted else \
            [r for r in local if _closest(session, r) is None]
        if todo:
            result = _drive(closest_saddle_all(session, todo, lam=options.lam, tolerances=tolerances, stop=stop))
            if result is not None and result["points"]:
                store_closest_saddle(session, result)
            yield AnalyzeProgress("closest_saddle", len(todo), len(todo), None, time.perf_counter() - started)
        s = session.analyses.get("closest_saddle", {}).get("summary")
        if s is not None:
            summary["closest_saddle"] = {"runs": int(len(s["run"])),
                                         "symmetry_induced": int(np.sum(s["symmetry_induced"]))}

    if "mu_sweep" in wanted and not stopped():
        group = session.analyses.setdefault("mu_sweep", {})
        points = group.setdefault("points", {})
        for done, row in enumerate(local, 1):
            if stopped():
                break
            saddle = _closest(session, row)
            if saddle is None or saddle.narrower.kind == "not_converged":
                continue
            sweep = _drive(mu_sweep(saddle.narrower.spec, saddle.narrower.theta, session.x, session.y,
                                    saddle.layer, saddle.neuron, tolerances=tolerances, stop=stop))
            if sweep is not None and not sweep.stopped:
                points[str(row)] = sweep.to_dict()
            yield AnalyzeProgress("mu_sweep", done, len(local), row, time.perf_counter() - started)
        ordered = sorted(points, key=int)
        sweeps = [MuSweep.from_dict(points[r]) for r in ordered]
        crossings = np.array([sw.zero_crossings() for sw in sweeps], dtype=np.int64).reshape(-1, 2)
        group["summary"] = {
            "run": np.array([int(r) for r in ordered], dtype=np.int64),
            "neuron": np.array([sw.neuron for sw in sweeps], dtype=np.int64),
            "layer": np.array([sw.layer for sw in sweeps], dtype=np.int64),
            "predicted_crossings": np.array([sw.predicted_crossings for sw in sweeps], dtype=np.int64),
            "crossings_at_0": crossings[:, 0], "crossings_at_1": crossings[:, 1],
            "inertia_agrees": np.array([bool(np.array_equal(sw.measured, sw.predicted)) for sw in sweeps], dtype=bool),
        }
        summary["mu_sweep"] = {"runs": len(ordered),
                               "inertia_agrees_everywhere": int(group["summary"]["inertia_agrees"].sum())}

    if "escape" in wanted and not stopped():
        group = session.analyses.setdefault("escape", {})
        points = group.setdefault("points", {})
        landscape = session_landscape(session)
        for done, row in enumerate(local, 1):
            if stopped():
                break
            theta = session.runs.theta[row]
            scan = _drive(direction_scan(landscape, theta, stop=stop))
            flat = _drive(flat_search(landscape, theta, max_nodes=options.escape_max_nodes,
                                      max_seconds=options.escape_max_seconds, stop=stop))
            if stopped():
                break
            points[str(row)] = {"scan": scan.to_dict(), "flat": flat.to_dict(),
                                "kind_before": str(session.runs.kind[row])}
            session.runs.kind[row] = escape_verdict(str(session.runs.kind[row]), scan, flat)
            yield AnalyzeProgress("escape", done, len(local), row, time.perf_counter() - started)
        ordered = sorted(points, key=int)
        group["summary"] = {
            "run": np.array([int(r) for r in ordered], dtype=np.int64),
            "kind_before": np.array([points[r]["kind_before"] for r in ordered], dtype=str),
            "kind_after": np.array([session.runs.kind[int(r)] for r in ordered], dtype=str),
            "scan_found_lower": np.array([bool(points[r]["scan"]["found_lower"]) for r in ordered], dtype=bool),
            "flat_found_lower": np.array([bool(points[r]["flat"]["found_lower"]) for r in ordered], dtype=bool),
        }
        summary["escape"] = {"runs": len(ordered),
                             "nonstrict_saddle": int(np.sum(group["summary"]["kind_after"] == "nonstrict_saddle"))}

    if "theorems" in wanted and not stopped():
        group = session.analyses.setdefault("theorems", {})
        for done, row in enumerate(local, 1):
            if stopped():
                break
            saddle = _closest(session, row)
            if saddle is None or saddle.narrower.kind == "not_converged":
                continue
            radius = max(float(saddle.distance), 1e-6)
            report = _drive(saddle_theorem_report(session.spec, saddle.saddle, session.x, session.y, radius,
                                                  max_seconds=options.theorem_max_seconds, stop=stop))
            if stopped():
                break
            group[str(row)] = report.to_dict()
            yield AnalyzeProgress("theorems", done, len(local), row, time.perf_counter() - started)
        summary["theorems"] = {"runs": len(group)}
    return summary


def saddle_descent_analysis(session: Session, row: int, layer: int, neuron: int, config: DescentConfig | None = None,
                            stop: threading.Event | None = None) -> Generator[DescentProgress, None, SaddleDescent]:
    """Thesis §6.3.2 from run ``row``'s point, duplicating ``neuron`` of hidden ``layer``; stored in ``session``.

    Stored under ``/analyses/saddle_descent/<row>/layer<L>_neuron<J>`` (:meth:`SaddleDescent.to_dict`),
    replacing an earlier one; a stopped analysis is returned but not stored. Works in memory; the
    caller saves.
    """
    n = len(session.runs.seed)
    if not 0 <= row < n:
        raise ValueError(f"run index must be in 0..{n - 1}, got {row}")
    tolerances = Tolerances.from_dict(session.config.get("tolerances", {}))
    result = yield from saddle_descent(session.spec, session.runs.theta[row], session.x, session.y, layer, neuron,
                                       config, tolerances, stop)
    if not result.stopped:
        per_run = session.analyses.setdefault("saddle_descent", {}).setdefault(str(row), {})
        per_run[f"layer{layer}_neuron{neuron}"] = result.to_dict()
    return result
