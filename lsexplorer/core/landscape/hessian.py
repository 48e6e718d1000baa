"""Exact derivatives of the loss at one point, in float64.

Everything here differentiates :func:`lsexplorer.core.landscape.nets.loss` exactly, in closed form or by
``torch.func``, so the numbers are exact up to floating-point rounding (no finite differences).
Inputs are one point ``theta: (P,)`` (numpy or torch) and the data ``x: (N, d)``, ``y: (N, d_out)``
(numpy or torch); every computation is promoted to float64 on the CPU, and results come back as numpy.

Gradient and Hessian are assembled in closed form, the Hessian layer block by layer block
(:func:`hessian_t`, derivation there): per sample it needs only each layer's input, the
back-propagated output error, the Hessian of the per-sample loss in each layer's pre-activations and
the Jacobians between pre-activations, all of network width; the ``P x P`` blocks are then
contractions over samples, i.e. matrix products. For the 341-parameter 10-10-10-10-1 net on 1797
samples this takes 0.013-0.03 s on 2 cores, 20x less than ``torch.autograd.functional.hessian`` and
10-30x less than pushing ``P`` tangents through forward-over-reverse AD, which it replaced
(``benchmarks/deep_hessian.py``); the tests hold it to autograd and to finite differences. Sample
chunks keep memory bounded for wide networks. The result is symmetrised, ``(H + H^T) / 2``: the two
triangles agree to rounding, and a symmetric matrix is what :func:`spectrum` and every consumer of
eigenvectors assume. Output Jacobians and directional derivatives of order 1-4 use ``torch.func``.

The ``*_t`` functions are the same computations on tensors already prepared by
:func:`float64_problem`, for loops (refinement) that call them many times on one data set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.func import jvp, vmap

from . import symmetric_eigen
from .autodiff import forward_mode
from .nets import MLPSpec, activation_fn, as_tensor, forward, loss, unflatten

#: Memory, in bytes, that one chunk of work may use: vectorised Jacobian-vector products for
#: :func:`output_jacobian_t`, per-sample products of a chunk of samples for :func:`hessian_t`.
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


def _activation_derivatives(name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``sigma(z)``, ``sigma'(z)``, ``sigma''(z)`` elementwise, in closed form (about 100x faster than
    nested forward-mode AD on small nets, where per-call overhead dominates)."""
    if name == "softplus":
        # torch's softplus is the identity above z = 20 (its threshold): derivatives 1 and 0 there.
        s = torch.where(z > 20, 1.0, torch.sigmoid(z))
        return torch.nn.functional.softplus(z), s, s * (1 - s)
    h = activation_fn(name)(z)
    if name == "sigmoid":
        d1 = h * (1 - h)
        return h, d1, d1 * (1 - 2 * h)
    if name == "tanh":
        d1 = 1 - h * h
        return h, d1, -2 * h * d1
    raise ValueError(f"no closed-form derivatives for activation {name!r}")


def _theta_order(spec: MLPSpec) -> torch.Tensor:
    """Flat index of every entry of ``Theta_l = [W_l | b_l]`` taken layer by layer, row-major: ``(P,)``."""
    order = []
    for layer in spec.layers:
        w = layer.w_start + torch.arange(layer.n_out * layer.n_in).reshape(layer.n_out, layer.n_in)
        if layer.b_start is not None:
            w = torch.cat([w, layer.b_start + torch.arange(layer.n_out)[:, None]], dim=1)
        order.append(w.reshape(-1))
    return torch.cat(order)


def _forward_backward(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    """Per-sample quantities of the closed forms: ``(layers, inputs, slopes, curvatures, g, u)``.

    ``inputs[l]: (n, q_l)`` is layer ``l``'s input ``a_l`` (a 1 appended with biases); ``slopes[l]``,
    ``curvatures[l]: (n, n_l)`` are ``sigma'``, ``sigma''`` at hidden ``z_l``; ``g[l] = d ell / dz_l: (n, n_l)``
    and ``u[l] = W_{l+1}^T g_{l+1}`` (hidden ``l``), for ``x: (n, d)``, ``y: (n, d_out)``,
    ``ell = ||f - y||^2``. The activation derivatives are those of the float64 function :func:`nets.loss`
    computes (softplus' threshold included), so gradient and Hessian are exact for it.
    """
    layers = unflatten(spec, t)
    n_layers = len(layers)
    ones = torch.ones_like(x[:, :1])
    inputs, slopes, curvatures = [], [], []
    h = x
    for i, (w, b) in enumerate(layers):
        inputs.append(h if b is None else torch.cat([h, ones], dim=1))
        z = h @ w.T if b is None else torch.addmm(b, h, w.T)
        if i < n_layers - 1:
            h, s1, s2 = _activation_derivatives(spec.activation, z)
            slopes.append(s1)
            curvatures.append(s2)
    g = [None] * n_layers
    u = [None] * (n_layers - 1)
    g[-1] = 2.0 * (z - y)
    for i in range(n_layers - 2, -1, -1):
        u[i] = g[i + 1] @ layers[i + 1][0]
        g[i] = slopes[i] * u[i]
    return layers, inputs, slopes, curvatures, g, u


def _hessian_blocks(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> list[list[torch.Tensor]]:
    """Blocks ``R[l][m - l]: (n_l, q_l, n_m, q_m)`` of ``sum_x d^2 ell / dTheta_l dTheta_m`` for ``l <= m``.

    ``x: (n, d)``, ``y: (n, d_out)`` is one chunk of samples, ``ell = ||f - y||^2`` the per-sample loss
    (notation of :func:`hessian_t`).
    """
    layers, inputs, slopes, curvatures, g, u = _forward_backward(spec, t, x, y)
    n_layers = len(layers)
    # K_l = d^2 ell / dz_l^2 (n, n_l, n_l), back to front.
    k = [None] * n_layers
    k[-1] = 2.0 * torch.eye(spec.d_out, dtype=x.dtype).expand(x.shape[0], -1, -1)
    for i in range(n_layers - 2, -1, -1):
        w = layers[i + 1][0]
        k[i] = (slopes[i][:, :, None] * (w.T @ k[i + 1] @ w) * slopes[i][:, None, :]
                + torch.diag_embed(curvatures[i] * u[i]))
    blocks = []
    n = x.shape[0]
    for l in range(n_layers):
        row = []
        jac = None  # dz_m/dz_l (n, n_m, n_l) of the previous m; None stands for the identity at m = l
        for m in range(l, n_layers):
            q_l, q_m = inputs[l].shape[1], inputs[m].shape[1]
            # a_l[i] a_m[j] M[o, p] summed over samples, as one product (n_l n_m, n) @ (n, q_l q_m).
            pairs = (inputs[l][:, :, None] * inputs[m][:, None, :]).reshape(n, q_l * q_m)
            if m == l:
                mixed = k[l]                                                           # (n, n_l, n_l)
            else:
                din = slopes[m - 1][:, :, None] * (jac if jac is not None else torch.diag_embed(
                    torch.ones_like(slopes[l])))                                       # da_m/dz_l (n, n_{m-1}, n_l)
                jac = layers[m][0] @ din                                               # (n, n_m, n_l)
                mixed = jac.transpose(1, 2) @ k[m]                                     # C_ml^T K_m (n, n_l, n_m)
            n_l, n_m = mixed.shape[1], mixed.shape[2]
            r = (mixed.reshape(n, n_l * n_m).T @ pairs).reshape(n_l, n_m, q_l, q_m).permute(0, 2, 1, 3)
            if m > l:
                # a_l[i] g_m[p] (da_m/dz_l)[j, o], as (q_l n_m, n) @ (n, n_{m-1} n_l); the bias input is constant.
                weights = (inputs[l][:, :, None] * g[m][:, None, :]).reshape(n, q_l * n_m)
                second = (weights.T @ din.reshape(n, -1)).reshape(q_l, n_m, din.shape[1], n_l).permute(3, 0, 1, 2)
                r[..., :din.shape[1]] += second
            row.append(r)
        blocks.append(row)
    return blocks


def loss_grad_t(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Loss and gradient ``(P,)`` of the function :func:`hessian_t` differentiates, by the same closed
    forms (``dL/dTheta_l = (1/N) sum g_l a_l^T``). Autograd agrees to rounding (~1e-17) but costs 100x
    more per call on these small nets, and 1-2 s on its first call."""
    _, inputs, _, _, g, _ = _forward_backward(spec, t, x, y)
    residual = g[-1] / 2
    value = float((residual * residual).sum()) / x.shape[0]
    grad_theta = torch.cat([(gl.T @ a).reshape(-1) for gl, a in zip(g, inputs)]) / x.shape[0]
    flat = torch.empty_like(grad_theta)
    flat[_theta_order(spec)] = grad_theta
    return value, flat


def hessian_t(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The symmetrised exact Hessian ``(P, P)`` as a tensor, for inputs from :func:`float64_problem`.

    **Closed form.** Layer ``l`` (0-based) computes ``z_l = Theta_l a_l`` from its input ``a_l`` (``x``
    or ``sigma(z_{l-1})``, with a constant 1 appended when there are biases: ``q_l`` entries) and
    ``Theta_l = [W_l | b_l]``; ``f = z_{L-1}``. Per sample, with ``ell = ||f - y||^2``,
    ``g_l = d ell/dz_l`` (``g_{L-1} = 2 (f - y)``, ``g_l = sigma'_l * (W_{l+1}^T g_{l+1})``) and
    ``K_l = d^2 ell / dz_l^2`` (``K_{L-1} = 2 I``,
    ``K_l = D_l W_{l+1}^T K_{l+1} W_{l+1} D_l + diag(sigma''_l * W_{l+1}^T g_{l+1})``, ``D_l = diag(sigma'_l)``),
    the gradient is ``d ell/dTheta_l[o, i] = g_l[o] a_l[i]``. Differentiating it by ``Theta_m[p, j]``,
    ``m >= l``: ``a_l`` lies upstream of layer ``m`` and ``g_l`` depends on ``Theta_m`` through
    ``z_m`` and, for ``m > l``, through the ``W_m`` in its back-propagation, so

        d^2 ell / dTheta_l[o, i] dTheta_m[p, j] = a_l[i] ((C_ml^T K_m)[o, p] a_m[j] + g_m[p] (da_m / dz_l)[j, o])

    with ``C_ml = dz_m / dz_l = W_m (da_m / dz_l)``, ``da_m / dz_l = D_{m-1} C_{m-1,l}`` (``C_ll = I``; its
    bias row is 0) and no second term for ``m = l``. ``H = (1/N) sum`` over samples, the lower
    blocks by symmetry.
    """
    n = x.shape[0]
    # Per sample, the largest temporaries are the (n_l, n_m) and (q_l, q_m) products of a block.
    per_sample = 8 * 4 * (max(spec.widths[1:]) + max(spec.widths[:-1]) + 1) ** 2
    chunk = int(max(1, min(n, _CHUNK_BYTES // per_sample)))
    sizes = [layer.n_out * (layer.n_in + (layer.b_start is not None)) for layer in spec.layers]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    h = torch.zeros(spec.n_params, spec.n_params, dtype=torch.float64)
    for start in range(0, n, chunk):
        blocks = _hessian_blocks(spec, t, x[start:start + chunk], y[start:start + chunk])
        for l, row in enumerate(blocks):
            for m, r in enumerate(row, start=l):
                h[offsets[l]:offsets[l + 1], offsets[m]:offsets[m + 1]] += r.reshape(sizes[l], sizes[m])
    h = torch.triu(h) + torch.triu(h, diagonal=1).T
    h /= n
    order = _theta_order(spec)
    flat = torch.empty_like(h)
    flat[order[:, None], order[None, :]] = h
    return (flat + flat.T) / 2


@forward_mode
def output_jacobian_t(spec: MLPSpec, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Jacobian ``(N * d_out, P)`` of the flattened outputs ``f(x_i; t)`` (forward mode, chunked).

    With residuals ``r = f - y`` it gives the Gauss-Newton part of the Hessian, ``(2/N) J^T J``.
    """
    out = lambda p: forward(spec, p, x).reshape(-1)
    return _over_basis(spec, x.shape[0], vmap(lambda v: jvp(out, (t,), (v,))[1])).T


def loss_grad_hessian(spec: MLPSpec, theta, x, y) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, gradient ``(P,)`` and symmetric Hessian ``(P, P)`` at ``theta (P,)``, exact, float64.

    Gradient and Hessian come from the same closed forms of :func:`nets.loss`, so they describe one
    and the same float64 function.
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
    otherwise return garbage or fail with an opaque error. The decomposition runs in torch's LAPACK
    on torch's thread pool: numpy's OpenBLAS threads, left spinning after each call, slowed the
    torch work between calls 2-3x on 2 cores (a 101-point mu sweep: 8.5 s against 3.2 s).
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1]:
        raise ValueError(f"a Hessian must be a square matrix, got shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError("the Hessian contains NaN or infinite entries; its spectrum is undefined")
    try:
        values, vectors = torch.linalg.eigh(torch.from_numpy(h))
    except torch.linalg.LinAlgError:  # syevd gave up on clustered eigenvalues; other drivers do not
        return symmetric_eigen.eigh(h)
    return values.numpy(), vectors.numpy()


@forward_mode
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
