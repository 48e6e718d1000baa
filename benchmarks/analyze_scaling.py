"""Analysis scaling: the sample's full ``analyze`` on one worker pinned to one core, then on every core.

Both runs start from the bundled sample with its analyses removed (and the kinds the escape and
channel analyses had relabelled put back), in this process one after the other, so they are
compared on the same machine under the same load. Per analysis it prints the runs computed, the
seconds per run with 1 worker and with N, and the speed-up; then the totals, and whether the two
runs stored the same results (every stored number equal to round-off; wall-clock fields aside).
The 1-worker run computes in this process, pinned to one CPU; the N-worker run hands the runs of
each analysis to N worker processes (:mod:`lsexplorer.core.analyses.parallel_runs`), the start of
the first pool (the worker processes importing torch) included, as a CLI run pays it.

Batching: the closest saddle's and the refinements' per-run work is a chain of small dependent solves
(SLSQP, trust-region Newton), which share the network and data but not their steps, so runs are not
batched with each other. Within a run, what the maths lets go together is batched, and the script
measures what that gains on the sample (run 1, in this process): the escape scan's 1601 losses and
gradients in one numpy pass against one call per point, its Hessians in chunks against one at a time,
and the theorems' fourth derivatives at one shared point against the point repeated per direction.

The load average is printed before and after: other programs on the machine eat into the speed-up.
Where the kernel groups processes by session for scheduling (``/proc/sys/kernel/sched_autogroup_enabled``),
a busy machine gives this session one share of the CPUs however many processes it runs, so the
speed-up of N workers shows only on idle cores; the script says when autogrouping is on.

    python benchmarks/analyze_scaling.py [--workers N] [--runs 0,1,2,...]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from lsexplorer.core.base.heap import retain_freed_memory  # noqa: E402
from lsexplorer.core.base.threads import pin_intra_op_pools  # noqa: E402

pin_intra_op_pools()  # as the CLI does, before numpy and torch load
retain_freed_memory()  # as the CLI and the worker processes do

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lsexplorer.core.analyses.analyze import analyze_session  # noqa: E402
from lsexplorer.core.base.threads import usable_cpus  # noqa: E402
from lsexplorer.core.landscape.point_loss import PointLoss  # noqa: E402
from lsexplorer.core.landscape.surface import chunk_slices, network_landscape  # noqa: E402
from lsexplorer.core.saddles.theorems import directional_derivatives  # noqa: E402
from lsexplorer.core.store.session import Session, load_session  # noqa: E402

SAMPLE = ROOT / "sample_data" / "toy_width5.h5"


def bare(session: Session) -> Session:
    """``session`` with no analyses and the kinds from before any analysis relabelled them."""
    kind = session.runs.kind.copy()
    for group in ("escape", "channels"):
        table = session.analyses.get(group, {}).get("summary", {})
        for row, before in zip(table.get("run", ()), table.get("kind_before", ())):
            kind[int(row)] = before
    runs = dataclasses.replace(session.runs, kind=kind, symmetry_induced=np.zeros_like(session.runs.symmetry_induced))
    return dataclasses.replace(session, runs=runs, analyses={})


@contextlib.contextmanager
def pinned_to_one_cpu():
    """Within: this process (and what it starts) runs on one CPU only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def timed_analyze(session: Session, rows, workers: int) -> tuple[Session, dict[str, tuple[int, float]], float]:
    """The analysed session, ``{analysis: (runs, seconds)}`` and the total seconds of a full analyze."""
    work = bare(session)
    stages: dict[str, tuple[int, float]] = {}
    started = time.perf_counter()
    last, last_stage = started, None
    runner = analyze_session(work, rows, workers=workers)
    while True:
        try:
            p = next(runner)
        except StopIteration:
            break
        now = time.perf_counter()
        if p.stage != last_stage:  # a stage's first record comes at its start
            last, last_stage = now, p.stage
        stages[p.stage] = (p.total, now - last)
    return work, stages, time.perf_counter() - started


def differences(a, b, where: str = "") -> list[str]:
    """Where two stored trees differ beyond round-off (wall-clock fields aside)."""
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(set(a) ^ set(b))[:4]}"]
        return [d for k in a if k not in ("elapsed", "seconds") for d in differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, np.ndarray) and a.dtype.kind in "fc":
        same = a.shape == np.shape(b) and np.allclose(a, b, rtol=1e-10, atol=1e-13, equal_nan=True)
        return [] if same else [where]
    if isinstance(a, np.ndarray):
        return [] if np.array_equal(a, b) else [where]
    if isinstance(a, float) and isinstance(b, float):
        same = a == b or (a != a and b != b) or abs(a - b) <= 1e-10 * max(abs(a), abs(b), 1e-3)
        return [] if same else [where]
    return [] if a == b else [where]


def _best_of(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timings of ``fn()``: seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def batching_gains(session: Session) -> list[str]:
    """Lines: per-point against batched time of the analyses' batched kernels, on run 1 of the sample."""
    spec, theta = session.spec, session.runs.theta[1]
    landscape = network_landscape(spec, session.x, session.y)
    eps = np.linspace(-8.0, 8.0, 1601)
    direction = np.random.default_rng(0).normal(size=theta.size)
    points = theta + eps[:, None] * direction / np.linalg.norm(direction)
    point_loss = PointLoss(spec, session.x, session.y)
    lines = ["batching within a run (run 1; seconds one at a time / batched):"]

    one = _best_of(lambda: [point_loss(p) for p in points])
    many = _best_of(lambda: [point_loss.many(points[sl]) for sl in chunk_slices(len(points), landscape.value_rows)])
    lines.append(f"  escape scan, 1601 losses and gradients: {one:.3f} / {many:.3f} s, {one / many:.1f}x")

    hessian_points = points[::8]
    one = _best_of(lambda: [landscape.hessians(p[None]) for p in hessian_points])
    many = _best_of(lambda: [landscape.hessians(hessian_points[sl])
                             for sl in chunk_slices(len(hessian_points), landscape.hessian_rows)])
    lines.append(f"  escape scan, {len(hessian_points)} Hessians: {one:.3f} / {many:.3f} s, {one / many:.1f}x")

    dirs = np.random.default_rng(1).normal(size=(24, theta.size))
    one = _best_of(lambda: directional_derivatives(landscape, np.repeat(theta[None], len(dirs), 0), dirs, 4))
    many = _best_of(lambda: directional_derivatives(landscape, theta, dirs, 4))
    lines.append(f"  theorems, D^4 f along 24 directions at one point: {one:.4f} / {many:.4f} s, {one / many:.1f}x "
                 "(the point's activations computed once)")
    return lines


def autogroup_note() -> str:
    """A note when the scheduler shares CPUs between sessions rather than processes."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return ""
    return "; autogrouping on (a busy machine gives this session one share)" if enabled else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=usable_cpus(), help="workers of the parallel run (default: "
                        "every usable CPU)")
    parser.add_argument("--runs", help="comma-separated rows of the sample (default: all)")
    args = parser.parse_args()
    rows = None if not args.runs else [int(r) for r in args.runs.split(",")]
    torch.set_num_threads(1)
    session = load_session(SAMPLE)
    print(f"{SAMPLE.name}: {len(session.runs.seed)} runs, {'all' if rows is None else len(rows)} analysed; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} before" + autogroup_note())
    with pinned_to_one_cpu():
        one, stages1, total1 = timed_analyze(session, rows, 1)
    many, stages2, total2 = timed_analyze(session, rows, args.workers)
    many_head = f"s/run, {args.workers} workers"
    print(f"{'analysis':>16} {'runs':>5} {'s/run, 1 worker':>16} {many_head:>18} {'speed-up':>9}")
    for name, (n, seconds1) in stages1.items():
        seconds2 = stages2.get(name, (n, float("nan")))[1]
        print(f"{name:>16} {n:>5} {seconds1 / n:>16.3f} {seconds2 / n:>18.3f} {seconds1 / seconds2:>8.2f}x")
    print(f"{'full analyze':>16} {'':>5} {total1:>15.1f}s {total2:>17.1f}s {total1 / total2:>8.2f}x "
          f"(1 worker pinned to one CPU, against {args.workers})")
    diffs = [d for group in one.analyses for d in differences(one.analyses[group], many.analyses[group], group)]
    same_kinds = np.array_equal(one.runs.kind, many.runs.kind) and np.array_equal(
        one.runs.symmetry_induced, many.runs.symmetry_induced)
    print(f"stored results identical to round-off: {not diffs and same_kinds}" + (f" (differ at {diffs[:5]})"
                                                                                     if diffs else ""))
    for line in batching_gains(session):
        print(line)
    print(f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
