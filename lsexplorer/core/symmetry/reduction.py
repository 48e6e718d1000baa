"""The narrower network a point reduces to, under every symmetry of its hidden layers.

A width-``m`` hidden layer computes what a narrower one computes when it holds

``duplicate``
    neurons with the same incoming vector (biases included): they merge into one neuron carrying the
    sum of their outgoing columns (the saddle lines of thesis section 6.2.5);
``flipped_duplicate``
    for activations with a sign symmetry, neurons with opposite incoming vectors: ``a sigma(-z)`` is
    ``a - a sigma(z)`` for the sigmoid and ``-a tanh(z)`` for tanh, so the pair merges like a duplicate
    and leaves the constant ``a`` (sigmoid) or nothing (tanh) in the next layer;
``zero_outgoing``
    a neuron whose outgoing column is zero: it contributes nothing downstream;
``zero_incoming``
    a neuron whose incoming weights (bias excluded) are zero: it adds the constant ``a sigma(b)`` to
    the next layer (``sigma(0) = 1/2`` for the sigmoid, nothing for tanh without biases).

The constants must go somewhere for the narrower network to compute the same function: into the next
layer's bias when the net has biases; else they must cancel, which for the sigmoid may take flipping
whole neurons of the narrower net (``c sigma(z) = -c sigma(-z) + c`` moves ``c`` into the constant; a
search over sets of neurons to flip, as at the toy sample's minima, where a teacher neuron sits
sign-flipped next to a neuron of zero incoming weight); failing that, one neuron of zero incoming
weight stays as a constant unit. A point whose constants cannot be placed is reduced without the flipped
and zero-incoming structures, which then keep their neurons.

:func:`reduce_structure` applies all of them to every hidden layer at once (a cluster of three or more
coinciding neurons, flipped or not, becomes one neuron; combinations reduce together) and reports what
it found: the :data:`REDUCTIONS` present, the narrower point and how far the point is from holding the
structures exactly (``defect``). Two numbers count as equal within ``tol``. This is structure only: that
the narrower point is a critical point is for the caller to certify (``core/saddles/symmetry_type.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from ..landscape.nets import MLPSpec, flatten, unflatten
from .operations import SIGN_SYMMETRIC

#: The reductions, in the order a symmetry type names them.
REDUCTIONS = ("duplicate", "flipped_duplicate", "zero_outgoing", "zero_incoming")
#: Neurons of a narrower layer up to which every set of sign flips is tried to cancel a constant; above
#: it, sets of at most :data:`FLIP_SET_SIZE` neurons.
FLIP_SEARCH_WIDTH = 12
FLIP_SET_SIZE = 3

_ACTIVATION_AT = {
    "sigmoid": lambda b: 1.0 / (1.0 + math.exp(-b)) if b > -700 else 0.0,
    "tanh": math.tanh,
    "softplus": lambda b: b + math.log1p(math.exp(-b)) if b > 0 else math.log1p(math.exp(b)),
    "relu": lambda b: max(b, 0.0),
}
#: ``kappa`` of ``sigma(-z) = kappa - sigma(z)`` (sigmoid) or ``-sigma(z)`` (tanh: ``kappa = 0``).
_FLIP_CONSTANT = {"sigmoid": 1.0, "tanh": 0.0}


@dataclasses.dataclass
class LayerReduction:
    """How hidden layer ``layer`` of the wide point maps onto the narrower one.

    ``neuron (m,)``: the narrower neuron wide neuron ``k`` joins, ``-1`` when it is dropped (zero outgoing
    weight, or zero incoming weight with its constant placed elsewhere); ``sign (m,)``: ``+1``, or ``-1``
    where the wide neuron holds the narrower one sign-flipped. ``constant (n_next,)``: what the dropped
    constants and flips leave in the next layer after the flips chosen to cancel it; ``placed``: where it
    went (``"none"`` when it vanishes, ``"bias"``, ``"constant unit"``).
    """

    layer: int
    neuron: np.ndarray
    sign: np.ndarray
    constant: np.ndarray
    placed: str


@dataclasses.dataclass
class StructuralReduction:
    """Result of :func:`reduce_structure` for a point ``theta (P,)`` of ``spec``.

    ``types``: the :data:`REDUCTIONS` applied, in that order (empty: nothing to reduce, and then
    ``spec``/``theta`` are the point's own); ``spec``, ``theta (P',)``: the narrower point; ``defect``: the
    largest deviation from exact structure among those applied (a pair's distance, a column's norm, a
    constant left over); ``layers``: per hidden layer, the map.
    """

    types: tuple[str, ...]
    spec: MLPSpec
    theta: np.ndarray
    defect: float
    layers: list[LayerReduction]

    @property
    def symmetry_type(self) -> str:
        """The types joined by ``+``, or ``"irreducible"``."""
        return "+".join(self.types) or IRREDUCIBLE


#: The type of a point with no reduction.
IRREDUCIBLE = "irreducible"


def activation_at(name: str, b: float) -> float:
    """``sigma(b)`` of the named activation, for a scalar."""
    if name not in _ACTIVATION_AT:
        raise ValueError(f"unknown activation {name!r}")
    return float(_ACTIVATION_AT[name](float(b)))


def _clusters(v: np.ndarray, candidates: list[int], tol: float, flips: bool) -> list[list[tuple[int, int]]]:
    """Groups of ``candidates`` whose incoming vectors coincide up to sign (transitively), each a list of
    ``(neuron, sign relative to the group's first member)``, in the order of their first member."""
    groups: list[list[tuple[int, int]]] = []
    seen: dict[int, int] = {}
    for k in candidates:
        if k in seen:
            continue
        seen[k] = 1
        group, todo = [(k, 1)], [k]
        while todo:
            i = todo.pop()
            for j in candidates:
                if j in seen:
                    continue
                for s in ((1, -1) if flips else (1,)):
                    if np.linalg.norm(v[j] - s * seen[i] * v[i]) <= tol:
                        seen[j] = s * seen[i]
                        group.append((j, seen[j]))
                        todo.append(j)
                        break
        groups.append(group)
    return groups


def _flip_sets(n: int):
    """Sets of narrower neurons to flip, smallest first (all of them up to :data:`FLIP_SEARCH_WIDTH`)."""
    largest = n if n <= FLIP_SEARCH_WIDTH else min(FLIP_SET_SIZE, n)
    for size in range(largest + 1):
        yield from itertools.combinations(range(n), size)


def _reduce_layer(spec: MLPSpec, layers: list, layer: int, tol: float, allow_constants: bool
                  ) -> tuple[list, LayerReduction, set[str], float] | None:
    """Reduce hidden layer ``layer`` of ``layers`` (``[[W, b], ...]``, copies); None if the constants it
    would leave cannot be placed. Returns the new layers, the map, the types applied and the defect."""
    w, b = layers[layer - 1]
    a, b_next = layers[layer]
    m = w.shape[0]
    v = w if b is None else np.concatenate([w, b[:, None]], axis=1)
    bias = np.zeros(m) if b is None else b
    flips = allow_constants and spec.activation in SIGN_SYMMETRIC
    kappa = _FLIP_CONSTANT.get(spec.activation, 0.0)
    found, defect = set(), 0.0
    out_norm = np.linalg.norm(a, axis=0)
    zero_out = [k for k in range(m) if out_norm[k] <= tol]
    in_norm = np.linalg.norm(w, axis=1)
    zero_in = [k for k in range(m) if allow_constants and k not in zero_out and in_norm[k] <= tol]
    constant = np.zeros(a.shape[0])
    for k in zero_out:
        found.add("zero_outgoing")
        defect = max(defect, float(out_norm[k]))
    for k in zero_in:
        constant += a[:, k] * activation_at(spec.activation, bias[k])
        defect = max(defect, float(in_norm[k]))
    rest = [k for k in range(m) if k not in zero_out and k not in zero_in]
    groups = _clusters(v, rest, tol, flips)
    v_new, c_new = [], []
    for group in groups:
        signs = np.array([s for _, s in group], dtype=float)
        members = [k for k, _ in group]
        v_new.append((signs[:, None] * v[members]).mean(axis=0))
        c_new.append((a[:, members] * signs).sum(axis=1))
        constant += kappa * a[:, [k for k, s in group if s < 0]].sum(axis=1)
        for k, s in group:
            defect = max(defect, float(np.linalg.norm(s * v[k] - v[members[0]])))
        if (signs > 0).sum() > 1:
            found.add("duplicate")
        if (signs < 0).any():
            found.add("flipped_duplicate")
    v_new, c_new = np.array(v_new).reshape(len(groups), v.shape[1]), np.array(c_new).reshape(len(groups), -1)
    flipped = ()
    if b_next is None and kappa and np.linalg.norm(constant) > tol:
        flipped = min(_flip_sets(len(groups)), key=lambda s: (np.linalg.norm(constant + kappa * c_new[list(s)].sum(0))
                                                              > tol, len(s)))
        constant = constant + kappa * c_new[list(flipped)].sum(axis=0)
        v_new[list(flipped)] *= -1
        c_new[list(flipped)] *= -1
    leftover = float(np.linalg.norm(constant))
    placed = "none"
    if leftover > tol and b_next is not None:
        b_next = b_next + constant
        placed = "bias"
    elif leftover > tol:
        unit = next((k for k in zero_in if abs(activation_at(spec.activation, bias[k])) > tol), None)
        if unit is None:
            return None
        v_new = np.vstack([v_new, v[unit]])
        c_new = np.vstack([c_new, constant / activation_at(spec.activation, bias[unit])])
        zero_in.remove(unit)
        placed = "constant unit"
    else:
        defect = max(defect, leftover)
    if zero_in:
        found.add("zero_incoming")
    if not found or len(v_new) == 0:
        return None
    neuron = np.full(m, -1, dtype=np.int64)
    sign = np.ones(m, dtype=np.int64)
    for u, group in enumerate(groups):
        for k, s in group:
            neuron[k], sign[k] = u, s * (-1 if u in flipped else 1)
    if placed == "constant unit":
        neuron[unit] = len(groups)
    new = [list(pair) for pair in layers]
    n_in = w.shape[1]
    new[layer - 1] = [v_new[:, :n_in].copy(), None if b is None else v_new[:, n_in].copy()]
    new[layer] = [c_new.T.copy(), b_next]
    return new, LayerReduction(layer, neuron, sign, constant, placed), found, defect


def reduce_structure(spec: MLPSpec, theta, tol: float) -> StructuralReduction:
    """The narrower point ``theta (P,)`` reduces to under the :data:`REDUCTIONS` (module docstring).

    Every hidden layer whose outgoing weights are parameters is reduced; ``tol`` is the distance under
    which two vectors (or a vector and zero) count as equal. A point that is not finite, or has nothing to
    reduce, comes back as itself with no types.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (spec.n_params,):
        raise ValueError(f"theta must have shape ({spec.n_params},) for {spec.describe()}, got {theta.shape}")
    if not np.isfinite(theta).all():
        return StructuralReduction((), spec, theta.copy(), 0.0, [])
    layers = [[np.array(w, dtype=np.float64), None if b is None else np.array(b, dtype=np.float64)]
              for w, b in unflatten(spec, theta)]
    found, defect, maps, narrow = set(), 0.0, [], spec
    for layer in range(1, len(spec.widths) - 1):
        if spec.fixed_output and layer == len(spec.widths) - 2:
            continue  # the fixed outgoing weights (ones) cannot carry a merged neuron's sum
        step = _reduce_layer(spec, layers, layer, tol, allow_constants=True)
        if step is None:
            step = _reduce_layer(spec, layers, layer, tol, allow_constants=False)
        if step is None:
            continue
        layers, reduction, types, layer_defect = step
        found |= types
        defect = max(defect, layer_defect)
        maps.append(reduction)
        narrow = narrow.with_hidden_width(layer, layers[layer - 1][0].shape[0])
    if not found:
        return StructuralReduction((), spec, theta.copy(), 0.0, [])
    return StructuralReduction(tuple(r for r in REDUCTIONS if r in found), narrow,
                               flatten(narrow, [tuple(pair) for pair in layers]), defect, maps)


__all__ = ["FLIP_SEARCH_WIDTH", "IRREDUCIBLE", "REDUCTIONS", "LayerReduction", "StructuralReduction",
           "activation_at", "reduce_structure"]
