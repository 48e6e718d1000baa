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

import dataclasses
import math
from collections.abc import Sequence
from typing import Callable

import numpy as np
import torch

ACTIVATIONS = ("sigmoid", "tanh", "softplus", "relu")


@dataclasses.dataclass(frozen=True)
class LayerSlice:
    """Where one layer's weights and bias sit in the flat vector."""

    index: int
    n_in: int
    n_out: int
    w_start: int
    w_stop: int
    b_start: int | None
    b_stop: int | None


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """A fully connected network ``widths = (d, h_1, ..., h_L, d_out)``.

    ``activation`` is applied after every hidden layer, never after the output layer.
    ``fixed_output``: the output layer's weights are all 1 and not parameters (the Safran & Shamir
    students, ``x -> sum_j relu(w_j . x)``); ``theta`` then holds the other layers only.
    """

    widths: tuple[int, ...]
    activation: str = "sigmoid"
    bias: bool = False
    fixed_output: bool = False

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths)
        object.__setattr__(self, "widths", widths)
        if len(widths) < 2:
            raise ValueError(f"an MLP needs at least input and output widths, got {list(widths)}")
        if any(w < 1 for w in widths):
            raise ValueError(f"every layer width must be at least 1, got {list(widths)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.fixed_output and self.bias:
            raise ValueError("a fixed output layer (all weights 1) is defined without biases only")

    @property
    def d_in(self) -> int:
        return self.widths[0]

    @property
    def d_out(self) -> int:
        return self.widths[-1]

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return self.widths[1:-1]

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + 1)."""
        return len(self.widths) - 1

    @property
    def layers(self) -> tuple[LayerSlice, ...]:
        out = []
        pos = 0
        for i, (n_in, n_out) in enumerate(zip(self.widths[:-1], self.widths[1:])):
            fixed = self.fixed_output and i == len(self.widths) - 2
            w_start, pos = pos, pos + (0 if fixed else n_in * n_out)
            if self.bias:
                b_start, pos = pos, pos + n_out
                out.append(LayerSlice(i, n_in, n_out, w_start, w_start + n_in * n_out, b_start, pos))
            else:
                out.append(LayerSlice(i, n_in, n_out, w_start, pos, None, None))
        return tuple(out)

    @property
    def n_params(self) -> int:
        return sum(l.w_stop - l.w_start + (l.n_out if self.bias else 0) for l in self.layers)

    def with_hidden_width(self, layer: int, width: int) -> MLPSpec:
        """The same network with hidden layer ``layer`` (1-based) of a different width."""
        if not 1 <= layer <= len(self.hidden_widths):
            raise ValueError(f"hidden layer {layer} does not exist (the net has {len(self.hidden_widths)})")
        widths = list(self.widths)
        widths[layer] = width
        return MLPSpec(tuple(widths), self.activation, self.bias, self.fixed_output)

    def to_dict(self) -> dict:
        out = {"widths": list(self.widths), "activation": self.activation, "bias": self.bias}
        if self.fixed_output:
            out["fixed_output"] = True
        return out

    @classmethod
    def from_dict(cls, d: dict) -> MLPSpec:
        return cls(tuple(d["widths"]), d.get("activation", "sigmoid"), bool(d.get("bias", False)),
                   bool(d.get("fixed_output", False)))

    def describe(self) -> str:
        arch = "-".join(str(w) for w in self.widths)
        extra = " with biases" if self.bias else " with output weights fixed to 1" if self.fixed_output else ""
        return f"{arch} {self.activation} MLP{extra} ({self.n_params} parameters)"


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
