"""How a point reduces to a narrower network (``core/saddles/symmetry_type.py``), on planted structures."""

from __future__ import annotations

import numpy as np
import pytest

from lsexplorer.core.base.spec import MLPSpec
from lsexplorer.core.saddles.symmetry_type import IRREDUCIBLE, reductions, symmetry_type

SPEC = MLPSpec((2, 4, 1), "sigmoid", bias=False)
#: Four distinct incoming vectors, none the negative of another, and non-zero outgoing weights.
W = np.array([[1.0, 0.5], [-0.3, 2.0], [0.7, -1.1], [1.5, 1.5]])
A = np.array([[0.8, -1.2, 0.4, 2.0]])


def point(w=W, a=A) -> np.ndarray:
    return np.concatenate([np.asarray(w).ravel(), np.asarray(a).ravel()])


def test_an_irreducible_point_has_no_reduction():
    assert symmetry_type(SPEC, point()) == IRREDUCIBLE


@pytest.mark.parametrize("change, expected", [
    (lambda w, a: w.__setitem__(1, w[0]), ("duplicate",)),
    # a_1 sigma(-z) = a_1 - a_1 sigma(z): the constant -0.4 cancels by flipping neuron 2 (c = 0.4)
    (lambda w, a: (w.__setitem__(1, -w[0]), a.__setitem__((0, 1), -0.4)), ("flipped_duplicate",)),
    (lambda w, a: a.__setitem__((0, 2), 0.0), ("zero_outgoing",)),
    # 2.4 sigma(0) = 1.2 cancels by flipping neuron 1 (c = -1.2)
    (lambda w, a: (w.__setitem__(3, 0.0), a.__setitem__((0, 3), 2.4)), ("zero_incoming",)),
    (lambda w, a: (w.__setitem__(1, w[0]), a.__setitem__((0, 3), 0.0)), ("duplicate", "zero_outgoing")),
    # constants no flip cancels: without a bias the narrower net cannot compute them
    (lambda w, a: w.__setitem__(1, -w[0]), ()),
    (lambda w, a: w.__setitem__(3, 0.0), ()),
])
def test_each_planted_structure_is_named(change, expected):
    w, a = W.copy(), A.copy()
    change(w, a)
    assert reductions(SPEC, point(w, a)) == expected
    assert symmetry_type(SPEC, point(w, a)) == ("+".join(expected) or IRREDUCIBLE)


def test_equal_means_within_the_symmetry_induced_tolerance():
    w = W.copy()
    w[1] = w[0] + 1e-9  # a refined duplicate: split by round-off
    assert reductions(SPEC, point(w)) == ("duplicate",)
    w[1] = w[0] + 1e-3  # a pair gradient methods left apart is not a duplicate
    assert reductions(SPEC, point(w)) == ()
    assert reductions(SPEC, point(w), tol=1e-2) == ("duplicate",)


def test_biases_count_in_the_incoming_vector_and_tanh_flips_but_softplus_does_not():
    spec = MLPSpec((2, 2, 1), "tanh", bias=True)
    theta = np.array([1.0, 2.0, 1.0, 2.0, 0.5, -0.5, 1.0, 1.0, 0.0])  # W1 rows equal, biases differ
    assert reductions(spec, theta) == ()
    theta[5] = 0.5
    assert reductions(spec, theta) == ("duplicate",)
    flipped = np.array([1.0, 2.0, -1.0, -2.0, 0.5, -0.5, 1.0, 1.0, 0.0])
    assert reductions(spec, flipped) == ("flipped_duplicate",)
    assert reductions(MLPSpec((2, 2, 1), "softplus", bias=True), flipped) == ()


def test_a_fixed_output_layer_does_not_reduce_and_nan_has_no_structure():
    spec = MLPSpec((2, 3, 1), "relu", fixed_output=True)  # its outgoing ones cannot carry a merged pair's sum
    assert reductions(spec, np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])) == ()
    assert reductions(SPEC, np.full(SPEC.n_params, np.nan)) == ()
    with pytest.raises(ValueError, match="shape"):
        reductions(SPEC, np.zeros(3))
