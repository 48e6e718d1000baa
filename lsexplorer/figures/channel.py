"""The channel figures: a run at the end of a flat channel to infinity, seen through its certified limit.

Drawn from the stored channel analysis (``/analyses/channels/points/<run>``,
:mod:`lsexplorer.core.analyses.channels`) of a minimum or saddle at infinity, as the Channel panel shows it:

* ``channel_approach``: ``L − L∞`` against the norm of the outgoing weights ``‖a‖``, log–log: the path
  towards the limit that :func:`~lsexplorer.core.channels.limit_model.realise` builds, the training
  snapshots, and the end of training and the refined point;
* ``channel_unit``: the first limit unit ``c σ(u·x) + (v·x) σ′(u·x)`` over the input plane (two inputs);
* ``channel_match``: that group's output at the end point against the limit unit at every data point;
* ``channel_spectrum``: the limit model's exact Hessian eigenvalues, ``|λ|`` coloured by sign.

The functions that compute what is drawn (:func:`approach`, :func:`limit_unit`, :func:`group_output`,
:func:`unit_plane`, :func:`sign_classes`) are also what the panel draws.
"""

from __future__ import annotations

import numpy as np

from ..core.analyses import channels as channel_analysis
from ..core.base.classify import Tolerances, loss_scale
from ..core.base.kinds import kind_label
from ..core.store.session import Session
from .available import ROUNDOFF, FigureUnavailable, is_roundoff, missing, roundoff_note
from .catalog import FigureOptions, FigureSpec
from .colors import DIVERGING_CMAP
from .plot import Axes, Heatmap, Line, Plot, Reference, Scatter

#: Eigenvalue colours by sign: positive, (numerically) zero, negative.
SIGN_COLORS = {"positive": "#0072B2", "zero": "#999999", "negative": "#D55E00"}
#: Grid points per side of the limit unit over the input plane (the panel's).
UNIT_GRID = 101
_CHANNEL_KINDS = ("channel", "channel_saddle")


# ------------------------------------------------------------------------------------ the data

def approach(session: Session, run: int, result) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``(‖a‖, L − L∞)`` of ``"path"`` (the networks built towards the limit at the stored amplitudes),
    ``"trajectory"`` (the run's training snapshots; empty without them) and ``"history"`` (end of
    training, refined point), for the :class:`ChannelResult` ``result`` of ``run``."""
    from ..core.channels.limit_model import realise, realised_width  # at call time: torch loads only here

    structure = result.limit_structure
    m = realised_width(structure)
    norms = np.array([np.linalg.norm(realise(structure, result.phi, amp)[m * structure.d:])
                      for amp in result.approach_amplitude])
    out = {"path": (norms, np.asarray(result.approach_loss, dtype=np.float64) - result.loss_limit)}
    width, d = session.spec.hidden_widths[0], session.spec.d_in
    trajectory = session.runs.trajectory
    if trajectory is not None:
        snaps = trajectory.theta[run].astype(np.float64)
        out["trajectory"] = (np.linalg.norm(snaps[:, width * d:width * d + width], axis=1),
                             trajectory.loss[run] - result.loss_limit)
    else:
        out["trajectory"] = (np.zeros(0), np.zeros(0))
    out["history"] = (np.asarray(result.history_norm_a, dtype=np.float64), result.history_loss - result.loss_limit)
    return out


def unit_is_affine(result, group: int) -> bool:
    """Whether group ``group`` of ``result`` is the affine group (incoming weights → 0)."""
    from ..core.channels.flat_channel import AFFINE

    return bool((result.group_of[result.groups()[group]] == AFFINE).all())


def limit_unit(result, group: int, points: np.ndarray) -> np.ndarray:
    """The limit of group ``group`` at ``points (K, d)``: its unit ``c σ(u·x) + (v·x) σ′(u·x)`` (plus
    ``½ σ″(u·x) xᵀMx`` for a group of three or more with a second-order limit), or ``l·x`` for the
    affine group (whose diverging constant cancels against others)."""
    from ..core.channels.limit_model import group_output as unit_limit
    from ..core.channels.limit_model import unpack

    structure = result.limit_structure
    points = np.asarray(points, dtype=np.float64)
    if unit_is_affine(result, group):
        return points @ unpack(structure, result.phi).l
    return unit_limit(structure, result.phi, group, points)


def unit_gate(result, group: int) -> np.ndarray:
    """The gate vector ``u (d,)`` of group ``group``'s unit (gated linear units first, then second-order ones;
    zeros for the affine group)."""
    from ..core.channels.limit_model import unpack

    structure = result.limit_structure
    p = unpack(structure, result.phi)
    if unit_is_affine(result, group):
        return np.zeros(structure.d)
    return p.u[group] if group < structure.n_glu else p.u2[group - structure.n_glu]


def unit_formula(result, group: int) -> str:
    """What group ``group``'s limit computes, in symbols."""
    if unit_is_affine(result, group):
        return "l·x (w → 0: affine)"
    structure = result.limit_structure
    if group >= structure.n_glu:
        if len(structure.signatures[group - structure.n_glu]) > 1:  # four or more neurons: a curvature of rank > 1
            return "c σ(u·x) + (v·x) σ′(u·x) + ½ σ″(u·x) xᵀMx"
        return "c σ(u·x) + (v·x) σ′(u·x) + ½ s σ″(u·x) (m·x)²"
    return "c σ(u·x) + (v·x) σ′(u·x)"


def group_output(session: Session, run: int, result, group: int) -> np.ndarray:
    """The output of group ``group``'s neurons at the run's end point at every data point ``(N,)``, less
    the constants the limit unit leaves out: a sign-flipped member enters its unit as ``(−w, −a)`` plus
    the constant ``a`` (sigmoid), and an affine member as ``a σ(0) + σ′(0) a (w·x)``."""
    from ..core.channels.flat_channel import activation
    from ..core.channels.limit_model import AT_ZERO

    structure = result.limit_structure
    members = result.groups()[group]
    theta = np.asarray(session.runs.theta[run], dtype=np.float64)
    m, d = session.spec.hidden_widths[0], session.spec.d_in
    w, a = theta[:m * d].reshape(m, d), theta[m * d:m * d + m]
    if unit_is_affine(result, group):
        constant = AT_ZERO[structure.activation][0] * float(a[members].sum())
    else:
        flipped = members[result.sign[members] < 0]
        constant = float(a[flipped].sum()) if structure.activation == "sigmoid" else 0.0
    return activation(structure.activation, session.x @ w[members].T) @ a[members] - constant


def unit_plane(session: Session, result, group: int, n: int = UNIT_GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The limit unit of group ``group`` on an ``n × n`` grid spanning the data's two inputs: ``x1 (n,)``,
    ``x2 (n,)`` and the values ``(n, n)`` with ``[i, j]`` at ``(x1[i], x2[j])``."""
    (lo1, lo2), (hi1, hi2) = session.x.min(axis=0), session.x.max(axis=0)
    x1, x2 = np.linspace(lo1, hi1, n), np.linspace(lo2, hi2, n)
    g1, g2 = np.meshgrid(x1, x2, indexing="ij")
    return x1, x2, limit_unit(result, group, np.column_stack([g1.ravel(), g2.ravel()])).reshape(g1.shape)


def sign_classes(eigvals: np.ndarray, tol: float) -> dict[str, np.ndarray]:
    """Masks of the ``"negative"`` (``λ < −tol``), ``"zero"`` (``|λ| ≤ tol``) and ``"positive"`` eigenvalues."""
    eigvals = np.asarray(eigvals, dtype=np.float64)
    return {"negative": eigvals < -tol, "zero": np.abs(eigvals) <= tol, "positive": eigvals > tol}


_SIGN_WORDS = {"negative": "λ < 0", "zero": "λ ≈ 0", "positive": "λ > 0"}


def sign_layers(x: np.ndarray, y: np.ndarray, eigvals: np.ndarray, tol: float, size: float = 10.0) -> list[Scatter]:
    """One scatter per sign class of ``eigvals`` present (at ``x``, ``y``), labelled with its count."""
    layers = []
    for sign, mask in sign_classes(eigvals, tol).items():
        if mask.any():
            layers.append(Scatter(f"{_SIGN_WORDS[sign]} ({int(mask.sum())})", x[mask], y[mask],
                                  color=SIGN_COLORS[sign], size=size))
    return layers


def magnitude_layers(eigvals: np.ndarray, tol: float) -> list:
    """``|λ|`` of ``eigvals`` against their 1-based index, one scatter per sign, and the zero threshold
    ``tol``: for a log axis, where a symmetric log axis of ``λ`` would pile its decades' labels up. An
    eigenvalue of exactly 0 is drawn a decade below the smallest non-zero one (a log axis has no 0)."""
    eigvals = np.asarray(eigvals, dtype=np.float64)
    magnitude = np.abs(eigvals)
    positive = magnitude[magnitude > 0]
    shown = np.maximum(magnitude, positive.min() / 10 if positive.size else 1.0)
    index = np.arange(1, eigvals.size + 1, dtype=float)
    return [*sign_layers(index, shown, eigvals, tol),
            Reference("zero threshold", tol, color="0.6", style=":", width=0.8)]


# ------------------------------------------------------------------------------------ the figures

def channel_result(session: Session, run: int):
    """The stored channel analysis of ``run``; FigureUnavailable for a run not at the end of a flat channel."""
    kind = str(session.runs.kind[run])
    if kind not in channel_analysis.ELIGIBLE:
        raise FigureUnavailable(f"run {run} is a {kind_label(kind)}, a finite critical point: it has no channel "
                                "to infinity")
    result = channel_analysis.read(session, run)
    if result is None:
        raise missing("channel analysis", "channels", run)
    if result.kind not in _CHANNEL_KINDS or not result.structure:
        raise FigureUnavailable(f"run {run} is not in a flat channel: {result.reason}")
    return result


def _group_name(result, group: int) -> str:
    return "neurons " + "+".join(str(int(k)) for k in result.groups()[group])


def channel_approach(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """``L − L∞`` against ``‖a‖`` along the channel, on log–log axes (points below round-off of ``L∞`` left out)."""
    result = channel_result(session, run)
    curves = approach(session, run, result)
    floor = ROUNDOFF * abs(result.loss_limit)  # an excess below this is round-off of L∞, not a distance to it

    def kept(name: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = curves[name]
        keep = (x > 0) & (y > floor) & np.isfinite(y)
        return x[keep], y[keep]

    path, trajectory, history = kept("path"), kept("trajectory"), kept("history")
    layers: list = []
    if trajectory[0].size:
        layers.append(Scatter("training snapshots", *trajectory, color="#999999", size=5))
    layers.append(Line(f"path to the limit (slope −{result.approach_exponent:.2f})", *path, color="#0072B2",
                       width=1.2))
    hx, hy = curves["history"]
    for i, (label, filled) in enumerate((("end of training", False), ("refined point", True))):
        if i < hx.size and hx[i] > 0 and hy[i] > floor:
            layers.append(Scatter(label, hx[i:i + 1], hy[i:i + 1], color="#D55E00", marker="s", size=22,
                                  filled=filled))
    note = ""
    if not (path[0].size or trajectory[0].size or history[0].size):
        layers, note = [], roundoff_note("L − L∞", curves["path"][1], result.loss_limit)
    what = kind_label(result.kind)
    return Plot(
        name="channel_approach",
        caption=(f"Run {run}, a {what} (L∞ = {result.loss_limit:.6e}): loss above the limit L∞ against the norm "
                 f"of the outgoing weights, along the path built towards the certified limit model (fitted "
                 f"L − L∞ ∝ ‖a‖^−{result.approach_exponent:.3f}), at the training snapshots, the end of "
                 "training and the refined point."),
        axes=[Axes(layers=layers, xlabel="‖a‖ (outgoing weights)", ylabel="L − L∞", xscale="log", yscale="log",
                   note=note)],
        aspect=0.75)


def channel_unit(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The first group's limit unit over the input plane (diverging colours, symmetric about 0), with
    the centre line ``u·x = 0`` of its gate."""
    from ..core.channels.limit_model import unpack

    result = channel_result(session, run)
    d = session.spec.d_in
    if d != 2:
        raise FigureUnavailable(f"run {run}: the limit unit is drawn over the plane of two inputs, and this "
                                f"network has {d}; see channel_match")
    group = 0
    x1, x2, values = unit_plane(session, result, group)
    top = float(np.abs(values).max()) or 1.0
    affine = unit_is_affine(result, group)
    layers: list = [Heatmap("limit unit", x1, x2, values.T, colorbar="limit unit g(x)", cmap=DIVERGING_CMAP,
                            limits=(-top, top))]
    u = unpack(result.limit_structure, result.phi).u[group] if not affine else np.zeros(2)
    if np.linalg.norm(u) > 0:
        # the gate's centre line u·x = 0, long enough to cross the plane
        e = u / np.linalg.norm(u)
        reach = 2 * float(np.abs(session.x).max())
        layers.append(Line("gate centre u·x = 0", [-e[1] * reach, e[1] * reach], [e[0] * reach, -e[0] * reach],
                           color="#222222", style="--", width=0.9))
    formula = "l·x (affine: w → 0)" if affine else "c σ(u·x) + (v·x) σ′(u·x)"
    return Plot(
        name="channel_unit",
        caption=(f"Run {run}, a {kind_label(result.kind)}: the limit unit {formula} of {_group_name(result, group)} "
                 "over the input plane, with the centre line of its gate."),
        axes=[Axes(layers=layers, xlabel="x₁", ylabel="x₂", xlim=(float(x1[0]), float(x1[-1])),
                   ylim=(float(x2[0]), float(x2[-1])))],
        aspect=0.85)


def channel_match(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The first group's output at the end point against its limit unit at every data point, with ``y = x``."""
    result = channel_result(session, run)
    group = 0
    limit, out = limit_unit(result, group, session.x), group_output(session, run, result, group)
    lo, hi = float(min(limit.min(), out.min())), float(max(limit.max(), out.max()))
    name = _group_name(result, group)
    return Plot(
        name="channel_match",
        caption=(f"Run {run}, a {kind_label(result.kind)}: the output of {name} at the end point against their "
                 f"limit unit at each of the {limit.size} data points; they differ by at most "
                 f"{float(np.abs(out - limit).max()):.1e}."),
        axes=[Axes(layers=[Scatter(f"{name}, at the data points", limit, out, color="#0072B2", size=3),
                           Line("y = x", [lo, hi], [lo, hi], color="#222222", style="--", width=0.7)],
                   xlabel="limit unit g(xᵢ)", ylabel="group output at the end point")],
        aspect=0.8)


def channel_spectrum(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The limit model's Hessian eigenvalues, ``|λ|`` on a log axis coloured by sign."""
    result = channel_result(session, run)
    eig = np.asarray(result.eigvals, dtype=np.float64)
    scale = loss_scale(session.y)  # the Hessian of a loss of size mean‖y‖², per unit parameter
    caption = (f"Run {run}, a {kind_label(result.kind)}: the {eig.size} eigenvalues of the exact Hessian of "
               "its certified limit model, |λ| by sign.")
    if is_roundoff(eig, scale):
        axes = Axes(xlabel="eigenvalue index (ascending)", ylabel="|λ| (limit model)",
                    note=roundoff_note("the limit model's Hessian spectrum", eig, scale))
        return Plot(name="channel_spectrum", caption=caption, axes=[axes], aspect=0.6)
    tol = Tolerances.from_dict(session.config.get("tolerances", {})).zero_eig_tol(eig)
    layers = magnitude_layers(eig, tol)
    return Plot(
        name="channel_spectrum", caption=caption + f" Below the zero threshold {tol:.1e} an eigenvalue counts as 0.",
        axes=[Axes(layers=layers, xlabel="eigenvalue index (ascending)", ylabel="|λ| (limit model)", yscale="log")],
        aspect=0.6, legend_columns=4)


FIGURES = (
    FigureSpec("channel_approach", "channel", "loss along the channel to infinity", channel_approach,
               needs=("channels",)),
    FigureSpec("channel_unit", "channel", "limit unit over the input plane", channel_unit, needs=("channels",)),
    FigureSpec("channel_match", "channel", "group output against its limit unit", channel_match,
               needs=("channels",)),
    FigureSpec("channel_spectrum", "channel", "limit model's Hessian spectrum", channel_spectrum,
               needs=("channels",)),
)

__all__ = ["FIGURES", "SIGN_COLORS", "UNIT_GRID", "approach", "channel_approach", "channel_match", "channel_result",
           "channel_spectrum", "channel_unit", "group_output", "limit_unit", "magnitude_layers", "sign_classes",
           "sign_layers", "unit_formula", "unit_gate", "unit_is_affine", "unit_plane"]
