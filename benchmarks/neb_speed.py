"""Speed of a 32-image climbing-image NEB between two points of the toy sample.

The band runs from a local minimum of ``sample_data/toy_width5.h5`` (``--run``, default run 27: its
path crosses a finite index-1 saddle; the first local minimum's path runs into a flat channel, where a
band cannot converge) to its nearest global minimum (aligned), once with the batched landscape (all images in one explicit back-propagation) and
once, for the same number of optimizer steps, with a naive landscape that loops over the images and
differentiates each with ``torch.autograd`` -- what a per-image script would do. Prints both times
and their ratio; both run in this process, so the ratio holds whatever the machine's load.

    python benchmarks/neb_speed.py [--images 32] [--run 27] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from lsexplorer.core.symmetry.alignment import align_to
from lsexplorer.core.landscape.surface import network_landscape
from lsexplorer.core.paths.neb import NEBConfig, neb
from lsexplorer.core.landscape.nets import loss
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.store.session import load_session

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "toy_width5.h5"


def naive(landscape, spec, x, y):
    """The same landscape, with values and gradients computed image by image by autograd."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def per_image(thetas: torch.Tensor):
        values, grads = [], []
        with torch.enable_grad():
            return _loop(thetas, values, grads)

    def _loop(thetas, values, grads):
        for t in thetas:
            p = t.clone().requires_grad_(True)
            v = loss(spec, p, xt, yt)
            (g,) = torch.autograd.grad(v, p)
            values.append(v.detach())
            grads.append(g)
        return torch.stack(values), torch.stack(grads)

    return dataclasses.replace(landscape, batch_value_and_grad=per_image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--run", type=int, default=27, help="the local minimum the band starts from (a run index)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: a 15-parameter net gains nothing from more)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    s = load_session(SAMPLE)
    row = args.run
    if s.runs.kind[row] != "local_min":
        parser.error(f"run {row} is a {s.runs.kind[row]}, not a local minimum")
    globals_ = np.flatnonzero(s.runs.kind == "global_min")
    aligned = [align_to(s.spec, s.runs.theta[row], s.runs.theta[j]) for j in globals_]
    target = min(aligned, key=lambda a: a.distance_after).theta
    batched = network_landscape(s.spec, s.x, s.y)
    config = NEBConfig(images=args.images)
    start, cpu = time.perf_counter(), time.process_time()
    band = run_generator(neb(batched, s.runs.theta[row], target, config))
    t_batched, cpu_batched = time.perf_counter() - start, time.process_time() - cpu
    print(f"batched: run {row}, {args.images}-image CI-NEB {band.stop_reason} in {band.steps} steps, {t_batched:.2f} s wall, {cpu_batched:.2f} s CPU "
          f"(barrier {band.values.max() - band.values[0]:.3e}, max force {band.forces.max():.1e} <= {band.force_tol:.1e})")
    slow = naive(batched, s.spec, s.x, s.y)
    start, cpu = time.perf_counter(), time.process_time()
    band2 = run_generator(neb(slow, s.runs.theta[row], target, dataclasses.replace(config, max_steps=band.steps)))
    t_naive, cpu_naive = time.perf_counter() - start, time.process_time() - cpu
    print(f"naive per-image autograd loop, same {band2.steps} steps: {t_naive:.2f} s wall, {cpu_naive:.2f} s CPU")
    print(f"ratio naive / batched: {t_naive / t_batched:.1f}x wall, {cpu_naive / cpu_batched:.1f}x CPU "
          f"(torch threads {args.threads})")


if __name__ == "__main__":
    main()
