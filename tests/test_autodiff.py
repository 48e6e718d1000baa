"""Core takes its own lock around torch's forward mode: derivatives computed on several threads at
once equal those computed on one. (Without the lock, 4 threads x 6 second derivatives fail or
return 0 in about 20 of 24 calls: torch keeps forward-mode dual levels process-global.)"""

import threading

import numpy as np
import torch

from lsexplorer.core.landscape.hessian import directional_derivative, output_jacobian_t
from lsexplorer.core.saddles.inertia import y_matrix
from lsexplorer.core.landscape.surface import network_landscape
from lsexplorer.core.landscape.nets import MLPSpec


def test_forward_mode_derivatives_agree_across_threads():
    rng = np.random.default_rng(0)
    spec = MLPSpec((2, 4, 1), "sigmoid", True)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    theta, u = rng.normal(size=spec.n_params), rng.normal(size=spec.n_params)
    landscape = network_landscape(spec, x, y)
    jobs = {
        "second": lambda: directional_derivative(spec, theta, x, y, u, 2),
        "jacobian": lambda: output_jacobian_t(spec, torch.from_numpy(theta), torch.from_numpy(x)).numpy(),
        "y_matrix": lambda: y_matrix(spec, theta, x, y, 1, 2),
        "hessian": lambda: landscape.hessians(theta[None])[0],
    }
    expected = {name: job() for name, job in jobs.items()}
    # Independent check of one of them: u^T H u from the landscape's Hessian.
    assert np.isclose(expected["second"], u @ expected["hessian"] @ u, rtol=1e-9, atol=1e-12)
    got: list[tuple[str, object]] = []
    start = threading.Barrier(4)

    def work(names):
        start.wait()
        for _ in range(2):
            for name in names:
                try:
                    got.append((name, jobs[name]()))
                except RuntimeError as exc:  # torch's "no level exists" when the lock is missing
                    got.append((name, exc))

    names = list(jobs)
    threads = [threading.Thread(target=work, args=(names[k:] + names[:k],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 * 2 * len(jobs)
    for name, value in got:
        assert not isinstance(value, Exception), f"{name}: {value}"
        np.testing.assert_allclose(value, expected[name], rtol=1e-10, atol=1e-12 * (1 + np.abs(expected[name]).max()),
                                   err_msg=name)
