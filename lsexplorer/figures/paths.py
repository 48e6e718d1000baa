"""The paths figures: the minimum-energy path from a run to its nearest global minimum, as stored.

A path is computed between two runs on request (the Paths panel's **Compute path**, the run table's
context menu, ``lsexplorer path SESSION --from I --to global``), which stores it under
``/analyses/paths/<from>_to_<to>`` (:mod:`lsexplorer.core.analyses.paths`); these figures draw the
stored path of a run to the global minimum picked as nearest, as the panel shows it:

* ``paths_loss_along_path``: the loss along the band (NEB or AutoNEB images, by normalised arc length)
  and along the straight line between the same ends, with the refined highest point;
* ``paths_band_plane``: the band on the plane through source, aligned target and saddle, over the loss
  on that plane (log colours);
* ``paths_saddle_spectrum``: the exact Hessian spectrum at the path's highest point (the certified
  point's, the limit model's for a saddle at infinity, else the refined highest image's).

A path is not computed here: its band relaxation, saddle search and tightening are an optimisation of
their own, with budgets and a Cancel button, far more than drawing a figure should start.
:func:`plane_loss`, :func:`loss_floor` and :func:`highest_point` are also what the panel draws.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..core.analyses import paths as stored_paths
from ..core.base.classify import Tolerances, loss_scale
from ..core.store.session import Session
from .available import FigureUnavailable, is_roundoff, roundoff_note
from .catalog import PATH_TO_GLOBAL, FigureOptions, FigureSpec
from .channel import magnitude_layers
from .curvature_plane import flat_note, floored, is_flat, spans_decades, zero_loss
from .plot import Axes, Heatmap, Line, Plot, Scatter

#: Grid points per side of the loss shown under the projected band.
PLANE_GRID = 61
_BAND = "#0072B2"
_SADDLE = "#D55E00"


# ------------------------------------------------------------------------------------ the data

def plane_loss(session: Session, result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loss ``(U, V)`` on a grid ``u (U,)``, ``v (V,)`` of the path's plane, framing band, target and saddle."""
    from ..core.landscape.slices import batched_loss  # at call time: torch loads only here

    plane = result.plane
    pts = np.concatenate([plane.coords, plane.saddle[None], plane.target[None]])
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.25 * np.maximum(hi - lo, 1e-3)
    u = np.linspace(lo[0] - pad[0], hi[0] + pad[0], PLANE_GRID)
    v = np.linspace(lo[1] - pad[1], hi[1] + pad[1], PLANE_GRID)
    grid = plane.origin + u[:, None, None] * plane.basis[0] + v[None, :, None] * plane.basis[1]
    loss = batched_loss(session.spec, grid.reshape(-1, grid.shape[-1]), session.x, session.y).reshape(len(u), len(v))
    return u, v, loss


def loss_floor(values: np.ndarray) -> float:
    """Where a log axis of the loss along ``values`` (the band's) ends: two decades below the lowest
    end that is not zero. An end at zero loss (a global minimum) would stretch it to 1e-32 and squash
    the barrier."""
    values = np.asarray(values, dtype=np.float64)
    top = float(np.max(values))
    ends = [float(v) for v in values[[0, -1]] if v > 1e-12 * top] or [top]
    return 1e-2 * min(ends)


def highest_index(result) -> int:
    """The band image at the path's highest point: the climbing image, else the highest interior one."""
    return int(result.climbing) if result.climbing > 0 else int(np.argmax(result.values[1:-1])) + 1


class HighestPoint(NamedTuple):
    """What is shown of a path's highest point: ``where`` (``refined saddle``, ``certified saddle`` or
    ``channel limit``), its ``loss``, Hessian ``eigvals`` and their zero tolerance, and its inertia."""

    where: str
    loss: float
    eigvals: np.ndarray
    zero_tol: float
    n_negative: int
    n_zero: int


def highest_point(result, session: Session | None) -> HighestPoint | None:
    """The certified point of ``result``'s highest point when there is one, else its refined highest
    image; None when the path has neither (a cancelled search)."""
    if result.saddle is None:
        return None
    o = result.outcome if result.outcome is not None and result.outcome.certified else None
    if o is None:
        s = result.saddle
        return HighestPoint("refined saddle", float(s.loss), np.asarray(s.eigvals, dtype=np.float64),
                            float(s.zero_eig_tol), int(s.n_negative), int(s.n_zero))
    eig = np.asarray(o.eigvals, dtype=np.float64)
    tolerances = Tolerances.from_dict(session.config.get("tolerances", {}) if session is not None else {})
    return HighestPoint("channel limit" if o.outcome == "channel" else "certified saddle", float(o.loss), eig,
                        tolerances.zero_eig_tol(eig), int(o.index), int(o.n_zero))


# ------------------------------------------------------------------------------------ the figures

def stored_path(session: Session, run: int):
    """The stored path of ``run`` to its nearest global minimum; FigureUnavailable saying how to compute it."""
    result = stored_paths.to_global(session, run)
    if result is None:
        raise FigureUnavailable(f"no path from run {run} to its nearest global minimum is stored; run "
                                f"`lsexplorer path SESSION --from {run} --to global` (or Compute path in the "
                                "Paths panel, then save)", needs=(PATH_TO_GLOBAL,))
    return result


def _ends(result) -> str:
    return f"run {result.run_from} → run {result.run_to} (nearest global minimum)"


def _point_label(point: HighestPoint) -> str:
    return {"refined saddle": "refined highest image", "certified saddle": "certified saddle",
            "channel limit": "saddle at infinity (limit)"}[point.where]


def loss_along_path(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The loss along the stored band and the straight line between its ends, with the highest point."""
    r = stored_path(session, run)
    arc = r.arc / r.arc[-1] if r.arc[-1] > 0 else r.arc
    values, straight = np.asarray(r.values, dtype=np.float64), np.asarray(r.straight_values, dtype=np.float64)
    caption = (f"Loss along the minimum-energy path ({r.method.upper()}, {len(r.images)} images) from {_ends(r)}, "
               f"by normalised arc length, and along the straight line between the same ends (by t): barrier "
               f"{r.barrier:.3e}, straight line {r.straight_barrier:.3e}.")
    axes = dict(xlabel="normalised arc length (straight line: t)", ylabel="loss", xlim=(0.0, 1.0))
    if is_flat(np.concatenate([values, straight]), session):
        note = flat_note("along the path and the straight line", np.concatenate([values, straight]), session)
        return Plot(name="paths_loss_along_path", caption=caption, axes=[Axes(note=note, **axes)], aspect=0.62)
    log = spans_decades(np.concatenate([values, straight]))
    floor = loss_floor(values) if log else -np.inf  # the floor only keeps a log axis readable
    layers: list = [Line("straight line", r.straight_t, np.maximum(straight, floor), color="#999999", style="--",
                         width=1.2),
                    Line(f"{r.method.upper()} band", arc, np.maximum(values, floor), color=_BAND, width=1.4,
                         marker="o", marker_size=2.5)]
    point = highest_point(r, session)
    if point is not None:
        top = highest_index(r)
        layers.append(Scatter(_point_label(point), [arc[top]], [max(point.loss, floor)], color=_SADDLE, marker="*",
                              size=45))
    if min(values.min(), straight.min()) < floor:
        caption += f" Losses below {floor:.1e} are drawn at it."
    return Plot(name="paths_loss_along_path", caption=caption,
                axes=[Axes(layers=layers, yscale="log" if log else "linear", **axes)],
                aspect=0.62, legend_columns=2)


def band_plane(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The stored band on the plane through its ends and the saddle, over the loss on that plane."""
    r = stored_path(session, run)
    p = r.plane
    u, v, loss = plane_loss(session, r)
    shown, said = floored(loss.T, zero_loss(session))  # rows along v
    layers: list = [
        Heatmap("loss", u, v, shown, colorbar="loss", log=spans_decades(shown)),
        Line("straight line", [0.0, p.target[0]], [0.0, p.target[1]], color="#000000", style="--", width=0.9),
        Line(f"{r.method.upper()} band", p.coords[:, 0], p.coords[:, 1], color="#000000", width=1.2, marker="o",
             marker_size=2.5),
        Scatter(f"ends: run {r.run_from}, run {r.run_to}", [0.0, p.target[0]], [0.0, p.target[1]], color=_BAND,
                marker="s", size=24),
    ]
    point = highest_point(r, session)
    if point is not None:
        layers.append(Scatter(_point_label(point), [p.saddle[0]], [p.saddle[1]], color=_SADDLE, marker="*", size=45))
    residual = float(p.residual.max()) / max(float(np.linalg.norm(p.target)), 1e-300)
    return Plot(
        name="paths_band_plane",
        caption=(f"The minimum-energy path from {_ends(r)} on the plane through source, aligned target and the "
                 f"highest point, over the loss on that plane; u points to the aligned target, v to the saddle "
                 f"(its part orthogonal to u). The band leaves the plane by at most {residual:.0%} of the "
                 f"source–target distance.{said}"),
        axes=[Axes(layers=layers, xlabel="u (towards the aligned target)", ylabel="v (towards the saddle)",
                   xlim=(float(u[0]), float(u[-1])), ylim=(float(v[0]), float(v[-1])))],
        aspect=0.9, legend_columns=2)


def saddle_spectrum(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The Hessian eigenvalues at the stored path's highest point, on a symmetric log axis coloured by sign."""
    r = stored_path(session, run)
    point = highest_point(r, session)
    if point is None:
        raise FigureUnavailable(f"the stored path from run {run} has no refined highest point (its saddle search "
                                "was cancelled); compute it again")
    eig = point.eigvals
    where = {"refined saddle": "the refined highest image", "certified saddle": "the certified saddle",
             "channel limit": "the limit model of the saddle at infinity"}[point.where]
    caption = (f"Hessian eigenvalues at the highest point of the path from {_ends(r)}: {where}, with "
               f"{point.n_negative} negative and {point.n_zero} zero eigenvalues (|λ| ≤ {point.zero_tol:.1e}).")
    axes = dict(xlabel="eigenvalue index (ascending)", ylabel="|λ| (Hessian)")
    scale = loss_scale(session.y)  # the Hessian of a loss of size mean‖y‖², per unit parameter
    if is_roundoff(eig, scale):
        note = roundoff_note("the Hessian spectrum", eig, scale)
        return Plot(name="paths_saddle_spectrum", caption=caption, axes=[Axes(note=note, **axes)], aspect=0.62)
    return Plot(name="paths_saddle_spectrum", caption=caption + " |λ| is drawn, coloured by the sign of λ.",
                axes=[Axes(layers=magnitude_layers(eig, point.zero_tol), yscale="log", **axes)],
                aspect=0.62, legend_columns=4)


FIGURES = (
    FigureSpec("paths_loss_along_path", "paths", "loss along the minimum-energy path", loss_along_path,
               needs=(PATH_TO_GLOBAL,)),
    FigureSpec("paths_band_plane", "paths", "the path on the plane of its ends and saddle", band_plane,
               needs=(PATH_TO_GLOBAL,)),
    FigureSpec("paths_saddle_spectrum", "paths", "Hessian spectrum at the path's highest point", saddle_spectrum,
               needs=(PATH_TO_GLOBAL,)),
)

__all__ = ["FIGURES", "PLANE_GRID", "HighestPoint", "band_plane", "highest_index", "highest_point",
           "loss_along_path", "loss_floor", "plane_loss", "saddle_spectrum", "stored_path"]
