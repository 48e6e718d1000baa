"""The statistics figures of a session: λ_min against loss (thesis Fig 6.3), the nearest-neuron
distance (Fig 6.7) and the distance to the closest saddle (Fig 6.9).

- λ_min against loss: one point per run, coloured by kind, loss on a log axis and the signed
  smallest Hessian eigenvalue on a symmetric-log axis whose linear band around 0 is the round-off
  of the session's Hessians: eigenvalues that are zero to float64 precision sit on 0 instead of
  scattering over the decades of their noise, and negative ones (saddles) lie below it.
- nearest-neuron distance: for the runs of one kind (local minima, as the thesis; all converged runs
  when there is none), the distance of the two closest incoming vectors of hidden layer 1.
- saddle distance: ``‖θ(μ*) − θ‖`` of every run with a stored closest saddle, in log10 bins
  (distances span 1e-16 for symmetry-induced points to 1e2 where the narrower point did not converge).

The functions before the figures are also what the Statistics panel draws.
"""

from __future__ import annotations

import numpy as np

from ..core.analyses import closest_saddle
from ..core.base.kinds import KINDS, Kind
from ..core.store.session import Session
from ..core.symmetry.operations import nearest_neuron_distances
from .available import ROUNDOFF, FigureUnavailable, missing
from .catalog import FigureOptions, FigureSpec
from .colors import KIND_COLORS
from .plot import Axes, Plot, Scatter, Stairs

#: The panel's default number of bins of both histograms.
BINS = 30
#: The nearest-neuron histogram's choices beyond a single kind: every run not marked not converged, every run.
CONVERGED, ALL_RUNS = "converged", None
#: A histogram of runs of several kinds.
MIXED_COLOR = "#7f9fbf"


def log_positions(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """``log10`` of ``values`` (> 0 expected) with zeros one decade below the smallest positive one.

    Returns the positions and whether any zero had to be placed so. NaN stays NaN.
    """
    v = np.asarray(values, dtype=float)
    positive = v[np.isfinite(v) & (v > 0)]
    floor = positive.min() / 10 if positive.size else 1e-300
    zeros = np.isfinite(v) & (v <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(zeros, floor, v)), bool(zeros.any())


def kind_plural(kind: str) -> str:
    """``Local minima`` for ``local_min``: the word the run table and the legends use."""
    return Kind(kind).plural.capitalize()


# ----------------------------------------------------------------------------------- nearest neurons

def nearest_choices() -> list[tuple[str, str | None]]:
    """The runs the nearest-neuron histogram can count, as ``(label, choice)``: local minima first."""
    return ([("local minima", Kind.LOCAL_MIN.value), ("all converged runs", CONVERGED), ("all runs", ALL_RUNS)]
            + [(Kind(k).plural, k) for k in KINDS if k != Kind.LOCAL_MIN])


def default_nearest_choice(session: Session) -> str | None:
    """Local minima (thesis Fig 6.7), or all converged runs when the session has none."""
    return Kind.LOCAL_MIN.value if np.any(session.runs.kind == Kind.LOCAL_MIN) else CONVERGED


def nearest_values(session: Session, distances: np.ndarray, choice: str | None) -> np.ndarray:
    """The finite ``distances (S,)`` of the runs ``choice`` selects (see :func:`nearest_choices`)."""
    kind = session.runs.kind
    if choice == CONVERGED:
        keep = kind != Kind.NOT_CONVERGED
    elif choice is ALL_RUNS:
        keep = np.ones(len(distances), dtype=bool)
    else:
        keep = kind == choice
    return distances[keep & np.isfinite(distances)]


def nearest_histogram(values: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, edges)`` of the distances ``values`` in ``bins`` equal bins; equal values up to
    rounding (the same point reached from many seeds) get a range one unit wide, none of it below 0.
    Empty: no counts, one edge."""
    if not values.size:
        return np.zeros(0), np.zeros(1)
    lo, hi = float(values.min()), float(values.max())
    span = (max(lo - 0.5, 0.0), hi + 0.5) if hi - lo <= 1e-9 * max(1.0, abs(hi)) else None
    return np.histogram(values, bins=bins, range=span)


def nearest_color(choice: str | None) -> str:
    """The kind's colour for the runs of one kind, a neutral one for a mixture."""
    return KIND_COLORS[choice] if choice in KINDS else MIXED_COLOR


# ----------------------------------------------------------------------------------- closest saddles

def saddle_distances(session: Session, converged_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, distances)`` of the stored closest saddles (finite; polished points sit at 0),
    optionally only those whose narrower point converged. Empty when none is stored."""
    table = closest_saddle.read_table(session)
    if table is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    rows = np.asarray(table.run, dtype=np.int64)
    d = np.asarray(table.distance, dtype=float)
    keep = np.isfinite(d) & (d >= 0)
    if converged_only:
        keep &= table.narrower_kind.astype(str) != Kind.NOT_CONVERGED
    return rows[keep], d[keep]


def saddle_histogram(distances: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, log10 edges)`` of ``distances`` in equal log10 bins, zeros a decade below the smallest
    positive distance (:func:`log_positions`). Empty: no counts, one edge."""
    if not distances.size:
        return np.zeros(0), np.zeros(1)
    return np.histogram(log_positions(distances)[0], bins=bins)


# ----------------------------------------------------------------------------------- figures

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_text(value: float) -> str:
    """``1.4×10⁻¹⁸`` (``10⁻¹¹`` for a power of ten): a number as a legend writes it."""
    mantissa, exponent = f"{value:.1e}".split("e")
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    return power if mantissa == "1.0" else f"{mantissa}×{power}"


def roundoff_threshold(session: Session) -> float:
    """The decade at and below which a Hessian eigenvalue of this session is round-off: float64 error
    of the eigenvalues of a Hessian of the median run's norm (its largest |eigenvalue|)."""
    eig = np.asarray(session.runs.hessian_eigvals, dtype=float)
    norms = np.max(np.abs(np.where(np.isfinite(eig), eig, 0.0)), axis=1) if eig.size else np.zeros(0)
    norms = norms[norms > 0]
    scale = float(np.median(norms)) if norms.size else 1.0
    return float(10.0 ** np.ceil(np.log10(ROUNDOFF * scale)))


def symlog_limits(values: np.ndarray, linthresh: float) -> tuple[float, float]:
    """Whole decades around ``values`` on a symmetric-log axis, at least its linear band, a point never
    closer than a factor 1.5 to an end: matplotlib's own limits cut the points at the ends in half."""

    def end(v: float) -> float:
        return float(10.0 ** np.ceil(np.log10(1.5 * v))) if v > linthresh else linthresh

    return -end(-float(values.min())), end(float(values.max()))


def log_limits(values: np.ndarray) -> tuple[float, float]:
    """Whole decades around the positive ``values``, at least two, with a margin of 4 % of their span
    (at least a factor 1.5): runs with one loss (to round-off) would otherwise get an axis zoomed into
    that round-off, and an axis of one decade labels its minor ticks on top of one another."""
    v = np.log10(values[np.isfinite(values) & (values > 0)])
    pad = max(0.04 * float(np.ptp(v)), float(np.log10(1.5)))
    low, high = np.floor(v.min() - pad), np.ceil(v.max() + pad)
    high = max(high, low + 2)
    return float(10.0 ** low), float(10.0 ** high)


def lambda_min_vs_loss(session: Session, run: int | None = None, options: FigureOptions | None = None) -> Plot:
    """Every run's smallest Hessian eigenvalue against its loss, coloured by kind (module docstring)."""
    r = session.runs
    loss, lam = np.asarray(r.loss, dtype=float), np.asarray(r.lambda_min, dtype=float)
    finite = np.isfinite(loss) & np.isfinite(lam)
    if not finite.any():
        raise FigureUnavailable("no run has a finite loss and smallest eigenvalue")
    placed, zero_loss = log_positions(np.where(finite, loss, np.nan))
    x = np.where(loss > 0, loss, 10.0 ** placed)  # the stored losses exactly, zeros placed
    linthresh = roundoff_threshold(session)
    layers = []
    for kind in KINDS:
        rows = np.flatnonzero(finite & (r.kind == kind))
        if rows.size:
            layers.append(Scatter(f"{kind_plural(kind)} ({rows.size})", x[rows], lam[rows], color=KIND_COLORS[kind],
                                  size=12, edgecolor="white"))
    notes = [f"the λₘᵢₙ axis is linear within ±{power_text(linthresh)} (round-off of the Hessians) and logarithmic "
             f"beyond"]
    if zero_loss:
        notes.append("zero losses are drawn one decade below the smallest positive loss")
    left_out = int((~finite).sum())
    if left_out:
        notes.append(f"{left_out} run(s) without a finite loss or λ_min are left out")
    caption = (f"Smallest Hessian eigenvalue λₘᵢₙ against the loss of {int(finite.sum())} runs, coloured by kind "
               f"(thesis Fig 6.3); " + "; ".join(notes) + ".")
    return Plot(name="statistics_lambda_min_vs_loss", caption=caption,
                axes=[Axes(layers=layers, xlabel="loss", ylabel="smallest eigenvalue λₘᵢₙ",
                           xscale="log", yscale="symlog", linthresh=linthresh, xlim=log_limits(x[finite]),
                           ylim=symlog_limits(lam[finite], linthresh))],
                aspect=0.75, legend_columns=2)


def nearest_neuron_distance(session: Session, run: int | None = None, options: FigureOptions | None = None) -> Plot:
    """Histogram of the nearest-neuron distance of layer 1 over the local minima (module docstring)."""
    layer = 1
    if session.spec.widths[layer] < 2:
        raise FigureUnavailable("hidden layer 1 has a single neuron: there is no pair of neurons to measure")
    choice = default_nearest_choice(session)
    label = {CONVERGED: "converged runs", ALL_RUNS: "runs"}.get(choice) or Kind(choice).plural
    values = nearest_values(session, nearest_neuron_distances(session.spec, session.runs.theta, layer), choice)
    if not values.size:
        raise FigureUnavailable(f"no {label} with a finite point: nothing to count")
    counts, edges = nearest_histogram(values)
    what = "incoming vectors (weights and bias)" if session.spec.bias else "incoming weight vectors"
    caption = (f"Distance between the two closest {what} of hidden layer 1, for {values.size} {label} "
               f"(thesis Fig 6.7); {counts.size} bins.")
    return Plot(name="statistics_nearest_neuron_distance", caption=caption,
                axes=[Axes(layers=[Stairs(f"{label} ({values.size})", edges, counts, color=nearest_color(choice))],
                           xlabel="nearest-neuron distance minᵢ≠ⱼ ‖wᵢ − wⱼ‖", ylabel="runs",
                           xlim=(0.0, 1.03 * float(edges[-1])))],
                aspect=0.62, legend_columns=1)


def saddle_distance(session: Session, run: int | None = None, options: FigureOptions | None = None) -> Plot:
    """Histogram of the distance from each analysed run to its closest saddle, log10 bins (module docstring)."""
    if closest_saddle.read_table(session) is None:
        raise missing("closest-saddle analysis", "closest_saddle", None)
    _, d = saddle_distances(session)
    if not d.size:
        raise FigureUnavailable("no stored closest saddle has a finite distance: nothing to count")
    counts, edges = saddle_histogram(d)
    zeros = int(np.sum(d == 0))
    series = f"analysed runs ({d.size})"
    if zeros:
        series += f"; {zeros} at distance 0, drawn at {power_text(10.0 ** log_positions(d)[0][d == 0][0])}"
    caption = (f"Distance ‖θ(μ*) − θ‖ from each of {d.size} analysed runs to its closest saddle (thesis Fig 6.9), "
               f"{counts.size} equal bins of log10 distance" + (f"; {zeros} distance(s) 0 drawn one decade below "
                                                               f"the smallest positive one" if zeros else "") + ".")
    return Plot(name="statistics_saddle_distance", caption=caption,
                axes=[Axes(layers=[Stairs(series, 10.0 ** edges, counts, color=MIXED_COLOR)],
                           xlabel="distance to the closest saddle ‖θ(μ*) − θ‖", ylabel="runs", xscale="log")],
                aspect=0.62, legend_columns=1)


FIGURES = (
    FigureSpec("statistics_lambda_min_vs_loss", "statistics", "smallest eigenvalue against loss", lambda_min_vs_loss,
               per_run=False),
    FigureSpec("statistics_nearest_neuron_distance", "statistics", "nearest-neuron distance",
               nearest_neuron_distance, per_run=False),
    FigureSpec("statistics_saddle_distance", "statistics", "distance to the closest saddle", saddle_distance,
               per_run=False, needs=("closest_saddle",)),
)

__all__ = ["ALL_RUNS", "BINS", "CONVERGED", "FIGURES", "MIXED_COLOR", "default_nearest_choice", "kind_plural",
           "lambda_min_vs_loss", "log_limits", "log_positions", "nearest_choices", "nearest_color", "nearest_histogram",
           "nearest_neuron_distance", "nearest_values", "power_text", "roundoff_threshold", "saddle_distance",
           "saddle_distances", "saddle_histogram", "symlog_limits"]
