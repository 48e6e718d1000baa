"""Outcome counts of gradient-flow sessions beside an Adam session's, with Wilson 95 % intervals.

Table 6.1 of the thesis under gradient flow: the kinds of certified end points of one or more
sessions (for example the four parts of a 1000-seed run), pooled, against the bundled Adam sample
(``sample_data/toy_width5.h5``). A run is *explained* when it is a finite certified critical point
or a minimum or saddle at infinity (a channel); the rest are ``not_converged``. Also prints why the
flow's integrations ended (``run.flow_end``) and the training time the sessions record.

    python benchmarks/flow_outcomes.py FLOW.h5 [FLOW2.h5 ...] [--adam sample_data/toy_width5.h5]
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from lsexplorer.core.store.session import load_session
from lsexplorer.core.sweep.outcomes import wilson_interval

REPO = Path(__file__).resolve().parents[1]
GROUPS = {"global minimum": ("global_min",), "local minimum": ("local_min",),
          "saddle": ("strict_saddle", "nonstrict_saddle"), "channel (at infinity)": ("channel", "channel_saddle"),
          "not converged": ("not_converged",)}


def counts(paths: list[Path]) -> tuple[collections.Counter, collections.Counter, float]:
    kinds: collections.Counter = collections.Counter()
    ends: collections.Counter = collections.Counter()
    seconds = 0.0
    for path in paths:
        session = load_session(path)
        kinds.update(str(k) for k in session.runs.kind)
        run = session.config.get("run", {})
        ends.update(run.get("flow_end", []))
        seconds += float(run.get("train_seconds", 0.0))
    return kinds, ends, seconds


def column(kinds: collections.Counter) -> list[str]:
    n = sum(kinds.values())
    out = []
    for members in GROUPS.values():
        k = sum(kinds[m] for m in members)
        lo, hi = wilson_interval(k, n)
        out.append(f"{k:>4} ({100 * k / n:5.1f} %, {100 * lo:4.1f}–{100 * hi:4.1f})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flow", nargs="+", type=Path)
    parser.add_argument("--adam", type=Path, default=REPO / "sample_data" / "toy_width5.h5")
    args = parser.parse_args()
    flow, ends, seconds = counts(args.flow)
    adam, _, _ = counts([args.adam])
    n_flow, n_adam = sum(flow.values()), sum(adam.values())
    print(f"{'outcome':<24}{'gradient flow (' + str(n_flow) + ' seeds)':<34}Adam sample ({n_adam} seeds)")
    for name, f, a in zip(GROUPS, column(flow), column(adam)):
        print(f"{name:<24}{f:<34}{a}")
    explained = n_flow - flow["not_converged"]
    lo, hi = wilson_interval(explained, n_flow)
    print(f"explained (finite certified point or channel): {explained} of {n_flow} = {100 * explained / n_flow:.1f} % "
          f"(95 % Wilson {100 * lo:.1f}–{100 * hi:.1f} %)")
    print("integration ends: " + ", ".join(f"{k} {v}" for k, v in ends.most_common())
          + f"; training {seconds:.0f} s recorded in the sessions")


if __name__ == "__main__":
    main()
