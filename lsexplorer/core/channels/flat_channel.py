"""Flat channels to infinity: recognise them at a diverged end point, certify their limit, classify.

A refined point whose norm ran off (``certify.py`` marks it ``diverged``) is usually not lost: in a
two-layer net a group of neurons has merged its incoming weights while its outgoing weights ran to
``+-inf`` with cancelling signs, and the loss falls, ever more slowly, towards a finite limit
(Martinelli et al. 2025, arXiv 2506.14951). :func:`analyse_channel` takes the history of such a
point (e.g. the trained point and the refined one), finds the groups (:func:`decompose`), builds the
finite limit model of ``limit_model.py`` (the other neurons plus one gated linear unit per group,
plus a free constant/linear term where the groups create one; where read so it misses the network,
groups linked by their second moment, three or more neurons closing in, become second-order units),
refines it to a certified critical point in float64 with its exact Hessian, and classifies it:

``channel``
    the limit model's critical point has no negative Hessian eigenvalue: a minimum at infinity, whose
    loss ``L_inf`` the network approaches along the channel but never attains;
``channel_saddle``
    the limit model has a negative eigenvalue: a saddle at infinity;
``not_converged``
    anything else (no diverging group, a group that does not cancel, a limit that does not refine),
    with the reason recorded.

It also measures how the network's loss approaches ``L_inf`` along the channel: on the path
:func:`channel_model.realise` builds towards the certified limit (``L(A) - L_inf ~ A^-p``, ``A`` the
outgoing amplitude) and at the points of the given history. And it checks that the network itself tends to a
critical point: on networks of the point's own width along the channel (sign-flipped members holding the free
constant where there are some), each corrected so that it is stationary in every direction the realisation spans
(:mod:`.channel_polish`), ``||grad L||`` at the largest checked amplitude must be at most
:data:`.channel_polish.APPROACH_GRAD_TOL` times the loss scale, as for a path's saddle at infinity; a limit that
certifies on a channel whose networks keep a gradient is ``not_converged``, with the measured gradient as reason.

Scope: nets with one hidden layer, one output and no biases (the thesis' students). For a deeper
net the reason also says how it ran off (``runoff.py``: saturating layers, merging pairs). Results are
stored per run by :func:`write_channel` / :func:`read_channel` (an HDF5 group) or
:meth:`ChannelResult.to_dict` (the session's ``/analyses/channels/points/<row>`` tree).
"""

from __future__ import annotations

import dataclasses
import math
import threading

import h5py
import numpy as np
import torch

from ..base.classify import Tolerances, classify, loss_scale
from ..base.record import AS_ARRAY, Record
from ..landscape.hessian import loss_grad_hessian, spectrum
from ..landscape.nets import MLPSpec
from .channel_polish import APPROACH_GRAD_TOL, polish_along_channel
from .group_limit import moments, own_width_realiser
from .limit_model import (
    AT_ZERO,
    LimitParams,
    LimitStructure,
    limit_loss_grad_hessian,
    limit_output,
    pack,
    realise,
    realised_width,
    refine_limit,
)
from .runoff import runoff_report

#: The kinds this module assigns, besides ``not_converged``.
CHANNEL_KINDS = ("channel", "channel_saddle")
#: ``group_of`` value of a neuron kept as it is, and of one in the affine (``w -> 0``) group.
FINITE, AFFINE = -1, -2
_FLIPPABLE = ("sigmoid", "tanh")


@dataclasses.dataclass
class ChannelSettings(Record):
    """Thresholds of the detector; stored with every result.

    divergent_ratio, min_outgoing:
        Outgoing weights diverge when the sorted ``|a|`` has a gap of at least ``divergent_ratio``
        below them (the rest measured as ``max(1, |a|)``) and they are at least ``min_outgoing``.
        On the thesis toy problem diverged refined points have ``|a| >= 145`` and the rest
        ``|a| <= 5``.
    link_moment:
        Two diverging neurons belong to one group when ``||w_k -+ w_l|| max(|a_k|, |a_l|) x_rms``
        (sign-flipped for sigmoid and tanh) is at most this: their first moment, the unit's linear
        part, is finite. A neuron with ``||w_k|| |a_k| x_rms`` at most this joins the affine group.
        Measured on the toy problem: 0.05..3 within groups, >= 60 between distinct neurons.
    approx_rtol:
        The limit model at the parameters read off the end point must reproduce the network's
        function to ``rms(f - g) <= approx_rtol * rms(y)``: groups whose higher moments do not
        vanish are not gated linear units. Toy end points: <= 1e-5.
    max_drift:
        The certified limit may lie at most this far (relative, ``||phi* - phi_0|| / max(||phi*||, 1)``)
        from the parameters read off the end point; farther, it is some other critical point.
    approach_amplitudes:
        Outgoing amplitudes ``A`` at which the loss along the channel is measured. Above ~2000 the
        realised pair's ``+-A`` cancellation rounds the toy loss at the level of ``L - L_inf`` itself.
    """

    tagged = False
    what = "channel settings"
    refuse_unknown = True

    divergent_ratio: float = 10.0
    min_outgoing: float = 20.0
    link_moment: float = 20.0
    approx_rtol: float = 1e-3
    max_drift: float = 0.5
    approach_amplitudes: tuple = dataclasses.field(
        default=tuple(float(a) for a in np.geomspace(10.0, 2000.0, 12)), metadata=AS_ARRAY)


@dataclasses.dataclass
class ChannelGroups:
    """A network point read as a limit model: which neuron goes where, and the implied parameters.

    ``group_of (m,)``: :data:`FINITE`, :data:`AFFINE` or the unit index; ``sign (m,)``: +1, or -1
    where the neuron enters its unit sign-flipped; ``phi (Q,)`` the limit parameters read off the
    point (moments of each group); ``approx_error`` = ``rms(f - g)`` over the data.
    """

    structure: LimitStructure
    group_of: np.ndarray
    sign: np.ndarray
    phi: np.ndarray
    approx_error: float


def _two_layer(spec: MLPSpec) -> str | None:
    if len(spec.hidden_widths) != 1 or spec.d_out != 1 or spec.bias:
        return "channels are analysed for nets with one hidden layer, one output and no biases"
    if spec.activation not in AT_ZERO:
        return f"no limit model for activation {spec.activation}"
    return None


def _parts(spec: MLPSpec, theta) -> tuple[np.ndarray, np.ndarray]:
    theta = np.asarray(theta, dtype=np.float64)
    m, d = spec.hidden_widths[0], spec.d_in
    return theta[:m * d].reshape(m, d), theta[m * d:m * d + m]


def network_output(spec: MLPSpec, theta, x) -> np.ndarray:
    """``f(x) (N,)`` of a two-layer net without biases, numpy float64."""
    w, a = _parts(spec, theta)
    return activation(spec.activation, np.asarray(x, dtype=np.float64) @ w.T) @ a


def activation(name: str, z: np.ndarray) -> np.ndarray:
    """``sigma(z)`` of the named activation, numpy float64."""
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if name == "tanh":
        return np.tanh(z)
    return np.logaddexp(0.0, z)


def _network_loss(spec: MLPSpec, theta, x, y) -> float:
    r = network_output(spec, theta, x) - np.ravel(y)
    return float(r @ r / r.size)


def diverging_neurons(a: np.ndarray, settings: ChannelSettings) -> np.ndarray:
    """Indices of the outgoing weights ``a (m,)`` that ran off (class docstring of the settings)."""
    order = np.argsort(-np.abs(a))
    s = np.abs(a)[order]
    for i in range(len(s)):
        rest = s[i + 1] if i + 1 < len(s) else 0.0
        if s[i] >= settings.min_outgoing and s[i] >= settings.divergent_ratio * max(1.0, rest):
            return np.sort(order[:i + 1])
    return np.zeros(0, dtype=np.int64)


def decompose(spec: MLPSpec, theta, x, settings: ChannelSettings | None = None,
              second_order: bool = False) -> ChannelGroups | str:
    """Read ``theta (P,)`` as a limit model, or say (a str) why it is not in a channel.

    Diverging neurons are linked when their first moment ``||w_k -+ w_l|| max(|a_k|, |a_l|) x_rms`` is at
    most ``link_moment``; with ``second_order`` when their second moment ``||w_k -+ w_l||^2 max(|a_k|, |a_l|)
    x_rms^2`` is, and a group of three or more that the first moment does not link throughout becomes a
    second-order unit (``limit_model``), its curvature the leading rank-one part of ``sum a_k delta_k delta_k^T``.
    """
    settings = settings or ChannelSettings()
    why = _two_layer(spec)
    if why:
        return why
    x = np.asarray(x, dtype=np.float64)
    x_rms = math.sqrt(float((x * x).sum(axis=1).mean())) or 1.0
    w, a = _parts(spec, theta)
    m, d = w.shape
    act = spec.activation
    s0, ds0 = AT_ZERO[act]
    div = diverging_neurons(a, settings)
    if div.size == 0:
        return "no outgoing weight diverges"
    group_of = np.full(m, FINITE, dtype=np.int64)
    sign = np.ones(m, dtype=np.int64)
    affine = [k for k in div if np.linalg.norm(w[k]) * abs(a[k]) * x_rms <= settings.link_moment]
    group_of[affine] = AFFINE
    rest = [k for k in div if k not in affine]
    flippable = act in _FLIPPABLE
    power = 2 if second_order else 1
    groups = _linked(w, a, rest, flippable, x_rms, settings.link_moment, power)
    for members in groups:
        if len(members) < 2:
            return _unpartnered(w, a, rest, members[0], flippable, x_rms, settings.link_moment)
    quadratic = [len(g) >= 3 and len(_linked(w, a, g, flippable, x_rms, settings.link_moment, 1)) > 1
                 for g in groups]
    units = [g for g, q in zip(groups, quadratic) if not q] + [g for g, q in zip(groups, quadratic) if q]
    quadratic = sorted(quadratic)  # the units' order: gated linear units first
    for g, members in enumerate(units):
        group_of[members] = g

    mo = moments(w, a, units, quadratic, act)
    sign[:] = mo.orientation
    constant, flips = mo.constant, mo.flipped
    lin = np.zeros(d)
    for k in affine:
        constant += a[k] * s0
        lin += ds0 * a[k] * w[k]
    has_constant = bool((flips and act == "sigmoid") or (affine and s0 != 0.0))
    has_linear = bool(affine)
    if abs(constant) > 0.0 and not has_constant:
        return "the diverging neurons leave a constant the net cannot represent"
    finite = np.flatnonzero(group_of == FINITE)
    structure = LimitStructure(d=d, activation=act, n_finite=len(finite), n_glu=len(mo.c),
                               constant=has_constant, linear=has_linear, second_order=mo.second_order or None)
    params = LimitParams(w=w[finite], a=a[finite], u=mo.u, c=mo.c, v=mo.v, b=constant, l=lin, u2=mo.u2, c2=mo.c2,
                         v2=mo.v2, m2=mo.m2)
    phi = pack(structure, params)
    g = limit_output(structure, torch.from_numpy(phi), torch.from_numpy(x)).numpy()
    err = float(np.sqrt(np.mean((g - network_output(spec, theta, x)) ** 2)))
    return ChannelGroups(structure, group_of, sign, phi, err)


def _linked(w: np.ndarray, a: np.ndarray, neurons: list[int], flips: bool, x_rms: float, link_moment: float,
            power: int) -> list[list[int]]:
    """The groups (single linkage, in order of their first neuron) of ``neurons`` whose pairwise moment
    ``gap^power max(|a_k|, |a_l|) x_rms^power`` is at most ``link_moment``, ``gap = ||w_k -+ w_l||`` (the
    sign only where the activation ``flips``)."""
    parent = {k: k for k in neurons}

    def root(k):
        while parent[k] != k:
            k = parent[k]
        return k

    for i, k in enumerate(neurons):
        for j in neurons[i + 1:]:
            gap = np.linalg.norm(w[k] - w[j])
            if flips:
                gap = min(gap, np.linalg.norm(w[k] + w[j]))
            if (gap * x_rms) ** power * max(abs(a[k]), abs(a[j])) <= link_moment:
                parent[root(j)] = root(k)
    clusters: dict[int, list[int]] = {}
    for k in neurons:
        clusters.setdefault(root(k), []).append(k)
    return sorted(clusters.values(), key=min)


def _unpartnered(w: np.ndarray, a: np.ndarray, diverging: list[int], k: int, flips: bool, x_rms: float,
                 link_moment: float) -> str:
    """Why diverging neuron ``k`` has no partner, measured: the diverging neurons within ten link moments of
    it (up to sign) close in as one group of three or more, whose limit has a second-order term a gated
    linear unit lacks; or its nearest diverging neuron is simply too far."""

    def moment(i: int, j: int) -> tuple[float, int]:
        gaps = [(float(np.linalg.norm(w[i] - w[j])), 1)] + ([(float(np.linalg.norm(w[i] + w[j])), -1)] if flips else [])
        gap, sign = min(gaps)
        return gap * max(abs(a[i]), abs(a[j])) * x_rms, sign

    others = [j for j in diverging if j != k]
    if not others:
        return f"the outgoing weight of neuron {k} ({a[k]:.3g}) diverges alone, with no partner to cancel it"
    near = sorted((moment(k, j)[0], j) for j in others)
    close = [j for m, j in near if m <= 10 * link_moment]
    if len(close) >= 2:
        group = sorted([k, *close])
        flipped = [j for j in close if moment(k, j)[1] < 0]
        signs = f"; {', '.join(map(str, flipped))} sign-flipped against {k}" if flipped else ""
        worst = max(moment(i, j)[0] for i in group for j in group if i < j)
        return (f"neurons {', '.join(map(str, group))} diverge together (outgoing "
                f"{', '.join(f'{a[j]:.2g}' for j in group)}{signs}"
                f"), moments up to {worst:.3g} > {link_moment:g}: a group of {len(group)} whose limit has a "
                "second-order term the gated-linear-unit model lacks")
    m, j = near[0]
    return (f"the outgoing weight of neuron {k} ({a[k]:.3g}) diverges with no partner to cancel it: the nearest, "
            f"neuron {j}, has moment {m:.3g} > {link_moment:g}")


@dataclasses.dataclass
class ChannelResult:
    """What :func:`analyse_channel` found for one point (arrays float64 unless noted).

    kind: ``channel``, ``channel_saddle`` or ``not_converged``; reason: one line saying why.
    network_loss: loss at the end point; loss_limit ``L_inf``, grad_norm_limit, eigvals (Q,) ascending,
    lambda_min, degeneracy: the certified limit model (NaN / empty when there is none).
    structure: :meth:`LimitStructure.to_dict` (empty when not decomposed); phi (Q,) the certified
    limit parameters; phi_start (Q,) those read off the end point; drift between them (relative).
    group_of, sign (m,) int64 (:class:`ChannelGroups`); approx_error ``rms(f - g)`` at the end point.
    growth: the largest diverging ``|a|`` at the end over that at the first history point.
    approach_amplitude (K,), approach_loss (K,): ``L(A)`` on the path :func:`realise` builds towards
    the limit, and approach_exponent ``p`` of ``L(A) - L_inf ~ A^-p`` (fit over the larger half of
    the amplitudes). grad_amplitude (J,), approach_grad (J,), plain_grad (J,): the network's ``||grad L||`` along
    the channel at the point's own width, corrected (module docstring) and plainly realised (empty where the limit
    did not certify or no network of that width realises it). history_norm_a (H,), history_loss (H,):
    ``||a||`` and loss at the given history points. stop_reason: how the limit model's refinement ended.
    """

    kind: str
    reason: str
    network_loss: float
    loss_limit: float = math.nan
    grad_norm_limit: float = math.nan
    eigvals: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    lambda_min: float = math.nan
    degeneracy: int = 0
    structure: dict = dataclasses.field(default_factory=dict)
    phi: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    phi_start: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    drift: float = math.nan
    group_of: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sign: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    approx_error: float = math.nan
    growth: float = math.nan
    approach_amplitude: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    approach_loss: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    approach_exponent: float = math.nan
    grad_amplitude: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    approach_grad: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    plain_grad: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    history_norm_a: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    history_loss: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    stop_reason: str = ""

    @property
    def limit_structure(self) -> LimitStructure | None:
        return LimitStructure.from_dict(self.structure) if self.structure else None

    def groups(self) -> list[np.ndarray]:
        """Neuron indices of each unit (then the affine group, if any), in unit order."""
        out = [np.flatnonzero(self.group_of == g) for g in range(int(self.group_of.max(initial=-1)) + 1)]
        affine = np.flatnonzero(self.group_of == AFFINE)
        return out + ([affine] if affine.size else [])

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "structure":
                out[f.name] = dict(value)
            elif isinstance(value, np.ndarray):
                out[f.name] = value
            else:
                out[f.name] = value.item() if isinstance(value, np.generic) else value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ChannelResult:
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            value = d[f.name]
            if f.name == "structure":
                kw[f.name] = dict(value)
            elif f.name in ("group_of", "sign"):
                kw[f.name] = np.asarray(value, dtype=np.int64)
            elif f.name in ("kind", "reason", "stop_reason"):
                kw[f.name] = str(value)
            elif f.name == "degeneracy":
                kw[f.name] = int(value)
            elif isinstance(value, np.ndarray):
                kw[f.name] = np.asarray(value, dtype=np.float64)
            else:
                kw[f.name] = math.nan if value is None else float(value)
        return cls(**kw)


def _fit_exponent(amplitudes: np.ndarray, excess: np.ndarray) -> float:
    keep = (excess > 0) & np.isfinite(excess)
    keep[: len(keep) // 2] = False
    if keep.sum() < 2:
        return math.nan
    slope = np.polyfit(np.log(amplitudes[keep]), np.log(excess[keep]), 1)[0]
    return float(-slope)


def _realised_loss(structure: LimitStructure, phi, amplitude: float, x, y) -> float:
    theta = realise(structure, phi, amplitude)
    m = realised_width(structure)
    spec = MLPSpec((structure.d, m, 1), structure.activation, False)
    return _network_loss(spec, theta, x, y)


#: The limit model has tens of parameters; more than one torch thread only adds contention (on a
#: loaded 2-core machine two threads made the sample's analysis 15x slower than one).
_THREADS = 1


def analyse_channel(spec: MLPSpec, history, x, y, tolerances: Tolerances | None = None,
                    settings: ChannelSettings | None = None, stop: threading.Event | None = None) -> ChannelResult:
    """Is the last row of ``history (H, P)`` (points in time order) in a flat channel? Certify its limit.

    ``x (N, d)``, ``y (N, 1)`` are the training data. Never raises for a point that is not in a
    channel: the result then has kind ``not_converged`` and a reason.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(_THREADS)
    try:
        return _analyse_channel(spec, history, x, y, tolerances, settings, stop)
    finally:
        torch.set_num_threads(threads)


def _analyse_channel(spec: MLPSpec, history, x, y, tolerances: Tolerances | None,
                     settings: ChannelSettings | None, stop: threading.Event | None) -> ChannelResult:
    tolerances = tolerances or Tolerances()
    settings = settings or ChannelSettings()
    history = np.array(history, dtype=np.float64, ndmin=2)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    end = history[-1]
    if not np.isfinite(end).all():
        return ChannelResult("not_converged", "the end point is not finite", math.nan)
    net_loss = _network_loss(spec, end, x, y) if _two_layer(spec) is None else math.nan
    y_rms = math.sqrt(loss_scale(y[:, None]))
    dec = decompose(spec, end, x, settings)
    if isinstance(dec, str) or dec.approx_error > settings.approx_rtol * max(y_rms, 1e-300):
        # three or more neurons closing in: their limit keeps the second moment
        wider = decompose(spec, end, x, settings, second_order=True)
        if isinstance(wider, ChannelGroups) and wider.structure.n_second:
            dec = wider
    if isinstance(dec, str):
        if len(spec.hidden_widths) > 1 and len(history) > 1:
            dec = f"{dec}; {runoff_report(spec, history[0], end, x).summary()}"
        return ChannelResult("not_converged", dec, net_loss)
    result = ChannelResult("not_converged", "", net_loss, structure=dec.structure.to_dict(), phi_start=dec.phi,
                           group_of=dec.group_of, sign=dec.sign, approx_error=dec.approx_error)
    diverging = dec.group_of != FINITE
    norms = np.array([np.abs(_parts(spec, h)[1][diverging]).max() for h in history])
    result.history_norm_a = np.array([np.linalg.norm(_parts(spec, h)[1]) for h in history])
    result.history_loss = np.array([_network_loss(spec, h, x, y) for h in history])
    result.growth = float(norms[-1] / norms[0]) if len(history) > 1 and norms[0] > 0 else math.nan
    if len(history) > 1 and not result.growth > 1.0:
        result.reason = f"the group's outgoing weights did not grow along the history (x{result.growth:.3g})"
        return result
    if dec.approx_error > settings.approx_rtol * max(y_rms, 1e-300):
        result.reason = (f"the limit units do not reproduce the network (rms error {dec.approx_error:.2e}): "
                         "the groups are not gated linear or second-order units")
        return result
    crit = refine_limit(dec.structure, dec.phi, x, y, stop=stop)
    result.phi, result.loss_limit, result.grad_norm_limit = crit.theta, crit.loss, crit.grad_norm
    result.eigvals, result.stop_reason = crit.eigvals, crit.stop_reason
    result.drift = float(np.linalg.norm(crit.theta - dec.phi) / max(np.linalg.norm(crit.theta), 1.0))
    c = classify(crit.loss, crit.grad_norm, crit.eigvals, loss_scale(y[:, None]), tolerances)
    result.lambda_min, result.degeneracy = c.lambda_min, c.n_zero
    amps = np.asarray(settings.approach_amplitudes, dtype=np.float64)
    result.approach_amplitude = amps
    result.approach_loss = np.array([_realised_loss(dec.structure, crit.theta, A, x, y) for A in amps])
    result.approach_exponent = _fit_exponent(amps, result.approach_loss - crit.loss)
    if c.kind == "not_converged":
        result.reason = f"the limit model did not refine to a critical point (|grad| {crit.grad_norm:.1e})"
    elif result.drift > settings.max_drift:
        result.reason = f"the limit model refined to a critical point far from the channel (drift {result.drift:.2g})"
    elif crit.loss > net_loss:
        value, grad, hess = loss_grad_hessian(spec, end, x, y[:, None])
        at = classify(value, float(np.linalg.norm(grad)), spectrum(hess)[0], loss_scale(y[:, None]), tolerances)
        result.reason = (f"the network's loss {net_loss:.6e} lies below the limit's {crit.loss:.6e}: "
                         f"the point is not on a channel descending to infinity but at finite, large weights "
                         f"(‖θ‖ {np.linalg.norm(end):.3g}), with ‖∇L‖ {np.linalg.norm(grad):.2g} "
                         f"(grad_tol {tolerances.grad_tol:g}) and {at.n_negative} negative Hessian eigenvalues")
    else:
        units = ", ".join("+".join(str(k) for k in grp) for grp in result.groups())
        what = "saddle" if c.kind == "strict_saddle" else "minimum"
        limit = APPROACH_GRAD_TOL * loss_scale(y[:, None])
        _check_network(result, dec, crit.theta, x, y)
        if result.approach_grad.size and not result.approach_grad[-1] <= limit:
            kept, amplitude = result.approach_grad[-1], result.grad_amplitude[-1]
            result.reason = (f"the limit model is certified ({what}, L_inf {crit.loss:.6e}) but the network along the "
                             f"channel keeps |grad L| {kept:.1e} at A = {amplitude:g} "
                             f"(corrected; at most {limit:.1e} for a critical point at infinity)")
            return result
        result.kind = "channel_saddle" if c.kind == "strict_saddle" else "channel"
        result.reason = f"{what} at infinity: neurons {units} -> limit loss {crit.loss:.6e}"
    return result


#: Amplitudes at which the network along a certified channel is corrected and its gradient measured.
GRAD_AMPLITUDES = (10.0, 100.0, 1000.0)


def _check_network(result: ChannelResult, dec: ChannelGroups, phi, x, y) -> None:
    """Fill ``result``'s ``grad_amplitude``, ``approach_grad`` and ``plain_grad`` (module docstring); left empty
    where no realisation of the point's own width keeps its width near ``phi``."""
    st = dec.structure
    realiser = realise
    if st.constant and not st.linear:
        # the constant is held by sign-flipped members, as in the network, not by an affine pair (whose
        # outgoing weights +-A meet a linear term the limit does not have, a gradient growing like A)
        counts = [int(((dec.group_of == g) & (dec.sign < 0)).sum()) for g in range(st.n_glu + st.n_second)]
        realiser = own_width_realiser(counts)
    try:
        points = polish_along_channel(realiser, st, phi, GRAD_AMPLITUDES, x, y)
    except ValueError:
        return
    result.grad_amplitude = np.array(GRAD_AMPLITUDES)
    result.approach_grad = np.array([p.grad_norm for p in points])
    result.plain_grad = np.array([p.stencil_grad_norm for p in points])


def limit_hessian(result: ChannelResult, x, y) -> np.ndarray:
    """The exact Hessian ``(Q, Q)`` of the certified limit model of ``result``."""
    return limit_loss_grad_hessian(result.limit_structure, result.phi, x, y)[2]


# ------------------------------------------------------------------------------------------
# Storage: one HDF5 group per result (registry-style), or a tree under the session's analyses.
# ------------------------------------------------------------------------------------------

def write_channel(group: h5py.Group, result: ChannelResult) -> None:
    """Store ``result`` in ``group``: arrays as datasets, scalars and the structure as attributes."""
    for key, value in result.to_dict().items():
        if key == "structure":
            sub = group.create_group("structure")
            for k, v in value.items():
                sub.attrs[k] = v
        elif isinstance(value, np.ndarray):
            group.create_dataset(key, data=value)
        else:
            group.attrs[key] = value


def read_channel(group: h5py.Group) -> ChannelResult:
    """Inverse of :func:`write_channel`."""
    d = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in group.attrs.items()}
    for key, item in group.items():
        if key == "structure":
            d[key] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in item.attrs.items()}
        else:
            d[key] = np.asarray(item[()])
    return ChannelResult.from_dict(d)


__all__ = [
    "AFFINE",
    "CHANNEL_KINDS",
    "FINITE",
    "ChannelGroups",
    "ChannelResult",
    "ChannelSettings",
    "activation",
    "analyse_channel",
    "decompose",
    "diverging_neurons",
    "limit_hessian",
    "network_output",
    "read_channel",
    "write_channel",
]
