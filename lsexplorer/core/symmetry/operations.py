"""Symmetry operations on one point of an MLP: permutations, sign flips, merging, removal, duplication.

A network function does not change when the neurons of a hidden layer are permuted, and for the
sigmoid and tanh also not under the sign symmetry ``sigma(-z) = 1 - sigma(z)`` (sigmoid) or
``tanh(-z) = -tanh(z)``. Duplicating a neuron and splitting its outgoing weights into
``(mu a_j, (1 - mu) a_j)`` keeps the function for every ``mu`` and maps a critical point of the
width-``m`` network to a line of critical points of the width-``m + 1`` network, the *saddle line*
of thesis section 6.2.5; merging two neurons (incoming weights averaged, outgoing weights summed)
undoes it.

Conventions shared by every function here:

* ``theta`` is one point ``(P,)`` in the flat layout of :mod:`lsexplorer.core.landscape.nets`; results are new
  float64 numpy arrays, the input is never modified.
* ``layer`` is a hidden layer, 1-based: layer ``l`` has ``spec.widths[l]`` neurons, its *incoming*
  weights are ``W_l`` (rows, plus the entries of ``b_l`` when biases are on) and its *outgoing*
  weights are the columns of ``W_{l+1}``. Neuron indices are 0-based.
* A neuron's *incoming vector* is its row of ``W_l`` with its bias appended when biases are on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..landscape.nets import MLPSpec, flatten, unflatten

#: Activations with a sign symmetry: sigma(-z) = 1 - sigma(z) and tanh(-z) = -tanh(z).
SIGN_SYMMETRIC = ("sigmoid", "tanh")


# --------------------------------------------------------------------------- helpers

def _point(spec: MLPSpec, theta) -> np.ndarray:
    """``theta`` as a float64 ``(P,)`` array, or a ValueError that says what was expected."""
    t = np.asarray(theta, dtype=np.float64)
    if t.shape != (spec.n_params,):
        raise ValueError(f"theta must have shape ({spec.n_params},) for {spec.describe()}, got {t.shape}")
    return t


def _check_layer(spec: MLPSpec, layer: int) -> int:
    n_hidden = len(spec.hidden_widths)
    if not isinstance(layer, (int, np.integer)) or not 1 <= layer <= n_hidden:
        raise ValueError(f"layer must be a hidden layer 1..{n_hidden} of {spec.describe()}, got {layer!r}")
    return int(layer)


def _check_neuron(spec: MLPSpec, layer: int, i: int) -> int:
    width = spec.widths[layer]
    if not isinstance(i, (int, np.integer)) or not 0 <= i < width:
        raise ValueError(f"neuron index must be in 0..{width - 1} for hidden layer {layer} (width {width}), got {i!r}")
    return int(i)


def _layers(spec: MLPSpec, theta: np.ndarray) -> list[list[np.ndarray | None]]:
    """Mutable copies ``[[W_l, b_l], ...]`` of the layers of one point (``b_l`` None without biases)."""
    return [[w.copy(), None if b is None else b.copy()] for w, b in unflatten(spec, theta)]


def _select_neurons(spec: MLPSpec, theta: np.ndarray, layer: int, keep: np.ndarray,
                    out_columns: np.ndarray) -> tuple[MLPSpec, np.ndarray]:
    """The network whose hidden layer ``layer`` has the neurons ``keep`` (indices, may repeat).

    Incoming rows (and biases) are taken from ``keep``; the outgoing weights are ``out_columns``
    ``(n_{l+1}, len(keep))``. Everything else is copied.
    """
    layers = _layers(spec, theta)
    w_in, b_in = layers[layer - 1]
    layers[layer - 1] = [w_in[keep], None if b_in is None else b_in[keep]]
    layers[layer][0] = out_columns
    new_spec = spec.with_hidden_width(layer, len(keep))
    return new_spec, flatten(new_spec, [tuple(l) for l in layers])


def incoming_vectors(spec: MLPSpec, theta, layer: int) -> np.ndarray:
    """Incoming vectors of hidden layer ``layer``: ``(m, n_{l-1})``, or ``(m, n_{l-1} + 1)`` with biases."""
    layer = _check_layer(spec, layer)
    w, b = unflatten(spec, _point(spec, theta))[layer - 1]
    return np.array(w) if b is None else np.concatenate([w, b[:, None]], axis=1)


def outgoing_weights(spec: MLPSpec, theta, layer: int) -> np.ndarray:
    """Outgoing weights of hidden layer ``layer``: ``(n_{l+1}, m)``, column ``j`` belongs to neuron ``j``."""
    layer = _check_layer(spec, layer)
    return np.array(unflatten(spec, _point(spec, theta))[layer][0])


# --------------------------------------------------------------------------- permutations

def permute_neurons(spec: MLPSpec, theta, layer: int, perm: Sequence[int]) -> np.ndarray:
    """Reorder the neurons of hidden layer ``layer``: new neuron ``k`` is old neuron ``perm[k]``.

    Rows of ``W_l`` and entries of ``b_l`` move with the matching columns of ``W_{l+1}``, so the
    network function is unchanged. Returns ``theta' (P,)``.
    """
    theta = _point(spec, theta)
    layer = _check_layer(spec, layer)
    perm = np.asarray(perm)
    m = spec.widths[layer]
    if perm.shape != (m,) or not np.array_equal(np.sort(perm), np.arange(m)):
        raise ValueError(f"perm must be a permutation of 0..{m - 1} (hidden layer {layer} has {m} neurons), "
                         f"got {perm.tolist()}")
    w_out = unflatten(spec, theta)[layer][0]
    return _select_neurons(spec, theta, layer, perm, w_out[:, perm])[1]


# --------------------------------------------------------------------------- sign symmetry

def _flip_set(spec: MLPSpec, layer: int, neurons) -> np.ndarray:
    idx = np.atleast_1d(np.asarray(neurons))
    if idx.ndim != 1 or idx.size == 0:
        raise ValueError(f"give one neuron index or a non-empty list of them, got {neurons!r}")
    for i in idx:
        _check_neuron(spec, layer, i)
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"neuron indices to flip must be distinct, got {idx.tolist()}")
    return idx.astype(int)


def sign_flip_offset(spec: MLPSpec, theta, layer: int, neurons) -> np.ndarray:
    """What flipping ``neurons`` of hidden layer ``layer`` adds to the next layer's pre-activation.

    Flipping neuron ``i`` negates its incoming vector and its outgoing column ``c_i``. For the
    sigmoid ``-c_i sigma(-z) = c_i sigma(z) - c_i``, so the flips add the constant
    ``-sum_i c_i`` ``(n_{l+1},)`` to the next layer; for tanh the flip is exact and this is zero.
    Raises ValueError for activations without a sign symmetry (softplus(-z) = softplus(z) - z).
    """
    theta = _point(spec, theta)
    layer = _check_layer(spec, layer)
    idx = _flip_set(spec, layer, neurons)
    if spec.activation not in SIGN_SYMMETRIC:
        raise ValueError(f"{spec.activation} has no sign symmetry; flips exist only for {', '.join(SIGN_SYMMETRIC)}")
    w_out = unflatten(spec, theta)[layer][0]
    if spec.activation == "tanh":
        return np.zeros(w_out.shape[0])
    return -w_out[:, idx].sum(axis=1)


def flips_preserve_function(spec: MLPSpec, theta, layer: int, neurons, atol: float = 1e-12) -> bool:
    """Whether :func:`sign_flip` of ``neurons`` leaves the network function unchanged.

    True when the next layer has a bias (it absorbs the constant of :func:`sign_flip_offset`), or
    when that constant vanishes within ``atol`` (max norm): always for tanh, and for the sigmoid when
    the flipped neurons' outgoing columns sum to zero, e.g. the pair ``a_i = -a_j`` of thesis
    section 6.2.2. False for activations without a sign symmetry.
    """
    if spec.activation not in SIGN_SYMMETRIC:
        return False
    offset = sign_flip_offset(spec, theta, layer, neurons)
    return spec.bias or bool(np.max(np.abs(offset)) <= atol)


def sign_flip(spec: MLPSpec, theta, layer: int, neurons, atol: float = 1e-12) -> np.ndarray:
    """Flip the sign of one neuron or a set of neurons of hidden layer ``layer``, keeping the function.

    Each flipped neuron gets its incoming vector and its outgoing column negated; the constant this
    leaves in the next layer (:func:`sign_flip_offset`) is moved into that layer's bias when biases
    are on. Without biases the flip must be one that preserves the function by itself
    (:func:`flips_preserve_function`, e.g. a pair with opposite outgoing weights), else ValueError.
    Returns ``theta' (P,)``.
    """
    theta = _point(spec, theta)
    layer = _check_layer(spec, layer)
    idx = _flip_set(spec, layer, neurons)
    offset = sign_flip_offset(spec, theta, layer, idx)
    if not flips_preserve_function(spec, theta, layer, idx, atol):
        raise ValueError(f"flipping neurons {idx.tolist()} of layer {layer} shifts the next layer by the constant "
                         f"{offset.tolist()} and the net has no bias to absorb it; only flips whose outgoing "
                         f"weights sum to zero (within atol={atol}) preserve the function")
    layers = _layers(spec, theta)
    w_in, b_in = layers[layer - 1]
    w_in[idx] *= -1
    if b_in is not None:
        b_in[idx] *= -1
    w_out, b_out = layers[layer]
    w_out[:, idx] *= -1
    if b_out is not None:
        b_out -= offset
    return flatten(spec, [tuple(l) for l in layers])


def flip_neuron_pair(spec: MLPSpec, theta, layer: int, i: int, j: int, atol: float = 1e-12) -> np.ndarray:
    """The pair flip of thesis section 6.2.2: neurons ``i`` and ``j`` flip signs together.

    With outgoing weights ``a_j = -a_i`` the flipped pair ``(-w_i, -a_i), (-w_j, a_i)`` computes
    ``-a_i sigma(-w_i x) + a_i sigma(-w_j x) = a_i sigma(w_i x) - a_i sigma(w_j x)``, the original
    pair: the two constants cancel and the function is unchanged even without biases. This is
    :func:`sign_flip` of ``(i, j)``; ValueError when the constants do not cancel and no bias absorbs
    them.
    """
    if i == j:
        raise ValueError(f"a pair flip needs two different neurons, got i = j = {i}")
    return sign_flip(spec, theta, layer, (i, j), atol)


# --------------------------------------------------------------------------- matching

@dataclasses.dataclass(frozen=True, eq=False)
class Match:
    """How a two-layer student reproduces a two-layer teacher, up to permutations and sign flips.

    Student neurons with the same incoming vector (or, for sigmoid/tanh, the negated one) form a
    group whose outgoing weights add up; groups are assigned one-to-one to teacher neurons, the
    remaining groups are *zero-type* (they should contribute nothing). Residuals are Euclidean norms
    in parameter space; ``residual`` is the root of the sum of all squared parts, zero exactly when
    the student is the teacher up to permutation, sign flips, splitting and zero-type neurons.

    Attributes
    ----------
    teacher_of : (m,) int
        Teacher neuron that student neuron ``i`` is merged into, ``-1`` for zero-type neurons.
    flipped : (m,) bool
        True where student neuron ``i`` carries the negated teacher vector (sign symmetry).
    incoming_residual : (m,) float
        ``|v_i - (+-) v_t|`` for matched student neurons, NaN for zero-type ones.
    outgoing_residual : (r,) float
        Per teacher neuron, ``|summed effective outgoing weights - a_t|``; ``|a_t|`` when no student
        neuron matches it.
    groups : tuple of r tuples
        Student neurons merged into each teacher neuron (empty when it is missing).
    zero_type_residual : float
        Root of the summed squared outgoing weights of the zero-type groups.
    constant_residual : float
        ``|student constant - teacher constant|`` of the output: output biases plus the constants that
        sigmoid flips leave (``c sigma(-z) = c - c sigma(z)``).
    residual : float
        Total, as described above.
    """

    teacher_of: np.ndarray
    flipped: np.ndarray
    incoming_residual: np.ndarray
    outgoing_residual: np.ndarray
    groups: tuple[tuple[int, ...], ...]
    zero_type_residual: float
    constant_residual: float
    residual: float


def _two_layer_parts(spec: MLPSpec, theta: np.ndarray, who: str):
    """``(V (m, d[+1]) incoming vectors, C (m, d_out) outgoing weights, output bias (d_out,))``."""
    if len(spec.widths) != 3:
        raise ValueError(f"match_to_teacher handles two-layer nets (one hidden layer); the {who} is {spec.describe()}")
    (_, _), (w_out, b_out) = unflatten(spec, theta)
    const = np.zeros(spec.d_out) if b_out is None else np.array(b_out)
    return incoming_vectors(spec, theta, 1), np.array(w_out.T), const


def match_to_teacher(spec: MLPSpec, theta, teacher_spec: MLPSpec, teacher_theta,
                     merge_tol: float = 1e-4) -> Match:
    """Which student neuron matches which teacher neuron, up to permutation and sign flips.

    Two-layer nets ``d -> m -> d_out`` and ``d -> r -> d_out`` with the same activation and bias
    setting. Steps: (1) student neurons whose incoming vectors agree within ``merge_tol`` (or are
    negatives of each other, for sigmoid/tanh) are merged into one group, their outgoing weights
    added with the sign of their orientation; (2) groups are assigned to teacher neurons by
    :func:`scipy.optimize.linear_sum_assignment` minimising the total squared residual, where a
    group may stay unmatched (cost: its squared outgoing weight) and a teacher neuron may be missing
    (cost ``|a_t|^2``); each pair uses the orientation (``+v_t`` or ``-v_t``) with the smaller cost.
    The teacher is assumed irreducible (distinct incoming vectors up to sign, no zero outgoing weight).
    A student neuron whose incoming weights (bias excluded) are within ``merge_tol`` of zero computes
    the constant ``sigma(b)`` and is counted into the output constant, not into a group: such a
    neuron (``w = 0``, ``sigma(0) = 1/2``) can cancel the constants that sign flips leave, which
    happens at toy global minima.
    ``merge_tol`` defaults to 1e-4: refined zero-loss points of the toy keep duplicated neurons
    split by 1e-7 to 2e-5 (the loss is quartic in the split), while distinct teacher neurons are
    0.3 or more apart.
    """
    theta = _point(spec, theta)
    teacher_theta = _point(teacher_spec, teacher_theta)
    if (spec.d_in, spec.d_out, spec.activation, spec.bias) != (
            teacher_spec.d_in, teacher_spec.d_out, teacher_spec.activation, teacher_spec.bias):
        raise ValueError(f"student {spec.describe()} and teacher {teacher_spec.describe()} differ in input, "
                         f"output, activation or bias")
    v, c, const = _two_layer_parts(spec, theta, "student")
    vt, at, const_t = _two_layer_parts(teacher_spec, teacher_theta, "teacher")
    can_flip = spec.activation in SIGN_SYMMETRIC
    sigmoid = spec.activation == "sigmoid"
    m, r = len(v), len(vt)

    # (0) constant neurons: zero incoming weights, output c_i act(b_i).
    n_w = spec.d_in
    constant = np.linalg.norm(v[:, :n_w], axis=1) <= merge_tol
    bias_in = v[:, n_w] if spec.bias else np.zeros(m)
    act = {"sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)), "tanh": np.tanh,
           "softplus": lambda z: np.logaddexp(0.0, z)}[spec.activation]
    for i in np.flatnonzero(constant):
        const = const + c[i] * act(bias_in[i])

    # (1) groups: members and their orientation relative to the group's first neuron.
    members: list[list[int]] = []
    orient = np.ones(m)
    for i in range(m):
        if constant[i]:
            continue
        for g in members:
            rep = v[g[0]]
            if np.linalg.norm(v[i] - rep) <= merge_tol:
                g.append(i)
                break
            if can_flip and np.linalg.norm(v[i] + rep) <= merge_tol:
                g.append(i)
                orient[i] = -1.0
                break
        else:
            members.append([i])
    n_g = len(members)
    # Effective outgoing weight on the representative's function, and the constants flips leave.
    c_eff = np.array([(orient[g, None] * c[g]).sum(axis=0) for g in members])
    if sigmoid:
        const = const + sum(c[i] for i in range(m) if orient[i] < 0)

    # (2) assignment over a square matrix with "unmatched group" and "missing teacher" slots.
    signs = (1.0, -1.0) if can_flip else (1.0,)
    pair_cost = np.full((n_g, r), np.inf)
    pair_sign = np.ones((n_g, r))
    for gi, g in enumerate(members):
        for t in range(r):
            for s in signs:
                inc = sum(float(np.sum((v[i] - s * orient[i] * vt[t]) ** 2)) for i in g)
                cost = inc + float(np.sum((s * c_eff[gi] - at[t]) ** 2))
                if cost < pair_cost[gi, t]:
                    pair_cost[gi, t], pair_sign[gi, t] = cost, s
    big = np.full((n_g + r, r + n_g), np.inf)
    big[:n_g, :r] = pair_cost
    big[np.arange(n_g), r + np.arange(n_g)] = np.sum(c_eff ** 2, axis=1)
    big[n_g + np.arange(r), np.arange(r)] = np.sum(at ** 2, axis=1)
    big[n_g:, r:] = 0.0
    rows, cols = linear_sum_assignment(big)

    teacher_of = np.full(m, -1)
    flipped = np.zeros(m, dtype=bool)
    incoming_res = np.full(m, np.nan)
    outgoing_res = np.linalg.norm(at, axis=1)
    groups: list[tuple[int, ...]] = [() for _ in range(r)]
    zero_sq = 0.0
    for gi, t in zip(rows, cols):
        if gi >= n_g:
            continue
        g = members[gi]
        if t >= r:
            zero_sq += float(np.sum(c_eff[gi] ** 2))
            continue
        s = pair_sign[gi, t]
        for i in g:
            teacher_of[i] = t
            flipped[i] = s * orient[i] < 0
            incoming_res[i] = np.linalg.norm(v[i] - s * orient[i] * vt[t])
        outgoing_res[t] = np.linalg.norm(s * c_eff[gi] - at[t])
        groups[t] = tuple(g)
        if sigmoid and s < 0:
            const = const + c_eff[gi]
    const_res = float(np.linalg.norm(const - const_t))
    total = np.sqrt(np.nansum(incoming_res ** 2) + np.sum(outgoing_res ** 2) + zero_sq + const_res ** 2)
    return Match(teacher_of, flipped, incoming_res, outgoing_res, tuple(groups), float(np.sqrt(zero_sq)),
                 const_res, float(total))


# --------------------------------------------------------------------------- width changes

def merge_neurons(spec: MLPSpec, theta, layer: int, i: int, j: int) -> tuple[MLPSpec, np.ndarray]:
    """Merge neurons ``i`` and ``j`` of hidden layer ``layer`` into one (thesis section 6.2.5).

    Width ``m -> m - 1``: the merged neuron sits at index ``min(i, j)``, its incoming vector (bias
    included) is the average of the two and its outgoing column is their sum; the other neurons
    keep their order. The function is unchanged when the two incoming vectors are equal, so merging
    undoes :func:`duplicate_neuron`: ``merge_neurons(*duplicate_neuron(s, t, l, j, mu), l, j, m)``
    returns ``(s, t)``. Returns ``(spec', theta')``.
    """
    theta = _point(spec, theta)
    layer = _check_layer(spec, layer)
    i, j = sorted((_check_neuron(spec, layer, i), _check_neuron(spec, layer, j)))
    if i == j:
        raise ValueError(f"merging needs two different neurons, got i = j = {i}")
    layers = _layers(spec, theta)
    w_in, b_in = layers[layer - 1]
    w_in[i] = (w_in[i] + w_in[j]) / 2
    if b_in is not None:
        b_in[i] = (b_in[i] + b_in[j]) / 2
    w_out = layers[layer][0]
    w_out[:, i] += w_out[:, j]
    keep = np.delete(np.arange(spec.widths[layer]), j)
    return _select_neurons(spec, flatten(spec, [tuple(l) for l in layers]), layer, keep, w_out[:, keep])


def remove_neuron(spec: MLPSpec, theta, layer: int, i: int, atol: float = 1e-12) -> tuple[MLPSpec, np.ndarray]:
    """Drop neuron ``i`` of hidden layer ``layer`` whose outgoing weights are zero (within ``atol``).

    Such a neuron contributes nothing downstream, whatever its incoming weights and bias, so the
    function is unchanged (up to ``atol`` times its activation). Width ``m -> m - 1``, the other
    neurons keep their order. ValueError when an outgoing weight exceeds ``atol`` or ``m = 1``.
    Returns ``(spec', theta')``.
    """
    theta = _point(spec, theta)
    layer = _check_layer(spec, layer)
    i = _check_neuron(spec, layer, i)
    m = spec.widths[layer]
    if m == 1:
        raise ValueError(f"hidden layer {layer} has a single neuron; a layer cannot become empty")
    w_out = unflatten(spec, theta)[layer][0]
    largest = float(np.max(np.abs(w_out[:, i])))
    if largest > atol:
        raise ValueError(f"neuron {i} of layer {layer} has outgoing weight {largest:.3g} > atol={atol}; only a neuron "
                         f"with zero outgoing weights can be removed without changing the function")
    keep = np.delete(np.arange(m), i)
    return _select_neurons(spec, theta, layer, keep, w_out[:, keep])


def duplicate_neuron(spec: MLPSpec, theta, layer: int, j: int, mu: float) -> tuple[MLPSpec, np.ndarray]:
    """Duplicate neuron ``j`` of hidden layer ``layer``, splitting its outgoing weights by ``mu``.

    Width ``m -> m + 1``. The copy is appended as the *last* neuron (index ``m``) with the same
    incoming vector and bias; neuron ``j`` keeps ``mu * a_j`` and the copy gets ``(1 - mu) * a_j``,
    where ``a_j`` is the outgoing column. The function is unchanged for every real ``mu``, and a
    critical point stays critical (thesis section 4.3); ``mu`` outside ``[0, 1]`` is allowed.
    Returns ``(spec', theta')``.
    """
    theta = _point(spec, theta)
    layer = _check_layer(spec, layer)
    j = _check_neuron(spec, layer, j)
    mu = float(mu)
    m = spec.widths[layer]
    w_out = unflatten(spec, theta)[layer][0]
    out = np.concatenate([w_out, (1.0 - mu) * w_out[:, j:j + 1]], axis=1)
    out[:, j] = mu * w_out[:, j]
    return _select_neurons(spec, theta, layer, np.append(np.arange(m), j), out)


def saddle_line(spec: MLPSpec, theta, layer: int, j: int, mus) -> tuple[MLPSpec, np.ndarray]:
    """Points ``theta(mu)`` of :func:`duplicate_neuron` for each ``mu`` in ``mus`` ``(K,)``.

    Returns ``(spec', thetas (K, P'))`` with ``spec'`` one neuron wider in ``layer``.
    """
    mus = np.atleast_1d(np.asarray(mus, dtype=np.float64))
    if mus.ndim != 1 or mus.size == 0:
        raise ValueError(f"mus must be a non-empty 1-D sequence of numbers, got shape {mus.shape}")
    points = [duplicate_neuron(spec, theta, layer, j, mu) for mu in mus]
    return points[0][0], np.stack([p for _, p in points])


def nearest_neuron_pair(spec: MLPSpec, theta, layer: int) -> tuple[int, int, float]:
    """The two neurons of hidden layer ``layer`` with the closest incoming vectors (biases included).

    Returns ``(i, j, distance)`` with ``i < j`` and the Euclidean distance (thesis Fig 6.7).
    """
    v = incoming_vectors(spec, theta, layer)
    if len(v) < 2:
        raise ValueError(f"hidden layer {layer} has {len(v)} neuron; a pair needs at least two")
    d = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=-1)
    d[np.tril_indices(len(v))] = np.inf
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return int(i), int(j), float(d[i, j])


def nearest_neuron_distances(spec: MLPSpec, thetas, layer: int | None = None) -> np.ndarray:
    """Smallest distance between two neurons' incoming vectors of hidden ``layer`` (default: the
    last) for every point of ``thetas (S, P)`` (thesis Fig 6.7): ``(S,)``, NaN for non-finite points
    and for every point when the layer has a single neuron."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
    layer = len(spec.hidden_widths) if layer is None else int(layer)
    out = np.full(len(thetas), np.nan)
    if spec.widths[layer] >= 2:
        for i in np.flatnonzero(np.isfinite(thetas).all(axis=1)):
            out[i] = nearest_neuron_pair(spec, thetas[i], layer)[2]
    return out


__all__ = ["SIGN_SYMMETRIC", "Match", "incoming_vectors", "outgoing_weights", "permute_neurons", "sign_flip_offset",
           "flips_preserve_function", "sign_flip", "flip_neuron_pair", "match_to_teacher", "merge_neurons",
           "remove_neuron", "duplicate_neuron", "saddle_line", "nearest_neuron_pair", "nearest_neuron_distances"]
