"""Exact second- and higher-order derivatives of the loss at one point, in float64.

Everything here differentiates :func:`lsexplorer.core.nets.loss` with ``torch.func``, so the numbers
are exact up to floating-point rounding (no finite differences). Inputs are one point
``theta: (P,)`` (numpy or torch) and the data ``x: (N, d)``, ``y: (N, d_out)`` (numpy or torch);
every computation is promoted to float64 on the CPU, and results come back as numpy.

The Hessian is built by forward-over-reverse differentiation: Hessian-vector products
``H e_k = d/dt grad L(theta + t e_k)`` for chunks of unit vectors ``e_k``, vectorised with ``vmap``.
Chunks keep memory bounded for wide networks (each product carries the activations of all ``N``
samples). The result is symmetrised, ``(H + H^T) / 2``: the two triangles agree to rounding, and a
symmetric matrix is what :func:`spectrum` and every consumer of eigenvectors assume.

The ``*_t`` functions are the same computations on tensors already prepared by
:func:`float64_problem`, for loops (refinement) that call them many times on one data set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.func import grad, jvp, vmap

from .nets import MLPSpec, as_tensor, forward, loss

#: Memory, in bytes, that one vectorised chunk of Hessian-vector products may use for activations.
_CHUNK_BYTES = 256 * 2**20


def float64_problem(spec: MLPSpec, theta, x, y) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``theta (P,)``, ``x (N, d)``, ``y (N, d_out)`` (numpy or torch) as float64 CPU tensors, shapes checked."""
    t = as_tensor(theta, torch.float64, "cpu").detach()
    xt = as_tensor(x, torch.float64, "cpu")
    yt = as_tensor(y, torch.float64, "cpu")
    if yt.ndim == 1:
        yt = yt[:, None]
    if t.shape != (spec.n_params,):
        raise ValueError(f"theta must have shape ({spec.n_params},) for {spec.describe()}, got {tuple(t.shape)}")
    if xt.ndim != 2 or xt.shape[1] != spec.d_in or yt.shape != (xt.shape[0], spec.d_out):
        raise ValueError(f"x {tuple(xt.shape)} and y {tuple(yt.shape)} do not fit {spec.describe()}")
    return t, xt, yt


def _loss_fn(spec: MLPSpec, x: torch.Tensor, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``theta (P,) -> L(theta)`` as a scalar tensor, for ``torch.func`` transforms."""
    return lambda t: loss(spec, t, x, y)


def _chunk_size(spec: MLPSpec, n_samples: int) -> int:
    """How many tangent vectors to push through the net at once within :data:`_CHUNK_BYTES`."""
    # Forward-over-reverse keeps, per tangent, a primal and a tangent copy of every layer's
    # pre-activation and activation for the forward and the backward pass: ~8 float64 (N, width).
    per_product = 8 * 8 * n_samples * sum(spec.widths[1:])
    return int(max(1, min(spec.n_params, _CHUNK_BYTES // max(per_product, 1))))


def _over_basis(spec: MLPSpec, n_samples: int, push: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``push`` (vectorised over its first axis) applied to every unit vector ``e_k``: ``(P, ...)``."""
    eye = torch.eye(spec.n_params, dtype=torch.float64)
    chunk = _chunk_size(spec, n_samples)
    return torch.cat([push(eye[i:i + chunk]) for i in range(0, spec.n_params, chunk)])


def loss_grad_t(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Loss and gradient ``(P,)`` by reverse-mode autograd of the function :func:`hessian_t` differentiates."""
    g, value = torch.func.grad_and_value(_loss_fn(spec, x, y))(t)
    return float(value), g


def hessian_t(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The symmetrised exact Hessian ``(P, P)`` as a tensor, for inputs from :func:`float64_problem`."""
    g = grad(_loss_fn(spec, x, y))
    h = _over_basis(spec, x.shape[0], vmap(lambda v: jvp(g, (t,), (v,))[1]))
    return (h + h.T) / 2


def output_jacobian_t(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Jacobian ``(N * d_out, P)`` of the flattened outputs ``f(x_i; t)`` (forward mode, chunked).

    With residuals ``r = f - y`` it gives the Gauss-Newton part of the Hessian, ``(2/N) J^T J``.
    """
    out = lambda p: forward(spec, p, x).reshape(-1)
    return _over_basis(spec, x.shape[0], vmap(lambda v: jvp(out, (t,), (v,))[1])).T


def loss_grad_hessian(spec: MLPSpec, theta, x, y) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, gradient ``(P,)`` and symmetric Hessian ``(P, P)`` at ``theta (P,)``, exact, float64.

    The gradient is reverse-mode autograd of :func:`nets.loss`, the same function the Hessian
    differentiates, so gradient and Hessian describe one and the same float64 function.
    """
    t, xt, yt = float64_problem(spec, theta, x, y)
    value, g = loss_grad_t(spec, t, xt, yt)
    return value, g.numpy(), hessian_t(spec, t, xt, yt).numpy()


def hessian(spec: MLPSpec, theta, x, y) -> np.ndarray:
    """The exact symmetric Hessian ``(P, P)`` of the loss at ``theta (P,)``, float64."""
    t, xt, yt = float64_problem(spec, theta, x, y)
    return hessian_t(spec, t, xt, yt).numpy()


def spectrum(h) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(P,)`` in ascending order and orthonormal eigenvectors ``(P, P)`` as columns.

    ``h`` must be a finite symmetric ``(P, P)`` matrix (symmetry is enforced by using only its lower
    triangle, as LAPACK's ``syevd`` does). Non-finite entries raise ``ValueError``: LAPACK would
    otherwise return garbage or fail with an opaque error.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1]:
        raise ValueError(f"a Hessian must be a square matrix, got shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError("the Hessian contains NaN or infinite entries; its spectrum is undefined")
    return np.linalg.eigh(h)


def directional_derivative(spec: MLPSpec, theta, x, y, u, order: int) -> float:
    """``d^k/dt^k L(theta + t u)`` at ``t = 0`` for ``k = order`` in 1..4, exact (nested ``jvp``).

    ``theta, u: (P,)``; ``u`` is used as given (not normalised). Order 1 is ``grad L . u``, order 2 is
    ``u^T H u``; orders 3 and 4 are the cubic and quartic terms of the loss along a line, which decide
    whether a direction of zero curvature at a critical point is an escape direction.
    """
    if order not in (1, 2, 3, 4):
        raise ValueError(f"order must be 1, 2, 3 or 4, got {order!r}")
    t, xt, yt = float64_problem(spec, theta, x, y)
    ut = as_tensor(u, torch.float64, "cpu").detach()
    if ut.shape != t.shape:
        raise ValueError(f"direction u must have shape {tuple(t.shape)}, got {tuple(ut.shape)}")
    f = _loss_fn(spec, xt, yt)
    for _ in range(order):
        f = _derivative_along(f, ut)
    return float(f(t))


def _derivative_along(f: Callable[[torch.Tensor], torch.Tensor], u: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``p -> d/dt f(p + t u)`` at ``t = 0`` (one forward-mode derivative, nestable)."""
    return lambda p: jvp(f, (p,), (u,))[1]


__all__ = ["loss_grad_hessian", "hessian", "spectrum", "directional_derivative", "float64_problem", "loss_grad_t",
           "hessian_t", "output_jacobian_t"]
