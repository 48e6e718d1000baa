"""What kind of critical point a refined point is, from its loss, gradient norm and Hessian spectrum.

Kinds (thesis chapter 3 and section 6.2):

``not_converged``
    ``||grad L|| > grad_tol``, or something is NaN/inf: not (certifiably) a critical point.
``global_min``
    Loss at most the zero-loss threshold. The loss is a mean of squares, so ``L >= 0`` and a zero-loss
    critical point is a global minimum whatever its spectrum. On data a student cannot fit exactly
    no point qualifies, and the best point is reported as ``local_min``.
``strict_saddle``
    ``lambda_min < -zero_eig_tol``: a direction of negative curvature, i.e. an escape direction.
    (A local maximum would land here too; the squared loss with a linear output layer has none.)
``local_min``
    No negative eigenvalue. Eigenvalues within ``zero_eig_tol`` of 0 are counted as the
    *degeneracy*; with ``n_zero > 0`` the second-order test is inconclusive, and the point may be a
    non-strict saddle (thesis section 6.2.4: lower loss reachable along a flat direction only
    through third- or fourth-order terms).
``channel``, ``channel_saddle``
    Never assigned here: a diverged point whose limit model (``channels.py``) has a certified
    critical point without / with a negative eigenvalue, a minimum / saddle at infinity.
``nonstrict_saddle``
    Never assigned here. An escape-direction search (``escape.py``, thesis Algorithms 1 and 2)
    turns a degenerate ``local_min`` into a ``nonstrict_saddle`` when it finds lower loss.

Both thresholds are scale-aware: ``zero_eig_tol = max(eig_rtol * max|lam|, eig_atol)`` and
``zero_loss_tol = max(loss_rtol * mean_i ||y_i||^2, loss_atol)`` (``mean ||y_i||^2`` is the loss of
the zero function, :func:`loss_scale`), so rescaling the targets does not change a classification.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .kinds import KINDS  # re-exported: the kinds classify() assigns
from .record import Record


@dataclasses.dataclass
class Tolerances(Record):
    """Thresholds of :func:`classify`; written into every session next to the results.

    The defaults come from spectra measured on the thesis toy problem (2-m-1 sigmoid students of the
    4-neuron teacher, N = 1681) after :func:`lsexplorer.core.critical.refine.refine`:

    grad_tol = 1e-12:
        Refined points of finite size reach ``||grad L||`` of 1e-17..1e-15 (1e-14 at worst);
        points running off to infinity (``||theta||`` in the hundreds) stall at 1e-12..1e-7, their
        float64 floor ``max|lam| * eps * ||theta||``. An absolute bound; loosen it for nets whose
        Hessians are large.
    eig_rtol = 1e-10, eig_atol = 1e-14:
        Eigenvalues that are zero in exact arithmetic come out at |lam| <= 2e-14 relative to
        ``max|lam|`` (1e-16 typically), at global minima with duplicated neurons or with a zero
        outgoing weight. The smallest genuine eigenvalues are small too: 4.6e-7 relative at the
        teacher, 3.6e-6 at width-3 local minima, 9e-8 at width-5 global minima and 5e-9 at one
        width-5 local minimum. 1e-10 leaves a factor >= 50 on either side. ``eig_atol`` only matters
        when the whole spectrum is tiny.
    loss_rtol = 1e-12, loss_atol = 1e-30:
        Zero-loss points refine to ``L`` ~ 1e-32 (1e-24..5e-22 where a duplicated neuron's outgoing
        weight is near 0, the slowest case), while the non-global critical points of the toy problem have
        ``L >= 6e-5``, i.e. ``>= 5e-4 * mean ||y||^2``. ``loss_atol`` covers targets that are all 0.
    max_norm_growth = 10:
        Applied by :func:`lsexplorer.core.critical.certify.certify`, not here: a refined point whose norm exceeds
        ``max_norm_growth * max(||theta_start||, 1)`` ran off towards infinity (saturating neurons)
        rather than to a critical point near the end of training, and is ``not_converged`` with a
        ``diverged`` stop reason. Measured on toy students after 2e4 Adam epochs: refinement moves
        converging points by less than a factor 1.5 in norm, runaways from ``||theta|| ~ 3`` to
        300..1000, where ``||grad L||`` can still fall below ``grad_tol``.
    """

    tagged = False
    what = "tolerance settings"
    refuse_unknown = True

    grad_tol: float = 1e-12
    eig_rtol: float = 1e-10
    eig_atol: float = 1e-14
    loss_rtol: float = 1e-12
    loss_atol: float = 1e-30
    max_norm_growth: float = 10.0

    def zero_eig_tol(self, eigvals: np.ndarray) -> float:
        """``max(eig_rtol * max|lam|, eig_atol)`` for the spectrum ``eigvals (P,)``."""
        return max(self.eig_rtol * float(np.abs(eigvals).max(initial=0.0)), self.eig_atol)

    def zero_loss_tol(self, y_scale: float) -> float:
        """``max(loss_rtol * y_scale, loss_atol)``; ``y_scale`` from :func:`loss_scale`."""
        return max(self.loss_rtol * y_scale, self.loss_atol)


@dataclasses.dataclass
class Classification:
    """A point's kind, its inertia ``(n_negative, n_zero, n_positive)`` and the thresholds used.

    ``n_zero`` is the degeneracy. For a point whose spectrum is not finite the counts are 0 and
    ``lambda_min`` and ``zero_eig_tol`` are NaN.
    """

    kind: str
    lambda_min: float
    n_negative: int
    n_zero: int
    n_positive: int
    zero_eig_tol: float
    zero_loss_tol: float


def loss_scale(y: np.ndarray) -> float:
    """``mean_i ||y_i||^2`` for targets ``y (N, d_out)``: the loss of the zero function."""
    y = np.asarray(y, dtype=np.float64)
    return float((y * y).sum() / y.shape[0])


def classify(loss: float, grad_norm: float, eigvals, y_scale: float, tol: Tolerances | None = None) -> Classification:
    """Classify a point from its ``loss``, ``grad_norm`` and Hessian eigenvalues ``eigvals (P,)``.

    ``y_scale`` is :func:`loss_scale` of the targets. Order of the tests: non-finite or too large a
    gradient -> ``not_converged``; zero loss -> ``global_min``; a negative eigenvalue ->
    ``strict_saddle``; otherwise ``local_min`` (module docstring).
    """
    tol = tol or Tolerances()
    eigvals = np.asarray(eigvals, dtype=np.float64)
    zero_loss = tol.zero_loss_tol(y_scale)
    if eigvals.size == 0 or not np.isfinite(eigvals).all():
        return Classification("not_converged", math.nan, 0, 0, 0, math.nan, zero_loss)
    zero_eig = tol.zero_eig_tol(eigvals)
    n_negative = int((eigvals < -zero_eig).sum())
    n_positive = int((eigvals > zero_eig).sum())
    n_zero = eigvals.size - n_negative - n_positive
    lambda_min = float(eigvals.min())
    if not (math.isfinite(loss) and math.isfinite(grad_norm)) or grad_norm > tol.grad_tol:
        kind = "not_converged"
    elif loss <= zero_loss:
        kind = "global_min"
    elif n_negative > 0:
        kind = "strict_saddle"
    else:
        kind = "local_min"
    return Classification(kind, lambda_min, n_negative, n_zero, n_positive, zero_eig, zero_loss)


__all__ = ["KINDS", "Tolerances", "Classification", "classify", "loss_scale"]
