"""The loss and its gradient at one parameter vector, in numpy, for the per-point optimisers.

nlopt's SLSQP calls its objective thousands of times per point, one parameter vector at a time. On
the thesis' networks (a few dozen parameters, a few thousand samples) the batched torch
back-propagation of :func:`lsexplorer.core.landscape.nets.loss_and_grad` spends most of such a call
in per-operation dispatch; the same back-propagation in numpy, with the data held as contiguous
float64 arrays between calls, computes the same numbers (to floating-point reassociation) in a
fraction of the time. :class:`PointLoss` is that objective; the batched torch function stays the one
for many points at once and for the GPU.
"""

from __future__ import annotations

import numpy as np

from .nets import MLPSpec

#: The points :meth:`PointLoss.many` evaluates together keep each intermediate array within this many
#: bytes: larger temporaries are fetched from (and returned to) the kernel page by page on every
#: allocation, which costs more than the fewer, longer passes save.
_BLOCK_BYTES = 256 * 1024

#: torch's softplus returns ``z`` itself above this threshold (its default), so its derivative there is 1.
_SOFTPLUS_THRESHOLD = 20.0


def _activation(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sigma(z), sigma'(z))`` for the hidden activation ``name``, as :mod:`.nets` defines them."""
    if name == "sigmoid":
        s = np.negative(z)              # 1 / (1 + exp(-z)) in place: exp(-z) = inf gives sigma = 0, as it should
        np.exp(s, out=s)
        s += 1.0
        np.reciprocal(s, out=s)
        d = 1.0 - s
        d *= s
        return s, d
    if name == "tanh":
        s = np.tanh(z)
        return s, 1.0 - s * s
    if name == "softplus":
        above = z > _SOFTPLUS_THRESHOLD
        s = np.where(above, z, np.logaddexp(0.0, np.minimum(z, _SOFTPLUS_THRESHOLD)))
        return s, np.where(above, 1.0, 1.0 / (1.0 + np.exp(-z)))
    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(z.dtype)
    raise ValueError(f"unknown activation {name!r}")


def transposed_times(w: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``w^T @ delta`` per point, ``w (..., n_out, n_in)``, ``delta (..., n_out, N)``; for a single output
    row as a broadcast product, which numpy does faster than a product over an axis of length 1."""
    return w[..., 0, :, None] * delta[..., 0, None, :] if w.shape[-2] == 1 else w.swapaxes(-1, -2) @ delta


class PointLoss:
    """``theta (P,) -> (L(theta), grad L(theta) (P,))`` for fixed data, in float64 numpy; :meth:`many`
    for ``(K, P)`` points at once.

    ``L(theta) = (1/N) sum_i ||f(x_i) - y_i||^2`` as in :func:`lsexplorer.core.landscape.nets.loss`;
    ``x (N, d)`` and ``y (N, d_out)`` (or ``(N,)``) may be numpy arrays or CPU tensors.
    """

    def __init__(self, spec: MLPSpec, x, y) -> None:
        self.spec = spec
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(len(y), -1)
        if x.ndim != 2 or x.shape[1] != spec.d_in or y.shape != (len(x), spec.d_out):
            raise ValueError(f"x {x.shape} and y {y.shape} do not fit {spec.describe()}")
        # Samples along the last axis: every product and activation then runs over long contiguous rows.
        self._xt = np.ascontiguousarray(x.T)
        self._yt = np.ascontiguousarray(y.T)
        self._n = len(x)
        self._layers = spec.layers
        self._n_params = spec.n_params
        self._block = max(1, _BLOCK_BYTES // (8 * self._n * max(spec.widths)))

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The loss and its gradient; non-finite where ``theta`` overflows the net (callers check)."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self._n_params,):
            raise ValueError(f"theta must have shape ({self._n_params},), got {theta.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            value, grad = self._evaluate(theta)
        return float(value), grad

    def many(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Losses ``(K,)`` and gradients ``(K, P)`` at ``thetas (K, P)``, a few points per pass; each
        point's numbers do not depend on the others in the batch (every reduction runs over samples only)."""
        thetas = np.asarray(thetas, dtype=np.float64)
        if thetas.ndim != 2 or thetas.shape[1] != self._n_params:
            raise ValueError(f"thetas must have shape (K, {self._n_params}), got {thetas.shape}")
        values, grads = np.empty(len(thetas)), np.empty(thetas.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, len(thetas), self._block):
                block = slice(start, start + self._block)
                values[block], grads[block] = self._evaluate(thetas[block])
        return values, grads

    def _evaluate(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """At ``theta (..., P)``: one point, or a batch along a leading axis."""
        act, last, batch = self.spec.activation, len(self._layers) - 1, theta.shape[:-1]
        weights, hs, derivs = [], [self._xt], []
        h = self._xt
        for i, layer in enumerate(self._layers):
            if layer.w_start == layer.w_stop:  # the fixed output layer: all weights 1
                w = np.ones((*batch, layer.n_out, layer.n_in))
            else:
                w = theta[..., layer.w_start:layer.w_stop].reshape(*batch, layer.n_out, layer.n_in)
            weights.append(w)
            z = w @ h                                                   # (..., n_out, N)
            if layer.b_start is not None:
                z += theta[..., layer.b_start:layer.b_stop, None]
            if i < last:
                h, d = _activation(act, z)
                hs.append(h)
                derivs.append(d)
            else:
                h = z
        r = h - self._yt
        values = (r * r).sum(axis=(-1, -2)) / self._n
        grads = np.empty((*batch, self._n_params))
        delta = r * (2.0 / self._n)  # dL/d(output), (..., d_out, N)
        for i in range(last, -1, -1):
            layer = self._layers[i]
            if layer.w_start != layer.w_stop:
                grads[..., layer.w_start:layer.w_stop] = (delta @ hs[i].swapaxes(-1, -2)).reshape(*batch, -1)
            if layer.b_start is not None:
                grads[..., layer.b_start:layer.b_stop] = delta.sum(axis=-1)
            if i > 0:
                delta = transposed_times(weights[i], delta) * derivs[i - 1]
        return values, grads


__all__ = ["PointLoss", "transposed_times"]
