"""How a critical point reduces to a narrower critical point: its symmetry type, certified.

The structure is :func:`lsexplorer.core.symmetry.reduction.reduce_structure`: duplicated neurons, sign-flipped
duplicates (with the constant they leave, for the sigmoid and tanh), neurons of zero outgoing weight and
of zero incoming weight, and any combination, in every hidden layer. :func:`symmetry_type` names what a
point holds, ``+``-joined in the order of :data:`REDUCTIONS` (``"duplicate+zero_outgoing"``), or
:data:`IRREDUCIBLE`.

:func:`reduce_and_certify` goes on as the closest-saddle analysis does for a saddle line: it refines the
narrower point (float64, :func:`lsexplorer.core.critical.refine.refine`), measures its loss, gradient and
exact spectrum there and classifies it. The point is *symmetry-induced* by that reduction when

* it holds the structure within ``tol``: twice :func:`~.closest_saddle.si_tolerance` of ``||theta||``
  by default, the tolerance under which a point counts as lying on a saddle line (a point within it
  of an exact duplicate has its pair's incoming vectors at most twice that apart);
* the narrower point is a certified critical point (any kind but ``not_converged``), and
* refinement moved the reduced point by at most the same ``tol``: the point is an embedding of that
  critical point, not merely of some narrower point nearby.

Every step of the reduction keeps the network function, and the gradient of a merged, flipped or dropped
neuron is a combination of the wide point's, so a reduced critical point is critical up to the defect.
Points that refinement polished (``refine.py``) hold these structures exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..base.classify import Tolerances, classify, loss_scale
from ..base.spec import MLPSpec
from ..critical.refine import RefineConfig, refine
from ..landscape.hessian import float64_problem, loss_grad_hessian, spectrum
from ..symmetry.reduction import IRREDUCIBLE, REDUCTIONS, StructuralReduction, reduce_structure
from .closest_saddle import NarrowerPoint, si_tolerance


def default_tolerance(theta: np.ndarray) -> float:
    """Twice :func:`~.closest_saddle.si_tolerance` of ``||theta||`` (module docstring)."""
    return 2.0 * si_tolerance(float(np.linalg.norm(theta)))


def structure(spec: MLPSpec, theta: np.ndarray, tol: float | None = None) -> StructuralReduction:
    """:func:`~lsexplorer.core.symmetry.reduction.reduce_structure` of ``theta (P,)`` at ``tol`` (default
    :func:`default_tolerance`)."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape == (spec.n_params,) and not np.isfinite(theta).all():
        return reduce_structure(spec, theta, 0.0)
    return reduce_structure(spec, theta, default_tolerance(theta) if tol is None else float(tol))


def reductions(spec: MLPSpec, theta: np.ndarray, tol: float | None = None) -> tuple[str, ...]:
    """The :data:`REDUCTIONS` ``theta (P,)`` holds, in their order; none for a point that is not finite."""
    return structure(spec, theta, tol).types


def symmetry_type(spec: MLPSpec, theta: np.ndarray, tol: float | None = None) -> str:
    """The :func:`reductions` of ``theta`` joined by ``+``, or :data:`IRREDUCIBLE` when there is none."""
    return "+".join(reductions(spec, theta, tol)) or IRREDUCIBLE


@dataclasses.dataclass
class Reduction:
    """Result of :func:`reduce_and_certify` for a point ``theta (P,)``.

    types:
        ``+``-joined :data:`REDUCTIONS` the point holds, or :data:`IRREDUCIBLE`.
    is_si:
        Symmetry-induced by this reduction (module docstring).
    defect, moved, tolerance:
        How far the point is from holding the structure exactly; how far refinement moved the reduced
        point; the tolerance both are held to.
    narrower:
        The certified narrower point (its spec, refined point, spectrum and kind); None when irreducible.
    reason:
        One line: why the point is, or is not, symmetry-induced.
    """

    types: str
    is_si: bool
    defect: float
    moved: float
    tolerance: float
    narrower: NarrowerPoint | None
    reason: str

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "narrower"}
        if self.narrower is not None:
            d["narrower"] = self.narrower.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Reduction:
        narrower = d.get("narrower")
        return cls(types=str(d["types"]), is_si=bool(d["is_si"]), defect=float(d["defect"]), moved=float(d["moved"]),
                   tolerance=float(d["tolerance"]), reason=str(d["reason"]),
                   narrower=None if narrower is None else NarrowerPoint.from_dict(narrower))


def reduce_and_certify(spec: MLPSpec, theta, x, y, tol: float | None = None, refine_config: RefineConfig | None = None,
                       tolerances: Tolerances | None = None, stop=None) -> Reduction:
    """Reduce ``theta (P,)`` (:func:`structure`) and certify the narrower point on data ``x (N, d)``, ``y (N, d_out)``.

    ``tol`` defaults to :func:`default_tolerance`; ``tolerances`` classify the narrower point.
    """
    t, xt, yt = float64_problem(spec, theta, x, y)
    theta = t.numpy().copy()
    tol = default_tolerance(theta) if tol is None else float(tol)
    found = structure(spec, theta, tol)
    if not found.types:
        return Reduction(IRREDUCIBLE, False, 0.0, 0.0, tol, None, "no duplicated, flipped, or zero neuron")
    refined = refine(found.spec, found.theta, xt, yt, refine_config, stop)
    value, g, h = loss_grad_hessian(found.spec, refined.theta, xt, yt)
    eigvals = spectrum(h)[0]
    grad_norm = float(np.linalg.norm(g))
    kind = classify(value, grad_norm, eigvals, loss_scale(yt.numpy()), tolerances or Tolerances()).kind
    narrower = NarrowerPoint(found.spec, dataclasses.replace(refined, loss=value, grad=g, grad_norm=grad_norm,
                                                             eigvals=eigvals), kind)
    moved = float(np.linalg.norm(refined.theta - found.theta))
    widths = "-".join(str(w) for w in found.spec.widths)
    name = found.symmetry_type.replace("+", " + ")
    if kind == "not_converged":
        reason = f"{name}: the narrower {widths} point is not a certified critical point ({refined.stop_reason})"
    elif found.defect > tol:
        reason = f"{name}: holds the structure only within {found.defect:.2g} > {tol:.2g}"
    elif moved > tol:
        reason = f"{name}: the narrower {widths} critical point lies {moved:.2g} > {tol:.2g} from the reduced point"
    else:
        reason = f"{name}: embeds a {kind} of the {widths} net (defect {found.defect:.1g}, moved {moved:.1g})"
    is_si = kind != "not_converged" and found.defect <= tol and moved <= tol
    return Reduction(found.symmetry_type, is_si, found.defect, moved, tol, narrower, reason)


__all__ = ["IRREDUCIBLE", "REDUCTIONS", "Reduction", "default_tolerance", "reduce_and_certify", "reductions",
           "structure", "symmetry_type"]
