"""Eigen-decompositions of real symmetric matrices that do not fail where LAPACK has another way.

Hessians at critical points of over-parameterised networks have clusters of repeated eigenvalues
(every symmetry-induced point has many). numpy's ``eigh`` uses LAPACK's divide-and-conquer driver
(``syevd``), which can stop with "Eigenvalues did not converge" on such a finite symmetric matrix
while the relatively robust representation driver (``syevr``) and the QR driver (``syev``) succeed
on the same matrix. :func:`eigh` and :func:`eigvalsh` try those in turn, so one unlucky matrix does
not cost a run its certificate; only when every driver fails is ``numpy.linalg.LinAlgError`` raised.

Both accept a stack of matrices ``(..., P, P)``; only the matrices the first driver failed on are
decomposed again. Only the lower triangle is read, as LAPACK does.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

#: scipy's LAPACK drivers tried, in order, after numpy's ``syevd`` failed.
FALLBACK_DRIVERS = ("evr", "ev", "evx")


def _fallback_applies(a: np.ndarray) -> bool:
    """Another driver can help a finite matrix only: with NaN or inf numpy's error stands."""
    return bool(np.isfinite(a).all())


def _one_by_fallback(a: np.ndarray, vectors: bool):
    """One ``(P, P)`` matrix by scipy's drivers in turn; raises ``LinAlgError`` when all fail."""
    reasons = []
    for driver in FALLBACK_DRIVERS:
        try:
            return scipy.linalg.eigh(a, lower=True, eigvals_only=not vectors, driver=driver,
                                     check_finite=False)
        except (np.linalg.LinAlgError, ValueError) as exc:
            reasons.append(f"{driver}: {exc}")
    raise np.linalg.LinAlgError("no LAPACK driver found the eigenvalues (" + "; ".join(reasons) + ")")


def _each_matrix(a: np.ndarray):
    """``(index, matrix)`` for every matrix of a stack ``(..., P, P)``."""
    for index in np.ndindex(a.shape[:-2]):
        yield index, a[index]


def eigh(a) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues ``(..., P)`` and orthonormal eigenvectors ``(..., P, P)`` (as columns)."""
    a = np.asarray(a)
    try:
        return np.linalg.eigh(a)
    except np.linalg.LinAlgError:
        if not _fallback_applies(a):
            raise
    values = np.empty(a.shape[:-1], dtype=np.result_type(a.dtype, np.float64))
    vectors = np.empty(a.shape, dtype=values.dtype)
    for index, m in _each_matrix(a):
        try:
            values[index], vectors[index] = np.linalg.eigh(m)
        except np.linalg.LinAlgError:
            values[index], vectors[index] = _one_by_fallback(m, vectors=True)
    return values, vectors


def eigvalsh(a) -> np.ndarray:
    """Ascending eigenvalues ``(..., P)``."""
    a = np.asarray(a)
    try:
        return np.linalg.eigvalsh(a)
    except np.linalg.LinAlgError:
        if not _fallback_applies(a):
            raise
    values = np.empty(a.shape[:-1], dtype=np.result_type(a.dtype, np.float64))
    for index, m in _each_matrix(a):
        try:
            values[index] = np.linalg.eigvalsh(m)
        except np.linalg.LinAlgError:
            values[index] = _one_by_fallback(m, vectors=False)
    return values


__all__ = ["FALLBACK_DRIVERS", "eigh", "eigvalsh"]
