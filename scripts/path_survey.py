"""For every local minimum of a session, the path to the nearest global minimum, and what its saddle is.

Prints one row per local minimum (barrier of the band and of the straight line, what the highest
point is: :class:`lsexplorer.core.paths.path_saddle.SaddleOutcome`, its gradient norm and inertia) and a
summary: how many paths beat the straight line, how many highest points are certified index-1
saddles (finite, symmetry-induced or at infinity in a flat channel), and what the others are.
``--json FILE`` writes the rows.

    python scripts/path_survey.py sample_data/toy_width5.h5 [--auto] [--images N] [--json out.json]
    python scripts/path_survey.py sample_data/toy_width5.h5 --runs 8 94 95   # only these local minima
    python scripts/path_survey.py --summarize out.json      # the summary of a saved survey

A highest point that is not certified is described by where its saddle search was heading: two
neurons' incoming vectors closing in (nearest pair < 0.2) with outgoing weights of opposite sign is a
*flat channel* whose limit model did not certify; an outgoing weight below 0.01 is a neuron being
switched off (*zero-type*); anything else is listed as *other*.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.paths.minimum_energy import PathConfig, path_analysis
from lsexplorer.core.paths.neb import NEBConfig
from lsexplorer.core.paths.path_saddle import outcome_label
from lsexplorer.core.store.session import load_session
from lsexplorer.core.symmetry.operations import nearest_neuron_pair, outgoing_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session", nargs="?")
    parser.add_argument("--summarize", metavar="JSON", help="print the summary of a saved survey and stop")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--auto", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--runs", type=int, nargs="+", metavar="RUN", help="survey only these local minima")
    args = parser.parse_args()
    if args.summarize:
        with open(args.summarize) as f:
            summarize(json.load(f))
        return
    if not args.session:
        parser.error("give a session file (or --summarize JSON)")
    session = load_session(args.session)
    config = PathConfig(auto=args.auto, neb=NEBConfig(images=args.images))
    rows = []
    print(f"{'run':>4} {'to':>4} {'saved':>6} {'barrier':>10} {'straight':>10} {'|grad|':>9} {'neg':>3} {'zero':>4} "
          f"{'|theta|':>8} {'lambda_2':>9} {'pair':>7} {'a_i,a_j':>13} {'min|a|':>7} {'kind':>14} search")
    local = np.flatnonzero(session.runs.kind == "local_min")
    if args.runs:
        missing = sorted(set(args.runs) - set(local.tolist()))
        if missing:
            parser.error(f"not local minima of this session: {', '.join(map(str, missing))}")
        local = np.array(sorted(args.runs))
    for row in local:
        started = time.perf_counter()
        r = run_generator(path_analysis(session, int(row), "global", config))
        s = r.saddle
        rec = {"run": int(row), "to": r.run_to, "distance_saved": r.alignment.saved, "barrier": r.barrier,
               "straight_barrier": r.straight_barrier, "band_converged": r.converged, "grad_norm": s.grad_norm,
               "n_negative": s.n_negative, "n_zero": s.n_zero, "kind": s.kind, "certified": s.certified,
               "index1": s.index1, "saddle_loss": s.loss, "theta_norm": float(np.linalg.norm(s.theta)),
               "climbing_norm": float(np.linalg.norm(r.images[max(r.climbing, 1)])),
               "lambda_2": float(s.eigvals[1]), "nearest_pair": nearest_neuron_pair(session.spec, s.theta, 1)[2],
               "min_outgoing": float(np.abs(outgoing_weights(session.spec, s.theta, 1)).min()),
               "pair_outgoing": [float(outgoing_weights(session.spec, s.theta, 1)[0, k])
                                 for k in nearest_neuron_pair(session.spec, s.theta, 1)[:2]],
               "route": s.route, "outcome": r.outcome.outcome, "outcome_index": r.outcome.index,
               "outcome_label": outcome_label(r.outcome), "outcome_loss": r.outcome.loss,
               "outcome_grad_norm": r.outcome.grad_norm, "outcome_route": r.outcome.route,
               "fd_hessian_error": r.outcome.fd_hessian_error, "fd_index": r.outcome.fd_index,
               "outcome_reason": r.outcome.reason, "band_stop": r.stop_reason,
               "search": r.search.stop_reason, "moved": s.distance_to_climbing,
               "seconds": time.perf_counter() - started}
        rows.append(rec)
        print(f"{row:>4} {r.run_to:>4} {r.alignment.saved:>6.3f} {r.barrier:>10.3e} {r.straight_barrier:>10.3e} "
              f"{s.grad_norm:>9.1e} {s.n_negative:>3} {s.n_zero:>4} {rec['theta_norm']:>8.2f} {rec['lambda_2']:>9.1e} "
              f"{rec['nearest_pair']:>7.3f} {rec['pair_outgoing'][0]:>6.2f},{rec['pair_outgoing'][1]:>6.2f} "
              f"{rec['min_outgoing']:>7.3f} {s.kind:>14} "
              f"{r.search.stop_reason}/{s.route} (moved {s.distance_to_climbing:.3g}, {rec['seconds']:.0f} s)",
              flush=True)
        print(f"     -> {rec['outcome_label']}: loss {r.outcome.loss:.6e}, |grad| {r.outcome.grad_norm:.1e}, "
              f"fd Hessian error {r.outcome.fd_hessian_error:.1e}, fd index {r.outcome.fd_index}", flush=True)
    summarize(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


def diagnosis(rec: dict) -> str:
    """What the highest point is, or where an uncertified saddle search was heading (module docstring)."""
    if "outcome" in rec and rec["outcome"] != "not_certified":
        k = rec["outcome_index"]
        what = "minimum" if k == 0 else f"index-{k} saddle"
        return {"channel": f"{what} at infinity (channel)", "symmetry_induced": f"symmetry-induced {what}"}.get(
            rec["outcome"], what)
    if "outcome" not in rec and rec["certified"]:
        return "index-1 saddle" if rec["index1"] else f"certified, index {rec['n_negative']}"
    a_i, a_j = rec["pair_outgoing"]
    if rec["nearest_pair"] < 0.2 and a_i * a_j < 0:
        return "flat channel"
    if rec["min_outgoing"] < 0.01:
        return "zero-type neuron"
    return "other"


def summarize(rows: list[dict]) -> None:
    n = len(rows)
    below = [r["run"] for r in rows if r["barrier"] <= r["straight_barrier"]]
    above = [r["run"] for r in rows if r["barrier"] > r["straight_barrier"]]
    index1 = sum(r.get("outcome_index", r["n_negative"] if r["certified"] else -1) == 1
                 and r.get("outcome", "saddle") != "not_certified" for r in rows)
    print(f"{n} local minima: band barrier <= straight-line barrier for {len(below)}"
          + (f" (not for runs {', '.join(map(str, above))})" if above else ""))
    print(f"highest point a certified index-1 saddle (finite or at infinity): {index1} of {n} "
          f"({index1 / max(n, 1):.0%})")
    groups: dict[str, list[int]] = {}
    for r in rows:
        groups.setdefault(diagnosis(r), []).append(r["run"])
    for name, runs in groups.items():
        print(f"  {name}: {len(runs)} (runs {', '.join(map(str, runs))})")


if __name__ == "__main__":
    main()
