"""Multi-layer perceptrons as flat parameter vectors, evaluated for many parameter vectors at once.

A network is described by an :class:`MLPSpec` (layer widths, hidden activation, biases on/off); a
point in parameter space is one flat vector ``theta`` of length ``spec.n_params`` holding, layer by
layer, the weight matrix ``W_l`` (shape ``n_l x n_{l-1}``, row-major) followed by ``b_l`` when
biases are on. ``S`` points are an ``(S, P)`` array. Hidden layers apply the activation; the output
layer is linear, so the thesis' two-layer net is ``f(x) = sum_j a_j sigma(w_j . x)`` with
``theta = (w_1, ..., w_m, a_1, ..., a_m)``.

Everything here works on torch tensors of any float dtype and any device; numpy arrays are accepted
where noted and converted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Callable

import numpy as np
import torch

from ..base.spec import ACTIVATIONS, LayerSlice, MLPSpec  # noqa: F401  (re-exported: part of this module's interface)


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation as a torch function."""
    if name == "sigmoid":
        return torch.sigmoid
    if name == "tanh":
        return torch.tanh
    if name == "softplus":
        return torch.nn.functional.softplus
    if name == "relu":
        return torch.relu
    raise ValueError(f"unknown activation {name!r}")


def activation_derivative_from_output(name: str, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """sigma'(z), using the already computed ``s = sigma(z)`` where that is cheaper."""
    if name == "sigmoid":
        return s * (1 - s)
    if name == "tanh":
        return 1 - s * s
    if name == "softplus":
        # torch's softplus returns z itself above its threshold 20, so its derivative there is exactly 1.
        return torch.where(z > 20, torch.ones_like(z), torch.sigmoid(z))
    if name == "relu":
        return (z > 0).to(z.dtype)
    raise ValueError(f"unknown activation {name!r}")


def unflatten(spec: MLPSpec, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Views ``[(W_l, b_l), ...]`` into ``theta: (..., P)``; ``W_l: (..., n_out, n_in)``, ``b_l: (..., n_out)``."""
    if theta.shape[-1] != spec.n_params:
        raise ValueError(f"theta has {theta.shape[-1]} entries but {spec.describe()} needs {spec.n_params}")
    batch = theta.shape[:-1]
    out = []
    for l in spec.layers:
        if l.w_start == l.w_stop:      # the fixed output layer: all weights 1
            ones = np.ones if isinstance(theta, np.ndarray) else lambda shape: theta.new_ones(shape)
            out.append((ones((*batch, l.n_out, l.n_in)), None))
            continue
        w = theta[..., l.w_start:l.w_stop].reshape(*batch, l.n_out, l.n_in)
        b = theta[..., l.b_start:l.b_stop] if l.b_start is not None else None
        out.append((w, b))
    return out


def flatten(spec: MLPSpec, layers: Sequence[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor | None]]):
    """Inverse of :func:`unflatten`; returns numpy if the inputs are numpy, else torch. Batch dims allowed."""
    parts = []
    is_np = isinstance(layers[0][0], np.ndarray)
    for l, (w, b) in zip(spec.layers, layers):
        batch = tuple(w.shape[:-2])
        if tuple(w.shape[-2:]) != (l.n_out, l.n_in):
            raise ValueError(f"layer {l.index}: W has shape {tuple(w.shape[-2:])}, expected {(l.n_out, l.n_in)}")
        if l.w_start == l.w_stop:
            continue
        parts.append(w.reshape(*batch, l.n_in * l.n_out))
        if spec.bias:
            if b is None:
                raise ValueError(f"layer {l.index}: the spec has biases but none was given")
            parts.append(b)
    if is_np:
        return np.concatenate(parts, axis=-1)
    return torch.cat(parts, dim=-1)


def as_tensor(a, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """A torch tensor view/copy of ``a`` (numpy or torch) with the requested dtype and device."""
    if isinstance(a, torch.Tensor):
        return a.to(dtype=dtype or a.dtype, device=device or a.device)
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.to(dtype=dtype or (torch.float64 if t.is_floating_point() else t.dtype), device=device or "cpu")


def forward(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Network outputs. ``theta: (P,) or (S, P)``, ``x: (N, d)`` -> ``(N, d_out)`` or ``(S, N, d_out)``."""
    act = activation_fn(spec.activation)
    h = x
    layers = unflatten(spec, theta)
    for i, (w, b) in enumerate(layers):
        # h: (..., N, n_in) ; w: (..., n_out, n_in)
        h = h @ w.transpose(-1, -2)
        if b is not None:
            h = h + b.unsqueeze(-2)
        if i < len(layers) - 1:
            h = act(h)
    return h


def loss(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``L(theta) = (1/N) sum_i ||f(x_i) - y_i||^2``: a scalar for ``(P,)``, ``(S,)`` for ``(S, P)``."""
    r = forward(spec, theta, x) - y
    return (r * r).sum(dim=(-1, -2)) / x.shape[0]


def loss_and_grad(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss ``(S,)`` and gradient ``(S, P)`` for ``theta: (S, P)`` by explicit back-propagation.

    Seeds never interact: every reduction runs over samples only, so seed ``s`` of a batch gets the
    same numbers as a batch of one (up to floating-point reassociation).
    """
    act = activation_fn(spec.activation)
    layers = unflatten(spec, theta)
    n = x.shape[0]
    hs = [x.expand(theta.shape[0], *x.shape)]
    zs = []
    h = hs[0]
    for i, (w, b) in enumerate(layers):
        z = torch.baddbmm(b.unsqueeze(-2), h, w.transpose(-1, -2)) if b is not None else torch.bmm(h, w.transpose(-1, -2))
        if i < len(layers) - 1:
            zs.append(z)
            h = act(z)
            hs.append(h)
        else:
            h = z
    r = h - y
    value = (r * r).sum(dim=(-1, -2)) / n
    delta = r * (2.0 / n)  # dL/d(output), (S, N, d_out)
    grads: list[torch.Tensor] = [None] * len(layers)  # type: ignore[list-item]
    for i in range(len(layers) - 1, -1, -1):
        w, b = layers[i]
        gw = torch.bmm(delta.transpose(-1, -2), hs[i])  # (S, n_out, n_in)
        parts = [gw.reshape(gw.shape[0], -1)[:, :spec.layers[i].w_stop - spec.layers[i].w_start]]
        if b is not None:
            parts.append(delta.sum(dim=-2))
        grads[i] = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        if i > 0:
            delta = torch.bmm(delta, w) * activation_derivative_from_output(spec.activation, hs[i], zs[i - 1])
    return value, torch.cat(grads, dim=-1)


def xavier_init(spec: MLPSpec, seeds: Sequence[int]) -> np.ndarray:
    """Xavier (Glorot) uniform initial points, one per seed: ``(S, P)`` float64, biases zero.

    Each seed draws from its own generator, so a seed's point does not depend on which other seeds
    share the batch. ``W_l ~ U(-a, a)``, ``a = sqrt(6 / (n_in + n_out))`` as in Glorot & Bengio (2010).
    """
    out = np.zeros((len(seeds), spec.n_params))
    for k, seed in enumerate(seeds):
        rng = np.random.default_rng(int(seed))
        for l in spec.layers:
            a = math.sqrt(6.0 / (l.n_in + l.n_out))
            out[k, l.w_start:l.w_stop] = rng.uniform(-a, a, size=l.n_in * l.n_out)
    return out
