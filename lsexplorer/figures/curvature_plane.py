"""The curvature-plane figures: the loss around a run's point along its two softest Hessian directions.

As the Curvature plane panel computes them, through
:func:`~lsexplorer.core.landscape.curvature_plane.curvature_plane` on the session's landscape (the data's
mean squared error, or a ``relu-gaussian`` session's population loss), at the panel's default
half-width:

* ``curvature_plane_softest_lines``: ``L(θ + t e₁)`` and ``L(θ + t e₂)``, ``e₁``, ``e₂`` the eigenvectors of
  the two smallest Hessian eigenvalues, on a log axis;
* ``curvature_plane_softest_plane``: ``L(θ + u e₁ + v e₂)`` on the plane as a heat map (log colours), with
  the point and the training trajectory projected onto the plane.

A loss that varies along a line by no more than round-off is said so in a note, not drawn.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.base.classify import Tolerances, loss_scale
from ..core.base.kinds import kind_label
from ..core.store.run_names import run_title
from ..core.store.session import Session
from .available import FigureUnavailable, is_roundoff, roundoff_note
from .catalog import FigureOptions, FigureSpec
from .plot import Axes, Heatmap, Line, Plot, Scatter

#: The panel's defaults: the plane spans ±HALF_WIDTH along each direction, RESOLUTION points per side.
HALF_WIDTH = 0.5
RESOLUTION = 61
#: The largest ``points × N × P`` a figure's plane evaluates (grid points, samples, parameters): the
#: panel's grid for the toy problem, a coarser one for large data sets and networks.
PLANE_WORK = 1.1e9
#: The coarsest grid a figure's plane is drawn on.
MIN_RESOLUTION = 21


def plane_resolution(session: Session) -> int:
    """Points per side of the figure's plane: the panel's :data:`RESOLUTION`, fewer (odd, so the point
    stays at the centre) where the loss at one grid point is expensive."""
    per_point = max(len(session.x), 1) * session.spec.n_params
    side = int(math.sqrt(PLANE_WORK / per_point))
    side -= 1 - side % 2
    return max(MIN_RESOLUTION, min(RESOLUTION, side))


def _setup(session: Session, run: int, resolution: int):
    """The generator of the run's curvature plane and its first record, the :class:`CurvaturePlane`."""
    from ..core.landscape.curvature_plane import curvature_plane  # at call time: torch loads only here
    from ..core.population.relu_gaussian_session import session_landscape

    theta = np.asarray(session.runs.theta[run], dtype=np.float64)
    if not np.isfinite(theta).all():
        raise FigureUnavailable(f"run {run} has no finite point: there is no plane around it")
    work = curvature_plane(session_landscape(session), theta, HALF_WIDTH, resolution)
    return work, next(work)


def _residual_scale(session: Session) -> float:
    """The rms size of the targets: the size of the residuals whose round-off a loss inherits."""
    return math.sqrt(loss_scale(session.y))


def is_flat(loss: np.ndarray, session: Session) -> bool:
    """Whether ``loss`` is round-off: its root (the rms residual) varies by no more than round-off of
    outputs of the targets' size. (The loss itself squares that round-off, so no absolute scale fits it.)"""
    return is_roundoff(np.sqrt(np.maximum(loss, 0.0)), _residual_scale(session))


def flat_note(where: str, loss: np.ndarray, session: Session) -> str:
    """The note that says the loss ``where`` (``"on the plane"``) is round-off, in terms of its root."""
    return roundoff_note(f"the rms residual √L {where}", np.sqrt(np.maximum(loss, 0.0)), _residual_scale(session))


def zero_loss(session: Session) -> float:
    """The session's zero-loss tolerance: a loss below it counts as 0 (a global minimum's ~1e-32 is its
    round-off), and a log axis of the loss ends there instead of stretching over 20 decades of noise."""
    return Tolerances.from_dict(session.config.get("tolerances", {})).zero_loss_tol(loss_scale(session.y))


def spans_decades(values: np.ndarray) -> bool:
    """Whether the positive ``values`` span a decade or more: worth a log axis (or log colours). Less,
    and a linear one shows them better (a log axis then labels its ticks 4.7×10⁻¹, 4.8×10⁻¹, …)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    return v.size > 0 and float(v.max()) >= 10 * float(v.min())


def floored(loss: np.ndarray, floor: float) -> tuple[np.ndarray, str]:
    """``loss`` with the values below ``floor`` raised to it, and the caption's sentence saying so (if any)."""
    if not np.nanmin(loss) < floor:
        return loss, ""
    return np.maximum(loss, floor), f" Losses below the zero-loss tolerance {floor:.1e} are drawn at it."


def _eigenvalue_words(session: Session, run: int, eigvals: np.ndarray) -> tuple[list[str], str]:
    """``λ₁ = …``/``λ₂ = …`` for the legend, ``≈ 0`` for an eigenvalue under the zero tolerance of the run's
    stored spectrum (its value is round-off, and so is which null direction it picked), and the caption's
    words for both."""
    stored = np.asarray(session.runs.hessian_eigvals[run], dtype=np.float64)
    tol = Tolerances.from_dict(session.config.get("tolerances", {})).zero_eig_tol(stored[np.isfinite(stored)])
    short = [f"λ{'₁₂'[k]} ≈ 0" if abs(lam) <= tol else f"λ{'₁₂'[k]} = {lam:.2e}".replace("-", "−")
             for k, lam in enumerate(eigvals)]
    long = ", ".join(f"λ{'₁₂'[k]} = {lam:.3e}" for k, lam in enumerate(eigvals))
    if any(abs(lam) <= tol for lam in eigvals):
        long += f"; |λ| ≤ {tol:.1e} counts as 0"
    return short, long


def _header(session: Session, run: int) -> str:
    return f"{run_title(session, run, seed=False)} ({kind_label(str(session.runs.kind[run]))})"


def softest_lines(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The loss along the two softest Hessian directions through the run's point, on a log axis."""
    _, setup = _setup(session, run, RESOLUTION)
    words, eigenvalues = _eigenvalue_words(session, run, setup.eigvals)
    lines, flat, raised = [], [], ""
    for k, (line, color) in enumerate(((setup.line_u, "#0072B2"), (setup.line_v, "#D55E00"))):
        loss = np.asarray(line.loss, dtype=np.float64)
        label = f"e{'₁₂'[k]}, {words[k]}"
        if is_flat(loss, session):
            flat.append(label.split(",")[0])
        else:
            loss, said = floored(loss, zero_loss(session))
            raised = raised or said
            lines.append(Line(label, line.ts, loss, color=color, width=1.2))
    note = ""
    if flat:
        both = np.concatenate([setup.line_u.loss, setup.line_v.loss])
        note = flat_note(f"along {' and '.join(flat)}", both, session)
    return Plot(
        name="curvature_plane_softest_lines",
        caption=(f"{_header(session, run)}: the loss along the eigenvectors e₁, e₂ of the two smallest Hessian "
                 f"eigenvalues ({eigenvalues}) through its point θ."
                 + raised),
        axes=[Axes(layers=lines, xlabel="t (θ + t·e)", ylabel="loss",
                   yscale="log" if spans_decades(np.concatenate([ly.y for ly in lines] or [[]])) else "linear",
                   xlim=(-HALF_WIDTH, HALF_WIDTH), note=note)],
        aspect=0.65)


def softest_plane(session: Session, run: int, options: FigureOptions | None = None) -> Plot:
    """The loss on the plane of the two softest Hessian directions (log colours), with the point and the
    training trajectory projected onto the plane."""
    from ..core.landscape.slices import project

    work, setup = _setup(session, run, plane_resolution(session))
    try:
        while True:
            next(work)
    except StopIteration as done:
        plane = done.value
    us, vs, loss = setup.us, setup.vs, np.asarray(plane.loss, dtype=np.float64)  # loss[i, j] at (us[j], vs[i])
    du, dv = us[1] - us[0], vs[1] - vs[0]
    axes = dict(xlabel="u (along e₁)", ylabel="v (along e₂)", xlim=(us[0] - du / 2, us[-1] + du / 2),
                ylim=(vs[0] - dv / 2, vs[-1] + dv / 2))
    caption = (f"{_header(session, run)}: the loss on the plane θ + u e₁ + v e₂ of the eigenvectors of the two "
               f"smallest Hessian eigenvalues ({_eigenvalue_words(session, run, setup.eigvals)[1]}), "
               f"on a {us.size} × {vs.size} grid")
    if is_flat(loss, session):
        note = flat_note("on the plane", loss, session)
        return Plot(name="curvature_plane_softest_plane", caption=caption + ".", axes=[Axes(note=note, **axes)],
                    aspect=0.85)
    shown, raised = floored(loss, zero_loss(session))
    layers: list = [Heatmap("loss", us, vs, shown, colorbar="loss", log=spans_decades(shown))]
    trajectory = session.runs.trajectory
    if trajectory is not None:
        snaps = np.vstack([trajectory.theta[run].astype(np.float64), setup.theta])
        proj = project(snaps, setup.theta, setup.basis)
        layers.append(Line("training trajectory (projected)", proj.coords[:, 0], proj.coords[:, 1], color="#ff6666",
                           width=1.0, marker="o", marker_size=2.0))
        caption += (f"; the training trajectory's snapshots are projected onto the plane by least squares, "
                    f"{float(proj.residual.min()):.2g} to {float(proj.residual.max()):.2g} out of it")
    layers.append(Scatter("the run's point θ", [0.0], [0.0], color="#E69F00", marker="*", size=45))
    return Plot(name="curvature_plane_softest_plane", caption=caption + "." + raised,
                axes=[Axes(layers=layers, **axes)],
                aspect=0.9)


FIGURES = (
    FigureSpec("curvature_plane_softest_lines", "curvature_plane", "loss along the two softest directions",
               softest_lines),
    FigureSpec("curvature_plane_softest_plane", "curvature_plane", "loss on the plane of the two softest directions",
               softest_plane),
)

__all__ = ["FIGURES", "HALF_WIDTH", "MIN_RESOLUTION", "PLANE_WORK", "RESOLUTION", "flat_note", "floored", "is_flat",
           "plane_resolution", "spans_decades",
           "softest_lines", "softest_plane", "zero_loss"]
