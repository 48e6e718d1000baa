"""Certified critical points of the thesis' deep net on real MNIST pixels (mnist5k-pca10), one session.

The ``lsexplorer train`` pipeline with two changes for machines with many cores: training can end
after a wall-clock budget (``--train-seconds``, the points reached are certified as a stopped run
is), and the end points are certified in parallel worker processes, one torch thread each
(``--workers``). Everything else is the preset: Xavier starts, Adam, float64 refinement (trust-region
Newton with the exact Hessian, then the Newton polish), exact spectra, classification at
``||grad L|| <= 1e-10``.

    python scripts/mnist5k_critical_points.py --seeds 8 --epochs 30000 --lr 1e-3 --device cpu \
        --workers 8 -o mnist5k.h5
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.critical.certify import CertifiedPoints, certify
from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.experiment.experiment import build_config, experiment_session, make_dataset
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.refine import RefineConfig
from lsexplorer.core.store.session import save_session
from lsexplorer.core.training.train import TrainConfig, train


def certify_one(config: dict, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> CertifiedPoints:
    """One end point through :func:`certify` on one torch thread (a worker process)."""
    import torch

    torch.set_num_threads(1)
    spec = MLPSpec.from_dict(config["network"])
    return run_generator(certify(spec, theta[None], x, y, RefineConfig.from_dict(config["refine"]),
                                 Tolerances.from_dict(config["tolerances"])))


def stack(points: list[CertifiedPoints]) -> CertifiedPoints:
    fields = CertifiedPoints.__dataclass_fields__
    return CertifiedPoints(**{name: np.concatenate([getattr(p, name) for p in points]) for name in fields})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30_000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads while training")
    ap.add_argument("--train-seconds", type=float, default=None, help="stop training after this wall time")
    ap.add_argument("--trust-seconds", type=float, default=600.0, help="refine.trust_maxtime per point")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    config = build_config("mnist5k-pca10", overrides={
        "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
        "train": {"epochs": args.epochs, "lr": args.lr, "device": args.device},
        "refine": {"trust_maxtime": args.trust_seconds}})
    spec = MLPSpec.from_dict(config["network"])
    dataset = make_dataset(config)
    seeds = np.asarray(config["seeds"], dtype=np.int64)
    theta_init = xavier_init(spec, seeds)
    stop = threading.Event()
    if args.train_seconds:
        threading.Timer(args.train_seconds, stop.set).start()
    last = [0.0]

    def report(p) -> None:
        if time.perf_counter() - last[0] > 15:
            last[0] = time.perf_counter()
            print(f"epoch {p.done}: {p.epochs_per_s * len(seeds):,.0f} student-epochs/s, "
                  f"median loss {np.median(p.loss):.4e}, {p.converged} at grad_tol", flush=True)

    trained = run_generator(train(spec, theta_init, dataset.x, dataset.y, TrainConfig.from_dict(config["train"]),
                                  stop), report)
    print(f"trained {trained.epochs_done} epochs in {trained.elapsed:.0f} s on {trained.device} ({trained.backend})",
          flush=True)
    config["run"] = {"epochs_done": int(trained.epochs_done), "stopped": bool(trained.stopped),
                     "device": trained.device, "backend": trained.backend, "train_seconds": float(trained.elapsed),
                     "grad_tol_converged": int((trained.converged_epoch >= 0).sum())}
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(certify_one, [config] * len(seeds), list(trained.theta),
                              [dataset.x] * len(seeds), [dataset.y] * len(seeds)))
    points = stack(parts)
    print(f"certified {len(seeds)} points in {time.perf_counter() - started:.0f} s with {args.workers} workers")
    for s, kind, loss, grad, reason, secs in zip(seeds, points.kind, points.loss, points.grad_norm,
                                                 points.stop_reason, points.refine_seconds):
        print(f"seed {s}: {kind:<14} loss {loss:.6e}  |grad| {grad:.2e}  {secs:6.0f} s  {reason}")
    save_session(experiment_session(config, spec, dataset, seeds, theta_init, trained, points), args.output)


if __name__ == "__main__":
    main()
