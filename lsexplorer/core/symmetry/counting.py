"""How many affine subspaces symmetry builds out of one network point: T(r*, m) and G(r, m).

Thesis chapter 4, after Şimşek et al. (2021). Two-layer net ``f(x) = sum_i a_i sigma(w_i . x)``
of width ``m``. The counts assume, as the paper does, that the neuron functions ``sigma(w . x)`` for
distinct ``w`` are linearly independent (the sigmoid's extra relation ``sigma(-z) = 1 - sigma(z)``
is ignored here; it adds the sign-flipped copies handled in :mod:`lsexplorer.core.symmetry.operations`).
``docs/counting.md`` derives the formulas and lists where the thesis' printed numbers are wrong.

* ``T(r_star, m)``: a teacher of irreducible width ``r*`` (distinct ``w*_t``, all ``a*_t != 0``).
  Every width-``m`` point with the teacher's function groups its neurons by incoming vector: one
  group per teacher neuron (``w_i = w*_t``, outgoing weights summing to ``a*_t``) and any number of
  *zero-type* groups (a free common incoming vector, outgoing weights summing to zero). Each way
  of forming the groups is one affine subspace; none contains another, so ``T`` counts the
  maximal affine subspaces of the global-minima manifold:
  ``T(r*, m) = sum_{k=r*}^{m} S(m, k) k! / (k - r*)!``
  (split the ``m`` neurons into ``k`` blocks, give ``r*`` of them the teacher labels).
  With ``zero_type="single"`` zero-type neurons are taken one by one (``a_i = 0``, ``w_i`` free)
  and groups of them are not counted: ``sum_{s=0}^{m-r*} C(m, s) r*! S(m - s, r*)``. Both agree for
  ``m <= r* + 1``.
* ``G(r, m)``: an irreducible critical point of width ``r`` with non-zero loss. Zero-type neurons
  are not critical there (the gradient of their outgoing weight is ``E[e(x) sigma(w' . x)] != 0``),
  so only duplication remains: ``G(r, m) = sum_{k_1+..+k_r=m, k_i>=1} m! / (k_1! ... k_r!) = r! S(m, r)``.

Closed forms are exact Python integers. The brute force builds every subspace as a system of
linear constraints with integer coefficients, brings it to reduced row-echelon form and counts distinct
forms; it never uses the formulas above.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

ZERO_TYPES = ("groups", "single")


def _check_sizes(r: int, m: int, r_name: str) -> None:
    for name, v in ((r_name, r), ("m", m)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _check_zero_type(zero_type: str) -> None:
    if zero_type not in ZERO_TYPES:
        raise ValueError(f"zero_type must be one of {', '.join(ZERO_TYPES)}, got {zero_type!r}")


# --------------------------------------------------------------------------- closed forms

#: Rows ``S(n, 0..n)`` of Stirling numbers of the second kind computed so far, grown on demand.
_STIRLING_ROWS: list[list[int]] = [[1]]


def stirling2(n: int, k: int) -> int:
    """Stirling number of the second kind: partitions of ``n`` labelled items into ``k`` blocks."""
    if n < 0 or k < 0:
        raise ValueError(f"stirling2 needs n, k >= 0, got n={n}, k={k}")
    if k > n:
        return 0
    while len(_STIRLING_ROWS) <= n:
        prev = _STIRLING_ROWS[-1]
        j_max = len(prev)
        _STIRLING_ROWS.append([0] + [j * prev[j] + prev[j - 1] if j < j_max else prev[j - 1]
                                     for j in range(1, j_max + 1)])
    return _STIRLING_ROWS[n][k]


def surjections(n: int, k: int) -> int:
    """Maps from ``n`` items onto ``k`` labels, all labels used: ``k! S(n, k)``."""
    if k > n:
        return 0  # before k!, which for a huge k would take for ever
    return math.factorial(k) * stirling2(n, k)


#: Calibration of :func:`closed_form_cost` (2 CPU cores, CPython 3.11): m = 1200 took 0.35 GB and
#: 0.7 s, m = 2400 3.0 GB and 6.3 s, i.e. m^3 log2(m) / 50 bytes and 4e-11 s per unit; these err high.
_BYTES_PER_UNIT, _SECONDS_PER_UNIT = 1 / 24, 1e-10


def closed_form_cost(r: int, m: int) -> tuple[float, float]:
    """Peak memory (bytes) and time (seconds) of :func:`T` and :func:`G` at ``(r, m)``, before computing.

    Both need the Stirling numbers ``S(m, k)``, which are built row by row up to row ``m`` (and
    kept): row ``n`` holds ``n`` integers of at most ``log2(n^n) = n log2 n`` bits, so the rows take
    about ``m^3 log2(m) / 24`` bytes, and as many bit operations to build. ``r`` only adds the
    ``m - r`` products of the sum in ``T``, each no larger than a row's numbers. With ``m < r`` both
    are 0 at once.
    """
    if m < r:
        return 0.0, 0.0
    units = float(m) ** 3 * max(math.log2(m), 1.0)
    return units * _BYTES_PER_UNIT, units * _SECONDS_PER_UNIT


def G(r: int, m: int) -> int:
    """Affine subspaces of critical points that one irreducible width-``r`` critical point induces in width ``m``.

    ``r! S(m, r)``; 0 when ``m < r``. Every assignment of the ``m`` neurons onto the ``r`` neurons
    of the narrow point (each used at least once) is one subspace ``{w_i = w_t, sum of a_i = a_t}``.
    """
    _check_sizes(r, m, "r")
    return surjections(m, r)


def T(r_star: int, m: int, zero_type: str = "groups") -> int:
    """Affine subspaces of the global-minima manifold of a width-``r_star`` teacher in width ``m``.

    ``zero_type="groups"`` (default) counts every maximal subspace,
    ``sum_{k=r*}^{m} S(m, k) k!/(k - r*)!``; ``"single"`` only those whose zero-type neurons stand
    alone, ``sum_s C(m, s) r*! S(m - s, r*)``. 0 when ``m < r_star``.
    """
    _check_sizes(r_star, m, "r_star")
    _check_zero_type(zero_type)
    if zero_type == "groups":
        return sum(stirling2(m, k) * math.perm(k, r_star) for k in range(r_star, m + 1))
    return sum(math.comb(m, s) * surjections(m - s, r_star) for s in range(0, m - r_star + 1))


@dataclasses.dataclass(frozen=True)
class RatioCurve:
    """Data of thesis Fig 4.4: ``G(r, m) / T(r*, m)`` for every narrower width ``r``.

    ``m (M,)`` student widths, ``r (R,)`` widths ``1 .. r* - 1``, ``ratio (R, M)`` with
    ``ratio[i, k] = G(r[i], m[k]) / T(r*, m[k])``, ``total (M,)`` the ratio of ``sum_r G(r, m)`` to
    ``T(r*, m)`` (the blue curve). Ratios are correctly rounded floats of exact integer quotients.
    """

    r_star: int
    zero_type: str
    m: np.ndarray
    r: np.ndarray
    ratio: np.ndarray
    total: np.ndarray


def ratio_curve(r_star: int = 30, m_values=None, zero_type: str = "groups") -> RatioCurve:
    """Fig 4.4 for a minimal width ``r_star`` (thesis: 30) over ``m_values`` (default ``r* .. 3 r*``)."""
    _check_sizes(r_star, r_star, "r_star")
    _check_zero_type(zero_type)
    if r_star < 2:
        raise ValueError("ratio_curve needs r_star >= 2: there is no narrower width r >= 1 to compare")
    ms = np.arange(r_star, 3 * r_star + 1) if m_values is None else np.asarray(m_values, dtype=int)
    if ms.ndim != 1 or ms.size == 0 or ms.min() < r_star:
        raise ValueError(f"m_values must be a non-empty 1-D list of widths >= r_star={r_star}")
    rs = np.arange(1, r_star)
    ratio = np.empty((len(rs), len(ms)))
    total = np.empty(len(ms))
    for k, m in enumerate(ms):
        t = T(r_star, int(m), zero_type)
        gs = [G(int(r), int(m)) for r in rs]
        ratio[:, k] = [g / t for g in gs]  # int / int is correctly rounded, even for huge integers
        total[k] = sum(gs) / t
    return RatioCurve(r_star, zero_type, ms, rs, ratio, total)


# --------------------------------------------------------------------------- brute force

@dataclasses.dataclass(frozen=True)
class AffineSubspace:
    """An affine subspace ``{x : A x = b}`` with integer ``A, b`` in canonical form.

    ``rows`` is the reduced row-echelon form of ``[A | b]`` with each row scaled to coprime integers
    and a positive pivot (a unique positive multiple of the usual row with pivot 1). Two constraint
    systems describe the same non-empty set exactly when their canonical forms are equal.
    """

    n_vars: int
    rows: tuple[tuple[int, ...], ...]

    @classmethod
    def from_constraints(cls, n_vars: int, constraints) -> AffineSubspace:
        """From rows ``(integer coefficients (n_vars,), integer rhs)``; ValueError when there is no solution."""
        rows = _rref([[int(v) for v in coef] + [int(rhs)] for coef, rhs in constraints], n_vars)
        if any(not any(row[:n_vars]) for row in rows):
            raise ValueError("the constraints are inconsistent: the subspace is empty")
        return cls(n_vars, rows)

    @property
    def dim(self) -> int:
        return self.n_vars - len(self.rows)

    def contains(self, other: AffineSubspace) -> bool:
        """Whether ``other`` is a subset of this subspace (this one's constraints add nothing to it)."""
        return _rref([list(r) for r in other.rows] + [list(r) for r in self.rows], self.n_vars) == other.rows


def _rref(mat: list[list[int]], n_vars: int) -> tuple[tuple[int, ...], ...]:
    """Integer Gauss-Jordan elimination of ``[A | b]``: zero rows dropped, rows coprime, pivots positive."""
    rows = [r[:] for r in mat]
    pivot_row = 0
    for col in range(n_vars + 1):
        pick = next((i for i in range(pivot_row, len(rows)) if rows[i][col]), None)
        if pick is None:
            continue
        rows[pivot_row], rows[pick] = rows[pick], rows[pivot_row]
        prow = rows[pivot_row]
        p = prow[col]
        for i in range(len(rows)):
            f = rows[i][col]
            if i != pivot_row and f:
                row = [p * u - f * v for u, v in zip(rows[i], prow)]
                g = math.gcd(*row)
                rows[i] = [u // g for u in row] if g else row
        pivot_row += 1
        if pivot_row == len(rows):
            break
    out = []
    for row in rows[:pivot_row]:
        g = math.gcd(*row) * (1 if next(v for v in row if v) > 0 else -1)
        out.append(tuple(v // g for v in row))
    return tuple(out)


def _unit(n: int, *entries: tuple[int, int]) -> list[int]:
    v = [0] * n
    for idx, val in entries:
        v[idx] += val
    return v


def _block_constraints(m: int, block: list[int], w_value: int | None, a_sum: int | None,
                       single_zero: bool) -> list:
    """Constraints on ``x = (w_1..w_m, a_1..a_m)`` for neurons ``block`` sharing one label.

    Teacher label: ``w_i = w_value`` and ``sum a_i = a_sum``. Zero-type group: equal ``w_i`` and
    ``sum a_i = 0``; with ``single_zero`` every zero-type neuron alone: ``a_i = 0``.
    """
    n = 2 * m
    out = []
    if w_value is not None:
        out += [(_unit(n, (i, 1)), w_value) for i in block]
        out.append((_unit(n, *((m + i, 1) for i in block)), a_sum))
    elif single_zero:
        out += [(_unit(n, (m + i, 1)), 0) for i in block]
    else:
        out += [(_unit(n, (i, 1), (block[0], -1)), 0) for i in block[1:]]
        out.append((_unit(n, *((m + i, 1) for i in block)), 0))
    return out


def _narrow_point(r: int) -> tuple[list[int], list[int]]:
    """A narrow point with one input and one output: distinct incoming ``1..r``, non-zero outgoing ``2..r+1``."""
    return [t + 1 for t in range(r)], [t + 2 for t in range(r)]


def global_minima_subspaces(r_star: int, m: int, zero_type: str = "groups") -> set[AffineSubspace]:
    """Brute force for :func:`T`: every distinct affine subspace of points with the teacher's function.

    Input and output are one-dimensional (more dimensions repeat the same constraints per
    coordinate and give the same count). Every map from the ``m`` neurons to the labels
    ``{teacher 1..r*} + {zero-type 1..m-r*}`` that uses all teacher labels is turned into constraints
    (:func:`_block_constraints`), and the canonical forms are collected, so relabelled zero-type
    groups and, for ``"single"``, regrouped zero-type neurons collapse to one subspace.
    Cost ``m^m`` constraint systems: keep ``m <= 6``.
    """
    _check_sizes(r_star, m, "r_star")
    _check_zero_type(zero_type)
    w_star, a_star = _narrow_point(r_star)
    n_labels = max(m, r_star)
    found = set()
    for labels in itertools.product(range(n_labels), repeat=m):
        if len(set(labels) & set(range(r_star))) < r_star:
            continue
        cons = []
        for lab in sorted(set(labels)):
            block = [i for i in range(m) if labels[i] == lab]
            teacher = lab < r_star
            cons += _block_constraints(m, block, w_star[lab] if teacher else None,
                                       a_star[lab] if teacher else None, zero_type == "single")
        found.add(AffineSubspace.from_constraints(2 * m, cons))
    return found


def critical_subspaces(r: int, m: int) -> set[AffineSubspace]:
    """Brute force for :func:`G`: distinct subspaces from maps of the ``m`` neurons onto ``r`` labels."""
    _check_sizes(r, m, "r")
    w, a = _narrow_point(r)
    found = set()
    for labels in itertools.product(range(r), repeat=m):
        if len(set(labels)) < r:
            continue
        cons = []
        for t in range(r):
            cons += _block_constraints(m, [i for i in range(m) if labels[i] == t], w[t], a[t], False)
        found.add(AffineSubspace.from_constraints(2 * m, cons))
    return found


__all__ = ["ZERO_TYPES", "stirling2", "surjections", "closed_form_cost", "G", "T", "RatioCurve", "ratio_curve", "AffineSubspace",
           "global_minima_subspaces", "critical_subspaces"]
