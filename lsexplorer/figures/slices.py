"""Slice figures through a run's closest saddle (thesis Fig 6.10): the loss from the saddle to the run's
point, and on the plane of the saddle line and that point.

The numbers come from ``core.saddles.saddle_slices`` and ``core.landscape.slices``, as the Slices
panel computes them: the plane's first axis ``u`` runs along the saddle line (``u = (μ − μ*)·‖θ'(μ)‖``),
the second ``v`` towards the run's point, both in weight-space units; the training trajectory is
projected onto the plane by least squares. The plane's grid is the panel's (:data:`RESOLUTION` points
a side, fewer than the panel's 61 so that a figure builds in seconds), except where the closest saddle
lies far out on its line (a minimum at infinity, μ* in the thousands): there the panel's range, which
reaches back to μ = 0 and 1, makes the saddle and the point one pixel, and the figure shows the
window around them instead, saying so; so it does for a point at the end of a channel to infinity, whose huge
outgoing weights stretch the line as much.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core.base.kinds import kind_label
from ..core.store.run_names import run_name
from ..core.store.session import Session
from .available import ROUNDOFF
from .catalog import FigureOptions, FigureSpec
from .plot import Axes, Heatmap, Line, Plot, Scatter
from .saddle_line import loss_roundoff_note, run_closest_saddle

if TYPE_CHECKING:
    from ..core.saddles.closest_saddle import ClosestSaddle
    from ..core.saddles.saddle_slices import SaddleSlices

#: Grid points per side of the plane (the panel's default is 61), fewer for a large net on much data so
#: that the plane costs about :data:`PLANE_BUDGET` (points × samples × parameters), but not below
#: :data:`LEAST_RESOLUTION`.
RESOLUTION = 41
LEAST_RESOLUTION = 21
PLANE_BUDGET = 1.2e9
#: Loss ranges at least this many-fold are coloured (and drawn) on a log scale, narrower ones linearly.
LOG_FROM = 10.0

SADDLE_COLOR = "#CC79A7"
POINT_COLOR = "#56B4E9"
TRAJECTORY_COLOR = "#D55E00"


def resolution(session: Session) -> int:
    """Grid points per side of the plane of ``session``'s net and data (see :data:`RESOLUTION`)."""
    cost = float(session.x.shape[0]) * session.spec.n_params
    return int(np.clip(np.sqrt(PLANE_BUDGET / max(cost, 1.0)), LEAST_RESOLUTION, RESOLUTION))


def _setup(session: Session, run: int) -> tuple[ClosestSaddle, SaddleSlices, object]:
    """The closest saddle, the slices' setup (plane, 1D slice, projected trajectory) and the landscape."""
    from ..core.population.relu_gaussian_session import session_landscape  # at call time: no torch on import
    from ..core.saddles.saddle_slices import saddle_slices

    saddle = run_closest_saddle(session, run)
    traj = session.runs.trajectory
    landscape = session_landscape(session)
    snaps = None if traj is None else traj.theta[run]
    setup = next(saddle_slices(landscape, session.runs.theta[run], saddle, snaps, resolution(session),
                               kind=str(session.runs.kind[run])))
    return saddle, setup, landscape


def _point_label(session: Session, run: int) -> str:
    return f"{run_name(session, run)} ({kind_label(str(session.runs.kind[run]))})"


def _unconverged(saddle: ClosestSaddle) -> str:
    return (" Its narrower point did not converge, so this line is not a line of critical points."
            if saddle.narrower.kind == "not_converged" else "")


def saddle_to_minimum(session: Session, run: int, options: FigureOptions) -> Plot:
    """The loss along the segment from the closest saddle θ(μ*) (t = 0) to the run's point (t = 1), extended by
    a quarter on each side."""
    saddle, setup, _ = _setup(session, run)
    line = setup.line
    ts, loss = line.ts, line.loss
    run_loss = float(session.runs.loss[run])
    reference = run_loss if np.isfinite(run_loss) else float(np.nanmax(np.abs(loss)))
    note = loss_roundoff_note("The loss along the segment", loss, session, reference)
    point = _point_label(session, run)
    layers: list = []
    yscale = "linear"
    if not note:
        ends = [int(np.argmin(np.abs(ts - t))) for t in (0.0, 1.0)]
        layers = [Line("loss", ts, loss, color="#333333", width=1.0, legend=False),
                  Scatter("closest saddle θ(μ*)", [ts[ends[0]]], [loss[ends[0]]], color=SADDLE_COLOR, marker="X",
                          size=30),
                  Scatter(point, [ts[ends[1]]], [loss[ends[1]]], color=POINT_COLOR, marker="*", size=45)]
        finite = loss[np.isfinite(loss) & (loss > 0)]
        if finite.size and finite.max() >= LOG_FROM * finite.min():
            yscale = "log"
    return Plot(
        name="slices_saddle_to_minimum",
        caption=f"Loss along θ(μ*) + t (θ − θ(μ*)) from the closest saddle (t = 0, μ* = {saddle.mu:.4g}) to "
                f"{point} (t = 1), at distance {saddle.distance:.3g}.{_unconverged(saddle)}",
        axes=[Axes(layers=layers, xlabel="t  (0: saddle, 1: run's point)", ylabel="loss", yscale=yscale,
                   xlim=(float(ts[0]), float(ts[-1])), note=note)],
        aspect=0.62, legend_columns=2)


def plane_heatmap(us: np.ndarray, vs: np.ndarray, values: np.ndarray, run_loss: float, run: str) -> Heatmap:
    """The plane's loss in colour: on a log scale where it spans :data:`LOG_FROM`-fold or more (a valley
    and its walls); where it is narrower (a minimum at infinity's window, a deep net's saddle), its
    excess over the run's loss on a log scale (round-off clipped), so the valley still shows; linearly
    from the lowest value when the plane dips below the run's loss."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() >= LOG_FROM * finite.min():
        return Heatmap("loss", us, vs, values, colorbar="loss", log=True)
    if np.isfinite(run_loss):
        floor = ROUNDOFF * max(abs(run_loss), float(np.max(np.abs(finite))) if finite.size else 0.0)
        excess = values - run_loss
        if finite.size and float(np.min(finite - run_loss)) >= -floor and float(np.max(finite - run_loss)) > floor:
            return Heatmap("loss", us, vs, np.maximum(excess, floor), colorbar=f"loss − L({run})", log=True)
    base = float(finite.min()) if finite.size else 0.0
    return Heatmap("loss", us, vs, values - base, colorbar=f"loss − {base:.6g}")


def plane(session: Session, run: int, options: FigureOptions) -> Plot:
    """The loss on the plane of the saddle line and the run's point (log colour), with the saddle, the
    point, the line and the projected training trajectory."""
    from ..core.analyses.base import drive
    from ..core.landscape.slices import plane_slice

    saddle, setup, landscape = _setup(session, run)
    pl = setup.plane
    us, vs, window = setup.us, setup.vs, setup.window_note
    values = drive(plane_slice(None, pl.origin, pl.basis[0], pl.basis[1], None, None, us, vs,
                               landscape=landscape)).loss
    point = _point_label(session, run)
    run_loss = float(session.runs.loss[run])
    reference = run_loss if np.isfinite(run_loss) else float(np.nanmax(np.abs(values)))
    note = loss_roundoff_note("The loss on the plane", values, session, reference)
    layers: list = [] if note else [plane_heatmap(us, vs, values, run_loss, run_name(session, run))]
    layers.append(Line("saddle line", [us[0], us[-1]], [0.0, 0.0], color=SADDLE_COLOR, style="--", width=1.2))
    notes = [window] if window else []
    if setup.trajectory is not None:
        coords, residual = setup.trajectory.coords, setup.trajectory.residual
        layers.append(Line("trajectory (projected)", coords[:, 0], coords[:, 1], color=TRAJECTORY_COLOR,
                           width=0.9, marker="o", marker_size=1.5))
        notes.append(f"The trajectory's {len(residual) - 1} snapshots and the refined point lie "
                     f"{residual.min():.2g} to {residual.max():.2g} off the plane (least-squares projection).")
    layers += [Scatter("closest saddle θ(μ*)", [0.0], [0.0], color=SADDLE_COLOR, marker="X", size=30),
               Scatter(point, [pl.minimum[0]], [pl.minimum[1]], color=POINT_COLOR, marker="*", size=45)]
    if setup.fallback_used:
        notes.append("The run's point lies on its saddle line; v is the Hessian's softest direction there.")
    return Plot(
        name="slices_plane",
        caption=f"Loss on the plane through the saddle line of {point}'s closest saddle (μ* = {saddle.mu:.4g}) "
                f"and the run's point, at distance {pl.distance:.3g} from the line; u along the line, v towards the "
                f"point. {' '.join(notes)}{_unconverged(saddle)}",
        axes=[Axes(layers=layers, xlabel="u  (along the saddle line)", ylabel="v  (towards the run's point)",
                   xlim=(float(us[0]), float(us[-1])), ylim=(float(vs[0]), float(vs[-1])), note=note)],
        aspect=0.8, legend_columns=2)


FIGURES = (
    FigureSpec("slices_saddle_to_minimum", "slices", "loss from the closest saddle to the run's point",
               saddle_to_minimum, needs=("closest_saddle",)),
    FigureSpec("slices_plane", "slices", "loss on the plane of the saddle line and the run's point", plane,
               needs=("closest_saddle",)),
)

__all__ = ["FIGURES", "RESOLUTION", "plane", "saddle_to_minimum"]
