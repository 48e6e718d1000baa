"""T(r*, m) and G(r, m): closed forms against brute-force enumeration of distinct affine subspaces."""

import itertools
import math

import numpy as np
import pytest

from lsexplorer.core.symmetry.counting import (AffineSubspace, G, T, critical_subspaces, global_minima_subspaces, ratio_curve,
                                      stirling2, surjections)


def multinomial_sum(r, m):
    """The thesis' own formula for G: sum of m!/(k_1!...k_r!) over compositions k_i >= 1 of m."""
    total = 0
    for ks in itertools.product(range(1, m + 1), repeat=r):
        if sum(ks) == m:
            total += math.factorial(m) // math.prod(math.factorial(k) for k in ks)
    return total


def test_stirling_numbers_match_the_table():
    assert [stirling2(5, k) for k in range(7)] == [0, 1, 15, 25, 10, 1, 0]
    assert stirling2(0, 0) == 1 and stirling2(4, 0) == 0
    assert stirling2(30, 29) == math.comb(30, 2)
    assert surjections(5, 3) == 3 ** 5 - 3 * 2 ** 5 + 3


def test_hand_values_and_the_thesis_corrections():
    assert T(4, 4) == 24                     # thesis: 4! = 24, right
    assert G(3, 4) == 36                     # thesis: 3 * 4!/2! = 36, right
    assert G(3, 5) == 3 * 120 // 6 + 3 * 120 // 4 == 150   # thesis printed 3*4!/3! + 3*4!/(2!2!) = 30
    assert T(4, 5) == 240 + 5 * 24 == 360    # thesis printed 240 + 5 = 245: the zero neuron's 5 places times 4!
    assert T(4, 5, "single") == 360          # the two readings of zero-type neurons agree for m = r* + 1
    assert T(4, 6) == 3720 and T(4, 6, "single") == 3360   # and differ from m = r* + 2 on
    assert G(1, 7) == 1 and G(2, 4) == 14


@pytest.mark.parametrize("r", range(1, 7))
def test_closed_forms_on_general_identities(r):
    assert G(r, r) == T(r, r) == math.factorial(r)
    assert T(r, r + 1) == math.factorial(r + 1) * (r + 2) // 2
    if r > 1:
        assert G(r, r - 1) == T(r, r - 1) == 0
    for m in range(r, r + 4):
        assert G(r, m) == multinomial_sum(r, m)
        assert T(r, m, "single") <= T(r, m)


SMALL = [(r, m) for m in range(1, 6) for r in range(1, m + 1)] + [(4, 6), (5, 6), (6, 6)]


@pytest.mark.parametrize("r, m", SMALL)
def test_closed_forms_equal_brute_force(r, m):
    assert len(critical_subspaces(r, m)) == G(r, m)
    assert len(global_minima_subspaces(r, m)) == T(r, m)
    assert len(global_minima_subspaces(r, m, "single")) == T(r, m, "single")


@pytest.mark.parametrize("r, m", [(1, 3), (2, 4), (3, 4)])
def test_counted_subspaces_are_maximal_and_single_ones_are_among_them(r, m):
    groups = global_minima_subspaces(r, m)
    assert global_minima_subspaces(r, m, "single") <= groups
    for u, v in itertools.permutations(groups, 2):
        assert not u.contains(v)
    for u, v in itertools.permutations(critical_subspaces(r, m), 2):
        assert not u.contains(v)


def test_thesis_literal_zero_neurons_are_inside_a_counted_subspace():
    # Thesis section 4.2 writes b_1 zero neurons with one shared w' and outgoing weights all 0. For
    # b_1 = 2 that set lies strictly inside the subspace of two free zero-type neurons.
    n = 6  # r* = 1 teacher neuron (w* = 1, a* = 2) in width m = 3: x = (w1, w2, w3, a1, a2, a3)
    literal = AffineSubspace.from_constraints(n, [([1, 0, 0, 0, 0, 0], 1), ([0, 0, 0, 1, 0, 0], 2),
                                                 ([0, 1, -1, 0, 0, 0], 0), ([0, 0, 0, 0, 1, 0], 0),
                                                 ([0, 0, 0, 0, 0, 1], 0)])
    containing = [s for s in global_minima_subspaces(1, 3) if s.contains(literal)]
    assert literal not in global_minima_subspaces(1, 3)
    assert len(containing) == 2 and all(s.dim > literal.dim for s in containing)


def test_affine_subspace_rejects_inconsistent_constraints():
    with pytest.raises(ValueError, match="inconsistent"):
        AffineSubspace.from_constraints(2, [([1, 0], 1), ([2, 0], 3)])
    same = AffineSubspace.from_constraints(2, [([2, 2], 4)])
    assert same == AffineSubspace.from_constraints(2, [([-1, -1], -2), ([3, 3], 6)])


def test_ratio_curve_has_the_shape_of_fig_4_4():
    c = ratio_curve(30)
    assert c.m[0] == 30 and c.m[-1] == 90 and list(c.r) == list(range(1, 30))
    assert c.ratio.shape == (29, 61) and c.total.shape == (61,)
    np.testing.assert_allclose(c.ratio.sum(axis=0), c.total, rtol=1e-12)
    assert c.total[0] > 1e4                        # mildly over-parameterised: saddles dominate
    assert c.total[c.m == 41][0] > 1 > c.total[c.m == 42][0]   # and the global minima take over at m = 42
    assert np.all(np.diff(c.total) < 0)
    assert c.ratio[-1, 0] == pytest.approx(G(29, 30) / T(30, 30)) == pytest.approx(29 / 2)


def test_bad_inputs_raise():
    for bad in [(0, 3), (2, 0), (-1, 2), (1.5, 3), (True, 3)]:
        with pytest.raises(ValueError, match="positive integer"):
            G(*bad)
        with pytest.raises(ValueError, match="positive integer"):
            T(*bad)
    with pytest.raises(ValueError, match="zero_type"):
        T(2, 3, "pairs")
    with pytest.raises(ValueError, match="r_star >= 2"):
        ratio_curve(1)
    with pytest.raises(ValueError, match="m_values"):
        ratio_curve(5, [3, 4])
