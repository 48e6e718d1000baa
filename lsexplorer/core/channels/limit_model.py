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

Four or more neurons can keep a curvature of higher rank: ``k`` members give ``M = sum alpha_k p_k p_k^T`` with
``alpha`` orthogonal to ``1`` and to the points' coordinates, a quadratic form of rank at most ``k - 2`` (and at
most ``d``). Such a unit's curvature is ``M = sum_j s_j m_j m_j^T`` over ``r`` terms with a signature fixed by the
structure (``[++]``, ``[+-]``, ...) and a lower trapezoidal factor (row ``j`` zero in its first ``j`` entries, so
that no continuous change of the rows keeps ``M``). :func:`second_order_stencil` realises it with ``r + 2``
neurons: each sign's rows spread over a regular simplex. Stencils that are not symmetric about ``u`` (``[++]``:
a triangle about its centre, which four neurons cannot avoid) keep a third moment of order ``A^(-1/2)``.

When the gate is ``u = 0`` the unit is affine, ``c sigma(0) + sigma'(0) (v . x)``; the same holds for
a lone neuron with ``w -> 0`` and ``|a| -> inf`` (``a sigma(0) + sigma'(0) a (w . x)``, the cubic
term ``a |w|^3 -> 0``; ``sigma''(0) = 0`` for the sigmoid). Its diverging constant must cancel
against others: for the sigmoid, ``sigma(-z) = 1 - sigma(z)``, so a neuron ``(w, a)`` equals
``(-w, -a)`` plus the constant ``a``, and groups may merge neurons of opposite orientation. Such
groups make the output's constant term (and, with an affine group, its linear term) free
parameters of the limit even though the net has no biases.

The limit model is therefore

    g(x) = sum_{finite k} a_k sigma(w_k . x) + sum_g [c_g sigma(u_g . x) + (v_g . x) sigma'(u_g . x)]
           + sum_q [c_q sigma(u_q . x) + (v_q . x) sigma'(u_q . x) + (1/2) sigma''(u_q . x) x^T M_q x]
           + b + l . x

with ``b`` present iff :attr:`LimitStructure.constant` and ``l`` iff :attr:`LimitStructure.linear`, and
one second-order unit ``q`` per code of :attr:`LimitStructure.second_order` (``M_q = s_q m_q m_q^T`` for
``+`` or ``-``). Flat layout of its parameters ``phi``: ``W (F, d)`` row-major, ``a (F,)``, ``U (G, d)``,
``C (G,)``, ``V (G, d)``, then (``S`` second-order units) ``U2 (S, d)``, ``C2 (S,)``, ``V2 (S, d)``, then
each unit's curvature rows, row ``j`` of a unit without its ``j`` leading zeros (``M2 (S, d)`` when all have
rank one), then ``b`` and ``l (d,)`` when present. Everything is float64; the
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


def _unit_codes(text: str) -> list[str]:
    """The units of a stored ``second_order`` string: ``"+"``, ``"-"`` or a bracketed signature like ``"[+-]"``."""
    units, i = [], 0
    while i < len(text):
        if text[i] in "+-":
            units.append(text[i])
            i += 1
            continue
        end = text.find("]", i)
        body = text[i + 1:end] if text[i] == "[" and end > i else ""
        if len(body) < 2 or set(body) - {"+", "-"}:
            raise ValueError(f"second-order units must be '+', '-' or a bracketed signature like '[+-]': {text!r}")
        units.append(text[i:end + 1])
        i = end + 1
    return units


def second_order_code(signatures) -> str:
    """The stored ``second_order`` string of units given as signs +-1 (rank one) or tuples of signs."""
    return "".join(_unit_code(v) for v in signatures)


def _unit_code(signature) -> str:
    signs = [int(v) for v in (signature if isinstance(signature, (tuple, list)) else (signature,))]
    if not signs or set(signs) - {1, -1}:
        raise ValueError(f"second-order signs must be +1 or -1: {signature!r}")
    text = "".join("+" if v == 1 else "-" for v in signs)
    return text if len(text) == 1 else f"[{text}]"


@dataclasses.dataclass(frozen=True)
class LimitStructure(Record):
    """Shape of a limit model: ``d`` inputs, ``n_finite`` neurons, ``n_glu`` gated linear units,
    whether the constant ``b`` and the linear term ``l . x`` are free parameters, and the second-order
    units (None: there are none; left out of the stored dict).

    ``second_order`` holds one code per unit: ``+`` or ``-`` for a curvature ``s m m^T`` of rank one, a
    bracketed signature such as ``[++]`` or ``[+-]`` for a curvature ``sum_j s_j m_j m_j^T`` of higher rank.
    A tuple with one entry per unit (a sign +-1, or a tuple of signs) is accepted and stored as that string.
    """

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
            codes = _unit_codes(given) if isinstance(given, str) else [_unit_code(v) for v in given]
            if not codes:
                raise ValueError(f"second-order units need at least one sign: {given!r}")
            object.__setattr__(self, "second_order", "".join(codes))
            if max(len(sig) for sig in self.signatures) > self.d:
                raise ValueError(f"a curvature of rank above the input dimension {self.d}: {given!r}")

    @property
    def signatures(self) -> tuple[tuple[int, ...], ...]:
        """The signs ``s_j`` of each second-order unit's curvature terms, one tuple per unit."""
        return tuple(tuple(1 if c == "+" else -1 for c in code.strip("[]"))
                     for code in _unit_codes(self.second_order or ""))

    @property
    def curvature_signs(self) -> tuple[int, ...]:
        """``s_j`` of every curvature term, the units' terms in order (one per unit when all have rank one)."""
        return tuple(s for sig in self.signatures for s in sig)

    @property
    def curvature_owner(self) -> tuple[int, ...]:
        """The second-order unit each curvature term belongs to."""
        return tuple(q for q, sig in enumerate(self.signatures) for _ in sig)

    @property
    def n_second(self) -> int:
        """The number of second-order units."""
        return len(self.signatures)

    @property
    def n_curvature_params(self) -> int:
        """Free entries of the curvature rows: term ``j`` of a unit has ``d - j`` (its first ``j`` are zero)."""
        return sum(self.d - j for sig in self.signatures for j in range(len(sig)))

    @property
    def unit_sizes(self) -> tuple[int, ...]:
        """Neurons that realise each unit: 2 per gated linear unit, rank + 2 per second-order unit."""
        return (2,) * self.n_glu + tuple(len(sig) + 2 for sig in self.signatures)

    @property
    def n_params(self) -> int:
        return (self.n_finite * (self.d + 1) + self.n_glu * (2 * self.d + 1) + self.n_second * (2 * self.d + 1)
                + self.n_curvature_params + int(self.constant) + self.d * self.linear)


@dataclasses.dataclass
class LimitParams:
    """The parameters of a limit model as arrays: ``w (F, d)``, ``a (F,)``, ``u (G, d)``, ``c (G,)``,
    ``v (G, d)``, ``b`` (0.0 when absent), ``l (d,)`` (zeros when absent), and the second-order units'
    ``u2 (S, d)``, ``c2 (S,)``, ``v2 (S, d)`` and curvature rows ``m2 (R, d)``, the units' rows in order
    (unit ``q``'s curvature is ``sum_j s_j m_j m_j^T`` over its rows; None when absent). Row ``j`` of a unit
    has zeros in its first ``j`` entries: the factor is lower trapezoidal, which leaves no continuous
    freedom in the rows that keeps the curvature (an ``LDL^T`` factor of it)."""

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
        rows = np.asarray(p.m2, dtype=np.float64).reshape(-1, structure.d)
        if len(rows) != len(structure.curvature_signs):
            raise ValueError(f"{len(rows)} curvature rows for {len(structure.curvature_signs)} curvature terms")
        free = []
        for row, j in zip(rows, _row_offsets(structure)):
            if np.any(row[:j] != 0.0):
                raise ValueError(f"curvature row {row} must start with {j} zeros (a lower trapezoidal factor)")
            free.append(row[j:])
        parts += [np.ravel(p.u2), np.ravel(p.c2), np.ravel(p.v2), *free]
    if structure.constant:
        parts.append([p.b])
    if structure.linear:
        parts.append(np.ravel(p.l))
    phi = np.concatenate([np.asarray(x, dtype=np.float64) for x in parts])
    if phi.size != structure.n_params:
        raise ValueError(f"parameters do not fit the structure: {phi.size} values for {structure.n_params}")
    return phi


def _row_offsets(structure: LimitStructure) -> list[int]:
    """For each curvature row, how many of its leading entries are fixed zeros (its place in its unit)."""
    return [j for sig in structure.signatures for j in range(len(sig))]


def unpack(structure: LimitStructure, phi) -> LimitParams:
    """Inverse of :func:`pack`; works on numpy arrays and (for autograd) torch tensors."""
    d, F, G = structure.d, structure.n_finite, structure.n_glu
    numpy = isinstance(phi, np.ndarray)
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
    second = ()
    if S:
        u2, c2, v2 = take(S * d).reshape(S, d), take(S), take(S * d).reshape(S, d)
        rows = []
        for j in _row_offsets(structure):
            free = take(d - j)
            rows.append(np.concatenate([np.zeros(j), free]) if numpy
                        else torch.cat([torch.zeros(j, dtype=phi.dtype), free]))
        second = (u2, c2, v2, np.stack(rows) if numpy else torch.stack(rows))
    b = take(1)[0] if structure.constant else 0.0
    if structure.linear:
        lin = take(d)
    else:
        lin = np.zeros(d) if numpy else torch.zeros(d, dtype=phi.dtype)
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
        curvature = 0.5 * (d2s * _curvature_forms(structure, p.m2, x)).sum(1)
        out = out + s @ p.c2 + ((x @ p.v2.T) * ds).sum(dim=1) + curvature
    if structure.constant:
        out = out + p.b
    if structure.linear:
        out = out + x @ p.l
    return out


def _curvature_forms(structure: LimitStructure, m2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``x^T M_q x`` of each second-order unit at ``x (N, d)``: ``(N, S)``."""
    signs = torch.tensor(structure.curvature_signs, dtype=x.dtype)
    owner = torch.zeros(len(signs), structure.n_second, dtype=x.dtype)
    owner[torch.arange(len(signs)), torch.tensor(structure.curvature_owner)] = 1.0
    return ((x @ m2.T) ** 2 * signs) @ owner


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
    curvature = 0.5 * d2s * _curvature_forms(structure, torch.as_tensor(p.m2), xt)[:, q]
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
    """A two-layer network point on the channel towards ``phi``, outgoing weights of order ``amplitude``.

    Neurons: the finite ones, then each unit as the pair ``a = c/2 +- A``, ``w = u +- v/(2A)``, then
    each second-order unit as :func:`second_order_stencil` builds it (for rank one the triple
    ``a = (s A, c - 2 s A, s A)``, ``w = (u + v/(2 s A) + m / sqrt(2A), u, u + v/(2 s A) - m / sqrt(2A))``), then
    (when ``b`` or ``l`` is free) an affine pair at ``w = +-l / (2 A sigma'(0))`` with
    ``a = b / (2 sigma(0)) +- A``. The returned ``theta`` is in the network layout
    ``(w_1, ..., w_m, a_1, ..., a_m)`` with ``m`` = :func:`realised_width`; its function differs
    from the limit by ``O(1/A^2)`` (``O(1/A)`` with second-order units, ``O(A^(-1/2))`` where a unit's stencil
    is not symmetric; their networks' gradient then stays of order one: :func:`.channel_polish.polish_on_channel`
    corrects them).
    """
    p = unpack(structure, np.asarray(phi, dtype=np.float64))
    A = float(amplitude)
    ws, as_ = [p.w], [p.a]
    for u, c, v in zip(p.u, p.c, p.v):
        ws.append(np.stack([u + v / (2 * A), u - v / (2 * A)]))
        as_.append(np.array([c / 2 + A, c / 2 - A]))
    for q in range(structure.n_second):
        w, a, _ = unit_stencil(structure, p, q, A)
        ws.append(w)
        as_.append(a)
    if structure.constant or structure.linear:
        s0, ds0 = AT_ZERO[structure.activation]
        if structure.constant and s0 == 0.0:
            raise ValueError(f"a {structure.activation} net cannot realise a free constant")
        half = p.b / (2 * s0) if structure.constant else 0.0
        delta = p.l / (2 * A * ds0)
        ws.append(np.stack([delta, -delta]))
        as_.append(np.array([half + A, half - A]))
    return np.concatenate([np.concatenate(ws).ravel(), np.concatenate(as_)])


def unit_stencil(structure: LimitStructure, p: LimitParams, q: int, amplitude: float):
    """:func:`second_order_stencil` of second-order unit ``q`` of unpacked parameters ``p``."""
    rows = np.flatnonzero(np.array(structure.curvature_owner) == q)
    return second_order_stencil(p.u2[q], float(p.c2[q]), p.v2[q], p.m2[rows], structure.signatures[q], amplitude)


def simplex(n: int) -> np.ndarray:
    """``n`` points ``z (n, n - 1)`` of a regular simplex with ``sum z_i = 0`` and ``sum z_i z_i^T = I``
    (the columns are the Helmert contrasts); one point is the origin of ``R^0``."""
    z = np.zeros((n, n - 1))
    for k in range(1, n):
        z[:k, k - 1] = 1.0
        z[k, k - 1] = -k
        z[:, k - 1] /= math.sqrt(k * (k + 1))
    return z


def second_order_stencil(u, c: float, v, rows, signs, amplitude: float):
    """A group of ``r + 2`` neurons (``r`` curvature terms) realising the second-order unit ``(u, c, v,
    M = sum_j s_j m_j m_j^T)`` at amplitude ``A``: incoming ``(r + 2, d)``, outgoing ``(r + 2,)`` and the
    outgoing weights' slopes in ``A`` ``(r + 2,)``.

    The ``p`` positive terms' rows ``F_+`` are spread over a regular simplex of ``p + 1`` neurons of equal
    outgoing weight, the ``q`` negative ones' ``F_-`` over ``q + 1`` neurons of the opposite weight: the side
    with more terms (the positive side on a tie) gets ``+-A`` each, the other side balances it (``T_0`` stays
    finite) and carries ``c`` in equal shares. A neuron of weight ``alpha`` sits at ``u + F z_i / sqrt|alpha|``, so
    ``sum a_k delta_k delta_k^T = M``; the larger side is shifted by ``v / (its total weight)`` so that
    ``sum a_k delta_k = v``. Order: the larger side's first neuron, the other side, the rest of the larger side
    (for rank one the symmetric triple of :func:`realise`). A stencil whose sides are both symmetric about ``u``
    (rank one, or ``[+-]``) has no third moment; others (``[++]``: a triangle about its centre) leave one of
    order ``A^(-1/2)``.
    """
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.float64).reshape(len(signs), -1)
    signs = np.asarray(signs, dtype=np.int64)
    A = float(amplitude)
    big_sign = 1 if (signs > 0).sum() >= (signs < 0).sum() else -1
    big, small = rows[signs == big_sign], rows[signs != big_sign]
    n_big, n_small = len(big) + 1, len(small) + 1
    alpha_big, alpha_small = big_sign * A, -big_sign * A * n_big / n_small
    w_big = u + v / (n_big * alpha_big) + simplex(n_big) @ big / math.sqrt(abs(alpha_big))
    w_small = u + simplex(n_small) @ small / math.sqrt(abs(alpha_small))
    w = np.concatenate([w_big[:1], w_small, w_big[1:]])
    a = np.concatenate([[alpha_big], np.full(n_small, alpha_small + c / n_small), np.full(n_big - 1, alpha_big)])
    slope = np.concatenate([[big_sign], np.full(n_small, -big_sign * n_big / n_small),
                            np.full(n_big - 1, float(big_sign))])
    return w, a, slope


def realised_width(structure: LimitStructure) -> int:
    """Hidden width of the networks :func:`realise` builds."""
    return structure.n_finite + sum(structure.unit_sizes) + 2 * int(structure.constant or structure.linear)


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
    "second_order_code",
    "second_order_stencil",
    "simplex",
    "unit_stencil",
    "unit_output",
    "unpack",
]
