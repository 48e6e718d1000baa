"""How a critical point reduces to a narrower network: its symmetry type.

A point of width ``m`` computes what a narrower network computes when one of its hidden layers holds

``duplicate``
    two neurons with the same incoming vector (biases included): the saddle lines of thesis §6.2.5;
``flipped_duplicate``
    two neurons with opposite incoming vectors, for activations with a sign symmetry (sigmoid, tanh):
    a duplicate in disguise;
``zero_outgoing``
    a neuron whose outgoing weights are all zero: it contributes nothing downstream;
``zero_incoming``
    a neuron whose incoming weights (bias excluded) are zero: it computes a constant.

:func:`symmetry_type` names the ones present, joined by ``+`` in this order (``"duplicate+zero_outgoing"``),
or :data:`IRREDUCIBLE`. Two numbers count as equal within :func:`~.closest_saddle.si_tolerance` of the
point's norm, twice over, the tolerance under which a point counts as lying on a saddle line: a point
that does lies within it of an exact duplicate, so its pair's incoming vectors are at most twice
that apart. Points that refinement polished (``refine.py``) hold these structures exactly.
"""

from __future__ import annotations

import numpy as np

from ..base.spec import MLPSpec
from ..symmetry.operations import SIGN_SYMMETRIC
from .closest_saddle import si_tolerance

#: The reductions, in the order :func:`symmetry_type` names them.
REDUCTIONS = ("duplicate", "flipped_duplicate", "zero_outgoing", "zero_incoming")
#: The type of a point with none of them.
IRREDUCIBLE = "irreducible"


def _hidden_layers(spec: MLPSpec, theta: np.ndarray):
    """``(incoming vectors (m, k), incoming weights without bias (m, n_in), outgoing (n_next, m))`` of
    every hidden layer; a fixed output layer's weights are ones."""
    for layer in range(1, len(spec.widths) - 1):
        into, out = spec.layers[layer - 1], spec.layers[layer]
        w = theta[into.w_start:into.w_stop].reshape(into.n_out, into.n_in)
        v = w if into.b_start is None else np.concatenate([w, theta[into.b_start:into.b_stop, None]], axis=1)
        if out.w_stop > out.w_start:
            a = theta[out.w_start:out.w_stop].reshape(out.n_out, out.n_in)
        else:
            a = np.ones((out.n_out, out.n_in))
        yield v, w, a


def reductions(spec: MLPSpec, theta: np.ndarray, tol: float | None = None) -> tuple[str, ...]:
    """The :data:`REDUCTIONS` present in any hidden layer of ``theta (P,)``, in their order.

    ``tol`` is the distance under which two vectors count as equal (default: twice
    :func:`~.closest_saddle.si_tolerance` of ``||theta||``). A point that is not finite has none.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (spec.n_params,):
        raise ValueError(f"theta must have shape ({spec.n_params},) for {spec.describe()}, got {theta.shape}")
    if not np.isfinite(theta).all():
        return ()
    tol = 2.0 * si_tolerance(float(np.linalg.norm(theta))) if tol is None else float(tol)
    found = set()
    flips = spec.activation in SIGN_SYMMETRIC
    for v, w, a in _hidden_layers(spec, theta):
        difference = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=2)
        pairs = np.triu(np.ones(difference.shape, dtype=bool), k=1)
        if (difference[pairs] <= tol).any():
            found.add("duplicate")
        if flips and (np.linalg.norm(v[:, None, :] + v[None, :, :], axis=2)[pairs] <= tol).any():
            found.add("flipped_duplicate")
        if (np.linalg.norm(a, axis=0) <= tol).any():
            found.add("zero_outgoing")
        if (np.linalg.norm(w, axis=1) <= tol).any():
            found.add("zero_incoming")
    return tuple(r for r in REDUCTIONS if r in found)


def symmetry_type(spec: MLPSpec, theta: np.ndarray, tol: float | None = None) -> str:
    """The :func:`reductions` of ``theta`` joined by ``+``, or :data:`IRREDUCIBLE` when there is none."""
    return "+".join(reductions(spec, theta, tol)) or IRREDUCIBLE


__all__ = ["IRREDUCIBLE", "REDUCTIONS", "reductions", "symmetry_type"]
