"""Apply refinement's symmetry-aware polishing stage to the refined points stored in a session.

Stages 1..3 of :func:`lsexplorer.core.critical.refine.refine` are deterministic given the stored end points, so
running stage 4 (:func:`lsexplorer.core.critical.polish.polish`) on ``/runs/theta`` gives what a fresh
refinement from ``/runs/theta_trained`` gives, without retraining and without touching rows that
polishing leaves alone. Changed rows get their loss, gradient, spectrum and kind measured again and
``+polish:...`` appended to their stop reason. Then run ``lsexplorer analyze SESSION``.

    PYTHONPATH=. python3 scripts/repolish_sample.py sample_data/toy_width5.h5
"""

import sys

import numpy as np
import torch

from lsexplorer.core.base.classify import Tolerances, classify, loss_scale
from lsexplorer.core.landscape.hessian import loss_grad_hessian, spectrum
from lsexplorer.core.critical.polish import polish
from lsexplorer.core.base.refined import Status
from lsexplorer.core.critical.refine import RefineConfig
from lsexplorer.core.store.session import load_session, save_session


def main(path: str) -> None:
    torch.set_num_threads(1)
    s = load_session(path)
    spec, runs = s.spec, s.runs
    config = RefineConfig.from_dict(s.config.get("refine", {}))
    tol = Tolerances.from_dict(s.config.get("tolerances", {}))
    x, y = torch.from_numpy(s.x), torch.from_numpy(s.y)
    reasons = runs.stop_reason.astype(object)  # a fixed-width str array would cut the longer reasons
    for row in range(runs.n_runs):
        if runs.kind[row] == "not_converged" or not np.isfinite(runs.theta[row]).all():
            continue
        result = polish(spec, runs.theta[row], x, y, config)
        if not result.stages:
            continue
        before = (runs.kind[row], runs.loss[row])
        reasons[row] = f"{reasons[row]}+{result.stop_reason}"
        if result.status is Status.ACCEPTED:
            value, g, h = loss_grad_hessian(spec, result.theta, x, y)
            eig = spectrum(h)[0]
            c = classify(value, float(np.linalg.norm(g)), eig, loss_scale(s.y), tol)
            runs.theta[row], runs.loss[row], runs.grad_norm[row] = result.theta, value, np.linalg.norm(g)
            runs.hessian_eigvals[row], runs.kind[row] = eig, c.kind
            runs.degeneracy[row], runs.lambda_min[row] = c.n_zero, c.lambda_min
        print(f"row {row}: {before[0]} {before[1]:.3e} -> {runs.kind[row]} {runs.loss[row]:.3e}  {result.stop_reason}")
    runs.stop_reason = reasons.astype(str)
    s.config["refine"] = config.to_dict()
    save_session(s, path)


if __name__ == "__main__":
    main(sys.argv[1])
