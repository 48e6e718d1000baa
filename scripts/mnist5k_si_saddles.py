"""Certified critical points of the thesis' deep net on real MNIST pixels: symmetry-induced saddles.

On ``mnist5k-pca10`` the 10-10-10-10-1 net reaches no finite critical point by training and
refinement (README, "Deep networks"): Adam and trust-region Newton lower the loss by growing the
weights without bound. The narrowest net of the same depth, 10-1-1-1-1, does have a finite strict
local minimum, and every seed's training reaches it. Splitting each of its three hidden neurons into
ten copies (outgoing weights shared, :func:`lsexplorer.core.symmetry.operations.duplicate_neuron`) gives a point
of the thesis net that is critical *exactly* (thesis section 4.3): a symmetry-induced critical point of
the 3x10 net, the kind the thesis says training gets stuck at. Each seed uses its own generic shares.

The script trains and certifies the narrow net from the ``mnist5k-pca10`` preset (Adam, trust-region
Newton, Newton polish, exact spectra), embeds every certified local minimum, measures each embedded
point in float64 (loss, ``||grad L||``, exact Hessian spectrum, kind), runs the symmetry analysis
(which finds the duplicated neurons) and writes one session of the thesis net. It also trains the thesis net itself for a few thousand epochs and reports, per seed,
the training snapshot whose function is closest to the narrow minimum's: the trajectory passes by.

    python scripts/mnist5k_si_saddles.py --seeds 8 -o sample_data/mnist5k_deep.h5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.analyses.analyze import analyze_session
from lsexplorer.core.critical.certify import certify
from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.experiment.experiment import build_config, make_dataset
from lsexplorer.core.experiment.importer import ImportedPoints, import_points
from lsexplorer.core.landscape.nets import MLPSpec, forward, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.refine import RefineConfig
from lsexplorer.core.store.session import save_session
from lsexplorer.core.symmetry.operations import duplicate_neuron
from lsexplorer.core.training.train import TrainConfig, train

NARROW = [10, 1, 1, 1, 1]
COPIES = 10


def embed(spec: MLPSpec, theta: np.ndarray, copies: int, rng: np.random.Generator) -> tuple[MLPSpec, np.ndarray]:
    """Every hidden neuron of a width-1 net split into ``copies`` with generic positive shares."""
    for layer in range(1, len(spec.widths) - 1):
        shares = rng.dirichlet(np.full(copies, 4.0))
        left = 1.0
        for k in range(copies - 1):  # the newest copy keeps mu of what is left, the next copy the rest
            mu = shares[k] / left
            spec, theta = duplicate_neuron(spec, theta, layer, spec.widths[layer] - 1, mu)
            left -= shares[k]
    return spec, theta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=20_000, help="Adam epochs of the narrow net")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--visit-epochs", type=int, default=3000, help="epochs of the thesis net for the fly-by check")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress reaches a redirected log line by line
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    train_cfg = {"epochs": args.epochs, "lr": args.lr, "device": "cpu"}
    narrow_cfg = build_config("mnist5k-pca10", overrides={"network": {"widths": NARROW}, "seeds": seeds,
                                                          "train": train_cfg, "refine": {"trust_maxtime": 120.0}})
    data = make_dataset(narrow_cfg)
    nspec = MLPSpec.from_dict(narrow_cfg["network"])
    started = time.perf_counter()
    trained = run_generator(train(nspec, xavier_init(nspec, seeds), data.x, data.y,
                                  TrainConfig.from_dict(narrow_cfg["train"])))
    tol = Tolerances.from_dict(narrow_cfg["tolerances"])
    narrow = run_generator(certify(nspec, trained.theta, data.x, data.y,
                                   RefineConfig.from_dict(narrow_cfg["refine"]), tol))
    print(f"{nspec.describe()}: trained and certified {len(seeds)} seeds in {time.perf_counter() - started:.0f} s")
    keep = []
    for s, kind, loss, grad in zip(seeds, narrow.kind, narrow.loss, narrow.grad_norm):
        print(f"  seed {s}: {kind:<14} loss {loss:.10f}  |grad| {grad:.1e}")
        if kind == "local_min" and grad <= tol.grad_tol:
            keep.append(s)
    wide = []
    for s in keep:
        wspec, theta = embed(nspec, narrow.theta[s], COPIES, np.random.default_rng(s))
        wide.append(theta)
    config = build_config("mnist5k-pca10", overrides={"seeds": keep, "train": train_cfg})
    assert MLPSpec.from_dict(config["network"]) == wspec
    points = ImportedPoints(theta=np.stack(wide), seed=np.asarray(keep, dtype=np.int64),
                            source=np.array(["embedded"] * len(keep)), formats=("embedded",))
    session = run_generator(import_points(config, data.x, data.y, None, points))
    config = session.config
    config["run"] = {"construction": "symmetry-induced: each hidden neuron of a certified 10-1-1-1-1 local minimum "
                                     f"split into {COPIES} copies with generic shares (scripts/mnist5k_si_saddles.py)",
                     "narrow_network": NARROW, "narrow_epochs": args.epochs, "narrow_lr": args.lr,
                     "narrow_loss": [float(narrow.loss[s]) for s in keep],
                     "narrow_grad_norm": [float(narrow.grad_norm[s]) for s in keep]}
    for row, s in enumerate(keep):
        r = session.runs
        print(f"  seed {s}: thesis net {r.kind[row]:<18} loss {r.loss[row]:.10f}  |grad| {r.grad_norm[row]:.1e}  "
              f"lambda_min {r.lambda_min[row]:.2e}, {int(r.degeneracy[row])} zero eigenvalues")
    config["run"].update(fly_by(data, seeds[:4], narrow.theta[keep[0]], nspec, args.visit_epochs, args.lr))
    summary = run_generator(analyze_session(session, analyses=["symmetry"]))  # marks the duplicated neurons
    print(f"  symmetry analysis: {int(session.runs.symmetry_induced.sum())} of {len(keep)} symmetry-induced "
          f"({summary})")
    save_session(session, args.output)
    print(f"wrote {args.output}")


def fly_by(data, seeds: list[int], narrow_theta: np.ndarray, nspec: MLPSpec, epochs: int, lr: float) -> dict:
    """Train the thesis net briefly and find, per seed, the snapshot closest in function to the narrow minimum."""
    spec = MLPSpec.from_dict(build_config("mnist5k-pca10")["network"])
    cfg = TrainConfig(epochs=epochs, lr=lr, device="cpu", n_snapshots=200)
    res = run_generator(train(spec, xavier_init(spec, seeds), data.x, data.y, cfg))
    x = torch.from_numpy(np.asarray(data.x, dtype=np.float64))
    with torch.no_grad():
        target = forward(nspec, torch.from_numpy(narrow_theta), x).numpy().ravel()
        out = {"fly_by_seeds": seeds, "fly_by_epoch": [], "fly_by_rms": [], "fly_by_loss": []}
        for s in range(len(seeds)):
            f = forward(spec, torch.from_numpy(res.snapshots[s]), x).numpy()[..., 0]
            rms = np.sqrt(((f - target) ** 2).mean(axis=1))
            k = int(np.argmin(rms))
            loss = float(((f[k] - np.asarray(data.y, dtype=np.float64).ravel()) ** 2).mean())
            out["fly_by_epoch"].append(int(res.snapshot_epochs[k]))
            out["fly_by_rms"].append(float(rms[k]))
            out["fly_by_loss"].append(loss)
            print(f"  thesis net seed {seeds[s]}: closest to the narrow minimum at epoch {res.snapshot_epochs[k]}, "
                  f"function rms {rms[k]:.3f} (output std {target.std():.3f}), loss {loss:.4f}")
    return out


if __name__ == "__main__":
    main()
