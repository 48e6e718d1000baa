"""Directional derivatives ``D^k L(theta)[u, ..., u]`` of a one-hidden-layer net's loss in closed form.

Along the line ``theta + t u`` every pre-activation is linear in ``t``, ``z(t) = z_0 + t z_1``, so the
hidden activations have the Taylor coefficients ``s_k = sigma^(k)(z_0) z_1^k / k!``; the outputs
``o(t) = (W_2 + t dW_2) s(t) + b_2 + t db_2`` have ``o_k = W_2 s_k + dW_2 s_{k-1}`` (plus the biases
at orders 0 and 1), and the loss ``(1/N) sum ||o(t) - y||^2`` has the Taylor coefficients
``f_k = (1/N) sum_{a+b=k} <r_a, r_b>`` of the residuals' products. Then ``D^k L[u^k] = k! f_k``.

That is one forward pass of ``k + 1`` small products, where repeated reverse-mode autograd builds and
walks ``k`` nested graphs; on the thesis' networks the theorems' derivative sampling, which needs
thousands of them, runs several times faster. :func:`directional` is a plain torch expression of
``u``, batched over points; :func:`cubic_form` is the third order at one point with its gradient in
``u`` by hand, in numpy, for the many small evaluations of an optimiser.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .nets import MLPSpec, activation_fn, flatten, unflatten
from .point_loss import transposed_times

#: The highest order the closed form covers.
MAX_ORDER = 4


def activation_derivatives(name: str, z: torch.Tensor, order: int) -> list[torch.Tensor]:
    """``[sigma(z), sigma'(z), ..., sigma^(order)(z)]`` for the activation ``name``, exact.

    As in :mod:`.nets`, torch's softplus is ``z`` itself above 20, so its derivatives there are 1,
    0, 0, ...; relu's second and higher derivatives are 0 (its kink has measure zero).
    """
    if name == "sigmoid":
        s = torch.sigmoid(z)
        d1 = s * (1 - s)
        ds = [s, d1, d1 * (1 - 2 * s), d1 * (1 - 6 * s + 6 * s * s), d1 * (1 - 2 * s) * (1 - 12 * s + 12 * s * s)]
    elif name == "tanh":
        t = torch.tanh(z)
        d1 = 1 - t * t
        ds = [t, d1, -2 * t * d1, -2 * d1 * (1 - 3 * t * t), 8 * t * d1 * (2 - 3 * t * t)]
    elif name == "softplus":
        s = torch.sigmoid(z)
        d2 = s * (1 - s)
        linear = z > 20
        zero = torch.zeros_like(z)
        ds = [activation_fn(name)(z), torch.where(linear, torch.ones_like(z), s), torch.where(linear, zero, d2),
              torch.where(linear, zero, d2 * (1 - 2 * s)), torch.where(linear, zero, d2 * (1 - 6 * s + 6 * s * s))]
    elif name == "relu":
        zero = torch.zeros_like(z)
        ds = [torch.relu(z), (z > 0).to(z.dtype), zero, zero, zero]
    else:
        raise ValueError(f"unknown activation {name!r}")
    return ds[:order + 1]


def directional(spec: MLPSpec, x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, u: torch.Tensor,
                order: int) -> torch.Tensor:
    """``D^order L(theta_i)[u_i, ..., u_i]`` for ``theta, u: (K, P)`` -> ``(K,)``; ``x: (N, d)``, ``y: (N, d_out)``.

    ``theta (P,)`` is one point for every direction: its activations and their derivatives, which
    dominate the cost, are then computed once.

    ``spec`` must have one hidden layer; ``order`` 1..:data:`MAX_ORDER`. Differentiable in ``u``
    (and ``theta``) by ordinary autograd.
    """
    if spec.n_layers != 2:
        raise ValueError(f"the closed form is for one hidden layer, got {spec.describe()}")
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be 1..{MAX_ORDER}, got {order!r}")
    (w1, b1), (w2, b2) = unflatten(spec, theta)
    (dw1, db1), (dw2, db2) = unflatten(spec, u)
    if spec.layers[-1].w_start == spec.layers[-1].w_stop:  # fixed output weights: not parameters, no direction
        dw2 = torch.zeros_like(dw2)
    # Samples along the last axis: the elementwise work runs over long contiguous rows.
    xs, ys = x.T, y.T                                   # (d, N), (d_out, N)
    z0 = w1 @ xs                                        # (K, m, N)
    z1 = dw1 @ xs
    if b1 is not None:
        z0 = z0 + b1.unsqueeze(-1)
        z1 = z1 + db1.unsqueeze(-1)
    ds = activation_derivatives(spec.activation, z0, order)
    power = torch.ones_like(z1)
    s = []
    for k in range(order + 1):                          # s_k = sigma^(k)(z0) z1^k / k!
        s.append(ds[k] * power / math.factorial(k))
        power = power * z1
    r = []
    for k in range(order + 1):                          # o_k = W2 s_k + dW2 s_(k-1)
        o = w2 @ s[k]
        if k >= 1:
            o = o + dw2 @ s[k - 1]
        if b2 is not None and k <= 1:
            o = o + (b2 if k == 0 else db2).unsqueeze(-1)
        r.append(o - ys if k == 0 else o)
    f = sum((r[a] * r[order - a]).sum(dim=(-1, -2)) for a in range(order + 1))
    return f * (math.factorial(order) / x.shape[0])


def cubic_form(spec: MLPSpec, x: np.ndarray, y: np.ndarray, theta: np.ndarray
               ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``u (P,) -> (T(u), grad T(u) (P,))`` with ``T(u) = D^3 L(theta)[u, u, u]``, in numpy, for one hidden layer.

    What depends on ``theta`` alone (activations and their derivatives, residuals) is computed once;
    an evaluation is then about twenty products of ``(N, m)`` arrays. ``T = (12/N) sum(<r_0, r_3> +
    <r_1, r_2>)``, and its gradient is back-propagated by hand: the adjoints of ``r_1, r_2, r_3`` are
    ``(12/N) (r_2, r_1, r_0)``, through ``o_k = W_2 s_k + dW_2 s_(k-1)`` to ``dW_2``, ``db_2`` and
    ``s_k``, and through ``s_k = sigma^(k)(z_0) z_1^k / k!`` to ``z_1 = dW_1 x + db_1``.
    """
    if spec.n_layers != 2:
        raise ValueError(f"the closed form is for one hidden layer, got {spec.describe()}")
    x, y, theta = (np.asarray(a, dtype=np.float64) for a in (x, y, theta))
    (w1, b1), (w2, b2) = unflatten(spec, theta)
    fixed_output = spec.layers[-1].w_start == spec.layers[-1].w_stop
    xs = np.ascontiguousarray(x.T)                      # (d, N): samples along the last axis
    z0 = w1 @ xs + (b1[:, None] if b1 is not None else 0.0)
    d0, d1, d2, d3 = (d.numpy() for d in activation_derivatives(spec.activation, torch.from_numpy(z0), 3))
    r0 = w2 @ d0 + (b2[:, None] if b2 is not None else 0.0) - y.T
    c = 12.0 / x.shape[0]

    def value_and_gradient(u: np.ndarray) -> tuple[float, np.ndarray]:
        (dw1, db1), (dw2, db2) = unflatten(spec, np.asarray(u, dtype=np.float64))
        dw2 = np.zeros_like(dw2) if fixed_output else dw2
        with np.errstate(over="ignore", invalid="ignore"):  # an optimiser may probe far out; inf is an answer
            z1 = dw1 @ xs + (db1[:, None] if db1 is not None else 0.0)
            z1sq = z1 * z1
            s1, s2, s3 = d1 * z1, d2 * z1sq / 2, d3 * z1sq * z1 / 6
            r1 = w2 @ s1 + dw2 @ d0 + (db2[:, None] if db2 is not None else 0.0)
            r2 = w2 @ s2 + dw2 @ s1
            r3 = w2 @ s3 + dw2 @ s2
            value = c * float(np.vdot(r0, r3) + np.vdot(r1, r2))
            a1, a2, a3 = c * r2, c * r1, c * r0                       # adjoints of r1, r2, r3
            g_dw2 = a1 @ d0.T + a2 @ s1.T + a3 @ s2.T
            g_s1 = transposed_times(w2, a1) + transposed_times(dw2, a2)
            g_s2 = transposed_times(w2, a2) + transposed_times(dw2, a3)
            g_s3 = transposed_times(w2, a3)
            g_z1 = g_s1 * d1 + g_s2 * d2 * z1 + g_s3 * d3 * z1sq / 2
            layers = [(g_z1 @ x, g_z1.sum(axis=1) if db1 is not None else None),
                      (g_dw2, a1.sum(axis=1) if db2 is not None else None)]
        return value, flatten(spec, layers)

    return value_and_gradient


__all__ = ["MAX_ORDER", "activation_derivatives", "cubic_form", "directional"]
