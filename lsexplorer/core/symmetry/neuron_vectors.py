"""A hidden layer's neurons as vectors, for many points at once: what the Neurons view draws.

A neuron is its incoming vector (weights, then the bias when the network has biases) and its
outgoing column; permutations move both together and duplicating a neuron splits the column
(:mod:`.operations`). :func:`incoming_and_outgoing` reads them off whole trajectories;
:func:`principal_axes` gives the two directions, through the origin, along which a cloud of
incoming vectors spreads most (the axes of the view when inputs have more than two dimensions;
through the origin, so the view keeps ``w = 0`` at its centre).
"""

from __future__ import annotations

import numpy as np

from ..landscape.nets import MLPSpec, unflatten


def incoming_and_outgoing(spec: MLPSpec, thetas, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Incoming vectors ``(..., m, k)`` (bias appended when on) and outgoing ``(..., n_next, m)`` of ``layer``.

    ``thetas: (..., P)``; the batched counterpart of :func:`.operations.incoming_vectors` and
    :func:`.operations.outgoing_weights` for whole trajectories.
    """
    layers = unflatten(spec, np.asarray(thetas, dtype=np.float64))
    w, b = layers[layer - 1]
    v = w if b is None else np.concatenate([w, b[..., None]], axis=-1)
    return np.asarray(v), np.asarray(layers[layer][0])


def principal_axes(vectors, count: int = 2) -> np.ndarray:
    """``(k, count)`` orthonormal columns: the directions through the origin that keep most of the
    squared length of ``vectors (n, k)`` (rows with NaN or inf left out); coordinate axes where the
    vectors span fewer than ``count`` directions or there are none."""
    v = np.asarray(vectors, dtype=np.float64)
    k = v.shape[-1]
    v = v.reshape(-1, k)
    v = v[np.isfinite(v).all(axis=1)]
    basis = np.zeros((k, 0))
    if len(v):
        _, s, vt = np.linalg.svd(v, full_matrices=False)
        rank = int((s > s[0] * k * np.finfo(np.float64).eps).sum()) if s.size and s[0] > 0 else 0
        basis = vt[:min(count, rank)].T
    for e in np.eye(k):  # fill up with the coordinate axes least represented so far
        if basis.shape[1] >= min(count, k):
            break
        rest = e - basis @ (basis.T @ e)
        if np.linalg.norm(rest) > 0.5:
            basis = np.column_stack([basis, rest / np.linalg.norm(rest)])
    return basis


__all__ = ["incoming_and_outgoing", "principal_axes"]
