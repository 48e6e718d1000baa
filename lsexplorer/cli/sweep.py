"""The ``lsexplorer sweep`` verb and ``lsexplorer info SWEEP_DIR``: width x seed sweeps on Dask.

Dask is imported only when a sweep runs, so every other verb starts without it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .._api.progress import signals_ask_to_stop
from .errors import UserError
from .signals import Terminated


def add_sweep_parser(sub, positive_int, positive_float, epochs) -> None:
    """Add the ``sweep`` subparser to ``sub`` (the CLI's subparsers), with the CLI's number parsers."""
    p = sub.add_parser(
        "sweep", help="train and certify a width x seed (x lr) sweep as Dask tasks: one session per width, resumable",
        description="Cut a preset or TOML experiment, crossed with --widths (and --lr values), into tasks of --chunk "
                    "seeds; run them on a local Dask cluster or on --scheduler; write one session per sweep point "
                    "and a manifest into -o DIR. Re-running the same command finishes only what is missing.")
    p.add_argument("--preset", default=None, help="experiment preset (as for train; default toy)")
    p.add_argument("--config", metavar="FILE.toml", help="TOML config; flags given here override it")
    p.add_argument("--widths", type=positive_int, nargs="+", required=True, metavar="W",
                   help="hidden widths to sweep, e.g. --widths 4 5 6 8")
    p.add_argument("--seeds", type=positive_int, help="seeds per width, FIRST..FIRST+N-1")
    p.add_argument("--first-seed", type=int, default=None, metavar="FIRST", help="first seed (default 0)")
    p.add_argument("--lr", type=positive_float, nargs="+", metavar="LR",
                   help="learning rates to sweep as a second axis (default: the config's one)")
    p.add_argument("--epochs", type=epochs, help="full-batch training epochs (1e7 in the thesis)")
    p.add_argument("--optimizer", choices=["adam", "sgd", "flow"],
                   help="flow: gradient flow integrated as an ODE (float64; its [train] t_max, rtol, atol apply)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="training precision (refinement is float64)")
    p.add_argument("--chunk", type=positive_int, default=8, help="seeds per task (default 8)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                   help="device each task trains on, resolved on its worker (default auto: the worker's GPU if any)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler, tcp://HOST:PORT or its --scheduler-file JSON "
                        "(default: a local cluster sized to this machine)")
    p.add_argument("--workers", type=positive_int, help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--analyze", nargs="*", metavar="NAME", default=None,
                   help="also analyse each task's seeds where they trained, so the sessions come back analysed: "
                        "the analyses named (as lsexplorer analyze's flags, e.g. closest_saddle escape), or every "
                        "one that applies when none is named")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="sweep folder (created; re-use it to resume)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _overrides(args: argparse.Namespace) -> dict:
    overrides: dict = {}
    if args.preset:
        overrides["preset"] = args.preset
    if args.seeds is not None or args.first_seed is not None:
        if args.first_seed is not None and args.first_seed < 0:

            raise UserError(f"--first-seed must be >= 0, got {args.first_seed}")
        seeds = {"count": args.seeds} if args.seeds is not None else {}
        if args.first_seed is not None:
            seeds["start"] = args.first_seed
        overrides["seeds"] = seeds
    train = {k: getattr(args, k) for k in ("epochs", "optimizer", "dtype", "device") if getattr(args, k) is not None}
    if train:
        overrides["train"] = train
    return overrides


def _analyses(args: argparse.Namespace) -> list[str]:
    """The analyses of ``--analyze``: none without it, every registered one when it names none."""
    from ..core.analyses import REGISTRY  # light: the registry imports without torch

    if args.analyze is None:
        return []
    names = [name.replace("-", "_") for item in args.analyze for name in item.split(",") if name.strip()]
    return names or list(REGISTRY)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``lsexplorer sweep``: every precondition is checked before a cluster starts, the folder's lock first
    (it needs nothing else), so a refused sweep costs a fraction of a second."""
    from ..core.sweep.manifest import SweepError, sweep_folder_lock

    if args.workers is not None and args.scheduler:
        raise UserError("--workers sizes the local cluster; a --scheduler cluster has its own workers")
    out = Path(args.output)
    try:
        with sweep_folder_lock(out):
            return _sweep_locked(args, out)
    except SweepError as exc:
        raise UserError(str(exc)) from None


def _sweep_locked(args: argparse.Namespace, out: Path) -> int:
    """:func:`cmd_sweep` once the output folder's lock is held."""
    from ..core.experiment.experiment import ConfigError, read_toml
    from ..core.sweep.manifest import check_sweep_folder, plan_sweep
    from ..core.sweep.outcomes import format_sweep_table, read_sweep_outcomes
    from ..core.sweep.sweep import (
        check_local_memory,
        dashboard_link,
        local_cluster_size,
        open_client,
        run_sweep,
    )

    try:
        toml = read_toml(args.config) if args.config else None
        plan = plan_sweep("toy", toml, _overrides(args), args.widths, args.lr, args.chunk, _analyses(args))
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    check_sweep_folder(plan, out)
    device = plan.points[0].config["train"]["device"]
    n_workers = None
    if not args.scheduler:
        from ..core.training.train import resolve_device

        try:
            resolve_device(device)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        n_workers = args.workers or local_cluster_size(device)
        check_local_memory(plan, n_workers)

    stop = threading.Event()
    try:
        with open_client(args.scheduler, n_workers, device) as client:
            n_workers = len(client.scheduler_info().get("workers", {}))
            engine = {"scheduler": args.scheduler or "local", "workers": n_workers}
            if not args.quiet:
                where = f"scheduler {args.scheduler}" if args.scheduler else "a local cluster"
                print(f"{len(plan.points)} points x {len(plan.seeds)} seeds in chunks of {plan.chunk}: "
                      f"{len(plan.chunks)} tasks on {where} ({n_workers} workers)", file=sys.stderr)
                link = dashboard_link(client)
                if link:
                    print(f"Dask dashboard: {link}", file=sys.stderr)
            args.on_interrupt = f"finished tasks are kept in {out}; run the same command to finish"
            runner = run_sweep(plan, out, client, stop, engine)
            try:
                with signals_ask_to_stop(stop) as received:
                    summary = _drive(runner, args, out)
            except KeyboardInterrupt:  # raised after all (not the main thread): stop at once
                runner.close()
                raise
            if received:  # raised inside the block, so the workers are stopped rather than waited for
                raise Terminated() if received[0] == signal.SIGTERM else KeyboardInterrupt()
    except OSError as exc:  # the output folder (not writable, disk full) or the connection to the cluster
        raise UserError(f"stopped: {exc.strerror or exc}; finished tasks are kept in {out}") from None
    for key, message in summary.failed.items():
        print(f"lsexplorer sweep: task {key} failed: {message}", file=sys.stderr)
    if not args.quiet:
        print(format_sweep_table(read_sweep_outcomes(out)))
    if summary.failed:
        print(f"lsexplorer sweep: {len(summary.failed)} task(s) failed; the others are kept in {out}; "
              f"run the same command to retry them", file=sys.stderr)
        return 1
    return 0


def _drive(runner, args: argparse.Namespace, out: Path):
    """Run :func:`~lsexplorer.core.sweep.sweep.run_sweep`'s generator to its end under a progress bar; its summary."""
    from tqdm import tqdm

    bar = None
    try:
        while True:
            try:
                p = next(runner)
            except StopIteration as done:
                return done.value
            if bar is None:
                bar = tqdm(total=p.total, initial=p.done, desc="sweep", unit="task", disable=args.quiet,
                           dynamic_ncols=True)
                if p.skipped and not args.quiet:
                    bar.write(f"{p.skipped} finished tasks found in {out}; running the other {p.total - p.done}")
            bar.n = p.done
            if p.kinds:
                bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(p.kinds.items())), refresh=False)
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()


def sweep_info(args: argparse.Namespace) -> int:
    """``lsexplorer info SWEEP_DIR [--json]``: outcome fractions per sweep point with 95 % intervals."""
    from ..core.sweep.manifest import SweepError
    from ..core.sweep.outcomes import format_sweep_table, read_sweep_outcomes

    try:
        outcomes = read_sweep_outcomes(args.session)
    except SweepError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(outcomes.to_json()))
    else:
        print(format_sweep_table(outcomes))
    return 0
