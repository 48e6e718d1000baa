"""Why a diverged point is not a flat channel, measured (``flat_channel.decompose``), on planted points."""

from __future__ import annotations

import numpy as np

from lsexplorer.core.channels.flat_channel import decompose
from lsexplorer.core.landscape.nets import MLPSpec

SPEC = MLPSpec((2, 5, 1), "sigmoid", bias=False)
X = np.random.default_rng(1).uniform(-1.0, 1.0, size=(50, 2))
U = np.array([0.7, 0.6])
V = np.array([-1.0, 0.5])


def point(w, a) -> np.ndarray:
    return np.concatenate([np.asarray(w, float).ravel(), np.asarray(a, float)])


def test_three_neurons_closing_in_too_loosely_for_a_gated_linear_unit_are_named_as_a_group():
    # neurons 0, 1, 4 on +-U, 5e-3 apart at outgoing ~1e4 (moments ~60 > 20); 2, 3 a flipped pair on +-V
    w = [U, -U + [5e-3, 0.0], V, -V + [1e-6, 0.0], -U + [0.0, 5e-3]]
    why = decompose(SPEC, point(w, [1e4, 6e3, -1e4, -1e4, 4e3]), X)
    assert isinstance(why, str) and why.startswith("neurons 0, 1, 4 diverge together")
    assert "1, 4 sign-flipped against 0" in why and "a group of 3" in why


def test_a_lone_diverging_neuron_and_a_distant_partner_are_measured():
    w = [U, V, -V, [0.2, -0.9], [-0.4, -0.3]]
    why = decompose(SPEC, point(w, [1e4, 0.3, -0.2, 0.5, 1.0]), X)
    assert why.startswith("the outgoing weight of neuron 0 (1e+04) diverges alone")
    why = decompose(SPEC, point(w, [1e4, 0.3, -0.2, 0.5, -1e4]), X)
    assert "the nearest, neuron 4, has moment" in why
