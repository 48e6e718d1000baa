"""Counting the affine subspaces that symmetry builds: T(r*, m) and G(r, m) (docs/counting.md)."""

from __future__ import annotations

from ..core.base.errors import InputError
from .inputs import is_index, one_line_errors


def counting(r: int, m: int, zero_type: str = "groups") -> dict[str, int]:
    """``T(r*, m)`` and ``G(r, m)`` in closed form, exact integers, as ``lsexplorer counting`` prints them.

    Parameters
    ----------
    r
        The width of the narrower network: the teacher's ``r*`` for ``T``, the critical point's ``r`` for ``G``.
    m
        The width of the student network.
    zero_type
        How ``T`` counts neurons with zero outgoing weight: ``groups`` (every maximal subspace) or
        ``single`` (one by one).

    Returns
    -------
    dict
        ``{"r": r, "m": m, "T": T(r, m), "G": G(r, m)}``: the affine subspaces of global minima of a
        width-``m`` student of an irreducible width-``r`` teacher, and those of critical points
        induced by one irreducible width-``r`` critical point.

    Raises
    ------
    InputError
        ``r`` or ``m`` not a positive integer, an unknown ``zero_type``, or counts too large for the
        memory there is.

    Examples
    --------
    >>> counting(2, 3)
    {'r': 2, 'm': 3, 'T': 12, 'G': 6}
    """
    from ..core.base.estimates import Cost, ResourceError, check_cost
    from ..core.symmetry.counting import ZERO_TYPES, G, T, closed_form_cost

    for name, value in (("r", r), ("m", m)):
        if not is_index(value) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if zero_type not in ZERO_TYPES:
        raise InputError(f"zero_type must be one of {', '.join(ZERO_TYPES)}, got {zero_type!r}")
    memory, seconds = closed_form_cost(int(r), int(m))
    with one_line_errors(ResourceError):
        check_cost(Cost(memory, seconds, f"r={r}, m={m} (Stirling numbers up to S({m}, k))"))
    return {"r": int(r), "m": int(m), "T": T(int(r), int(m), zero_type=zero_type), "G": G(int(r), int(m))}


__all__ = ["counting"]
