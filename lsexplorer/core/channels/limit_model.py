"""The finite limit model at the end of a flat channel to infinity, and its certified critical point.

In a two-layer net ``f(x) = sum_k a_k sigma(w_k . x)`` a group of neurons whose incoming weights
merge, ``w_k -> u``, while their outgoing weights diverge with cancelling signs computes, in the
limit, the Taylor expansion of ``sigma`` around ``u`` (Martinelli, Van Meegen, Şimşek, Gerstner,
Brea 2025, arXiv 2506.14951). With ``delta_k = w_k - u``

    sum_k a_k sigma(w_k . x) = sum_n (1/n!) sigma^(n)(u . x) sum_k a_k (delta_k . x)^n.

The n-th moment ``T_n = sum_k a_k delta_k^(n)`` must stay finite. For a pair with
``a_{i,j} = c/2 +- A`` and ``delta_{i,j} = +-v / (2A)`` the moments are ``T_0 = c``, ``T_1 = v``,
``T_2 = c v v^T / (4A^2)`` and ``T_3 = v^3 / (4A^2)``, so the pair tends to the *gated linear unit*

    c sigma(u . x) + (v . x) sigma'(u . x)

with an ``O(1/A^2)`` remainder. A larger group whose members are centred on their
``|a|``-weighted mean has the same first two moments, and its higher moments vanish as long as
``|a_k| |delta_k|^2 -> 0``, which the detector (``channels.py``) checks on the network's function.

Three (or more) neurons closing in with outgoing weights ``~A`` and spreads ``~A^(-1/2)`` keep the second
moment: ``T_2 -> M`` finite while ``T_3 ~ A^(-1/2) -> 0``, and the group tends to the *second-order unit*

    c sigma(u . x) + (v . x) sigma'(u . x) + (1/2) sigma''(u . x) x^T M x.

For three neurons ``M`` has rank one: with ``a_k ~ A alpha_k``, ``delta_k ~ p_k / sqrt(A)``, finite
``T_0`` and ``T_1`` force ``sum alpha_k = 0`` and ``sum alpha_k p_k = 0``, an affine dependence of three
points, which are therefore collinear, ``p_k = p + t_k e``, and ``M = (sum alpha_k t_k^2) e e^T``. The
unit's curvature is therefore ``M = s m m^T`` with a sign ``s = +-1`` fixed by the structure and ``m``
free. The symmetric stencil ``a = (s A, c - 2 s A, s A)`` at ``w = u + v/(2 s A) +- m / sqrt(2A)`` and
``w = u`` realises it with an ``O(1/A)`` remainder (odd moments of the stencil cancel). Outgoing weights of
order ``A`` turn that remainder into an ``O(1)`` gradient on the members' incoming vectors, so the plain stencil's
``||grad L||`` does not vanish; :mod:`.channel_polish` moves the limit point by ``O(1/A)`` at each amplitude so
that it does (like ``A^(-2)``).

When the gate is ``u = 0`` the unit is affine, ``c sigma(0) + sigma'(0) (v . x)``; the same holds for
a lone neuron with ``w -> 0`` and ``|a| -> inf`` (``a sigma(0) + sigma'(0) a (w . x)``, the cubic
term ``a |w|^3 -> 0``; ``sigma''(0) = 0`` for the sigmoid). Its diverging constant must cancel
against others: for the sigmoid, ``sigma(-z) = 1 - sigma(z)``, so a neuron ``(w, a)`` equals
``(-w, -a)`` plus the constant ``a``, and groups may merge neurons of opposite orientation. Such
groups make the output's constant term (and, with an affine group, its linear term) free
parameters of the limit even though the net has no biases.

The limit model is therefore

    g(x) = sum_{finite k} a_k sigma(w_k . x) + sum_g [c_g sigma(u_g . x) + (v_g . x) sigma'(u_g . x)]
           + sum_q [c_q sigma(u_q . x) + (v_q . x) sigma'(u_q . x) + (s_q/2) sigma''(u_q . x) (m_q . x)^2]
           + b + l . x

with ``b`` present iff :attr:`LimitStructure.constant` and ``l`` iff :attr:`LimitStructure.linear`, and
one second-order unit ``q`` per sign in :attr:`LimitStructure.second_order`.
Flat layout of its parameters ``phi``: ``W (F, d)`` row-major, ``a (F,)``, ``U (G, d)``,
``C (G,)``, ``V (G, d)``, then (``S`` second-order units) ``U2 (S, d)``, ``C2 (S,)``, ``V2 (S, d)``,
``M2 (S, d)``, then ``b`` and ``l (d,)`` when present. Everything is float64; the
gradient and the exact Hessian come from torch autograd.
"""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import scipy.optimize
import torch

from ..base.record import Record
from ..base.refined import RefinedPoint, Stage, StageEnd, Status
from ..landscape import symmetric_eigen

_EPS = float(np.finfo(np.float64).eps)

#: sigma(0) and sigma'(0) of the activations the limit model supports (the affine limit's coefficients).
AT_ZERO = {"sigmoid": (0.5, 0.25), "tanh": (0.0, 1.0), "softplus": (math.log(2.0), 0.5)}


@dataclasses.dataclass(frozen=True)
class LimitStructure(Record):
    """Shape of a limit model: ``d`` inputs, ``n_finite`` neurons, ``n_glu`` gated linear units,
    whether the constant ``b`` and the linear term ``l . x`` are free parameters, and the second-order
    units as the signs ``s_q`` of their curvatures, one character ``+`` or ``-`` each (None: there are
    none; left out of the stored dict). A tuple of +-1 is accepted and stored as that string."""

    tagged = False
    what = "limit-model structure fields"
    omit_none = True

    d: int
    activation: str
    n_finite: int
    n_glu: int
    constant: bool
    linear: bool
    second_order: str | None = None

    def __post_init__(self) -> None:
        if self.activation not in AT_ZERO:
            raise ValueError(f"no limit model for activation {self.activation!r}")
        if self.second_order is not None:
            given = self.second_order
            signs = given if isinstance(given, str) else "".join("+" if int(v) == 1 else "-" if int(v) == -1 else "?"
                                                                 for v in given)
            if not signs or set(signs) - {"+", "-"}:
                raise ValueError(f"second-order signs must be '+' or '-', one per unit: {given!r}")
            object.__setattr__(self, "second_order", signs)

    @property
    def curvature_signs(self) -> tuple[int, ...]:
        """``s_q`` of each second-order unit, +1 or -1."""
        return tuple(1 if c == "+" else -1 for c in self.second_order or "")

    @property
    def n_second(self) -> int:
        """The number of second-order units."""
        return len(self.second_order or "")

    @property
    def n_params(self) -> int:
        return (self.n_finite * (self.d + 1) + self.n_glu * (2 * self.d + 1) + self.n_second * (3 * self.d + 1)
                + int(self.constant) + self.d * self.linear)


@dataclasses.dataclass
class LimitParams:
    """The parameters of a limit model as arrays: ``w (F, d)``, ``a (F,)``, ``u (G, d)``, ``c (G,)``,
    ``v (G, d)``, ``b`` (0.0 when absent), ``l (d,)`` (zeros when absent), and the second-order units'
    ``u2 (S, d)``, ``c2 (S,)``, ``v2 (S, d)``, ``m2 (S, d)`` (curvature ``s_q m_q m_q^T``; None when absent)."""

    w: np.ndarray
    a: np.ndarray
    u: np.ndarray
    c: np.ndarray
    v: np.ndarray
    b: float
    l: np.ndarray
    u2: np.ndarray | None = None
    c2: np.ndarray | None = None
    v2: np.ndarray | None = None
    m2: np.ndarray | None = None


def pack(structure: LimitStructure, p: LimitParams) -> np.ndarray:
    """The flat vector ``phi (Q,)`` of ``p`` (module docstring for the layout)."""
    parts = [np.ravel(p.w), np.ravel(p.a), np.ravel(p.u), np.ravel(p.c), np.ravel(p.v)]
    if structure.n_second:
        parts += [np.ravel(p.u2), np.ravel(p.c2), np.ravel(p.v2), np.ravel(p.m2)]
    if structure.constant:
        parts.append([p.b])
    if structure.linear:
        parts.append(np.ravel(p.l))
    phi = np.concatenate([np.asarray(x, dtype=np.float64) for x in parts])
    if phi.size != structure.n_params:
        raise ValueError(f"parameters do not fit the structure: {phi.size} values for {structure.n_params}")
    return phi


def unpack(structure: LimitStructure, phi) -> LimitParams:
    """Inverse of :func:`pack`; works on numpy arrays and (for autograd) torch tensors."""
    d, F, G = structure.d, structure.n_finite, structure.n_glu
    i = 0

    def take(n: int):
        nonlocal i
        out = phi[i:i + n]
        i += n
        return out

    w = take(F * d).reshape(F, d)
    a = take(F)
    u = take(G * d).reshape(G, d)
    c = take(G)
    v = take(G * d).reshape(G, d)
    S = structure.n_second
    second = (take(S * d).reshape(S, d), take(S), take(S * d).reshape(S, d), take(S * d).reshape(S, d)) if S else ()
    b = take(1)[0] if structure.constant else 0.0
    if structure.linear:
        lin = take(d)
    else:
        lin = np.zeros(d) if isinstance(phi, np.ndarray) else torch.zeros(d, dtype=phi.dtype)
    return LimitParams(w, a, u, c, v, b, lin, *second)


def _act(name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sigma(z)`` and ``sigma'(z)`` as differentiable torch expressions."""
    return _act2(name, z)[:2]


def _act2(name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``sigma(z)``, ``sigma'(z)`` and ``sigma''(z)`` as differentiable torch expressions."""
    if name == "sigmoid":
        s = torch.sigmoid(z)
        ds = s * (1.0 - s)
        return s, ds, ds * (1.0 - 2.0 * s)
    if name == "tanh":
        t = torch.tanh(z)
        dt = 1.0 - t * t
        return t, dt, -2.0 * t * dt
    s = torch.sigmoid(z)
    return torch.nn.functional.softplus(z), s, s * (1.0 - s)


def limit_output(structure: LimitStructure, phi: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``g(x)`` of the limit model at ``phi (Q,)`` for inputs ``x (N, d)``: ``(N,)``."""
    p = unpack(structure, phi)
    out = torch.zeros(x.shape[0], dtype=x.dtype)
    if structure.n_finite:
        out = out + _act(structure.activation, x @ p.w.T)[0] @ p.a
    if structure.n_glu:
        s, ds = _act(structure.activation, x @ p.u.T)
        out = out + s @ p.c + ((x @ p.v.T) * ds).sum(dim=1)
    if structure.n_second:
        s, ds, d2s = _act2(structure.activation, x @ p.u2.T)
        signs = torch.tensor(structure.curvature_signs, dtype=x.dtype)
        out = out + s @ p.c2 + ((x @ p.v2.T) * ds).sum(dim=1) + 0.5 * (d2s * (x @ p.m2.T) ** 2) @ signs
    if structure.constant:
        out = out + p.b
    if structure.linear:
        out = out + x @ p.l
    return out


def unit_output(activation: str, u, c: float, v, x) -> np.ndarray:
    """One gated linear unit ``c sigma(u . x) + (v . x) sigma'(u . x)`` at ``x (N, d)``: ``(N,)``."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    s, ds = _act(activation, xt @ torch.as_tensor(np.asarray(u, dtype=np.float64)))
    return (c * s + (xt @ torch.as_tensor(np.asarray(v, dtype=np.float64))) * ds).numpy()


def group_output(structure: LimitStructure, phi, group: int, x) -> np.ndarray:
    """The limit of unit ``group`` at ``x (N, d)``: ``(N,)``; units ``0 .. n_glu - 1`` are the gated linear
    units, then come the second-order units."""
    p = unpack(structure, np.asarray(phi, dtype=np.float64))
    if group < structure.n_glu:
        return unit_output(structure.activation, p.u[group], float(p.c[group]), p.v[group], x)
    q = group - structure.n_glu
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    s, ds, d2s = _act2(structure.activation, xt @ torch.as_tensor(p.u2[q]))
    curvature = 0.5 * structure.curvature_signs[q] * d2s * (xt @ torch.as_tensor(p.m2[q])) ** 2
    return (float(p.c2[q]) * s + (xt @ torch.as_tensor(p.v2[q])) * ds + curvature).numpy()


def limit_loss_t(structure: LimitStructure, phi: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The mean squared error ``(1/N) sum_i (g(x_i) - y_i)^2`` as a torch scalar; ``y (N,)``."""
    r = limit_output(structure, phi, x) - y
    return (r * r).mean()


def limit_loss_grad_hessian(structure: LimitStructure, phi, x, y) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, gradient ``(Q,)`` and exact Hessian ``(Q, Q)`` of the limit model, float64 autograd."""
    xt, yt = _data(x, y)
    t = torch.as_tensor(np.asarray(phi, dtype=np.float64))
    f = lambda p: limit_loss_t(structure, p, xt, yt)
    value = f(t)
    return float(value), _grad(f, t).numpy(), _hessian(f, t).numpy()


def _grad(f, t: torch.Tensor) -> torch.Tensor:
    t = t.detach().requires_grad_(True)
    return torch.autograd.grad(f(t), t)[0].detach()


def _hessian(f, t: torch.Tensor) -> torch.Tensor:
    # torch.autograd rather than torch.func: the latter costs seconds on its first call.
    return torch.autograd.functional.hessian(f, t.detach())


def _data(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.float64)).reshape(-1)
    return xt, yt


def refine_limit(structure: LimitStructure, phi0, x, y, max_iter: int = 60, newton_iter: int = 30,
                 stop: threading.Event | None = None) -> RefinedPoint:
    """Minimise the limit model from ``phi0`` (trust region with the exact Hessian), then polish.

    The result's ``theta`` is the refined ``phi (Q,)``, its ``loss`` ``L_inf``, ``eigvals (Q,)``
    ascending; its stages read ``"trust:converged|stopped+newton:<status>"``.

    The polish is Newton on ``grad = 0`` damped in the Hessian's eigenbasis (as in ``refine.py``)
    and stops once ``||grad|| <= max|lam| * eps * ||phi||``, the float64 floor. A set ``stop`` skips
    what is left.
    """
    xt, yt = _data(x, y)
    f = lambda p: limit_loss_t(structure, p, xt, yt)

    def grad_f(t):
        return _grad(f, t)

    def hess_f(t):
        return _hessian(f, t)

    def fun(p):
        return float(f(torch.from_numpy(p)))

    def jac(p):
        return grad_f(torch.from_numpy(p)).numpy()

    def hess(p):
        return hess_f(torch.from_numpy(p)).numpy()

    phi = np.array(phi0, dtype=np.float64)
    stages = []
    if stop is None or not stop.is_set():
        res = scipy.optimize.minimize(fun, phi, jac=jac, hess=hess, method="trust-exact",
                                      options={"gtol": 1e-12, "maxiter": max_iter})
        if np.isfinite(res.x).all() and res.fun <= fun(phi):
            phi = res.x
        stages.append(StageEnd(Stage.TRUST, Status.CONVERGED if res.success else Status.STOPPED))
    value, g = fun(phi), jac(phi)
    gnorm = float(np.linalg.norm(g))
    why, iterations = Status.MAX_ITER, 0
    mu = 0.0
    for _ in range(newton_iter):
        if stop is not None and stop.is_set():
            why = Status.CANCELLED
            break
        lam, vecs = symmetric_eigen.eigh(hess(phi))
        iterations += 1  # exact Hessians of the polish
        scale = float(np.abs(lam).max())
        if gnorm <= scale * _EPS * max(float(np.linalg.norm(phi)), 1.0):
            why = Status.GRAD_CONVERGED
            break
        coef = vecs.T @ g
        mu = max(mu / 100.0, (1e-10 * scale) ** 2)
        while True:
            candidate = phi - vecs @ (lam * coef / (lam * lam + mu))
            if np.linalg.norm(candidate - phi) <= _EPS * np.linalg.norm(phi):
                why = Status.STALLED
                break
            g_new = jac(candidate)
            n_new = float(np.linalg.norm(g_new))
            if math.isfinite(n_new) and n_new < gnorm:
                phi, g, gnorm = candidate, g_new, n_new
                break
            mu = max(mu * 100.0, scale * scale * _EPS)
        if why is Status.STALLED:
            break
    stages.append(StageEnd(Stage.NEWTON, why))
    value = fun(phi)
    eigvals = symmetric_eigen.eigvalsh(hess(phi))
    return RefinedPoint(phi, value, gnorm, iterations, why, Stage.NEWTON, stages, eigvals=eigvals)


def realise(structure: LimitStructure, phi, amplitude: float) -> np.ndarray:
    """A two-layer network point on the channel towards ``phi``, outgoing weights ``+-amplitude``.

    Neurons: the finite ones, then each unit as the pair ``a = c/2 +- A``, ``w = u +- v/(2A)``, then
    each second-order unit as the triple ``a = (s A, c - 2 s A, s A)``,
    ``w = (u + v/(2 s A) + m / sqrt(2A), u, u + v/(2 s A) - m / sqrt(2A))`` (module docstring), then
    (when ``b`` or ``l`` is free) an affine pair at ``w = +-l / (2 A sigma'(0))`` with
    ``a = b / (2 sigma(0)) +- A``. The returned ``theta`` is in the network layout
    ``(w_1, ..., w_m, a_1, ..., a_m)`` with ``m`` = :func:`realised_width`; its function differs
    from the limit by ``O(1/A^2)`` (``O(1/A)`` with second-order units, whose networks' gradient then stays of
    order one: :func:`.channel_polish.polish_on_channel` corrects them).
    """
    p = unpack(structure, np.asarray(phi, dtype=np.float64))
    A = float(amplitude)
    ws, as_ = [p.w], [p.a]
    for u, c, v in zip(p.u, p.c, p.v):
        ws.append(np.stack([u + v / (2 * A), u - v / (2 * A)]))
        as_.append(np.array([c / 2 + A, c / 2 - A]))
    for q, sign in enumerate(structure.curvature_signs):
        u, c, v, m = p.u2[q], p.c2[q], p.v2[q], p.m2[q]
        ws.append(second_order_triple(u, v, m, sign, A))
        as_.append(np.array([sign * A, c - 2 * sign * A, sign * A]))
    if structure.constant or structure.linear:
        s0, ds0 = AT_ZERO[structure.activation]
        if structure.constant and s0 == 0.0:
            raise ValueError(f"a {structure.activation} net cannot realise a free constant")
        half = p.b / (2 * s0) if structure.constant else 0.0
        delta = p.l / (2 * A * ds0)
        ws.append(np.stack([delta, -delta]))
        as_.append(np.array([half + A, half - A]))
    return np.concatenate([np.concatenate(ws).ravel(), np.concatenate(as_)])


def second_order_triple(u, v, m, sign: int, amplitude: float) -> np.ndarray:
    """Incoming vectors ``(3, d)`` of the stencil that realises a second-order unit at outgoing weights
    ``(s A, c - 2 s A, s A)`` (:func:`realise`)."""
    shift = np.asarray(v, dtype=np.float64) / (2 * sign * amplitude)
    spread = np.asarray(m, dtype=np.float64) / math.sqrt(2 * amplitude)
    u = np.asarray(u, dtype=np.float64)
    return np.stack([u + shift + spread, u, u + shift - spread])


def realised_width(structure: LimitStructure) -> int:
    """Hidden width of the networks :func:`realise` builds."""
    return (structure.n_finite + 2 * structure.n_glu + 3 * structure.n_second
            + 2 * int(structure.constant or structure.linear))


__all__ = [
    "AT_ZERO",
    "LimitParams",
    "LimitStructure",
    "group_output",
    "limit_loss_grad_hessian",
    "limit_loss_t",
    "limit_output",
    "pack",
    "realise",
    "realised_width",
    "refine_limit",
    "second_order_triple",
    "unit_output",
    "unpack",
]
