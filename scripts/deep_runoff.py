"""How the thesis' deep net runs off to infinity on real MNIST pixels (mnist5k-pca10), measured.

Trains the preset's 10-10-10-10-1 sigmoid net (Adam), then runs the refinement's trust-region Newton
stage (exact Hessian) in chunks from each end point and, after every chunk, measures the run-off
since the Adam end point with :func:`lsexplorer.core.channels.runoff.runoff_report`: which hidden layer
saturates into steps, and whether any pair of neurons merges on the data as in a flat channel to
infinity. The last chunk's per-layer table follows.

    OMP_NUM_THREADS=1 python scripts/deep_runoff.py --seeds 2 --epochs 30000 --lr 1e-3 --chunks 8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.experiment.experiment import build_config, make_dataset
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.channels.runoff import runoff_report
from lsexplorer.core.training.train import TrainConfig, train
from lsexplorer.core.critical.trust_newton import trust_newton


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30_000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--chunks", type=int, default=8, help="trust-region Newton chunks per seed")
    ap.add_argument("--chunk-iterations", type=int, default=50)
    ap.add_argument("--save", help="write every seed's history of points (seeds, chunks + 1, P) to this .npy")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = build_config("mnist5k-pca10", overrides={
        "seeds": list(range(args.seeds)), "train": {"epochs": args.epochs, "lr": args.lr, "device": "cpu"}})
    spec = MLPSpec.from_dict(config["network"])
    data = make_dataset(config)
    seeds = np.asarray(config["seeds"], dtype=np.int64)
    trained = run_generator(train(spec, xavier_init(spec, seeds), data.x, data.y,
                                  TrainConfig.from_dict(config["train"])))
    print(f"trained {trained.epochs_done} epochs in {trained.elapsed:.0f} s ({trained.backend})", flush=True)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    histories = []
    for seed, theta in zip(seeds, trained.theta):
        history = [np.asarray(theta, dtype=np.float64)]
        for chunk in range(args.chunks):
            res = trust_newton(spec, history[-1], x, y, gtol=1e-10, max_iter=args.chunk_iterations, maxtime=1e9)
            history.append(res.theta)
            report = runoff_report(spec, history[0], res.theta, data.x)
            print(f"seed {seed} chunk {chunk + 1}: loss {res.loss:.6e}  |grad| {np.linalg.norm(res.grad):.1e}  "
                  f"|theta| {np.linalg.norm(res.theta):.0f}  ({res.status})  {report.summary()}", flush=True)
            if res.status in ("grad_small", "nonfinite", "stalled"):
                break
        histories.append(np.array(history))
        for layer in runoff_report(spec, history[0], history[-1], data.x).layers:
            print(f"  hidden layer {layer.layer}: share {layer.share:.3f}, incoming x{np.median(layer.growth):.3g} "
                  f"(median; direction cos {np.median(layer.direction_cos):.4f}), "
                  f"{100 * np.median(layer.transition):.2f} % of samples at |z| < 2; most aligned pair "
                  f"{layer.pair[0]}+{layer.pair[1]} (cos {layer.pair_cos:+.5f}): gap {layer.gap_start:.3g} -> "
                  f"{layer.gap_end:.3g}, |A| {layer.out_start:.3g} -> {layer.out_end:.3g}, "
                  f"|A_i + A_j| {layer.out_sum_end:.3g}")
    if args.save:
        width = max(len(h) for h in histories)
        np.save(args.save, np.array([np.concatenate([h, np.repeat(h[-1:], width - len(h), 0)]) for h in histories]))


if __name__ == "__main__":
    main()
