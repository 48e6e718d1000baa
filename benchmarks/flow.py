"""Gradient flow: accuracy, time to a certified critical point against Adam, and gradient/Hessian cost.

Three measurements, each against a baseline run in the same process:

1. **Accuracy** of every integrator (``rodas4``, ``rosenbrock23`` batched over seeds; scipy ``radau``,
   ``bdf`` per seed) on the first 8 toy seeds at five times from the first descent through the
   plateau into the approach (t = 30 ... 3e5), against scipy ``Radau`` at rtol 1e-10 / atol 1e-13
   (``tests/data/flow_toy_radau.npz``; ``--write-reference`` recomputes it, ~2 min), with the wall
   time of each and its ratio to scipy Radau at the same tolerance.
2. **Time to a certified critical point** per seed: gradient flow (the default settings plus
   ``grad_tol``) then the certification pipeline, against Adam at the thesis protocol (lr 1e-4,
   float32, native kernel) for ``--adam-epochs`` epochs (the thesis runs 1e7; the cap keeps this to
   minutes and is printed) then the same certification. Both on the same seeds.
3. **MLPGradientFlow.jl's efficiency configuration** (their ``scripts/efficiency.py``): input
   dimension 2, one softplus hidden layer of 10 / 50 / 100 neurons with biases, one output (41 / 201 /
   401 parameters), float64, one thread; time per gradient and per Hessian of ours against PyTorch as
   their script calls it (``nn.Sequential`` + ``backward``; ``torch.autograd.functional.hessian``).

    python benchmarks/flow.py [--parts accuracy certified efficiency] [--seeds 8] [--adam-epochs 1000000]
                              [--skip-adam] [--samples 100 1000] [--write-reference]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.certify import certify
from lsexplorer.core.critical.refine import RefineConfig
from lsexplorer.core.data.datasets import toy_dataset
from lsexplorer.core.landscape.hessian import hessian_t
from lsexplorer.core.landscape.nets import MLPSpec, loss_and_grad, xavier_init
from lsexplorer.core.landscape.surface import two_layer_hessians
from lsexplorer.core.training.flow import FlowSettings, integrate
from lsexplorer.core.training.flow_training import network_flow_functions, train_flow
from lsexplorer.core.training.train import TrainConfig, train

TOY = MLPSpec((2, 5, 1), "sigmoid", False)
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "flow_toy_radau.npz"
TIMES = np.array([0.0, 30.0, 300.0, 3000.0, 30000.0, 300000.0])


def write_reference(path: Path) -> None:
    """scipy Radau at rtol 1e-10, atol 1e-13 from the first 8 toy seeds, at :data:`TIMES`."""
    data = toy_dataset()
    theta0 = xavier_init(TOY, np.arange(8))
    settings = FlowSettings(method="radau", rtol=1e-10, atol=1e-13, t_max=TIMES[-1], grad_tol=0.0)
    started = time.perf_counter()
    ref = run_generator(integrate(*network_flow_functions(TOY, data.x, data.y), theta0, TIMES, settings))
    np.savez(path, times=TIMES, theta0=theta0, theta=ref.out_theta, loss=ref.out_loss)
    print(f"wrote {path} ({time.perf_counter() - started:.0f} s)")


def accuracy() -> None:
    ref = np.load(REFERENCE)
    functions = network_flow_functions(TOY, *_toy_xy())
    print("1. accuracy at t = " + ", ".join(f"{t:g}" for t in ref["times"][1:]) + " on 8 toy seeds, against scipy "
          "Radau rtol 1e-10\n   method        rtol    max rel. error   wall s   steps/seed   wall / Radau's")
    for rtol in (1e-3, 1e-6):
        walls = {}
        for method in ("radau", "bdf", "rosenbrock23", "rodas4"):
            settings = FlowSettings(method=method, rtol=rtol, atol=rtol * 1e-3, t_max=float(ref["times"][-1]),
                                    grad_tol=0.0)
            started = time.perf_counter()
            result = run_generator(integrate(*functions, ref["theta0"], ref["times"], settings))
            walls[method] = time.perf_counter() - started
            rel = np.linalg.norm(result.out_theta - ref["theta"], axis=2) / np.linalg.norm(ref["theta"], axis=2)
            steps = "   (evals)" if method in ("radau", "bdf") else ""
            print(f"   {method:<12} {rtol:<7.0e} {rel[:, 1:].max():>14.2e}  {walls[method]:>7.1f}   "
                  f"{np.median(result.steps):>10.0f}{steps}   {walls[method] / walls['radau']:>6.2f}")


def _toy_xy() -> tuple[np.ndarray, np.ndarray]:
    data = toy_dataset()
    return data.x, data.y


def certified(seeds: int, adam_epochs: int, skip_adam: bool) -> None:
    x, y = _toy_xy()
    theta0 = xavier_init(TOY, np.arange(seeds))
    print(f"\n2. time to a certified critical point, toy, seeds 0..{seeds - 1}")
    runs = [("gradient flow (rodas4, rtol 1e-3, atol 1e-6, t_max 1e7, grad_tol 1e-7)",
             train_flow, TrainConfig(optimizer="flow", dtype="float64", grad_tol=1e-7))]
    if not skip_adam:
        runs.append((f"Adam lr 1e-4 float32, {adam_epochs:.0e} epochs (the thesis: 1e7; capped here)",
                     train, TrainConfig(lr=1e-4, epochs=adam_epochs, device="cpu")))
    per_seed = {}
    for name, trainer, config in runs:
        started = time.perf_counter()
        trained = run_generator(trainer(TOY, theta0, x, y, config))
        train_s = time.perf_counter() - started
        points = run_generator(certify(TOY, trained.theta, x, y, RefineConfig(), Tolerances()))
        total = time.perf_counter() - started
        per_seed[name] = total / seeds
        kinds = dict(zip(*np.unique(points.kind, return_counts=True)))
        grad_end = np.linalg.norm(run_generator_grad(trained.theta, x, y), axis=1)
        print(f"   {name}\n      train {train_s:.1f} s + certify {total - train_s:.1f} s = {total / seeds:.2f} s/seed; "
              f"median ||grad L|| at the end of training {np.median(grad_end):.1e}; kinds "
              + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    if len(per_seed) == 2:
        flow_s, adam_s = per_seed.values()
        print(f"   Adam / gradient flow, seconds per certified seed: {adam_s / flow_s:.1f}x")


def run_generator_grad(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return loss_and_grad(TOY, torch.from_numpy(theta), torch.from_numpy(x), torch.from_numpy(y))[1].numpy()


def _best(fn, repeat: int, number: int) -> float:
    """Best seconds per call over ``repeat`` rounds of ``number`` calls."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best


def efficiency(samples: list[int]) -> None:
    print("\n3. MLPGradientFlow.jl's efficiency configuration: d = 2, softplus hidden layer with biases, 1 output, "
          "float64, 1 thread\n   params      N   grad ours   grad torch  ratio   hess ours   hess torch  ratio")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for k in (10, 50, 100):
            for n in samples:
                _efficiency_row(k, n)
    finally:
        torch.set_num_threads(threads)


def _efficiency_row(k: int, n: int) -> None:
    gen = torch.Generator().manual_seed(0)
    spec = MLPSpec((2, k, 1), "softplus", True)
    x = torch.randn(n, 2, dtype=torch.float64, generator=gen)
    teacher = torch.nn.Sequential(torch.nn.Linear(2, 4, dtype=torch.float64), torch.nn.Softplus(),
                                  torch.nn.Linear(4, 1, dtype=torch.float64))
    with torch.no_grad():
        y = teacher(x)
    theta = torch.randn(1, spec.n_params, dtype=torch.float64, generator=gen)
    ours_grad = _best(lambda: loss_and_grad(spec, theta, x, y), 5, max(1, 20000 // n))
    hess = two_layer_hessians(spec, x, y)
    ours_hess = min(_best(lambda: hess(theta), 3, max(1, 2000 // n)),
                    _best(lambda: hessian_t(spec, theta[0], x, y), 3, max(1, 2000 // n)))
    mlp = torch.nn.Sequential(torch.nn.Linear(2, k, dtype=torch.float64), torch.nn.Softplus(),
                              torch.nn.Linear(k, 1, dtype=torch.float64))
    mse = torch.nn.MSELoss()

    def torch_grad() -> None:
        mlp.zero_grad()
        mse(mlp(x), y).backward()

    params = tuple(p.detach().clone() for p in mlp.parameters())

    def torch_loss(w1, b1, w2, b2):
        return mse(torch.nn.functional.softplus(x @ w1.T + b1) @ w2.T + b2, y)

    torch_g = _best(torch_grad, 5, max(1, 20000 // n))
    torch_h = _best(lambda: torch.autograd.functional.hessian(torch_loss, params), 3, max(1, 200 // n))
    print(f"   {spec.n_params:>6} {n:>6}   {ours_grad * 1e6:>7.0f} us  {torch_g * 1e6:>8.0f} us  "
          f"{torch_g / ours_grad:>5.1f}   {ours_hess * 1e3:>7.2f} ms  {torch_h * 1e3:>8.2f} ms  "
          f"{torch_h / ours_hess:>5.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--adam-epochs", type=int, default=1_000_000)
    parser.add_argument("--skip-adam", action="store_true")
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 1000],
                        help="data set sizes N of the efficiency part (their script: 10 ... 1e5)")
    parser.add_argument("--parts", nargs="+", choices=["accuracy", "certified", "efficiency"],
                        default=["accuracy", "certified", "efficiency"])
    parser.add_argument("--write-reference", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.write_reference:
        write_reference(REFERENCE)
    if "accuracy" in args.parts:
        accuracy()
    if "certified" in args.parts:
        certified(args.seeds, args.adam_epochs, args.skip_adam)
    if "efficiency" in args.parts:
        efficiency(args.samples)


if __name__ == "__main__":
    main()
