"""Channels of sign-flipped pairs (``core/channels/flipped_pairs.py``): the limit model with a free constant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsexplorer.core.base.spec import MLPSpec
from lsexplorer.core.channels.flipped_pairs import (
    flipped_candidates,
    flipped_pair_limit,
    flipped_pairs,
    realise_flipped,
)
from lsexplorer.core.channels.limit_model import LimitParams, LimitStructure, limit_output, pack

X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(40, 2))


def act(name, z):
    return 1.0 / (1.0 + np.exp(-z)) if name == "sigmoid" else np.tanh(z)


def network(activation: str, theta: np.ndarray) -> np.ndarray:
    """The two-layer network's output on ``X``, written out: ``(N,)``."""
    m = len(theta) // 3
    w, a = theta[:2 * m].reshape(m, 2), theta[2 * m:]
    return act(activation, X @ w.T) @ a


def limit_point(activation: str) -> tuple[LimitStructure, np.ndarray]:
    """One finite neuron and two gated linear units (c sigma(u.x) + (v.x) sigma'(u.x)); a free constant for
    the sigmoid."""
    structure = LimitStructure(d=2, activation=activation, n_finite=1, n_glu=2, constant=activation == "sigmoid",
                               linear=False)
    params = LimitParams(np.array([[0.4, -0.9]]), np.array([1.3]), np.array([[0.8, 0.3], [-0.2, 0.7]]),
                         np.array([0.6, -1.1]), np.array([[0.5, -0.4], [0.3, 0.9]]), 0.35, np.zeros(2))
    return structure, pack(structure, params)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_a_realised_flipped_channel_approaches_its_limit_and_reads_back_as_it(activation):
    structure, phi = limit_point(activation)
    limit = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(X)).numpy()
    errors = []
    for amp in (1e2, 1e3):
        theta = realise_flipped(structure, phi, amp)
        w, a = theta[:10].reshape(5, 2), theta[10:]
        if activation == "sigmoid":  # one member of each pair flipped: opposite incoming vectors, same-sign outgoing
            assert np.linalg.norm(w[1] + w[2]) < 1e-2 and a[1] * a[2] > 0 and abs(a[1]) > amp / 2
        errors.append(np.abs(network(activation, theta) - limit).max())
        spec = MLPSpec((2, 5, 1), activation, bias=False)
        if activation == "sigmoid":
            assert flipped_pairs(spec, theta)[:2] == [(1, 2), (3, 4)]
            assert flipped_candidates(spec, theta) == [[(1, 2), (3, 4)]]
            read, phi_read = flipped_pair_limit(spec, theta, [(1, 2), (3, 4)])
            assert read.constant and read.n_glu == 2
            again = limit_output(read, torch.from_numpy(phi_read), torch.from_numpy(X)).numpy()
            assert np.abs(again - network(activation, theta)).max() < 50 / amp ** 2
    assert errors[1] < errors[0] / 50  # O(1/A^2)


def test_nets_without_the_sign_symmetry_have_no_flipped_pairs():
    theta = realise_flipped(*limit_point("sigmoid"), 100.0)
    assert flipped_pairs(MLPSpec((2, 5, 1), "softplus", bias=False), theta) == []
    with pytest.raises(ValueError, match="two or more"):
        structure, phi = limit_point("sigmoid")
        one = LimitStructure(2, "sigmoid", 1, 1, True, False)
        realise_flipped(one, np.concatenate([phi[:3], phi[3:5], phi[7:8], phi[9:11], phi[-1:]]), 10.0)
