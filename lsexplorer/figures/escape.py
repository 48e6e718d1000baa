"""The escape figure (thesis Fig 6.6): Algorithm 1's scan θ + ε·v along the smallest Hessian eigenvector v.

From the stored escape analysis (``/analyses/escape``), as the Escape panel shows it: the loss and the
gradient norm against ε (both positive, on one log axis) beside the smallest Hessian eigenvalue λ_min
(signed, on a symmetric log axis whose linear part reaches the starting point's |λ_min|, so its sign
there shows). The nearest escape, if Algorithm 1 found one, is marked on both.
"""

from __future__ import annotations

import numpy as np

from ..core.analyses import escape
from ..core.base.errors import InputError
from ..core.base.kinds import Kind, kind_label
from ..core.store.session import Session
from .available import FigureUnavailable, missing
from .catalog import FigureOptions, FigureSpec
from .plot import Axes, Line, Plot, Reference

LOSS_COLOR, GRAD_COLOR, LAMBDA_COLOR = "#0072B2", "#D55E00", "#009E73"
ESCAPE_COLOR = "#CC79A7"


def lambda_linthresh(lambda_min: np.ndarray, lambda_min0: float) -> float:
    """The symmetric log axis' linear range for λ_min: the decade that holds its positive values and its
    value at ε = 0, so that a minimum's small positive curvature and where it turns negative show, and
    the large negative values of the far scan take one decade each."""
    lam = np.asarray(lambda_min, dtype=float)
    lam = lam[np.isfinite(lam)]
    candidates = [abs(float(lambda_min0))] if np.isfinite(lambda_min0) else []
    candidates += [float(lam.max())] if lam.size else []
    ref = max(candidates, default=0.0)
    if ref <= 0.0:
        nonzero = np.abs(lam[lam != 0])
        ref = float(nonzero.min()) if nonzero.size else 1.0
    return float(10.0 ** np.ceil(np.log10(ref)))


def symlog_limits(values: np.ndarray, linthresh: float, margin: float = 0.05) -> tuple[float, float] | None:
    """Limits of a symmetric log axis around ``values`` (0 included) with ``margin`` of its height on either
    side, measured on the axis as drawn (matplotlib's own margins depend on what else the axes hold)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None

    def forward(x: float) -> float:
        return float(np.sign(x) * np.log10(1.0 + abs(x) / linthresh))

    def back(t: float) -> float:
        return float(np.sign(t) * linthresh * (10.0 ** abs(t) - 1.0))

    lo, hi = forward(min(float(v.min()), 0.0)), forward(max(float(v.max()), 0.0))
    pad = margin * (hi - lo)
    return back(lo - pad), back(hi + pad)


def gradient_floor(loss: np.ndarray, grad: np.ndarray) -> float:
    """The lower end of the loss and ‖∇L‖ axis: a decade below the smallest loss and below ‖∇L‖ next to
    ε = 0, so that ‖∇L‖'s dip to round-off at the critical point itself runs off the axis instead of
    squeezing the curves into its top."""
    values = np.concatenate([loss[np.isfinite(loss)], np.sort(grad[np.isfinite(grad)])[1:2]])
    values = values[values > 0]
    return float(values.min()) / 10.0 if values.size else 1e-20


def escape_scan(session: Session, run: int, options: FigureOptions) -> Plot:
    """Loss and ‖∇L‖ (log) and λ_min (symmetric log) along θ + ε·v, from the stored escape analysis."""
    n = session.runs.n_runs
    if not 0 <= int(run) < n:
        raise InputError(f"run must be in 0..{n - 1}, not {run}")
    found = escape.read(session, run)
    if found is None:
        kind = str(session.runs.kind[run])
        if kind != Kind.LOCAL_MIN:
            raise FigureUnavailable(f"run {run} is a {kind_label(kind)}: the escape algorithms run at local minima")
        raise missing("escape analysis", "escape", run)
    scan = found.scan
    eps, lam_eps = np.asarray(scan.eps, dtype=float), np.asarray(scan.curvature_eps, dtype=float)
    lam = np.asarray(scan.lambda_min, dtype=float)
    # A gradient norm or loss of exactly 0 has no place on a log axis (NaN breaks the curve there).
    loss = np.where(scan.loss > 0, scan.loss, np.nan)
    grad = np.where(scan.grad_norm > 0, scan.grad_norm, np.nan)
    left: list = [Reference("ε = 0", 0.0, axis="x", color="0.6", style=":", width=0.6, legend=False),
                  Line("loss", eps, loss, color=LOSS_COLOR, width=1.0),
                  Line("‖∇L‖", eps, grad, color=GRAD_COLOR, width=1.0)]
    right: list = [Reference("ε = 0", 0.0, axis="x", color="0.6", style=":", width=0.6, legend=False),
                   Reference("λ = 0", 0.0, color="0.6", style="--", width=0.6, legend=False)]
    if lam.size:
        right.append(Line("λₘᵢₙ", lam_eps, lam, color=LAMBDA_COLOR, width=1.0))
    outcome = "no lower loss along ±v"
    if scan.escape:
        outcome = f"it escapes at ε = {scan.escape_eps:.3g}"
        for side in (left, right):
            side.append(Reference(f"escape (ε = {scan.escape_eps:.3g})", scan.escape_eps, axis="x",
                                  color=ESCAPE_COLOR, style="--", width=1.0))
    elif scan.found_lower:
        outcome = f"a lower loss at ε = {scan.best_eps:.3g}, but only over a barrier"
    xlim = (float(eps.min()), float(eps.max()))
    finite = np.concatenate([loss[np.isfinite(loss)], grad[np.isfinite(grad)]])
    ylim = (gradient_floor(loss, grad), float(finite.max()) * 3.0) if finite.size else None
    linthresh = lambda_linthresh(lam, scan.lambda_min0)
    axes = [Axes(layers=left, xlabel="ε", ylabel="loss, ‖∇L‖", yscale="log", xlim=xlim, ylim=ylim),
            Axes(layers=right, xlabel="ε", ylabel="λₘᵢₙ", yscale="symlog", linthresh=linthresh, xlim=xlim,
                 ylim=symlog_limits(lam, linthresh),
                 note="" if lam.size else "λₘᵢₙ was not computed in this scan")]
    return Plot(
        name="escape_escape",
        caption=f"Algorithm 1 at run {run} (kind before the search: {kind_label(found.kind_before)}): the loss, the "
                f"gradient norm and the smallest Hessian eigenvalue along θ + ε·v, v the unit eigenvector of "
                f"λₘᵢₙ = {scan.lambda_min0:.3g} at θ (loss {scan.loss0:.6g}); {outcome} ({scan.stop_reason}).",
        axes=axes, aspect=0.55, legend_columns=4)


FIGURES = (FigureSpec("escape_escape", "escape", "escape scan along the smallest eigenvector", escape_scan,
                      needs=("escape",)),)

__all__ = ["FIGURES", "escape_scan", "gradient_floor", "lambda_linthresh", "symlog_limits"]
