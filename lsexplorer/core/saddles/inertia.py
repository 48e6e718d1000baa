"""Theorem 3 of the thesis (section 6.2.6): the Hessian inertia of a point on a saddle line.

Let ``theta*`` be a critical point of a network whose hidden layer ``l`` has ``m`` neurons, and
``theta(mu)`` the width-``m + 1`` point made by :func:`lsexplorer.core.symmetry.operations.duplicate_neuron`:
neuron ``j`` and its copy share the incoming vector ``v* = [w_j, b_j]`` (length ``q``: ``n_{l-1}``,
plus 1 with biases) and carry the outgoing columns ``mu a`` and ``(1 - mu) a``, ``a in R^n``,
``n = n_{l+1}``. The loss is ``L = (1/N) sum_i ||f(x_i) - y_i||^2``, so ``c' = 2 (f - y)``.

**Derivation.** Write the two copies' parameters ``(v_1, c_1, v_2, c_2)`` in the coordinates
``vbar = mu v_1 + (1 - mu) v_2``, ``xi = v_1 - v_2``, ``a = c_1 + c_2``, ``eta = (1 - mu) c_1 - mu c_2``
(an invertible linear map for every ``mu``, determinant -1 in each coordinate pair). With
``h = [f^{l-1}(x), 1]`` their contribution to the next pre-activation is

    c_1 sigma(v_1.h) + c_2 sigma(v_2.h) = a sigma(vbar.h) + mu(1-mu)/2 (xi.h)^2 sigma'' a + (xi.h) sigma' eta + O(3).

At ``xi = eta = 0`` the network *is* the narrow one, and the first derivatives in ``xi, eta`` vanish
identically there, so the Hessian in these coordinates is block diagonal: the narrow Hessian
``H*`` in ``(rest, vbar, a)``, and in ``(xi, eta)`` only the residual term ``(2/N) sum (f - y).d^2f``:

    M(mu) = [[mu(1-mu) Y, U], [U^T, 0]],        s(x) = J_{l+1}(x)^T (f(x) - y(x))   (R^n)
    Y = (2/N) sum_i sigma''(v*.h_i) (a.s_i) h_i h_i^T          (q, q)
    U = (2/N) sum_i sigma'(v*.h_i) h_i s_i^T                     (q, n)

``J_{l+1} = df/dz^{l+1}`` back-propagates the output error to the layer after ``l``; for the last
hidden layer ``s = f - y`` and ``Y = E[sigma'' h h^T a.c']``, the thesis' formula with
``c' = 2(f - y)`` (section 6.3.1 writes ``a (f^L - f*)`` for every layer, which is right only for the
last hidden layer and up to that factor 2). The gradient in ``v_j`` is ``U a``, so ``U a = 0`` at a
critical point: ``U = 0`` when ``n = 1``, but for ``d_out > 1`` or a layer below the last ``U`` has
rank ``k <= n - 1`` in general.

**Inertia.** By Sylvester's law, ``In(H(theta(mu))) = In(H*) + In(M(mu))``, and for a saddle-point
matrix ``In(M) = In(mu(1-mu) Z^T Y Z) + (k, n - k, k)`` with ``Z`` an orthonormal basis of
``null(U^T)`` (Gould 1985; the ``n - k`` zeros are ``eta`` in ``null(U)``, directions along the
``n``-dimensional family ``c_1 + c_2 = a`` of equal-loss points). With ``(i-, i0, i+)`` the inertia
of ``Z^T Y Z``, the duplicated point has ``(neg, zero, pos)`` =

* ``mu in (0, 1)``:        ``In(H*) + (k + i-, n - k + i0, k + i+)``
* ``mu outside [0, 1]``:   ``In(H*) + (k + i+, n - k + i0, k + i-)``
* ``mu in {0, 1}``:        ``In(H*) + (k, q + n - 2k, k)``

so ``i+ + i-`` eigenvalues change sign at ``mu = 0`` and at ``mu = 1``. Zero is decided for ``H*``
by :meth:`Tolerances.zero_eig_tol`, and for the eigenvalues of ``Z^T Y Z`` and the singular values of
``U`` (blocks of a congruent Hessian, same units) by the same threshold of ``H*``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Generator, Sequence

import numpy as np
import torch
from torch.func import jvp

from ..base.classify import Tolerances
from ..base.progress import Progress, run_generator
from ..base.record import Record
from ..landscape import symmetric_eigen
from ..landscape.autodiff import forward_mode
from ..landscape.hessian import float64_problem, loss_grad_hessian, spectrum
from ..landscape.nets import MLPSpec, activation_fn, unflatten
from ..symmetry.operations import duplicate_neuron

#: Column order of the ``(K, 3)`` inertia arrays of :class:`MuSweep`.
INERTIA_COLUMNS = ("neg", "zero", "pos")


@dataclasses.dataclass(frozen=True)
class Inertia(Record):
    """Numbers of negative, zero and positive eigenvalues of a symmetric matrix."""

    tagged = False

    neg: int
    zero: int
    pos: int

    def __add__(self, other: Inertia) -> Inertia:
        return Inertia(self.neg + other.neg, self.zero + other.zero, self.pos + other.pos)

    def as_tuple(self) -> tuple[int, int, int]:
        return self.neg, self.zero, self.pos


def measured_inertia(eigvals, zero_tol: float) -> Inertia:
    """Inertia of the spectrum ``eigvals (P,)``: ``|lambda| <= zero_tol`` counts as zero."""
    ev = np.asarray(eigvals, dtype=np.float64)
    neg, pos = int((ev < -zero_tol).sum()), int((ev > zero_tol).sum())
    return Inertia(neg, ev.size - neg - pos, pos)


# --------------------------------------------------------------------------- Y and U

@forward_mode
def _duplication_blocks(spec: MLPSpec, theta, x, y, layer: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Y (q, q), U (q, n))`` of neuron ``j`` of hidden layer ``layer`` at ``theta`` (module docstring)."""
    if not 1 <= layer <= len(spec.hidden_widths):
        raise ValueError(f"layer must be a hidden layer 1..{len(spec.hidden_widths)} of {spec.describe()}, got {layer}")
    if not 0 <= j < spec.widths[layer]:
        raise ValueError(f"neuron must be in 0..{spec.widths[layer] - 1} for hidden layer {layer}, got {j}")
    t, xt, yt = float64_problem(spec, theta, x, y)
    act = activation_fn(spec.activation)
    layers = unflatten(spec, t)

    def affine(i: int, h: torch.Tensor) -> torch.Tensor:
        w, b = layers[i]
        return h @ w.T if b is None else h @ w.T + b

    h = xt
    for i in range(layer - 1):
        h = act(affine(i, h))
    z_l = affine(layer - 1, h)                                   # (N, m) pre-activations of layer l
    z_next = affine(layer, act(z_l)).detach().requires_grad_()   # (N, n) = z^{l+1}
    out = z_next
    for i in range(layer + 1, spec.n_layers):
        out = affine(i, act(out))
    s, = torch.autograd.grad(0.5 * ((out - yt) ** 2).sum(), z_next)   # s_i = J_{l+1}^T (f - y), (N, n)

    z = z_l[:, j].detach()
    ones = torch.ones_like(z)
    d1 = lambda u: jvp(act, (u,), (ones,))[1]
    s1, s2 = d1(z), jvp(d1, (z,), (ones,))[1]                     # sigma'(z), sigma''(z), exact
    hb = torch.cat([h, torch.ones_like(h[:, :1])], dim=1) if spec.bias else h   # (N, q)
    a = layers[layer][0][:, j]
    scale = 2.0 / xt.shape[0]
    y_mat = scale * (hb * (s2 * (s @ a))[:, None]).T @ hb
    u_mat = scale * (hb * s1[:, None]).T @ s
    return y_mat.detach().numpy(), u_mat.detach().numpy()


def y_matrix(spec: MLPSpec, theta, x, y, layer: int, j: int) -> np.ndarray:
    """Y of neuron ``j`` (0-based) of hidden layer ``layer`` (1-based) at the narrow point ``theta (P,)``.

    ``(q, q)``, ``q = n_{l-1} (+1 with biases)``, coordinates ``[f^{l-1}(x), 1]``:
    ``(2/N) sum_i sigma''(v_j.h_i) (a_j . s_i) h_i h_i^T`` with ``s_i = J_{l+1}^T (f(x_i) - y_i)``.
    """
    return _duplication_blocks(spec, theta, x, y, layer, j)[0]


def u_matrix(spec: MLPSpec, theta, x, y, layer: int, j: int) -> np.ndarray:
    """U of neuron ``j`` of hidden layer ``layer``: ``(q, n_{l+1})``, ``(2/N) sum_i sigma'(v_j.h_i) h_i s_i^T``."""
    return _duplication_blocks(spec, theta, x, y, layer, j)[1]


def theorem3_matrix(spec: MLPSpec, theta, x, y, layer: int, j: int, mu: float) -> np.ndarray:
    """``[[mu(1-mu) Y, U], [U^T, 0]]``: ``(q + n, q + n)``, the Hessian of the duplicated point in ``(xi, eta)``.

    Exactly the block of ``A^T H(theta(mu)) A`` for the directions ``xi`` (incoming vectors moved by
    ``(1 - mu) xi`` and ``-mu xi``) and ``eta`` (outgoing columns moved by ``+eta`` and ``-eta``).
    """
    y_mat, u_mat = _duplication_blocks(spec, theta, x, y, layer, j)
    mu = float(mu)
    return np.block([[mu * (1.0 - mu) * y_mat, u_mat], [u_mat.T, np.zeros((u_mat.shape[1],) * 2)]])


# --------------------------------------------------------------------------- prediction

@dataclasses.dataclass
class Theorem3:
    """What the narrow point ``theta*`` says about every point of its saddle line.

    ``narrow_eigvals (P,)`` ascending and ``narrow_zero_tol`` from ``H*``; ``y (q, q)``, ``u (q, n)``;
    ``u_rank = k`` (singular values above ``narrow_zero_tol``); ``y_restricted_eigvals (q - k,)`` of
    ``Z^T Y Z`` (``= eig Y`` when ``k = 0``).
    """

    layer: int
    neuron: int
    loss: float
    grad_norm: float
    narrow_eigvals: np.ndarray
    narrow_zero_tol: float
    y: np.ndarray
    u: np.ndarray
    u_singular_values: np.ndarray
    u_rank: int
    y_restricted_eigvals: np.ndarray

    @property
    def narrow_inertia(self) -> Inertia:
        return measured_inertia(self.narrow_eigvals, self.narrow_zero_tol)

    @property
    def y_eigvals(self) -> np.ndarray:
        """Eigenvalues of ``Y`` ascending, ``(q,)``."""
        return symmetric_eigen.eigvalsh(self.y)

    @property
    def y_restricted_inertia(self) -> Inertia:
        """``(i-, i0, i+)`` of ``Z^T Y Z``."""
        return measured_inertia(self.y_restricted_eigvals, self.narrow_zero_tol)

    @property
    def crossings(self) -> int:
        """Eigenvalues that change sign at ``mu = 0`` and again at ``mu = 1``: ``i+ + i-``."""
        r = self.y_restricted_inertia
        return r.neg + r.pos

    def inertia(self, mu: float) -> Inertia:
        """Predicted inertia of the Hessian at ``theta(mu)`` (module docstring)."""
        q, n = self.u.shape
        k = self.u_rank
        c = float(mu) * (1.0 - float(mu))
        r = self.y_restricted_inertia
        if c > 0:
            part = Inertia(r.neg, r.zero, r.pos)
        elif c < 0:
            part = Inertia(r.pos, r.zero, r.neg)
        else:
            part = Inertia(0, q - k, 0)
        return self.narrow_inertia + Inertia(k, n - k, k) + part


def theorem3(spec: MLPSpec, theta, x, y, layer: int, j: int, tolerances: Tolerances | None = None) -> Theorem3:
    """Narrow Hessian, ``Y``, ``U`` and the restricted ``Z^T Y Z`` of neuron ``j`` of hidden layer ``layer``."""
    tolerances = tolerances or Tolerances()
    value, g, h = loss_grad_hessian(spec, theta, x, y)
    eig = spectrum(h)[0]
    tol = tolerances.zero_eig_tol(eig)
    y_mat, u_mat = _duplication_blocks(spec, theta, x, y, layer, j)
    left, sv, _ = np.linalg.svd(u_mat, full_matrices=True)
    k = int((sv > tol).sum())
    z = left[:, k:]
    return Theorem3(int(layer), int(j), float(value), float(np.linalg.norm(g)), eig, tol, y_mat, u_mat, sv, k,
                    symmetric_eigen.eigvalsh(z.T @ y_mat @ z))


def predicted_inertia(spec: MLPSpec, theta, x, y, layer: int, j: int, mu: float,
                      tolerances: Tolerances | None = None) -> Inertia:
    """Inertia Theorem 3 predicts for the Hessian at ``duplicate_neuron(spec, theta, layer, j, mu)``."""
    return theorem3(spec, theta, x, y, layer, j, tolerances).inertia(mu)


# --------------------------------------------------------------------------- sweeps over mu

def default_mu_grid(cover: Sequence[float] = ()) -> np.ndarray:
    """``(K,)`` ascending: ``-1, -0.875, ..., 2`` (step 1/8, 0 and 1 included) plus ``mu0 +- delta``
    for ``mu0 in {0, 1}`` and ``delta in {0.001, 0.01, 0.03, 0.06}``, where the eigenvalues that cross
    zero there are linear in ``mu(1 - mu)`` and hence small.

    Every finite ``mu`` of ``cover`` (e.g. the closest saddle's μ*) is added, and the step-1/8 grid
    is extended to reach ``mu +- 0.25``, so a plot of the sweep shows the point it is about.
    """
    marks = np.asarray([m for m in cover if np.isfinite(m)], dtype=np.float64)
    lo = min(-1.0, float(np.floor((marks.min() - 0.25) * 8) / 8)) if marks.size else -1.0
    hi = max(2.0, float(np.ceil((marks.max() + 0.25) * 8) / 8)) if marks.size else 2.0
    coarse = np.linspace(lo, hi, round((hi - lo) * 8) + 1)
    deltas = np.array([1e-3, 1e-2, 3e-2, 6e-2])
    near = np.concatenate([mu0 + s * deltas for mu0 in (0.0, 1.0) for s in (-1.0, 1.0)])
    return np.unique(np.concatenate([coarse, near, marks]))


#: :func:`mu_sweep`'s record: stage ``"mu_sweep"``, ``done`` of ``total`` points, ``mu`` the last one.
MuSweepProgress = Progress


@dataclasses.dataclass
class MuSweep(Record):
    """Exact Hessian spectra along a saddle line, measured and predicted inertia.

    Per grid point (``K``): ``mus``, ``loss``, ``grad_norm``, ``eigvals (K, P')`` ascending, the zero
    threshold ``zero_tol`` used, ``measured`` and ``predicted`` ``(K, 3)`` int in
    :data:`INERTIA_COLUMNS` order. From the narrow point: ``y_eigvals (q,)``, ``y_restricted_eigvals``,
    ``u_singular_values``, ``narrow_eigvals (P,)``, ``predicted_crossings`` (= ``i+ + i-``).
    ``stopped``: the sweep was cancelled and holds only the points computed before.
    """

    tagged = False

    layer: int
    neuron: int
    mus: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    eigvals: np.ndarray
    zero_tol: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    y_eigvals: np.ndarray
    y_restricted_eigvals: np.ndarray
    u_singular_values: np.ndarray
    narrow_eigvals: np.ndarray
    predicted_crossings: int
    stopped: bool = False

    def zero_crossings(self, threshold: float | None = None) -> tuple[int, int]:
        """Eigenvalues changing sign across ``mu = 0`` and across ``mu = 1``, measured: ``(at 0, at 1)``.

        Compares the spectra at ``mu0`` (which must be on the grid) and at the grid points ``mu-`` and
        ``mu+`` next to it, with ``|lambda| <= threshold`` counted as zero (default: each point's
        ``zero_tol``; the thesis used 1e-9 for Fig 6.18). Eigenvalues nonzero at ``mu0`` keep their sign
        over one grid step, so the eigenvalues that vanish at ``mu0`` contribute ``neg(mu-) - neg(mu0)``
        negative and ``pos(mu-) - pos(mu0)`` positive ones at ``mu-``, likewise at ``mu+``; those that
        change sign number ``min(neg at mu-, pos at mu+) + min(pos at mu-, neg at mu+)`` of these.
        """
        counts = []
        for mu0 in (0.0, 1.0):
            at, below, above = (np.flatnonzero(self.mus == mu0), np.flatnonzero(self.mus < mu0),
                                np.flatnonzero(self.mus > mu0))
            if at.size == 0 or below.size == 0 or above.size == 0:
                raise ValueError(f"counting crossings at mu = {mu0:g} needs it and a point on either side on the grid")
            inertia = [measured_inertia(self.eigvals[i], self.zero_tol[i] if threshold is None else threshold)
                       for i in (below[-1], at[0], above[0])]
            (neg_lo, pos_lo), (neg_hi, pos_hi) = [(max(side.neg - inertia[1].neg, 0), max(side.pos - inertia[1].pos, 0))
                                                  for side in (inertia[0], inertia[2])]
            counts.append(min(neg_lo, pos_hi) + min(pos_lo, neg_hi))
        return counts[0], counts[1]

    def to_dict(self) -> dict:
        """The sweep's fields and the order of its inertia columns, for ``/analyses`` of a session."""
        return {**super().to_dict(), "inertia_columns": ",".join(INERTIA_COLUMNS)}

    @classmethod
    def from_dict(cls, d: dict) -> MuSweep:
        d = dict(d)
        columns = d.pop("inertia_columns", ",".join(INERTIA_COLUMNS))
        if columns != ",".join(INERTIA_COLUMNS):
            raise ValueError(f"unexpected inertia column order {columns!r}")
        return super().from_dict(d)


def mu_sweep(spec: MLPSpec, theta, x, y, layer: int, j: int, mus: Sequence[float] | None = None,
             tolerances: Tolerances | None = None, stop: threading.Event | None = None
             ) -> Generator[MuSweepProgress, None, MuSweep]:
    """Duplicate neuron ``j`` of hidden layer ``layer`` of ``theta (P,)`` at every ``mu`` of ``mus (K,)``.

    Yields a :class:`MuSweepProgress` after each exact Hessian; returns a :class:`MuSweep`. ``mus``
    defaults to :func:`default_mu_grid`. Setting ``stop`` ends the sweep before the next point.
    """
    tolerances = tolerances or Tolerances()
    mus = np.asarray(default_mu_grid() if mus is None else mus, dtype=np.float64).reshape(-1)
    th = theorem3(spec, theta, x, y, layer, j, tolerances)
    rows: list[tuple] = []
    stopped = False
    for mu in mus:
        if stop is not None and stop.is_set():
            stopped = True
            break
        wide_spec, wide = duplicate_neuron(spec, theta, layer, j, mu)
        value, g, h = loss_grad_hessian(wide_spec, wide, x, y)
        ev = spectrum(h)[0]
        tol = tolerances.zero_eig_tol(ev)
        rows.append((value, float(np.linalg.norm(g)), ev, tol, measured_inertia(ev, tol).as_tuple(),
                     th.inertia(mu).as_tuple()))
        yield Progress("mu_sweep", len(rows), mus.size, mu=float(mu))
    p_wide = spec.with_hidden_width(layer, spec.widths[layer] + 1).n_params
    cols = list(zip(*rows)) if rows else [()] * 6
    return MuSweep(
        layer=th.layer, neuron=th.neuron, mus=mus[:len(rows)], loss=np.array(cols[0], dtype=np.float64),
        grad_norm=np.array(cols[1], dtype=np.float64),
        eigvals=np.array(cols[2], dtype=np.float64).reshape(len(rows), p_wide),
        zero_tol=np.array(cols[3], dtype=np.float64), measured=np.array(cols[4], dtype=np.int64).reshape(-1, 3),
        predicted=np.array(cols[5], dtype=np.int64).reshape(-1, 3), y_eigvals=th.y_eigvals,
        y_restricted_eigvals=th.y_restricted_eigvals, u_singular_values=th.u_singular_values,
        narrow_eigvals=th.narrow_eigvals, predicted_crossings=th.crossings, stopped=stopped)


def expand_neuron_report(spec: MLPSpec, theta, x, y, layer: int, j: int, mus: Sequence[float],
                         tolerances: Tolerances | None = None, run: int | None = None) -> dict:
    """The JSON object of ``lsexplorer analyze --expand-neuron`` (issue 3), plain Python types only.

    ``{"run", "neuron", "layer", "Y_eigenvalues": [ascending], "points": [{"mu", "grad_norm",
    "eigenvalues": [ascending], "inertia": {neg, zero, pos}, "predicted_inertia": {...}}, ...]}``.
    """
    sweep = run_generator(mu_sweep(spec, theta, x, y, layer, j, mus, tolerances))
    points = [{"mu": float(mu), "grad_norm": float(gn), "eigenvalues": [float(v) for v in ev],
               "inertia": Inertia(*(int(v) for v in meas)).to_dict(),
               "predicted_inertia": Inertia(*(int(v) for v in pred)).to_dict()}
              for mu, gn, ev, meas, pred in zip(sweep.mus, sweep.grad_norm, sweep.eigvals, sweep.measured,
                                                 sweep.predicted)]
    return {"run": None if run is None else int(run), "neuron": int(j), "layer": int(layer),
            "Y_eigenvalues": [float(v) for v in sweep.y_eigvals], "points": points}


# --------------------------------------------------------------------------- Corollaries 3.1 / 3.2

def _range_kind(inertia: Inertia, structural_zeros: int, narrow_strict: bool) -> tuple[str, int]:
    """``("saddle", index)``, ``("degenerate_local_min", 0)`` or ``("inconclusive", 0)`` for one mu range.

    Without negative eigenvalues the point is a (non-strict) local minimum only when every zero is
    one of the ``n - k`` directions along the manifold of equal-loss critical points (Morse-Bott);
    any other zero leaves the second-order test inconclusive.
    """
    if inertia.neg > 0:
        return "saddle", inertia.neg
    if narrow_strict and inertia.zero == structural_zeros:
        return "degenerate_local_min", 0
    return "inconclusive", 0


def corollary_check(spec: MLPSpec, theta, x, y, layer: int, j: int, tolerances: Tolerances | None = None,
                    mu: float | None = None) -> dict:
    """The formal check of Corollaries 3.1/3.2 for duplicating neuron ``j`` of ``theta (P,)`` (the narrow point).

    Returns a JSON-able dict: ``grad_norm``, ``critical``, ``narrow_inertia``, ``lambda_min``,
    ``strict_local_min``, ``Y_eigenvalues``, ``Y_inertia`` and ``Y_restricted_inertia``
    (``{neg, zero, pos}``; ``(i-, i0, i+)``), ``U_rank``, ``U_singular_values``; per mu range
    ``inside`` (0, 1), ``outside`` R minus [0, 1], ``boundary`` {0, 1}: ``{"kind", "index", "inertia"}``;
    ``verdict`` for the range holding ``mu`` (``(0, 1)`` when None): ``"degenerate_local_min"``,
    ``"saddle"`` or ``"inconclusive"``; ``text``, one sentence saying why.
    """
    tolerances = tolerances or Tolerances()
    th = theorem3(spec, theta, x, y, layer, j, tolerances)
    narrow = th.narrow_inertia
    critical = th.grad_norm <= tolerances.grad_tol
    strict = narrow.neg == 0 and narrow.zero == 0
    n = th.u.shape[1]
    ranges = {name: th.inertia(m) for name, m in (("inside", 0.5), ("outside", 2.0), ("boundary", 0.0))}
    kinds = {name: _range_kind(inert, n - th.u_rank, strict) for name, inert in ranges.items()}
    where = "inside" if mu is None or 0 < mu < 1 else ("boundary" if mu in (0.0, 1.0) else "outside")
    label = {"inside": "mu in (0, 1)", "outside": "mu outside [0, 1]", "boundary": "mu in {0, 1}"}

    def phrase(name: str) -> str:
        kind, index = kinds[name]
        what = {"saddle": f"index-{index} saddle", "degenerate_local_min": "degenerate local minimum",
                "inconclusive": "second-order test inconclusive"}[kind]
        return f"{what} for {label[name]}"

    if not critical:
        verdict = "inconclusive"
        text = (f"inconclusive (the narrower point is not a critical point: ||grad L|| = {th.grad_norm:.3g} > "
                f"grad_tol = {tolerances.grad_tol:g})")
    else:
        verdict = kinds[where][0]
        text = "; ".join(phrase(name) for name in ("inside", "outside", "boundary"))
        if not strict and narrow.neg == 0:
            text += (f" (the narrower point has {narrow.zero} zero Hessian eigenvalues: not a strict local "
                     f"minimum, so Corollary 3.1 certifies no minimum)")
        elif narrow.neg > 0:
            text += f" (the narrower point is itself an index-{narrow.neg} saddle)"
        if verdict == "inconclusive":
            text = f"inconclusive ({text})"
    return {"layer": int(layer), "neuron": int(j), "mu": None if mu is None else float(mu),
            "grad_norm": th.grad_norm, "critical": bool(critical), "narrow_inertia": narrow.to_dict(),
            "lambda_min": float(th.narrow_eigvals[0]), "strict_local_min": bool(strict),
            "Y_eigenvalues": [float(v) for v in th.y_eigvals], "Y_inertia": measured_inertia(
                th.y_eigvals, th.narrow_zero_tol).to_dict(),
            "Y_restricted_inertia": th.y_restricted_inertia.to_dict(), "U_rank": th.u_rank,
            "U_singular_values": [float(v) for v in th.u_singular_values],
            **{name: {"kind": kinds[name][0], "index": kinds[name][1], "inertia": ranges[name].to_dict()}
               for name in ranges},
            "verdict": verdict, "text": text}


__all__ = ["INERTIA_COLUMNS", "Inertia", "measured_inertia", "y_matrix", "u_matrix", "theorem3_matrix", "Theorem3",
           "theorem3", "predicted_inertia", "default_mu_grid", "MuSweepProgress", "MuSweep", "mu_sweep",
           "expand_neuron_report", "corollary_check"]
