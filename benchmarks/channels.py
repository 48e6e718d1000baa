"""Speed of the channel analysis: every diverged run of the bundled sample, re-examined.

Times the ``channels`` analysis (:func:`lsexplorer.core.analyses.analyze.analyze_session`) over all the sample's rows
that refinement drove off to infinity (30 of 100: decomposition, limit model refinement with its
exact Hessian, approach curve), and, as the in-process baseline, the float64 refinement
(:func:`lsexplorer.core.critical.refine.refine`) of the trained points of a few of the same rows (one torch
thread, as certification runs it), the step that certification runs for them anyway. Prints seconds and the ratio of the analysis per row to
the refinement per row.

    python benchmarks/channels.py [--threads 2] [--baseline-rows 5]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.analyses.analyze import analyze_session
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.refine import refine
from lsexplorer.core.store.session import load_session

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline-rows", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    session = load_session(SAMPLE)
    rows = [i for i, reason in enumerate(session.runs.stop_reason) if "diverged" in reason]
    fresh = copy.deepcopy(session)
    fresh.analyses.pop("channels", None)
    fresh.runs.kind[rows] = "not_converged"

    started = time.perf_counter()
    summary = run_generator(analyze_session(fresh, rows, ["channels"]))["channels"]
    analysis = time.perf_counter() - started

    base_rows = rows[:args.baseline_rows]
    torch.set_num_threads(1)  # as certify.py runs refinements of small nets
    started = time.perf_counter()
    for row in base_rows:
        refine(session.spec, session.runs.theta_trained[row], session.x, session.y)
    baseline = time.perf_counter() - started

    per_row, per_refine = analysis / len(rows), baseline / len(base_rows)
    print(f"channel analysis of {len(rows)} diverged sample runs: {analysis:.1f} s ({per_row:.2f} s/run), "
          f"{summary['channel']} channel, {summary['channel_saddle']} channel_saddle; target <= 60 s")
    print(f"baseline, float64 refinement of {len(base_rows)} of their trained points: {per_refine:.2f} s/run")
    print(f"ratio analysis/refinement per run: {per_row / per_refine:.2f}  ({args.threads} torch threads)")
    return 0 if np.isfinite(analysis) else 1


if __name__ == "__main__":
    raise SystemExit(main())
