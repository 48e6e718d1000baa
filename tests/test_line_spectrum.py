"""The spectrum along a saddle line θ(μ) against an independent closed-form Hessian of the widened net."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numpy_reference import loss_grad_hessian as reference

from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.saddles.inertia import theorem3
from lsexplorer.core.saddles.line_spectrum import LineSpectra, NeuronLine


def _widened_by_hand(theta: np.ndarray, m: int, d: int, j: int, mu: float) -> np.ndarray:
    """θ(μ) of the two-layer net written from the definition: neuron ``j``'s incoming vector copied,
    its outgoing weight split into ``μ a_j`` and ``(1 − μ) a_j``."""
    w, a = theta[:m * d].reshape(m, d), theta[m * d:].copy()
    w2 = np.vstack([w, w[j]])
    a2 = np.append(a, (1.0 - mu) * a[j])
    a2[j] = mu * a[j]
    return np.concatenate([w2.ravel(), a2])


@pytest.mark.parametrize("mu", [-0.5, 0.0, 0.3, 1.0, 1.7])
def test_spectrum_at_mu_is_the_closed_form_spectrum_of_the_widened_net(toy, mu):
    m, d, j = 3, 2, 1
    spec = MLPSpec((d, m, 1))
    theta = np.asarray(xavier_init(spec, [3])[0], dtype=np.float64)
    spectra = LineSpectra(NeuronLine(spec, theta, 1, j), toy.x, toy.y, Tolerances())
    got = spectra.at(mu)

    loss, grad, hess = reference(_widened_by_hand(theta, m, d, j, mu), toy.x, toy.y, m + 1)
    narrow_loss = reference(theta, toy.x, toy.y, m)[0]
    expected = np.linalg.eigvalsh(hess)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got.eigvals, expected, rtol=0, atol=1e-10 * scale)
    assert got.loss == pytest.approx(loss, rel=1e-12)
    assert got.loss == pytest.approx(narrow_loss, rel=1e-12)  # duplication leaves the function unchanged
    assert got.grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-9, abs=1e-14)
    assert got.mu == mu and got.eigvals.size == (m + 1) * (d + 1)
    assert got.predicted == theorem3(spec, theta, toy.x, toy.y, 1, j).inertia(mu)


def test_the_narrow_points_theorem_data_is_computed_once_for_every_mu(toy, monkeypatch):
    import lsexplorer.core.saddles.line_spectrum as module

    calls = []
    original = module.theorem3
    monkeypatch.setattr(module, "theorem3", lambda *a, **k: calls.append(1) or original(*a, **k))
    spec = MLPSpec((2, 3, 1))
    theta = np.asarray(xavier_init(spec, [5])[0], dtype=np.float64)
    spectra = LineSpectra(NeuronLine(spec, theta, 1, 0), toy.x, toy.y, Tolerances())
    threads = [threading.Thread(target=spectra.at, args=(mu,)) for mu in (0.1, 0.5, 0.9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spectra.at(2.0)
    assert len(calls) == 1
