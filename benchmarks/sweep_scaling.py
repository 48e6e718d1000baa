"""Sweep engine scaling: the same sweep on a local Dask cluster of 1 worker and of 2 workers.

Prints the speed-up of 2 workers over 1 (ideal 2 on two idle cores) and the engine's per-task
overhead: the wall time of the 1-worker sweep minus the seconds the tasks themselves spent inside
:func:`lsexplorer.core.sweep.sweep.run_chunk`, per task. That overhead is everything the engine adds:
submitting, scheduling, moving the result arrays, writing the chunk file and the manifest,
assembling the sessions. Workers are warmed up (torch imported, the training kernel built) before
any timing, so both runs pay the same start-up, which is not part of a sweep's cost per task.

Both sweeps run in this process one after the other; the load average is printed, since other
load on the machine eats into the speed-up. The tasks' CPU seconds are printed too: on a saturated
machine wall time says little, while equal CPU seconds with 1 and 2 workers show that parallel tasks
do not get in each other's way.

    python benchmarks/sweep_scaling.py [--widths 3 4] [--seeds 32] [--chunk 4] [--epochs 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.sweep.sweep import open_client, run_chunk, run_sweep
from lsexplorer.core.sweep.manifest import plan_sweep, read_chunk

#: A small Gaussian-teacher problem: tasks of about a second each, dominated by training.
BASE = {"data": {"n_samples": 256, "teacher_widths": [2]}, "train": {"lr": 0.02, "device": "cpu"},
        "refine": {"slsqp_maxeval": 3000}}


def _warm_up(client, plan) -> None:
    """Import torch and build the training kernel of every width on every worker (one tiny chunk each)."""
    for point in plan.points:
        cfg = {**point.config, "train": {**point.config["train"], "epochs": 10}}
        futures = [client.submit(run_chunk, cfg, [0], pure=False, workers=[w])
                   for w in client.scheduler_info()["workers"]]
        client.gather(futures)


def timed_sweep(plan, n_workers: int) -> tuple[float, float, float]:
    """``(wall seconds, seconds inside the tasks, CPU seconds of the tasks)`` of ``plan`` on a fresh
    local cluster of ``n_workers``."""
    with open_client(None, n_workers, "cpu") as client, tempfile.TemporaryDirectory() as tmp:
        client.wait_for_workers(n_workers)
        _warm_up(client, plan)
        start = time.perf_counter()
        summary = run_generator(run_sweep(plan, Path(tmp) / "sweep", client))
        wall = time.perf_counter() - start
        assert summary.complete and not summary.failed, summary
        runs = [read_chunk(Path(tmp) / "sweep", c)["run"] for c in plan.chunks]
    return wall, sum(r["seconds"] for r in runs), sum(r["cpu_seconds"] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20_000)
    args = parser.parse_args()
    overrides = {**BASE, "seeds": {"count": args.seeds}, "train": {**BASE["train"], "epochs": args.epochs}}
    plan = plan_sweep("gaussian", None, overrides, args.widths, None, args.chunk)
    n_tasks = len(plan.chunks)
    print(f"sweep: widths {args.widths} x {args.seeds} seeds, chunks of {args.chunk} = {n_tasks} tasks, "
          f"{args.epochs} epochs; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before")
    wall1, inside1, cpu1 = timed_sweep(plan, 1)
    print(f"1 worker : {wall1:7.2f} s wall, {inside1:7.2f} s inside tasks, {cpu1:7.2f} CPU s")
    wall2, inside2, cpu2 = timed_sweep(plan, 2)
    print(f"2 workers: {wall2:7.2f} s wall, {inside2:7.2f} s inside tasks, {cpu2:7.2f} CPU s")
    print(f"speed-up of 2 workers over 1: {wall1 / wall2:.2f}x (ideal 2.00x on two idle cores)")
    print(f"each task ran {inside2 / inside1:.2f}x as long with 2 workers as with 1 "
          f"(1.00 when the second core is free; more means other load shares the cores)")
    print(f"CPU seconds of the tasks with 2 workers / with 1: {cpu2 / cpu1:.2f} (1.00: parallel tasks do not "
          f"slow each other down; the speed-up on idle cores is then bounded only by the overhead below)")
    print(f"engine overhead per task (1 worker): {(wall1 - inside1) / n_tasks:.3f} s "
          f"(target <= 0.5 s); load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
