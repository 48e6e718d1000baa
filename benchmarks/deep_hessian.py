"""Deep-network speed (thesis §6.3): the exact Hessian, a 101-point eigenvalues-versus-mu sweep, training.

The 10-10-10-10-1 sigmoid MLP with biases (341 parameters) on digits-pca10 (N = 1797):

* the exact 341 x 341 Hessian by :func:`lsexplorer.core.landscape.hessian.hessian` (closed form) against
  ``torch.autograd.functional.hessian`` of the same loss in the same process;
* a 101-point :func:`lsexplorer.core.saddles.inertia.mu_sweep` (duplicating a last-hidden-layer neuron:
  353 x 353 Hessian, gradient and full spectrum per point);
* training throughput of :func:`lsexplorer.core.training.train.train` (the batched torch backend, which
  serves every net with more than one hidden layer), in student-epochs/s for 1, 8 and 32 seeds.

Every figure is the best of a few repetitions, so a burst of other load does not decide it.

    python benchmarks/deep_hessian.py [--threads N] [--repeats 5] [--no-train] [--seeds 1 8 32]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.data.datasets import digits_pca10_dataset
from lsexplorer.core.landscape.hessian import float64_problem, hessian
from lsexplorer.core.saddles.inertia import mu_sweep
from lsexplorer.core.landscape.nets import MLPSpec, loss, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.training.train import TrainConfig, train, tune_glibc_malloc

SPEC = MLPSpec((10, 10, 10, 10, 1), "sigmoid", bias=True)


def best_seconds(fn, repeats: int) -> float:
    """Least wall time of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def training_rate(data, n_seeds: int, seconds: float) -> float:
    """Best student-epochs/s of :func:`train` (float32 Adam) over 1 s windows after a 2 s warm-up."""
    stop = threading.Event()
    config = TrainConfig(epochs=10**9, device="cpu", n_snapshots=2, n_loss_points=2)
    gen = train(SPEC, xavier_init(SPEC, range(n_seeds)), data.x, data.y, config, stop)
    rates, mark, started = [], None, None
    try:
        while True:
            p = next(gen)
            now = time.perf_counter()
            started = started or now
            if mark is None and now - started >= 2.0:
                mark = (now, p.epoch)
            elif mark is not None and now - mark[0] >= 1.0:
                rates.append((p.epoch - mark[1]) * n_seeds / (now - mark[0]))
                mark = (now, p.epoch)
                if now - started >= seconds:
                    stop.set()
    except StopIteration:
        return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 32], help="seeds trained at once")
    parser.add_argument("--train-seconds", type=float, default=8.0)
    parser.add_argument("--no-train", action="store_true", help="skip the training figure")
    args = parser.parse_args()
    tune_glibc_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = digits_pca10_dataset()
    theta = xavier_init(SPEC, [0])[0]
    print(f"{SPEC.describe()}, digits-pca10 N = {len(data.x)}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    t, xt, yt = float64_problem(SPEC, theta, data.x, data.y)
    closed = best_seconds(lambda: hessian(SPEC, theta, data.x, data.y), args.repeats)
    autograd = best_seconds(lambda: torch.autograd.functional.hessian(lambda p: loss(SPEC, p, xt, yt), t),
                            max(1, args.repeats // 2))
    h = hessian(SPEC, theta, data.x, data.y)
    h_ref = torch.autograd.functional.hessian(lambda p: loss(SPEC, p, xt, yt), t).numpy()
    print(f"exact Hessian {SPEC.n_params}x{SPEC.n_params}:  closed form {closed:.3f} s   "
          f"torch.autograd.functional.hessian {autograd:.3f} s   ratio {autograd / closed:.1f}x   "
          f"max |difference| / max |H| = {np.abs(h - h_ref).max() / np.abs(h_ref).max():.1e}")

    mus = np.linspace(-1.0, 2.0, 101)
    start = time.perf_counter()
    sweep = run_generator(mu_sweep(SPEC, theta, data.x, data.y, 3, 0, mus))
    sweep_seconds = time.perf_counter() - start
    print(f"101-point eigenvalues-vs-mu sweep (layer 3, {sweep.eigvals.shape[1]} parameters): {sweep_seconds:.2f} s "
          f"({sweep_seconds / 101 * 1e3:.0f} ms per point: Hessian, gradient, full spectrum)")

    if not args.no_train:
        for n_seeds in args.seeds:
            rate = training_rate(data, n_seeds, args.train_seconds)
            print(f"training {n_seeds:>3} seeds at once, Adam float32: {rate:,.0f} student-epochs/s "
                  f"({n_seeds / rate * 1e3:.2f} ms per epoch)")


if __name__ == "__main__":
    main()
