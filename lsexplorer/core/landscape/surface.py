"""Smooth functions of a flat parameter vector, with batched values, gradients and Hessians.

A :class:`Landscape` is what the escape searches (:mod:`.escape`) and the saddle theorems
(:mod:`.theorems`) explore: any twice-differentiable torch function of ``theta (P,)``, plus optional
fast batched paths. :func:`network_landscape` wraps an MLP's loss on a data set and, for one hidden
layer, uses exact closed-form batched Hessians (:func:`two_layer_hessians`), which make a Hessian
at every point of a 1601-point scan affordable.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import numpy as np
import torch
from torch.func import grad_and_value, hessian, vmap

from ..base.progress import Progress
from .autodiff import forward_mode
from .hessian import float64_problem, hessian_t
from .nets import MLPSpec, activation_derivative_from_output, activation_fn, loss
from .point_loss import PointLoss
from .two_layer_jets import cubic_form, directional

#: Memory, in bytes, one vectorised batch of derivative evaluations may use.
BATCH_BYTES = 256 * 2**20


#: The record of the searches on a landscape: ``done`` of ``total`` units of ``stage``.
SearchProgress = Progress


# --------------------------------------------------------------------------- landscapes

@dataclasses.dataclass(frozen=True)
class Landscape:
    """A smooth scalar function of ``P`` parameters with batched float64 derivatives.

    fn:
        ``(P,)`` float64 tensor -> scalar tensor, composable with ``torch.func`` (grad, jvp, vmap).
    n_params:
        ``P``.
    value_scale:
        A typical size of values (for a loss, that of the zero function); sets the absolute floor
        of :func:`decrease_tolerance`.
    tangent_bytes:
        Memory one forward-mode tangent through ``fn`` needs; sizes the vectorised batches.
    batch_value_and_grad:
        Optional faster ``(K, P) -> ((K,), (K, P))`` than ``vmap(grad_and_value(fn))``.
    batch_hessian:
        Optional faster ``(K, P) -> (K, P, P)`` than ``vmap(hessian(fn))``.
    point_hessian:
        Optional ``(P,) -> (P, P)`` used one point at a time when a batch of Hessians would not fit
        in :data:`BATCH_BYTES`.
    batch_directional:
        Optional ``(points (K, P), directions (K, P), k) -> (K,)`` directional derivatives
        ``D^k fn[u, ..., u]`` (``k`` up to 4), differentiable in the directions, faster than
        repeated reverse-mode autograd of ``fn``.
    cubic_form:
        Optional ``theta (P,) -> (u (P,) -> (D^3 fn(theta)[u, u, u], its gradient in u (P,)))``.
    """

    fn: Callable[[torch.Tensor], torch.Tensor]
    n_params: int
    value_scale: float = 1.0
    tangent_bytes: int = 4096
    batch_value_and_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    batch_hessian: Callable[[torch.Tensor], torch.Tensor] | None = None
    point_hessian: Callable[[torch.Tensor], torch.Tensor] | None = None
    batch_directional: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None
    cubic_form: Callable[[np.ndarray], Callable[[np.ndarray], tuple[float, np.ndarray]]] | None = None

    @property
    def value_rows(self) -> int:
        """Points per vectorised value-and-gradient call (a reverse pass costs ~2 tangents)."""
        return int(np.clip(BATCH_BYTES // (2 * self.tangent_bytes), 1, 256))

    @property
    def hessian_rows(self) -> int:
        """Points per vectorised Hessian call (``P`` tangents each); 1 means one at a time."""
        return int(np.clip(BATCH_BYTES // (self.n_params * self.tangent_bytes), 1, 64))

    def points(self, thetas) -> torch.Tensor:
        """``thetas`` as a float64 ``(K, P)`` tensor (a single ``(P,)`` point becomes ``(1, P)``)."""
        t = torch.as_tensor(np.asarray(thetas, dtype=np.float64))
        t = t.reshape(1, -1) if t.ndim == 1 else t
        if t.ndim != 2 or t.shape[1] != self.n_params:
            raise ValueError(f"points must have shape (K, {self.n_params}), got {tuple(t.shape)}")
        return t

    def values_and_grads(self, thetas) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(K,)`` and gradients ``(K, P)`` at ``thetas: (K, P)``."""
        t = self.points(thetas)
        with torch.no_grad():
            if self.batch_value_and_grad is not None:
                v, g = self.batch_value_and_grad(t)
            else:
                g, v = vmap(grad_and_value(self.fn))(t)
        return v.numpy(), g.numpy()

    @forward_mode
    def hessians(self, thetas) -> np.ndarray:
        """Symmetrised exact Hessians ``(K, P, P)`` at ``thetas: (K, P)`` (call in chunks of
        :attr:`hessian_rows` to bound memory)."""
        t = self.points(thetas)
        with torch.no_grad():
            if self.batch_hessian is not None:
                h = self.batch_hessian(t)
            elif self.hessian_rows == 1 and self.point_hessian is not None:
                h = torch.stack([self.point_hessian(p) for p in t])
            else:
                h = vmap(hessian(self.fn))(t)
        return ((h + h.transpose(1, 2)) / 2).numpy()

    def value_grad_hessian(self, theta) -> tuple[float, np.ndarray, np.ndarray]:
        """Value, gradient ``(P,)`` and Hessian ``(P, P)`` at one point ``theta: (P,)``."""
        v, g = self.values_and_grads(theta)
        return float(v[0]), g[0], self.hessians(theta)[0]


_SECOND_DERIVATIVE = {  # sigma'' from s = sigma(z), s1 = sigma'(z) and z
    "sigmoid": lambda s, s1, z: s1 * (1 - 2 * s),
    "tanh": lambda s, s1, z: -2 * s * s1,
    "softplus": lambda s, s1, z: s1 * (1 - s1),
}


def two_layer_hessians(spec: MLPSpec, x: torch.Tensor, y: torch.Tensor
                       ) -> Callable[[torch.Tensor], torch.Tensor]:
    """Exact Hessians ``(K, P, P)`` at ``(K, P)`` points of a one-hidden-layer net, in closed form.

    ``f_o = sum_j A_oj s(u_j . x~) + c_o`` with ``x~ = (x, 1)`` when there are biases; the Hessian of
    the mean squared error is ``(2/N) sum_i [J_i^T J_i + sum_o r_io d^2 f_io]``, whose second part
    only has the blocks ``d^2 f / du_j^2 = A_oj s'' x~ x~^T`` and ``d^2 f / du_j dA_oj = s' x~``.
    An order of magnitude faster than vectorised autograd, which is what makes a Hessian at each of
    Algorithm 1's 1601 points cheap. Samples run along the last axis, so every elementwise step works
    on long contiguous rows; the Jacobian's rows are written in the parameters' order, so ``J^T J`` is
    one batched product, and the second part's ``x~ x~^T`` sums are products with the precomputed
    ``(N, d~^2)`` table of ``x~ x~^T`` rather than with a ``(K, N, m, d~)`` intermediate.
    """
    (w1l, w2l), (n, m, d_out) = spec.layers, (x.shape[0], spec.widths[1], spec.d_out)
    xt = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1) if spec.bias else x   # (N, d~)
    dt = xt.shape[1]
    xs = xt.T.contiguous()                                           # (d~, N)
    x2 = (xt[:, :, None] * xt[:, None, :]).reshape(n, dt * dt)      # (N, d~^2): x~ x~^T per sample
    ys = y.T.contiguous()                                            # (d_out, N)
    iu = torch.arange(w1l.w_start, w1l.w_stop).reshape(m, -1)   # flat index of u_j's entries: (m, d~)
    if spec.bias:
        iu = torch.cat([iu, torch.arange(w1l.b_start, w1l.b_stop)[:, None]], 1)
    ia = torch.arange(w2l.w_start, w2l.w_stop).reshape(d_out, m)
    act, ddact = activation_fn(spec.activation), _SECOND_DERIVATIVE[spec.activation]

    def hessians(theta: torch.Tensor) -> torch.Tensor:
        k, p = theta.shape
        u = theta[:, iu]                                            # (K, m, d~)
        a = theta[:, ia]                                            # (K, d_out, m)
        z = torch.matmul(u, xs)                                     # (K, m, N)
        s = act(z)
        s1 = activation_derivative_from_output(spec.activation, s, z)
        r = torch.bmm(a, s) - ys                                    # (K, d_out, N)
        if spec.bias:
            r = r + theta[:, w2l.b_start:w2l.b_stop][:, :, None]
        # The Jacobian transposed, (K, P, d_out, N), its rows in theta's order.
        jt = theta.new_empty(k, p, d_out, n)
        g = a[:, :, :, None] * s1[:, None, :, :]                    # (K, d_out, m, N): d f_o / d z_j
        rows_u = (g.transpose(1, 2)[:, :, None, :, :] * xs[None, None, :, None, :])   # (K, m, d~, d_out, N)
        jt[:, iu.reshape(-1)] = rows_u.reshape(k, m * dt, d_out, n)
        if d_out > 1 or spec.bias:  # rows of output o's parameters are zero for the other outputs
            jt[:, w2l.w_start:] = 0.0
        for o in range(d_out):
            jt[:, ia[o], o] = s
            if spec.bias:
                jt[:, w2l.b_start + o, o] = 1.0
        jt = jt.reshape(k, p, d_out * n)
        h = torch.bmm(jt, jt.transpose(1, 2))
        rho = torch.bmm(a.transpose(1, 2), r) * ddact(s, s1, z)     # (K, m, N): sum_o r_o A_oj s''_j
        uu = torch.matmul(rho, x2).reshape(k, m, dt, dt)
        h[:, iu[:, :, None], iu[:, None, :]] += uu
        ua = torch.matmul(r[:, :, None, :] * s1[:, None, :, :], xt)  # (K, d_out, m, d~): sum_n r_o s'_j x~
        h[:, iu[None, :, :], ia[:, :, None]] += ua
        h[:, ia[:, :, None], iu[None, :, :]] += ua
        return h * (2.0 / n)

    return hessians


def network_landscape(spec: MLPSpec, x, y) -> Landscape:
    """The loss of ``spec`` on ``x: (N, d)``, ``y: (N, d_out)`` as a :class:`Landscape` (float64).

    Values and gradients come from the explicit back-propagation of :class:`.point_loss.PointLoss`
    (numpy, batched over points); Hessians from :func:`two_layer_hessians` for one hidden layer, else
    from ``torch.func`` on :func:`nets.loss`, vectorised over points when they fit and
    :func:`hessian.hessian_t` (chunked over tangents) otherwise; directional derivatives of one
    hidden layer in closed form (:mod:`.two_layer_jets`).
    """
    _, xt, yt = float64_problem(spec, np.zeros(spec.n_params), x, y)
    point_loss = PointLoss(spec, xt, yt)
    return Landscape(
        fn=lambda t: loss(spec, t, xt, yt),
        n_params=spec.n_params,
        value_scale=float((yt * yt).sum()) / yt.shape[0],
        # primal + tangent of every pre-activation and activation, forward and backward: ~8 (N, width)
        tangent_bytes=8 * 8 * xt.shape[0] * sum(spec.widths[1:]),
        batch_value_and_grad=lambda t: tuple(map(torch.from_numpy, point_loss.many(t.numpy()))),
        batch_hessian=two_layer_hessians(spec, xt, yt) if spec.n_layers == 2 else None,
        point_hessian=lambda t: hessian_t(spec, t, xt, yt),
        batch_directional=((lambda t, u, k: directional(spec, xt, yt, t, u, k)) if spec.n_layers == 2 else None),
        cubic_form=((lambda theta: cubic_form(spec, xt.numpy(), yt.numpy(), theta)) if spec.n_layers == 2 else None),
    )


def decrease_tolerance(landscape: Landscape, value0: float, rel_tol: float = 1e-10,
                       abs_tol: float | None = None) -> float:
    """How far below ``value0`` a value must lie to count as lower (module docstring)."""
    if abs_tol is None:
        abs_tol = 1e-20 * landscape.value_scale
    return rel_tol * abs(value0) + abs_tol


def stop_requested(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def chunk_slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def unit_vector(v: np.ndarray) -> np.ndarray:
    """``v / ||v||`` with the sign making the largest-magnitude entry positive (a reproducible choice
    between the two eigenvectors ``v`` and ``-v``)."""
    v = v / np.linalg.norm(v)
    return v if v[np.argmax(np.abs(v))] >= 0 else -v


__all__ = ["BATCH_BYTES", "SearchProgress", "Landscape", "two_layer_hessians", "network_landscape",
           "decrease_tolerance", "stop_requested", "chunk_slices", "unit_vector"]
