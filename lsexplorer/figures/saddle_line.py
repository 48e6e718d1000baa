"""Saddle-line figures (thesis Fig 6.17): the Hessian spectrum along a line θ(μ) of critical points.

A saddle line is a narrower point θ* with one neuron duplicated at share μ. Its source is either the
run's stored closest saddle (``/analyses/closest_saddle``, with the stored μ sweep
``/analyses/mu_sweep``) or, with ``FigureOptions.expand = (layer, neuron)``, the run's own point with
that neuron duplicated (any kind, any depth; computed on request as the panel's "expand a neuron"
source does, never stored). Four figures, as the Saddle line panel shows them:

- the chosen eigenvalues (``FigureOptions.eigs``) against μ;
- the exact spectrum at one μ (``FigureOptions.mu``) with measured and Theorem 3's predicted inertia;
- the eigenvalues of Theorem 3's matrix Y;
- the loss along θ(μ) minus L(θ*): duplicating a neuron keeps the network's function, so this is round-off,
  which the figure says instead of drawing it (it is drawn only where it is not).

The pure pieces the panel shares live here: :class:`SaddleLine`, :func:`closest_line`,
:func:`expanded_line`, :func:`drawn_indices` and :data:`EIGENVALUE_COLORS`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from ..core.analyses import closest_saddle, expanded_lines, mu_sweep
from ..core.base.classify import Tolerances
from ..core.base.distribution import is_population
from ..core.base.errors import InputError
from ..core.base.kinds import Kind, kind_label
from ..core.base.spec import MLPSpec
from ..core.store.session import Session
from .available import FigureUnavailable, is_roundoff, missing, roundoff_note
from .catalog import FigureOptions, FigureSpec
from .plot import Axes, Line, Plot, Reference, Scatter

if TYPE_CHECKING:
    from ..core.saddles.closest_saddle import ClosestSaddle
    from ..core.saddles.inertia import MuSweep
    from ..core.saddles.line_spectrum import NeuronLine

#: Colours of the eigenvalue curves by ascending index (λ₁ the first), the same in the panel and the figure.
EIGENVALUE_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]
#: The panel's default choice of eigenvalues drawn against μ: ``(first, count)``, 1-based from the smallest.
DEFAULT_EIGS = (1, 6)
#: Most eigenvalue curves named one by one in the legend (one row at one column); more are coloured by
#: their index with a colour bar, which takes no height.
LEGEND_MAX = 6
#: Curves whose largest |λ| is more than this many times their typical (lower-quartile) nonzero |λ| are
#: drawn on a symmetric log axis, which keeps the small eigenvalues that cross zero apart.
SYMLOG_FROM = 100.0
#: μ grid of an "expand a neuron" sweep; None: ``core.saddles.inertia.default_mu_grid()``, as the panel.
EXPAND_MUS: np.ndarray | None = None
#: Why a population (relu-gaussian) session has no saddle lines (the panel's words).
POPULATION_REASON = ("saddle lines split a neuron's outgoing weight between two copies; in this landscape the "
                     "output weights are fixed to 1, so there are none")
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


@dataclasses.dataclass(frozen=True)
class SaddleLine:
    """The line θ(μ) shown, L(θ*) that the loss along it is measured from, and the μ shown first."""

    line: NeuronLine
    base_loss: float
    mu0: float


def closest_line(saddle: ClosestSaddle) -> SaddleLine:
    """The saddle line of a closest saddle: its narrower point's duplicated neuron, from μ*."""
    from ..core.saddles.line_spectrum import NeuronLine  # at call time: importing the figures needs no torch

    n = saddle.narrower
    return SaddleLine(NeuronLine(n.spec, n.theta, saddle.layer, saddle.neuron), n.loss, saddle.mu)


def expanded_line(spec: MLPSpec, theta, run_loss: float, layer: int, neuron: int,
                  sweep: MuSweep | None = None) -> SaddleLine:
    """The line of ``theta`` with ``neuron`` of hidden ``layer`` duplicated, from μ = 0.5. The loss is
    measured from the run's (from the sweep's first point where the run's is not finite)."""
    from ..core.saddles.line_spectrum import NeuronLine  # at call time: importing the figures needs no torch

    base = float(run_loss)
    if not np.isfinite(base) and sweep is not None and sweep.loss.size:
        base = float(sweep.loss[0])
    return SaddleLine(NeuronLine(spec, np.asarray(theta, dtype=np.float64), int(layer), int(neuron)), base, 0.5)


def drawn_indices(first: int, count: int, n: int) -> np.ndarray:
    """0-based ascending indices of ``count`` eigenvalues from the ``first``-smallest (1-based), within ``n``."""
    start = min(max(int(first), 1) - 1, n - 1)
    return np.arange(start, min(start + max(int(count), 1), n))


def tolerances_of(session: Session) -> Tolerances:
    """The zero tolerances the session was refined and classified with."""
    return Tolerances.from_dict(session.config.get("tolerances", {}))


def loss_scale(session: Session, loss: float) -> float:
    """The size whose round-off a computed loss near ``loss`` carries: residuals of the size of the targets
    ``y`` are exact to ``eps·|y|``, so ``L = mean(r²)`` is exact to about ``eps·sqrt(L·mean(y²))`` (and
    never better than ``eps·L``). A loss of 1e-32 varying by 1e-32 is then round-off, as it should be."""
    loss = abs(float(loss)) if np.isfinite(loss) else 0.0
    y2 = float(np.mean(np.square(np.asarray(session.y, dtype=np.float64)))) if np.size(session.y) else 0.0
    return max(loss, float(np.sqrt(loss * y2)))


def loss_roundoff_note(what: str, values: np.ndarray, session: Session, loss: float) -> str:
    """The round-off note of loss values near ``loss`` (:func:`loss_scale`), "" when they are more than
    round-off; it names the loss as their size where that alone explains them, as it reads plainest."""
    scale = loss_scale(session, loss)
    if not is_roundoff(values, scale):
        return ""
    size = float(loss) if np.isfinite(loss) and is_roundoff(values, float(loss)) else scale
    return roundoff_note(what, values, size)


def _check_run(session: Session, run: int) -> int:
    n = session.runs.n_runs
    if not 0 <= int(run) < n:
        raise InputError(f"run must be in 0..{n - 1}, not {run}")
    return int(run)


def run_closest_saddle(session: Session, run: int) -> ClosestSaddle:
    """Run ``run``'s stored closest saddle; FigureUnavailable saying why there is none to draw."""
    run = _check_run(session, run)
    if is_population(session):
        raise FigureUnavailable(POPULATION_REASON)
    kind = str(session.runs.kind[run])
    if kind == Kind.GLOBAL_MIN:
        raise FigureUnavailable(f"run {run} is a global minimum: it has no closest saddle")
    if kind == Kind.NOT_CONVERGED:
        raise FigureUnavailable(f"run {run} did not converge: it is no critical point and has no closest saddle")
    saddle = closest_saddle.read(session, run)
    if saddle is None:
        raise missing("closest-saddle analysis", "closest_saddle", run)
    return saddle


def _converged_closest(session: Session, run: int) -> ClosestSaddle:
    saddle = run_closest_saddle(session, run)
    if saddle.narrower.kind == Kind.NOT_CONVERGED:
        raise FigureUnavailable(f"the narrower point of run {run}'s closest saddle did not converge "
                                f"(‖∇L‖ = {saddle.narrower.grad_norm:.1e}), so θ(μ) is not a line of critical points")
    return saddle


def _expand_target(session: Session, run: int, expand: tuple[int, int]) -> tuple[int, int]:
    """``(layer, neuron)`` checked against the network and the run's point."""
    run = _check_run(session, run)
    if is_population(session):
        raise FigureUnavailable(POPULATION_REASON)
    layer, neuron = (int(v) for v in expand)
    hidden = session.spec.hidden_widths
    if not 1 <= layer <= len(hidden):
        raise InputError(f"the expanded layer must be in 1..{len(hidden)} for {session.spec.describe()}, not {layer}")
    if not 0 <= neuron < hidden[layer - 1]:
        raise InputError(f"the expanded neuron must be in 0..{hidden[layer - 1] - 1}, not {neuron}")
    if not np.isfinite(session.runs.theta[run]).all():
        raise FigureUnavailable(f"run {run}'s point is not finite, so it has no line to expand")
    return layer, neuron


def expand_sweep(session: Session, run: int, layer: int, neuron: int) -> MuSweep:
    """The μ sweep of run ``run``'s point with ``neuron`` of hidden ``layer`` duplicated: the one kept with the
    session (the app's "expand a neuron"), else computed on :data:`EXPAND_MUS`."""
    from ..core.analyses.base import drive
    from ..core.saddles.inertia import mu_sweep as sweep_line

    stored = expanded_lines.read(session, run, layer, neuron)
    if stored is not None:
        return stored
    theta = np.asarray(session.runs.theta[run], dtype=np.float64)
    return drive(sweep_line(session.spec, theta, session.x, session.y, layer, neuron, EXPAND_MUS,
                            tolerances_of(session)))


@dataclasses.dataclass(frozen=True)
class _Source:
    """A saddle line to draw, its sweep (None where the figure needs none) and a sentence saying what it is."""

    line: SaddleLine
    sweep: MuSweep | None
    what: str


def _closest_what(run: int, kind: str, saddle: ClosestSaddle) -> str:
    n = saddle.narrower
    return (f"run {run} ({kind_label(kind)}): the line of its closest saddle, neuron {saddle.neuron} of hidden "
            f"layer {saddle.layer} of the narrower {kind_label(n.kind)} (loss {n.loss:.3e}) duplicated at share μ; "
            f"the closest saddle is at μ* = {saddle.mu:.4g}")


def _expand_what(run: int, kind: str, layer: int, neuron: int) -> str:
    note = "" if kind in (Kind.LOCAL_MIN, Kind.GLOBAL_MIN) else \
        "; the point is not a minimum, so θ(μ) need not be a line of critical points"
    return f"run {run} ({kind_label(kind)}) with neuron {neuron} of hidden layer {layer} duplicated at share μ{note}"


def _source(session: Session, run: int, options: FigureOptions, sweep: bool) -> _Source:
    """The saddle line the options choose, with its sweep when ``sweep`` (stored, or computed for expand)."""
    if options.expand is not None:
        layer, neuron = _expand_target(session, run, options.expand)
        run = int(run)
        sw = expand_sweep(session, run, layer, neuron) if sweep else None
        line = expanded_line(session.spec, session.runs.theta[run], float(session.runs.loss[run]), layer, neuron, sw)
        return _Source(line, sw, _expand_what(run, str(session.runs.kind[run]), layer, neuron))
    saddle = _converged_closest(session, run)
    kind = str(session.runs.kind[run])
    sw = None
    if sweep:
        sw = mu_sweep.read(session, run)
        if sw is None and kind != Kind.LOCAL_MIN:
            raise FigureUnavailable(f"run {run} is a {kind_label(kind)}: μ sweeps are stored for local minima only; "
                                    "draw the line of one of its neurons with expand=(layer, neuron) "
                                    "(export --expand-layer L --expand-neuron J)")
        if sw is None:
            raise missing("μ-sweep analysis", "mu_sweep", run)
    return _Source(closest_line(saddle), sw, _closest_what(run, kind, saddle))


def signed(value: float, spec: str = ".4g") -> str:
    """``value`` formatted with a typographic minus, as matplotlib writes its tick labels."""
    return format(value, spec).replace("-", "−")


def eigenvalue_axis(values: np.ndarray, zero_tol: np.ndarray) -> tuple[str, float]:
    """``(scale, linthresh)`` of an axis of eigenvalues ``values (K, n)`` (zero below ``zero_tol (K,)``):
    linear, or symmetric log with the linear part up to the decade of their lower-quartile nonzero |λ|
    when they span more than :data:`SYMLOG_FROM`-fold."""
    size = np.abs(np.asarray(values, dtype=float))
    nonzero = size[(size > np.asarray(zero_tol, dtype=float).reshape(-1, 1)) & np.isfinite(size)]
    if nonzero.size == 0:
        return "linear", 1.0
    typical = float(np.quantile(nonzero, 0.25))
    if float(nonzero.max()) <= SYMLOG_FROM * typical:
        return "linear", 1.0
    return "symlog", float(10.0 ** np.floor(np.log10(typical)))


def _subscript(i: int) -> str:
    return str(i).translate(_SUBSCRIPTS)


def eigenvalues_vs_mu(session: Session, run: int, options: FigureOptions) -> Plot:
    """The chosen Hessian eigenvalues (default: the 6 smallest) against μ along the saddle line."""
    first, count = options.eigs or DEFAULT_EIGS
    if first < 1 or count < 1:
        raise InputError(f"eigs = (first, count) are 1-based and positive, not {(first, count)}")
    src = _source(session, run, options, sweep=True)
    sw = src.sweep
    drawn = drawn_indices(first, count, sw.eigvals.shape[1])
    layers: list = [Reference("λ = 0", 0.0, color="0.6", style="--", width=0.6, legend=False)]
    if drawn.size <= LEGEND_MAX:
        for i in drawn:
            layers.append(Line(f"λ{_subscript(i + 1)}", sw.mus, sw.eigvals[:, i],
                               color=EIGENVALUE_COLORS[i % len(EIGENVALUE_COLORS)], width=1.0))
        columns = int(drawn.size)
    else:
        lo, hi = int(drawn[0]), int(drawn[-1])
        cmap = colormaps["viridis"]
        for i in drawn:
            layers.append(Line(f"λ{_subscript(i + 1)}", sw.mus, sw.eigvals[:, i],
                               color=to_hex(cmap((i - lo) / (hi - lo))), width=0.8, legend=False))
        # The sweep's grid points, coloured by index: they carry the colour bar that names the curves.
        layers.append(Scatter("grid points", np.tile(sw.mus, drawn.size), sw.eigvals[:, drawn].T.ravel(),
                              marker="o", size=1.5, values=np.repeat(drawn + 1.0, sw.mus.size),
                              colorbar="index i of λᵢ", legend=False))
        columns = 1
    scale, linthresh = eigenvalue_axis(sw.eigvals[:, drawn], sw.zero_tol)
    which = f"λ{_subscript(drawn[0] + 1)}–λ{_subscript(drawn[-1] + 1)}" if drawn.size > 1 else \
        f"λ{_subscript(drawn[0] + 1)}"
    return Plot(
        name="saddle_line_eigenvalues_vs_mu",
        caption=f"Hessian eigenvalues {which} (ascending) along θ(μ), {src.what}; exact spectra at "
                f"{sw.mus.size} values of μ"
                + (f"; symmetric log axis, linear within ±{linthresh:.0e}." if scale == "symlog" else "."),
        axes=[Axes(layers=layers, xlabel="μ", ylabel="Hessian eigenvalue λᵢ", yscale=scale, linthresh=linthresh,
                   xlim=(float(sw.mus.min()), float(sw.mus.max())))],
        aspect=0.7, legend_columns=max(columns, 1))


def _category(name: str, idx: np.ndarray, values: np.ndarray, mask: np.ndarray, measured: int, predicted: int,
              color: str, marker: str, filled: bool, size: float) -> Scatter | None:
    """Eigenvalues of one sign as points (|λ| on a log axis), their count and Theorem 3's in the label."""
    if measured == 0 and predicted == 0:
        return None
    keep = mask & (values != 0)  # an exact zero has no place on a log axis; it is still counted
    return Scatter(f"{name}: {measured} (Thm 3: {predicted})", idx[keep], np.abs(values[keep]), color=color,
                   marker=marker, size=size, filled=filled)


def spectrum_at_mu(session: Session, run: int, options: FigureOptions) -> Plot:
    """The exact Hessian spectrum at θ(μ) (|λ| by index, by sign), measured against Theorem 3's inertia."""
    from ..core.saddles.line_spectrum import LineSpectra  # at call time: importing the figures needs no torch

    src = _source(session, run, options, sweep=False)
    mu = src.line.mu0 if options.mu is None else float(options.mu)
    if not np.isfinite(mu):
        raise InputError(f"μ must be a finite number, not {options.mu}")
    at = LineSpectra(src.line.line, session.x, session.y, tolerances_of(session)).at(mu)
    ev = at.eigvals
    idx = np.arange(1, ev.size + 1, dtype=float)
    size = 9.0 if ev.size <= 60 else 3.0
    m, p = at.measured, at.predicted
    cats = [_category("negative", idx, ev, ev < -at.zero_tol, m.neg, p.neg, "#D55E00", "v", True, size),
            _category("zero", idx, ev, np.abs(ev) <= at.zero_tol, m.zero, p.zero, "#555555", "o", False, size),
            _category("positive", idx, ev, ev > at.zero_tol, m.pos, p.pos, "#0072B2", "o", True, size)]
    layers = [c for c in cats if c is not None]
    layers.append(Reference("zero tolerance", at.zero_tol, color="0.5", style=":", width=0.8))
    agree = "agrees with" if m == p else "differs from"
    return Plot(
        name="saddle_line_spectrum_at_mu",
        caption=f"Exact Hessian spectrum at θ(μ = {mu:.4g}), {src.what}: |λ| by ascending index, by sign "
                f"(|λ| ≤ {at.zero_tol:.1e} counts as zero); the measured inertia {m.as_tuple()} {agree} "
                f"Theorem 3's prediction {p.as_tuple()}. Loss {at.loss:.6e}, ‖∇L‖ {at.grad_norm:.1e}.",
        axes=[Axes(layers=layers, xlabel="index i (ascending λ)", ylabel="|λᵢ|", yscale="log",
                   xlim=(0.0, ev.size + 1.0), title=f"μ = {signed(mu)}", integer_x=True)],
        aspect=0.7, legend_columns=2)


def _hessian_scale(eigvals: np.ndarray) -> float:
    finite = np.abs(eigvals[np.isfinite(eigvals)])
    return float(finite.max()) if finite.size else 0.0


def y_eigenvalues(session: Session, run: int, options: FigureOptions) -> Plot:
    """Eigenvalues of Theorem 3's Y (from the stored sweep; computed for an expanded neuron)."""
    if options.expand is not None:
        from ..core.saddles.inertia import theorem3  # at call time: importing the figures needs no torch

        src = _source(session, run, options, sweep=False)
        ln = src.line.line
        th = theorem3(ln.spec, ln.theta, session.x, session.y, ln.layer, ln.neuron, tolerances_of(session))
        y, narrow = th.y_eigvals, th.narrow_eigvals
    else:
        src = _source(session, run, options, sweep=True)
        y, narrow = src.sweep.y_eigvals, src.sweep.narrow_eigvals
    y = np.asarray(y, dtype=float)
    idx = np.arange(1, y.size + 1, dtype=float)
    scale = _hessian_scale(np.asarray(narrow, dtype=float))
    note = roundoff_note("Y", y, scale) if is_roundoff(y, scale) else ""
    layers: list = [Reference("0", 0.0, color="0.6", style="--", width=0.6, legend=False)]
    if not note:
        pos, neg = y > 0, y < 0
        layers += [Scatter(f"positive: {int(pos.sum())}", idx[pos], y[pos], color="#0072B2", marker="o"),
                   Scatter(f"negative: {int(neg.sum())}", idx[neg], y[neg], color="#D55E00", marker="v")]
        zero = ~(pos | neg)
        if zero.any():
            layers.append(Scatter(f"zero: {int(zero.sum())}", idx[zero], y[zero], color="#555555", filled=False))
    return Plot(
        name="saddle_line_y_eigenvalues",
        caption=f"Eigenvalues of Theorem 3's matrix Y (ascending), {src.what}.",
        axes=[Axes(layers=layers, xlabel="index i (ascending)", ylabel="eigenvalue of Y",
                   xlim=(0.5, y.size + 0.5), note=note, integer_x=True)],
        aspect=0.6, legend_columns=3)


def loss_along_mu(session: Session, run: int, options: FigureOptions) -> Plot:
    """L(θ(μ)) − L(θ*) along the line: round-off (the duplicated net computes the same function), said so."""
    src = _source(session, run, options, sweep=True)
    sw = src.sweep
    diff = sw.loss - src.line.base_loss
    note = ""
    layers: list = []
    note = loss_roundoff_note("L(θ(μ)) − L(θ*)", diff, session, src.line.base_loss)
    if not note:
        layers = [Reference("0", 0.0, color="0.6", style="--", width=0.6, legend=False),
                  Line("L(θ(μ)) − L(θ*)", sw.mus, diff, color="#333333", marker="o", marker_size=2.0, legend=False)]
    return Plot(
        name="saddle_line_loss_along_mu",
        caption=f"Loss along θ(μ) minus L(θ*) = {src.line.base_loss:.6e}, {src.what}.",
        axes=[Axes(layers=layers, xlabel="μ", ylabel="L(θ(μ)) − L(θ*)",
                   xlim=(float(sw.mus.min()), float(sw.mus.max())), note=note)],
        aspect=0.6)


FIGURES = (
    FigureSpec("saddle_line_eigenvalues_vs_mu", "saddle_line", "Hessian eigenvalues along the saddle line",
               eigenvalues_vs_mu, needs=("closest_saddle", "mu_sweep")),
    FigureSpec("saddle_line_spectrum_at_mu", "saddle_line", "Hessian spectrum at one point of the saddle line",
               spectrum_at_mu, needs=("closest_saddle",)),
    FigureSpec("saddle_line_y_eigenvalues", "saddle_line", "eigenvalues of Theorem 3's Y", y_eigenvalues,
               needs=("closest_saddle", "mu_sweep")),
    FigureSpec("saddle_line_loss_along_mu", "saddle_line", "loss along the saddle line", loss_along_mu,
               needs=("closest_saddle", "mu_sweep")),
)

__all__ = ["DEFAULT_EIGS", "EIGENVALUE_COLORS", "FIGURES", "SaddleLine", "closest_line", "drawn_indices",
           "eigenvalue_axis", "eigenvalues_vs_mu", "expand_sweep", "expanded_line", "loss_along_mu",
           "loss_roundoff_note", "loss_scale", "run_closest_saddle", "signed", "spectrum_at_mu", "tolerances_of",
           "y_eigenvalues"]
