"""Student-epochs per second: the batched trainer against a naive per-seed loop, in one process.

The batched figure runs :func:`lsexplorer.core.training.train.train` itself (chunking, records, progress
included) on the thesis toy problem (N = 1681, widths 2-5-1, sigmoid, no bias, Adam) and times the
epochs done after a warm-up. Every figure is the best of a few timing windows, so a burst of other
load on a shared machine does not decide the ratio. The naive figure trains one seed the way a textbook loop does
(``nn.Module`` + ``torch.optim.Adam``, float32, full batch); a loop over seeds runs at the same
student-epochs/s, whatever the number of seeds.

    python benchmarks/train_throughput.py [--seeds 100 1000] [--device cpu|cuda] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.data.datasets import toy_dataset
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.training.train import TrainConfig, resolve_device, train

SPEC = MLPSpec((2, 5, 1), "sigmoid", bias=False)


def batched_rate(n_seeds: int, device: str, dtype: str, backend: str, seconds: float, warmup: float,
                 windows: int) -> tuple[float, str]:
    """Best student-epochs/s of :func:`train` over ``windows`` windows filling ``seconds`` after ``warmup``."""
    data = toy_dataset()
    stop = threading.Event()
    config = TrainConfig(epochs=10**12, device=device, dtype=dtype, backend=backend)
    gen = train(SPEC, xavier_init(SPEC, range(n_seeds)), data.x, data.y, config, stop)
    start, mark, rates = None, None, []
    try:
        while True:
            p = next(gen)
            now = time.perf_counter()
            if start is None:
                start = now
            elif mark is None and now - start >= warmup:
                mark = (now, p.done)
            elif mark is not None and now - mark[0] >= seconds / windows:
                rates.append((p.done - mark[1]) * n_seeds / (now - mark[0]))
                mark = (now, p.done)
                if len(rates) == windows:
                    stop.set()
    except StopIteration as done:
        return max(rates), done.value.backend


def naive_rate(device: str, seconds: float, windows: int, threads: int | None = None) -> float:
    """Best epochs/s over ``windows`` windows of one seed trained with nn.Module + torch.optim.Adam (float32)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        data = toy_dataset()
        dev = resolve_device(device)
        x = torch.tensor(data.x, dtype=torch.float32, device=dev)
        y = torch.tensor(data.y, dtype=torch.float32, device=dev)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 5, bias=False), torch.nn.Sigmoid(),
                                    torch.nn.Linear(5, 1, bias=False)).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def epochs(k: int) -> None:
            for _ in range(k):
                opt.zero_grad()
                loss = ((model(x) - y) ** 2).sum() / x.shape[0]
                loss.backward()
                opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()

        epochs(20)
        rates = []
        for _ in range(windows):
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / windows:
                epochs(20)
                done += 20
            rates.append(done / (time.perf_counter() - t0))
        return max(rates)
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--backend", default="auto", choices=["auto", "native", "triton", "torch"])
    ap.add_argument("--seconds", type=float, default=6.0, help="timed seconds per measurement")
    ap.add_argument("--windows", type=int, default=3,
                    help="each measurement reports its best window, which discounts other load on the machine")
    ap.add_argument("--warmup", type=float, default=1.5, help="untimed seconds before each batched measurement")
    args = ap.parse_args()

    dev = resolve_device(args.device)
    print(f"toy problem: N=1681, {SPEC.describe()}, Adam, {args.dtype}, device {dev}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads")
    rows = []
    for s in args.seeds:
        rate, backend = batched_rate(s, args.device, args.dtype, args.backend, args.seconds, args.warmup,
                                     args.windows)
        rows.append((f"batched, {s} seeds ({backend})", rate))
    naive = naive_rate(args.device, args.seconds, args.windows)
    rows.append(("naive nn.Module + torch.optim.Adam, 1 seed at a time", naive))
    if dev.type == "cpu" and torch.get_num_threads() > 1:
        rows.append(("  the same naive loop with 1 torch thread",
                     naive_rate(args.device, args.seconds, args.windows, threads=1)))
    width = max(len(name) for name, _ in rows)
    print(f"{'method':<{width}}  student-epochs/s (best of {args.windows} windows)")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>14,.0f}")
    best_naive = max(rate for name, rate in rows if "naive" in name)
    ratios = ", ".join(f"{s} seeds: {rate / best_naive:,.0f}x" for s, (_, rate) in zip(args.seeds, rows))
    print(f"ratio batched / best naive loop: {ratios}")


if __name__ == "__main__":
    main()
