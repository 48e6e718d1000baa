"""Certified reduction (``core/saddles/symmetry_type.py``) of planted critical points of every symmetry type.

Each wide point is built by hand from a narrower critical point (a teacher, so a zero-loss point, or a
refined critical point of positive loss) with one of the structures, or a combination, whose function is
checked in closed form against the narrower net's. The reduction must name the structure, certify a
narrower critical point of the right kind, and that point must be the one planted (up to permutation and
sign flips of its neurons, compared on the incoming vectors and on the function).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from lsexplorer.core.analyses import closest_saddle
from lsexplorer.core.analyses.analyze import analyze_session
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.base.spec import MLPSpec
from lsexplorer.core.critical.refine import refine
from lsexplorer.core.saddles.symmetry_type import reduce_and_certify
from lsexplorer.core.store.session import load_session
from lsexplorer.core.symmetry.operations import match_to_teacher

RNG = np.random.default_rng(3)
X = RNG.uniform(-2.0, 2.0, size=(60, 2))
#: The narrower net: three neurons (incoming vector, bias) and outgoing weights, plus an output bias.
V = np.array([[0.9, -0.4], [-0.5, 1.1], [0.3, 0.8]])
B = np.array([0.2, -0.3, 0.5])
A = np.array([1.2, -0.8, 0.7])
C = 0.1
U = np.array([1.7, -1.3])  # the incoming vector of a neuron with zero outgoing weight
BETA = 0.5


def act(name: str, z):
    return 1.0 / (1.0 + np.exp(-z)) if name == "sigmoid" else np.tanh(z)


def net(neurons, activation: str, bias: bool, c: float = 0.0) -> tuple[MLPSpec, np.ndarray]:
    """``(spec, theta)`` of ``d -> len(neurons) -> 1`` from ``[(w, b, a), ...]`` (and output bias ``c``)."""
    w = np.array([n[0] for n in neurons], dtype=float)
    b = np.array([n[1] for n in neurons], dtype=float)
    a = np.array([[n[2] for n in neurons]], dtype=float)
    spec = MLPSpec((2, len(neurons), 1), activation, bias=bias)
    parts = [w.ravel(), b, a.ravel(), [c]] if bias else [w.ravel(), a.ravel()]
    return spec, np.concatenate(parts)


def function(neurons, activation: str, bias: bool, c: float = 0.0) -> np.ndarray:
    """The network function on ``X``, written out: ``(N,)``."""
    out = np.full(len(X), c if bias else 0.0)
    for w, b, a in neurons:
        out += a * act(activation, X @ np.asarray(w, float) + (b if bias else 0.0))
    return out


def teacher(bias: bool):
    return [(V[k], B[k] if bias else 0.0, A[k]) for k in range(3)]


def sigmoid_cases():
    """Sigmoid without biases: every constant a flip leaves must cancel inside the layer."""
    (w0, _, a0), (w1, _, a1), (w2, _, a2) = teacher(False)
    return {
        "duplicate": [(w0, 0, 0.3 * a0), (w1, 0, a1), (w2, 0, a2), (w0, 0, 0.7 * a0)],
        "zero_outgoing": [(w0, 0, a0), (U, 0, 0.0), (w1, 0, a1), (w2, 0, a2)],
        # -a1 sigma(-z1) = a1 sigma(z1) - a1; the neuron of zero incoming weight adds 2 a1 sigma(0) = a1
        "zero_incoming": [(w0, 0, a0), (-w1, 0, -a1), (w2, 0, a2), ((0.0, 0.0), 0, 2 * a1)],
        # (a0 + a2) sigma(z0) + a2 sigma(-z0) = a0 sigma(z0) + a2, and -a2 sigma(-z2) = a2 sigma(z2) - a2
        "flipped_duplicate": [(w0, 0, a0 + a2), (-w0, 0, a2), (w1, 0, a1), (-w2, 0, -a2)],
        "duplicate+zero_outgoing": [(w0, 0, 0.3 * a0), (w1, 0, a1), (U, 0, 0.0), (w2, 0, a2), (w0, 0, 0.7 * a0)],
        "flipped_duplicate+zero_incoming": [(w0, 0, a0 + BETA), (-w0, 0, BETA), (w1, 0, a1), (w2, 0, a2),
                                            ((0.0, 0.0), 0, -2 * BETA)],
        # three neurons on one teacher neuron, one of them flipped
        "duplicate+flipped_duplicate+zero_incoming": [(w0, 0, 0.5 * a0 + BETA), (w1, 0, a1), (w0, 0, 0.5 * a0),
                                                      (-w0, 0, BETA), (w2, 0, a2), ((0.0, 0.0), 0, -2 * BETA)],
    }


def tanh_cases():
    """Tanh with biases: a neuron of zero incoming weight is the constant a tanh(b), which the output bias takes."""
    (v0, b0, a0), (v1, b1, a1), (v2, b2, a2) = teacher(True)
    const = ((0.0, 0.0), 0.7, 0.9)
    return {
        "duplicate": [(v0, b0, 0.3 * a0), (v1, b1, a1), (v2, b2, a2), (v0, b0, 0.7 * a0)],
        "zero_outgoing": [(v0, b0, a0), (U, 0.4, 0.0), (v1, b1, a1), (v2, b2, a2)],
        "zero_incoming": [(v0, b0, a0), (v1, b1, a1), const, (v2, b2, a2)],
        # (a0 + BETA) tanh(z0) + BETA tanh(-z0) = a0 tanh(z0): tanh leaves no constant
        "flipped_duplicate": [(v0, b0, a0 + BETA), (-v0, -b0, BETA), (v1, b1, a1), (v2, b2, a2)],
        "duplicate+zero_outgoing": [(v0, b0, 0.3 * a0), (v1, b1, a1), (U, 0.4, 0.0), (v2, b2, a2), (v0, b0, 0.7 * a0)],
        "flipped_duplicate+zero_incoming": [(v0, b0, a0 + BETA), (-v0, -b0, BETA), (v1, b1, a1), const, (v2, b2, a2)],
    }


def same_neurons_up_to_sign(spec: MLPSpec, theta: np.ndarray, vectors: np.ndarray) -> float:
    """Largest distance from each planted incoming vector to the nearest narrower one, up to sign."""
    m = spec.widths[1]
    k = spec.widths[0] + (1 if spec.bias else 0)
    w = theta[:m * 2].reshape(m, 2)
    got = np.concatenate([w, theta[m * 2:m * 3, None]], axis=1) if spec.bias else w
    assert got.shape[1] == k
    return max(min(np.linalg.norm(got - s * v, axis=1).min() for s in (1, -1)) for v in vectors)


def narrower_function(spec: MLPSpec, theta: np.ndarray) -> tuple[list, float]:
    """The narrower point's neurons ``[(w, b, a), ...]`` and output bias."""
    m = spec.widths[1]
    w = theta[:2 * m].reshape(m, 2)
    if spec.bias:
        b, a, c = theta[2 * m:3 * m], theta[3 * m:4 * m], theta[4 * m]
        return [(w[k], b[k], a[k]) for k in range(m)], c
    return [(w[k], 0.0, theta[2 * m + k]) for k in range(m)], 0.0


CASES = [("sigmoid", False, name, neurons) for name, neurons in sigmoid_cases().items()] + \
        [("tanh", True, name, neurons) for name, neurons in tanh_cases().items()]


@pytest.mark.parametrize("activation, bias, expected, neurons", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_a_planted_zero_loss_point_reduces_to_its_teacher(activation, bias, expected, neurons):
    y = function(teacher(bias), activation, bias, C)
    c_wide = C - (0.9 * np.tanh(0.7) if "zero_incoming" in expected and activation == "tanh" else 0.0)
    assert np.max(np.abs(function(neurons, activation, bias, c_wide) - y)) < 1e-14  # the planted identities
    spec, theta = net(neurons, activation, bias, c_wide)
    red = reduce_and_certify(spec, theta, X, y[:, None])
    assert red.types == expected and red.is_si, red.reason
    n = red.narrower
    assert n.spec.widths == (2, 3, 1) and n.kind == "global_min"
    planted = np.array([np.append(v, b) if bias else v for v, b, _ in teacher(bias)])
    assert same_neurons_up_to_sign(n.spec, n.theta, planted) < 1e-10
    narrow_neurons, narrow_c = narrower_function(n.spec, n.theta)
    assert np.max(np.abs(function(narrow_neurons, activation, bias, narrow_c) - y)) < 1e-10


@pytest.fixture(scope="module")
def positive_loss_point():
    """A sigmoid 2-2-1 critical point of positive loss on the three-neuron teacher's data (refined, float64)."""
    y = function(teacher(False), "sigmoid", False)
    spec = MLPSpec((2, 2, 1), "sigmoid", bias=False)
    point = refine(spec, np.array([0.9, -0.4, -0.5, 1.1, 1.0, -0.6]), X, y[:, None])
    assert point.loss > 1e-6 and point.grad_norm < 1e-10
    return y, point.theta


def test_a_duplicated_and_flipped_critical_point_of_positive_loss_reduces_to_it(positive_loss_point):
    y, t = positive_loss_point
    (w0, w1), (a0, a1) = t[:4].reshape(2, 2), t[4:]
    # a0 sigma(z0) split into 0.4 a0 + BETA on w0 and BETA on -w0 (constant BETA), and 0.6 a0 on w0;
    # the neuron of zero incoming weight takes the constant back: -2 BETA sigma(0) = -BETA
    neurons = [(w0, 0, 0.4 * a0 + BETA), (w1, 0, a1), (-w0, 0, BETA), (w0, 0, 0.6 * a0), ((0.0, 0.0), 0, -2 * BETA)]
    assert np.max(np.abs(function(neurons, "sigmoid", False) - function([(w0, 0, a0), (w1, 0, a1)], "sigmoid", False))
                  ) < 1e-14
    spec, theta = net(neurons, "sigmoid", False)
    red = reduce_and_certify(spec, theta, X, y[:, None])
    assert red.types == "duplicate+flipped_duplicate+zero_incoming" and red.is_si, red.reason
    assert red.narrower.kind != "global_min" and red.narrower.loss > 1e-6
    assert same_neurons_up_to_sign(red.narrower.spec, red.narrower.theta, np.array([w0, w1])) < 1e-10


def test_an_irreducible_point_and_an_unplaceable_constant_are_not_symmetry_induced():
    y = function(teacher(False), "sigmoid", False)
    spec, theta = net(teacher(False), "sigmoid", False)
    red = reduce_and_certify(spec, theta, X, y[:, None])
    assert red.types == "irreducible" and not red.is_si and red.narrower is None
    (w0, _, a0), (w1, _, a1), (w2, _, a2) = teacher(False)
    lonely = [(w0, 0, a0), (w1, 0, a1), (w2, 0, a2), ((0.0, 0.0), 0, 0.25)]  # 0.125: no flip cancels it
    spec, theta = net(lonely, "sigmoid", False)
    assert reduce_and_certify(spec, theta, X, y[:, None]).types == "irreducible"


SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"


def test_the_analysis_stores_each_reduction_and_the_flag_holds_for_every_type():
    """Rows 5 (a neuron of zero outgoing weight) and 28 (zero incoming weight, its constant cancelled by a
    sign-flipped teacher neuron) of the sample: analysed afresh, both embed the 2-4-1 teacher."""
    sample = load_session(SAMPLE)
    runs = dataclasses.replace(sample.runs, symmetry_induced=np.zeros_like(sample.runs.symmetry_induced))
    session = dataclasses.replace(sample, runs=runs, analyses={})
    run_generator(analyze_session(session, [5, 28], ["closest_saddle"]))
    table = closest_saddle.read_table(session)
    assert table.run.tolist() == [5, 28] and table.symmetry_type.tolist() == ["zero_outgoing", "zero_incoming"]
    assert session.runs.symmetry_induced[[5, 28]].all() and not session.runs.symmetry_induced[[0, 1]].any()
    for row in (5, 28):
        reduced = closest_saddle.read_reduction(session, row)
        assert reduced.is_si and reduced.narrower.kind == "global_min" and reduced.narrower.spec.widths == (2, 4, 1)
        match = match_to_teacher(reduced.narrower.spec, reduced.narrower.theta, reduced.narrower.spec,
                                 session.teacher_theta)
        assert match.incoming_residual.max() < 1e-10
