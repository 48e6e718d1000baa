"""The neurons figure (thesis Fig 6.4): a run's hidden neurons as points in the space of incoming weights.

Each student neuron ``j`` is a circle at its incoming vector ``w_j``, filled by its outgoing weight
``a_j`` on a diverging map symmetric about 0 (the norm of the outgoing column, on a sequential map,
when there are several outputs); the teacher's neurons are stars on the same scale; a grey line
follows each neuron from initialisation (small open circle) to the refined point. Inputs wider than
two are seen through the first two principal directions of all runs' incoming vectors (uncentred, so
the origin, the centre of the sign symmetry, stays at the origin). The colour scale is the same for
every run of a session, so figures of several runs compare.

The functions before :func:`neurons_figure` are what the Neurons panel draws too (the panel adds
the choice of layer and of the pair of coordinates); the figure draws layer 1 in the panel's
default coordinates.
"""

from __future__ import annotations

import numpy as np

from ..core.base.kinds import Kind, kind_label
from ..core.store.run_names import run_name
from ..core.store.session import Session
from ..core.symmetry.neuron_vectors import incoming_and_outgoing, principal_axes
from ..core.symmetry.operations import SIGN_SYMMETRIC, match_to_teacher
from .available import FigureUnavailable
from .catalog import FigureOptions, FigureSpec
from .colors import DIVERGING_CMAP
from .plot import Axes, Line, Plot, Scatter

#: Percentile of |outgoing weight| that ends the colour scale: a few outliers (a pair of neurons running
#: into a channel to infinity has |a| in the hundreds) saturate instead of washing every other neuron
#: out to the map's white middle.
ROBUST_PERCENTILE = 98.0
#: The panel's choice "the first two principal directions of all runs' incoming vectors".
PCA = "pca"
#: Kinds whose point is not a finite critical point: their outgoing weights do not set the colour scale.
_NOT_FINITE_CRITICAL = (Kind.NOT_CONVERGED, Kind.CHANNEL, Kind.CHANNEL_SADDLE)
#: The outline of the ring around a group of neurons running into a channel to infinity.
CHANNEL_COLOR = "#D55E00"


def coordinate_names(session: Session, layer: int) -> list[str]:
    """Names of the entries of an incoming vector of hidden ``layer``: ``w1 … wk`` and ``b`` with biases."""
    spec = session.spec
    names = [f"w{i + 1}" for i in range(spec.widths[layer - 1])]
    return names + (["b"] if spec.bias else [])


def axis_choices(session: Session, layer: int) -> tuple[list[tuple[str, str]], int]:
    """The planes the neurons can be seen in, as ``(label, choice)`` pairs, and the default's index:
    principal directions (when an incoming vector has more than two entries), then every pair of
    coordinates; for two inputs with a bias the weights themselves by default."""
    names = coordinate_names(session, layer)
    choices = [("PCA of all runs", PCA)] if len(names) > 2 else []
    choices += [(f"{names[i]} vs {names[j]}", f"{i},{j}") for i in range(len(names)) for j in range(i + 1, len(names))]
    default = 1 if len(names) == 3 and names[-1] == "b" else 0
    return choices, default


def pca_basis(session: Session, layer: int) -> np.ndarray:
    """``(k, 2)``: the two directions through the origin along which all runs' incoming vectors spread most."""
    v, _ = incoming_and_outgoing(session.spec, session.runs.theta, layer)
    return principal_axes(v)


def projection(session: Session, layer: int, choice: str | None,
               pca: np.ndarray | None = None) -> tuple[np.ndarray, tuple[str, str]]:
    """``(k, 2)`` matrix mapping incoming vectors to the plotted plane, and the panel's axis labels.

    ``choice``: one of :func:`axis_choices` (None: the first pair of coordinates); ``pca``: the
    principal directions when already computed."""
    names = coordinate_names(session, layer)
    if choice == PCA:
        basis = pca if pca is not None else pca_basis(session, layer)
        return basis, ("PC 1 of incoming weights", "PC 2 of incoming weights")
    i, j = (int(k) for k in choice.split(",")) if choice else (0, 1)
    basis = np.zeros((len(names), 2))
    basis[i, 0] = basis[j, 1] = 1.0
    return basis, (f"{names[i]} (incoming)", f"{names[j]} (incoming)")


def flip_possible(session: Session) -> bool:
    """Whether neurons can be matched to the teacher up to sign flips: a teacher, two-layer nets of
    one sign-symmetric activation (sigmoid, tanh) and one bias setting."""
    spec, tspec = session.spec, session.teacher_spec
    return (tspec is not None and session.teacher_theta is not None and len(spec.widths) == 3
            and len(tspec.widths) == 3 and spec.activation in SIGN_SYMMETRIC
            and tspec.activation == spec.activation and tspec.bias == spec.bias)


def teacher_comparable(session: Session, layer: int) -> bool:
    """Whether the teacher's first layer lives in the same space as the student's ``layer``."""
    spec, tspec = session.spec, session.teacher_spec
    return (tspec is not None and session.teacher_theta is not None and layer == 1
            and tspec.d_in == spec.d_in and tspec.bias == spec.bias)


def _colour_value(c: np.ndarray) -> np.ndarray:
    """Outgoing weight of each neuron, or the norm of its outgoing column when there are several outputs."""
    return c[..., 0, :] if c.shape[-2] == 1 else np.linalg.norm(c, axis=-2)


def neuron_path(session: Session, run: int, layer: int) -> np.ndarray:
    """Incoming vectors ``(K, m, k)`` from initialisation through the stored snapshots to the refined
    point of ``run``; without stored snapshots: initialisation, end of training, refined point."""
    r = session.runs
    if r.trajectory is not None:
        snaps = r.trajectory.theta[run].astype(np.float64)
        if r.trajectory.epochs[0] != 0:
            snaps = np.concatenate([r.theta_init[run][None], snaps])
    else:
        snaps = np.stack([r.theta_init[run], r.theta_trained[run]])
    snaps = np.concatenate([snaps, r.theta[run][None]])
    return incoming_and_outgoing(session.spec, snaps, layer)[0]


def neuron_data(session: Session, run: int, layer: int, basis: np.ndarray, labels: tuple[str, str],
                flip: bool) -> dict:
    """What the neurons view shows for ``run``, as plain arrays.

    ``v (m, k)`` incoming vectors (sign-flipped rows negated), ``value (m,)`` the colour value
    (outgoing weight, or the norm of the outgoing column for several outputs), ``flipped (m,)``,
    ``xy (m, 2)`` plotted positions, ``path (K, m, 2)`` plotted trajectories; the same ``teacher_*``
    for the teacher (None when it has no comparable layer). ``flip``: draw the neurons that match a
    teacher neuron with the opposite sign at ``(-w, -a)`` (ignored where :func:`flip_possible` is not).
    """
    spec, theta = session.spec, session.runs.theta[run]
    v, c = incoming_and_outgoing(spec, theta, layer)
    single_output = c.shape[0] == 1
    value = _colour_value(c)
    flipped = np.zeros(len(v), dtype=bool)
    if flip and flip_possible(session) and np.isfinite(theta).all():
        flipped = np.asarray(match_to_teacher(spec, theta, session.teacher_spec, session.teacher_theta).flipped,
                             dtype=bool)
    sign = np.where(flipped, -1.0, 1.0)
    v = v * sign[:, None]
    if single_output:
        value = value * sign
    path = neuron_path(session, run, layer) * sign[None, :, None]
    data = {"v": v, "value": value, "flipped": flipped, "xy": v @ basis, "path": path @ basis,
            "labels": labels, "names": coordinate_names(session, layer), "single_output": single_output,
            "teacher_v": None, "teacher_value": None, "teacher_xy": None}
    if teacher_comparable(session, layer):
        tv, tc = incoming_and_outgoing(session.teacher_spec, session.teacher_theta, 1)
        data.update(teacher_v=tv, teacher_value=_colour_value(tc), teacher_xy=tv @ basis)
    return data


def colour_levels(session: Session, layer: int) -> tuple[float, float]:
    """The colour scale of ``layer``, the same for every run of the session.

    Symmetric about 0 over the outgoing weights of the teacher and every run at a finite critical
    point (all finite runs when there is none: runs drifting to a minimum at infinity have |a| in the
    hundreds), ending at the 98th percentile of |a|, so one run with large weights neither rescales
    the map per run nor washes the others out; ``(0, a)`` for norms of several outputs.
    """
    r, spec = session.runs, session.spec
    finite = np.isfinite(r.theta).all(axis=1)
    critical = finite & ~np.isin(np.asarray(r.kind).astype(str), [str(k) for k in _NOT_FINITE_CRITICAL])
    c = incoming_and_outgoing(spec, r.theta[critical if critical.any() else finite], layer)[1]  # (S, n_next, m)
    values = [_colour_value(c).ravel()]
    if teacher_comparable(session, layer):
        values.append(_colour_value(incoming_and_outgoing(session.teacher_spec, session.teacher_theta, 1)[1]))
    magnitude = np.abs(np.concatenate([v.ravel() for v in values]))
    magnitude = magnitude[np.isfinite(magnitude)]
    top = float(np.percentile(magnitude, ROBUST_PERCENTILE)) if magnitude.size else 0.0
    if top <= 0:  # every weight zero (or none): the largest, or a unit scale
        top = float(magnitude.max()) if magnitude.size and magnitude.max() > 0 else 1.0
    return (-top if c.shape[1] == 1 else 0.0, top)


def channel_group(session: Session, run: int, n_neurons: int, layer: int = 1) -> np.ndarray:
    """Neurons of ``run`` in a channel to infinity (from its stored channel analysis), for layer 1."""
    if layer != 1 or str(session.runs.kind[run]) not in (Kind.CHANNEL, Kind.CHANNEL_SADDLE):
        return np.zeros(0, dtype=np.int64)
    point = session.analyses.get("channels", {}).get("points", {}).get(str(run))
    if point is None:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.asarray(point["group_of"])[:n_neurons] != -1)


def path_lines(path: np.ndarray) -> np.ndarray:
    """``(K, m, 2)`` paths as one ``(m (K + 1), 2)`` polyline, one NaN-separated piece per neuron."""
    gaps = np.full((1, path.shape[1], 2), np.nan)
    return np.concatenate([path, gaps]).transpose(1, 0, 2).reshape(-1, 2)


_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _axis_label(label: str) -> str:
    """The panel's ``w1 (incoming)`` as ``incoming weight w₁`` (``bias b``); principal directions as they are."""
    name = label.removesuffix(" (incoming)")
    if name == label:
        return label
    return "bias b" if name == "b" else f"incoming weight {name.translate(_SUBSCRIPT)}"


def neurons_figure(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """Run ``run``'s first-layer neurons, the teacher's and their training paths (module docstring)."""
    options = options or FigureOptions()
    r, layer = session.runs, 1
    if not np.isfinite(r.theta[run]).all():
        raise FigureUnavailable(f"run {run} has no finite point to draw (its refinement diverged)")
    if options.flip and not flip_possible(session):
        raise FigureUnavailable("sign-flipped representatives need a teacher and a two-layer sigmoid or tanh "
                                "student with the teacher's activation and bias setting")
    choices, default = axis_choices(session, layer)
    basis, labels = projection(session, layer, choices[default][1] if choices else None)
    d = neuron_data(session, run, layer, basis, labels, options.flip)
    lo, hi = colour_levels(session, layer)
    shown_values = [d["value"]] + ([d["teacher_value"]] if d["teacher_v"] is not None else [])
    every = np.concatenate(shown_values)
    every = every[np.isfinite(every)]
    below, above = bool(every.size and every.min() < lo), bool(every.size and every.max() > hi)
    extend = "both" if below and above else "min" if below else "max" if above else "neither"
    cmap = DIVERGING_CMAP if d["single_output"] else "viridis"
    bar = "outgoing weight a" if d["single_output"] else "‖outgoing weights‖"
    colour = {"cmap": cmap, "limits": (lo, hi), "edgecolor": "#222222", "extend": extend}

    xy, flipped, path = d["xy"], d["flipped"], d["path"]
    stored = r.trajectory is not None
    moved = bool(np.nanmax(np.ptp(path, axis=0), initial=0.0) > 0)  # imported points have no path
    layers: list = []
    if moved:
        layers += [Line("training path" if stored else "init → end of training → refined", *path_lines(path).T,
                        color="#888888", width=0.6),
                   Scatter("initialisation", path[0, :, 0], path[0, :, 1], color="#666666", size=6, filled=False)]
    group = channel_group(session, run, len(xy), layer)
    if group.size and moved:
        layers.append(Line("path into the channel", *path_lines(path[:, group]).T, color=CHANNEL_COLOR, width=0.9,
                           legend=False))
    drawn = np.concatenate([xy, path.reshape(-1, 2)] + ([d["teacher_xy"]] if d["teacher_v"] is not None else []))
    span = _span(drawn)
    # Each marker kind once in the legend, in a neutral fill: a legend entry coloured like one neuron
    # would read as that neuron's outgoing weight.
    coloured = [("student", "student", ~flipped, "o", 22.0),
                ("sign-flipped", "sign-flipped (−w, −a)", flipped, "s", 20.0)]
    if d["teacher_v"] is not None:
        coloured.insert(1, ("teacher", "teacher", None, "*", 70.0))
    samples = []
    for name, legend, rows, marker, size in coloured:
        if rows is None:
            x, y, values = d["teacher_xy"][:, 0], d["teacher_xy"][:, 1], d["teacher_value"]
        elif rows.any():
            x, y, values = xy[rows, 0], xy[rows, 1], d["value"][rows]
        else:
            continue
        first = not any(isinstance(layer_, Scatter) and layer_.values is not None for layer_ in layers)
        layers.append(Scatter(f"{name} neurons", x, y, marker=marker, size=size, values=values, legend=False,
                              colorbar=bar if first else None, alpha=0.75 if rows is None else 1.0, **colour))
        label = legend + _coinciding(np.column_stack([x, y]), span)
        samples.append(Scatter(label, [], [], color="#dddddd", marker=marker, size=size, edgecolor="#222222"))
    layers += samples
    if group.size:
        layers.append(Scatter("group in a channel to ∞", xy[group, 0], xy[group, 1],
                              color=CHANNEL_COLOR, size=80, filled=False))
    kind = kind_label(r.kind[run])
    colour_text = "outgoing weight" if d["single_output"] else "the norm of the outgoing weights"
    flips = f"; {int(flipped.sum())} sign-flipped neuron(s) drawn at (−w, −a) as squares" if flipped.any() else ""
    plane = " (first two principal directions of all runs' incoming vectors)" if labels[0].startswith("PC") else ""
    teacher = ", teacher neurons as stars" if d["teacher_v"] is not None else ""
    if not moved:
        paths = "; the point was not trained here, so there is no training path"
    else:
        paths = f", paths from initialisation{'' if stored else ' through the end of training'} to the refined point"
    caption = (f"Neurons of {run_name(session, run)} (seed {int(r.seed[run])}, {kind}, loss {float(r.loss[run]):.3g}): "
               "incoming "
               f"weights{plane} coloured by {colour_text}{teacher}{paths}{flips}.")
    limits = _degenerate_limits(drawn, span)
    return Plot(name="neurons_neurons", caption=caption,
                axes=[Axes(layers=layers, xlabel=_axis_label(labels[0]), ylabel=_axis_label(labels[1]),
                           equal=limits[0] is None, xlim=limits[0], ylim=limits[1])],
                aspect=0.9, legend_columns=2)


def _span(points: np.ndarray) -> float:
    """The larger side of the box around the finite ``points (n, 2)`` (0 when they coincide)."""
    p = points[np.isfinite(points).all(axis=1)]
    return float(np.ptp(p, axis=0).max()) if len(p) else 0.0


#: Points closer than this fraction of the plotted range are drawn on top of one another.
COINCIDE = 1e-3


def _coinciding(points: np.ndarray, span: float) -> str:
    """`` (2 coincide)`` when some of ``points`` are drawn on top of one another (how many share a
    place with another), `` (all 10 coincide)`` when every one does, else empty."""
    if len(points) < 2:
        return ""
    scale = max(span, float(np.abs(points).max()), np.finfo(float).tiny) * COINCIDE
    _, where, counts = np.unique(np.round(points / scale).astype(np.int64), axis=0, return_inverse=True,
                                 return_counts=True)
    shared = int(np.sum(counts[where.ravel()] > 1))
    if not shared:
        return ""
    return f" (all {len(points)} coincide)" if counts.size == 1 else f" ({shared} coincide)"


def _degenerate_limits(points: np.ndarray, span: float) -> tuple:
    """``(xlim, ylim)``: None to fit the points, or, when they all coincide, a box around them as wide
    as their distance from the origin (at least 1) — matplotlib would zoom into their round-off. (Drawn
    without equal aspect, which would override fixed limits; one place has no shape to keep.)"""
    p = points[np.isfinite(points).all(axis=1)]
    size = max(float(np.abs(p).max()) if len(p) else 0.0, 1.0)
    if span > COINCIDE * size:
        return None, None
    centre = p.mean(axis=0) if len(p) else np.zeros(2)
    half = 0.5 * size
    return (float(centre[0] - half), float(centre[0] + half)), (float(centre[1] - half), float(centre[1] + half))


FIGURES = (FigureSpec("neurons_neurons", "neurons", "neurons in the input plane", neurons_figure),)

__all__ = ["CHANNEL_COLOR", "FIGURES", "PCA", "ROBUST_PERCENTILE", "axis_choices", "channel_group", "colour_levels",
           "coordinate_names", "flip_possible", "neuron_data", "neuron_path", "neurons_figure", "path_lines",
           "pca_basis", "projection", "teacher_comparable"]
