"""The population loss of two-layer ReLU students against a ReLU teacher under Gaussian inputs.

For a student ``W = (w_1, ..., w_n)`` and a teacher ``V = (v_1, ..., v_k)`` (rows in ``R^d``) with all
output weights fixed to 1, the loss is the expectation over ``x ~ N(0, I_d)``

    F(W) = E[(sum_i relu(w_i.x) - sum_j relu(v_j.x))^2]
         = sum_ij f(w_i, w_j) - 2 sum_ij f(w_i, v_j) + sum_ij f(v_i, v_j),

with the arc-cosine kernel of degree 1 (Cho & Saul 2009)

    f(a, b) = E[relu(a.x) relu(b.x)] = |a| |b| (sin t + (pi - t) cos t) / (2 pi),   t = angle(a, b).

Safran & Shamir (ICML 2018, "Spurious local minima are common in two-layer ReLU neural networks")
minimise ``F / 2``; here ``F`` follows the project's convention (mean squared error without the 1/2),
so their objective values and Hessian eigenvalues are half of ours.

Derivatives (``u = a/|a|``, ``z = b/|b|``, ``c = cos t``, ``s = sin t``, ``r_a = z - c u``, ``r_b = u - c z``,
both of norm ``s``):

    d f / d a        = (|b| s u + (pi - t) b) / (2 pi)
    d2 f / d a2      = |b| / (2 pi |a|) * (s (I - u u^T) + r_a r_a^T / s)
    d2 f / d a d b^T = ((pi - t) I + s u z^T + r_a r_b^T / s) / (2 pi)

Written with ``r r^T / s`` (norm ``s``) every term is continuous as ``t -> 0`` or ``t -> pi``, where the
kernel is twice (not three times) differentiable; the loss is not differentiable where some ``w_i = 0``,
which :meth:`ReluGaussian.neuron_norms` lets a caller detect. A flat parameter vector is ``theta = W.ravel()``,
``P = n d``: neuron ``i`` holds ``theta[i d:(i + 1) d]``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ..landscape.surface import Landscape

TWO_PI = 2.0 * math.pi


def identity_teacher(k: int, d: int | None = None) -> np.ndarray:
    """Safran & Shamir's teacher: ``v_j = e_j`` in ``R^d`` (``d = k`` by default), ``(k, d)``."""
    d = k if d is None else d
    if not 1 <= k <= d:
        raise ValueError(f"an orthonormal teacher of {k} neurons needs 1 <= k <= d, got d = {d}")
    return np.eye(k, d)


def _geometry(a: torch.Tensor, b: torch.Tensor, robust: bool):
    """Norms, unit vectors, cos, sin and angle of every pair of rows of ``a (S, n, d)``, ``b (S, m, d)``.

    ``robust`` takes ``sin t`` as ``|z - c u|`` (exact to rounding for nearly parallel pairs, at the cost
    of an ``(S, n, m, d)`` temporary); otherwise ``t = arccos(c)``, whose error near ``t = 0`` is
    ``sqrt(eps)``. Returns ``na (S, n)``, ``nb (S, m)``, ``u (S, n, d)``, ``z (S, m, d)``, ``c``, ``s``,
    ``t`` (each ``(S, n, m)``) and ``r_a = z - c u`` ``(S, n, m, d)`` when robust, else None.
    """
    na, nb = a.norm(dim=-1), b.norm(dim=-1)
    u = a / na.clamp_min(torch.finfo(a.dtype).tiny)[..., None]
    z = b / nb.clamp_min(torch.finfo(b.dtype).tiny)[..., None]
    c = (u @ z.transpose(-1, -2)).clamp(-1.0, 1.0)
    if robust:
        r_a = z[:, None, :, :] - c[..., None] * u[:, :, None, :]
        s = r_a.norm(dim=-1)
        t = torch.atan2(s, c)
    else:
        r_a = None
        t = torch.arccos(c)
        s = torch.sin(t)
    return na, nb, u, z, c, s, t, r_a


@dataclasses.dataclass(frozen=True)
class ReluGaussian:
    """The population landscape of ``n`` ReLU students against the teacher ``teacher (k, d)``.

    All methods take ``theta (S, P)`` (numpy or torch, ``P = n d``) and compute in float64.
    """

    teacher: np.ndarray
    n: int

    def __post_init__(self) -> None:
        v = np.array(self.teacher, dtype=np.float64, ndmin=2)
        if v.ndim != 2 or not np.isfinite(v).all():
            raise ValueError(f"teacher must be a finite (k, d) array, got shape {v.shape}")
        if int(self.n) < 1:
            raise ValueError(f"the student needs at least one neuron, got n = {self.n}")
        object.__setattr__(self, "teacher", v)
        object.__setattr__(self, "n", int(self.n))

    @property
    def k(self) -> int:
        return self.teacher.shape[0]

    @property
    def d(self) -> int:
        return self.teacher.shape[1]

    @property
    def n_params(self) -> int:
        return self.n * self.d

    @property
    def target_second_moment(self) -> float:
        """``E[y^2]`` of the teacher's output: the loss of the zero student."""
        v = torch.from_numpy(self.teacher)[None]
        return float(_pair_sum(v, v, robust=True)[0])

    def _w(self, theta) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(theta) if not isinstance(theta, torch.Tensor) else theta)
        t = t.to(torch.float64)
        if t.ndim == 1:
            t = t[None]
        if t.ndim != 2 or t.shape[1] != self.n_params:
            raise ValueError(f"theta must have shape (S, {self.n_params}) for n = {self.n}, d = {self.d}, "
                             f"got {tuple(t.shape)}")
        return t.reshape(t.shape[0], self.n, self.d)

    def _v(self, s: int) -> torch.Tensor:
        return torch.from_numpy(self.teacher)[None].expand(s, self.k, self.d)

    def loss(self, theta, robust: bool = True) -> torch.Tensor:
        """``F(theta)`` for every row: ``(S,)``."""
        w = self._w(theta)
        v = self._v(w.shape[0])
        return (_pair_sum(w, w, robust) - 2.0 * _pair_sum(w, v, robust)
                + self.target_second_moment).clamp_min(0.0)

    def loss_and_grad(self, theta, robust: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``F`` ``(S,)`` and its gradient ``(S, P)``.

        ``robust=False`` is the fast path for training: student pairs' angles come from ``arccos``
        (``sqrt(eps)`` accurate only for nearly parallel pairs), each neuron's own pair exactly.
        """
        w = self._w(theta)
        s_rows = w.shape[0]
        v = self._v(s_rows)
        value_ww, grad_ww = _pair_sum_and_grad(w, w, robust, same=True)
        value_wv, grad_wv = _pair_sum_and_grad(w, v, robust, same=False)
        value = (value_ww - 2.0 * value_wv + self.target_second_moment).clamp_min(0.0)
        grad = 2.0 * (grad_ww - grad_wv)
        return value, grad.reshape(s_rows, self.n_params)

    def hessian(self, theta) -> torch.Tensor:
        """The exact Hessian ``(S, P, P)`` in closed form (module docstring)."""
        w = self._w(theta)
        s_rows, n, d = w.shape
        v = self._v(s_rows)
        eye = torch.eye(d, dtype=torch.float64)
        # Mixed blocks d2 F / dw_i dw_j^T = 2 d2 f(w_i, w_j) / da db^T (i != j).
        nw, _, u, _, _, s, t, r_a = _geometry(w, w, robust=True)
        r_b = r_a.transpose(1, 2)                       # r_b[i, j] = u_i - c_ij u_j = r_a[j, i]
        inv_s = torch.where(s > 0, 1.0 / s.clamp_min(1e-300), torch.zeros_like(s))
        mixed = ((math.pi - t)[..., None, None] * eye
                 + s[..., None, None] * u[:, :, None, :, None] * u[:, None, :, None, :]
                 + inv_s[..., None, None] * r_a[..., :, None] * r_b[..., None, :]) * (2.0 / TWO_PI)
        # Diagonal blocks: I from f(w_i, w_i), plus 2 d2 f / da2 over other students, minus over teachers.
        curv_ww = _curvature(nw, nw, u, s, inv_s, r_a)  # (S, n, n, d, d)
        idx = torch.arange(n)
        curv_ww[:, idx, idx] = 0.0
        nw2, nv, u2, _, _, s2, _, r_a2 = _geometry(w, v, robust=True)
        inv_s2 = torch.where(s2 > 0, 1.0 / s2.clamp_min(1e-300), torch.zeros_like(s2))
        curv_wv = _curvature(nw2, nv, u2, s2, inv_s2, r_a2)
        diag = eye + 2.0 * curv_ww.sum(dim=2) - 2.0 * curv_wv.sum(dim=2)
        mixed[:, idx, idx] = diag
        return mixed.permute(0, 1, 3, 2, 4).reshape(s_rows, n * d, n * d)

    def neuron_norms(self, theta) -> np.ndarray:
        """``|w_i|`` of every neuron of every row ``(S, n)``: where one is 0 the loss is not differentiable."""
        return self._w(theta).norm(dim=-1).numpy()


def _pair_sum(a: torch.Tensor, b: torch.Tensor, robust: bool) -> torch.Tensor:
    """``sum_ij f(a_i, b_j)`` per row ``(S,)``."""
    na, nb, _, _, c, s, t, _ = _geometry(a, b, robust)
    kernel = na[..., :, None] * nb[..., None, :] * (s + (math.pi - t) * c) / TWO_PI
    return kernel.sum(dim=(-1, -2))


def _pair_sum_and_grad(a: torch.Tensor, b: torch.Tensor, robust: bool, same: bool
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``sum_ij f(a_i, b_j)`` ``(S,)`` and ``sum_j df(a_i, b_j)/da_i`` ``(S, n, d)``.

    ``same`` marks ``b is a``: each row's own pair then has ``t = 0`` exactly.
    """
    na, nb, u, _, c, s, t, _ = _geometry(a, b, robust)
    if same:
        idx = torch.arange(a.shape[1])
        c, s, t = c.clone(), s.clone(), t.clone()
        c[:, idx, idx], s[:, idx, idx], t[:, idx, idx] = 1.0, 0.0, 0.0
    kernel = na[..., :, None] * nb[..., None, :] * (s + (math.pi - t) * c) / TWO_PI
    grad = ((s * nb[..., None, :]).sum(dim=-1)[..., None] * u + (math.pi - t) @ b) / TWO_PI
    return kernel.sum(dim=(-1, -2)), grad


def _curvature(na, nb, u, s, inv_s, r_a) -> torch.Tensor:
    """``d2 f(a_i, b_j) / da_i^2`` for every pair: ``(S, n, m, d, d)``."""
    d = u.shape[-1]
    eye = torch.eye(d, dtype=u.dtype)
    proj = eye - u[..., :, None] * u[..., None, :]                        # (S, n, d, d)
    scale = nb[..., None, :] / (TWO_PI * na[..., :, None].clamp_min(torch.finfo(u.dtype).tiny))
    return scale[..., None, None] * (s[..., None, None] * proj[:, :, None]
                                     + inv_s[..., None, None] * r_a[..., :, None] * r_a[..., None, :])


def population_landscape(problem: ReluGaussian) -> Landscape:
    """``F`` as a :class:`~lsexplorer.core.landscape.surface.Landscape`, for the searches that take one
    (escape directions, slices): exact values, gradients and closed-form Hessians, batched."""
    def value(t: torch.Tensor) -> torch.Tensor:
        return problem.loss(t.reshape(1, -1))[0]

    return Landscape(fn=value, n_params=problem.n_params, value_scale=problem.target_second_moment,
                     tangent_bytes=8 * 8 * problem.n * (problem.n + problem.k) * problem.d,
                     batch_value_and_grad=problem.loss_and_grad, batch_hessian=problem.hessian,
                     point_hessian=lambda t: problem.hessian(t.reshape(1, -1))[0])


def monte_carlo_loss(problem: ReluGaussian, theta, n_samples: int, seed: int = 0,
                     chunk: int = 250_000) -> tuple[float, float]:
    """A sample estimate of ``F(theta)`` for one point ``theta (P,)`` and its standard error.

    Draws ``n_samples`` inputs ``x ~ N(0, I_d)`` in chunks of ``chunk`` (memory stays ``O(chunk (n + k))``).
    """
    w = problem._w(theta)[0]
    v = torch.from_numpy(problem.teacher)
    gen = torch.Generator().manual_seed(int(seed))
    total, total_sq, done = 0.0, 0.0, 0
    while done < n_samples:
        m = min(chunk, n_samples - done)
        x = torch.randn(m, problem.d, generator=gen, dtype=torch.float64)
        err = torch.relu(x @ w.T).sum(dim=1) - torch.relu(x @ v.T).sum(dim=1)
        sq = err * err
        total += float(sq.sum())
        total_sq += float((sq * sq).sum())
        done += m
    mean = total / n_samples
    var = max(total_sq / n_samples - mean * mean, 0.0)
    return mean, math.sqrt(var / n_samples)


def xavier_normal(n: int, d: int, seeds) -> np.ndarray:
    """Glorot-normal students, one per seed: ``w_ij ~ N(0, 2 / (d + n))``, returned flat ``(S, n d)``.

    For ``n = d = k`` this is ``N(0, 1/k)``, the initialisation in Safran & Shamir's published code.
    """
    std = math.sqrt(2.0 / (d + n))
    rows = [np.random.default_rng(int(seed)).normal(0.0, std, size=n * d) for seed in seeds]
    return np.array(rows, dtype=np.float64).reshape(len(rows), n * d)


__all__ = ["ReluGaussian", "identity_teacher", "monte_carlo_loss", "population_landscape", "xavier_normal"]
