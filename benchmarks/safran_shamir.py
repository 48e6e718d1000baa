"""Safran & Shamir (ICML 2018), Tables 1 and 2, reproduced on lsexplorer's population landscape.

A teacher of k ReLU neurons ``v_j = e_j`` in ``R^k``, students of n neurons, output weights 1, inputs
``x ~ N(0, I_k)``; every seed runs gradient descent from a Xavier initialisation until
``||grad|| <= 1e-9``, is refined by Newton in float64 and classified (``relu_gaussian_descent``). A run
ends in a spurious local minimum when its loss is positive and its Hessian positive definite.

Printed per row: the paper's % of runs in spurious minima beside ours with a Wilson 95 % interval,
and the average smallest Hessian eigenvalue and average objective over those minima, both in the
paper's units (its objective is half of lsexplorer's loss). A row "agrees" when the paper's
percentage lies inside our interval.

    OMP_NUM_THREADS=1 python benchmarks/safran_shamir.py [--rows 6,6 8,9] [--seeds 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.population.relu_gaussian import ReluGaussian, identity_teacher, xavier_normal
from lsexplorer.core.population.descent import (
    DescentConfig,
    certify_population,
    descend,
    is_spurious_minimum,
)

#: (k, n) -> (% of runs in spurious minima, average minimal eigenvalue, average objective), as printed.
PAPER = {
    (6, 6): (0.3, 0.0047, 0.025), (7, 7): (5.5, 0.014, 0.023), (8, 8): (12.6, 0.021, 0.021),
    (9, 9): (21.8, 0.027, 0.02), (10, 10): (34.6, 0.03, 0.022), (11, 11): (45.5, 0.034, 0.022),
    (12, 12): (58.5, 0.035, 0.021), (13, 13): (73.0, 0.037, 0.022), (14, 14): (73.6, 0.038, 0.023),
    (15, 15): (80.3, 0.038, 0.024), (16, 16): (85.1, 0.038, 0.027), (17, 17): (89.7, 0.039, 0.027),
    (18, 18): (90.0, 0.039, 0.029), (19, 19): (93.4, 0.038, 0.031), (20, 20): (94.0, 0.038, 0.033),
    (8, 9): (0.1, 0.0059, 0.021), (10, 11): (0.1, 0.0057, 0.018), (11, 12): (0.1, 0.0056, 0.017),
    (12, 13): (0.3, 0.0054, 0.016), (13, 14): (1.5, 0.0015, 0.038), (14, 15): (5.5, 0.002, 0.033),
    (15, 16): (10.1, 0.004, 0.032), (16, 17): (18.0, 0.0055, 0.031), (17, 18): (20.9, 0.007, 0.031),
    (18, 19): (36.9, 0.0064, 0.028), (19, 20): (49.1, 0.0077, 0.027),
}

#: The rows the issue asks for.
DEFAULT_ROWS = [(6, 6), (8, 8), (10, 10), (12, 12), (8, 9), (14, 15), (16, 17)]


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, as fractions."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def run_row(k: int, n: int, seeds: int, first_seed: int = 0) -> dict:
    """One table row: descent, certification and the counts for ``seeds`` seeds."""
    problem = ReluGaussian(identity_teacher(k), n)
    started = time.perf_counter()
    descent = run_generator(descend(problem, xavier_normal(n, k, range(first_seed, first_seed + seeds)),
                                    DescentConfig()))
    points = run_generator(certify_population(problem, descent.theta))
    spurious = is_spurious_minimum(points)
    kinds, counts = np.unique(points.kind, return_counts=True)
    hits = int(spurious.sum())
    lo, hi = wilson_interval(hits, seeds)
    paper = PAPER.get((k, n))
    return {
        "k": k, "n": n, "seeds": seeds, "spurious": hits, "percent": 100.0 * hits / seeds,
        "ci95": [100.0 * lo, 100.0 * hi],
        "avg_min_eig": float(points.lambda_min[spurious].mean() / 2) if hits else None,
        "avg_objective": float(points.loss[spurious].mean() / 2) if hits else None,
        "distinct_objectives": sorted({round(float(v) / 2, 6) for v in points.loss[spurious]}),
        "kinds": {str(a): int(b) for a, b in zip(kinds, counts)},
        "descent_capped": int((~descent.converged).sum()),
        "max_steps": int(descent.steps.max()),
        "max_grad_norm": float(np.nanmax(points.grad_norm)),
        "paper": None if paper is None else {"percent": paper[0], "avg_min_eig": paper[1], "avg_objective": paper[2]},
        "agrees": None if paper is None else bool(100.0 * lo <= paper[0] <= 100.0 * hi),
        "seconds": time.perf_counter() - started,
    }


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_header() -> None:
    print(f"{'k':>3} {'n':>3} {'seeds':>5} | {'paper %':>7} {'ours %':>7} {'95% CI':>15} {'in CI':>5} | "
          f"{'paper λmin':>10} {'ours λmin':>9} | {'paper obj':>9} {'ours obj':>8} | other kinds", flush=True)


def print_row(r: dict) -> None:
    p = r["paper"] or {}
    others = {kind: c for kind, c in r["kinds"].items() if kind not in ("global_min",)}
    others["local_min"] = others.get("local_min", 0) - r["spurious"]
    others = ", ".join(f"{kind} {c}" for kind, c in others.items() if c)
    print(f"{r['k']:>3} {r['n']:>3} {r['seeds']:>5} | {_fmt(p.get('percent'), '7.1f')} {r['percent']:7.1f} "
          f"{'[' + format(r['ci95'][0], '.1f') + ', ' + format(r['ci95'][1], '.1f') + ']':>15} "
          f"{'-' if r['agrees'] is None else ('yes' if r['agrees'] else 'NO'):>5} | "
          f"{_fmt(p.get('avg_min_eig'), '10.4f')} {_fmt(r['avg_min_eig'], '9.4f')} | "
          f"{_fmt(p.get('avg_objective'), '9.3f')} {_fmt(r['avg_objective'], '8.3f')} | {others or '-'}",
          flush=True)


def parse_rows(items: list[str]) -> list[tuple[int, int]]:
    rows = []
    for item in items:
        try:
            k, n = (int(part) for part in item.split(","))
        except ValueError:
            raise SystemExit(f"--rows takes k,n pairs such as 6,6 or 8,9; got {item!r}") from None
        if not 1 <= k <= n:
            raise SystemExit(f"--rows needs 1 <= k <= n, got {item!r}")
        rows.append((k, n))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=None, metavar="K,N",
                        help="rows to run (default: 6,6 8,8 10,10 12,12 8,9 14,15 16,17; 'all' for both tables)")
    parser.add_argument("--seeds", type=int, default=1000, help="seeds per row (default 1000, as the paper)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write every row's numbers here")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        raise SystemExit("--seeds must be positive")
    rows = (sorted(PAPER, key=lambda kn: (kn[1] - kn[0], kn[0])) if args.rows == ["all"]
            else parse_rows(args.rows) if args.rows else DEFAULT_ROWS)
    print_header()
    results = []
    for k, n in rows:
        results.append(run_row(k, n, args.seeds, args.first_seed))
        print_row(results[-1])
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
