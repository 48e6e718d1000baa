"""From a climbing image to an exact saddle: eigenvector following, then Newton to machine precision.

A converged climbing image sits near the saddle of its path but only to the band's force tolerance.
Two stages take it the rest of the way:

1. **Eigenvector following** (Cerjan & Miller 1981; Baker 1986): in the eigenbasis of the exact
   Hessian ``H = V diag(lam) V^T`` the partitioned rational-function (P-RFO) step ascends along one
   followed mode and descends along all others, with shifts that keep it bounded along soft modes,
   inside a trust radius that grows after a step lowering ``||grad L||`` and
   shrinks (the step is retried) after one raising it. The followed mode starts as the band's
   tangent at the climbing image and is then the eigenvector overlapping most with the previous one,
   so the search stays on the saddle of *this* path rather than the nearest one of any index.
   Near an index-1 saddle this is exactly Newton's step. Eigenvalues within ``zero_rtol * max|lam|``
   of zero (flat symmetry directions of a network) are left out (pseudo-inverse).
2. **Newton on grad L = 0** (Levenberg-Marquardt in the eigenbasis, as in :mod:`.refine`), which
   converges to the nearby critical point of whatever index, until ``||grad L||`` reaches its
   float64 floor ``max|lam| * eps * max(||theta||, 1)``.

The result is then *certified* by the caller from an independently computed exact Hessian: the
number of negative eigenvalues says what was found, whatever the search was aiming at.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from ..base.record import Record
from ..base.refined import RefinedPoint, Stage, Status
from ..critical.critical_lm import grad_floor
from ..landscape import symmetric_eigen
from ..landscape.surface import Landscape, stop_requested


@dataclasses.dataclass
class SaddleConfig(Record):
    """``follow_steps`` eigenvector-following steps at most, switching to Newton once ``||g||`` fell
    by ``switch_factor``; ``newton_steps`` Newton steps at most; ``trust`` the first trust radius
    (None: a tenth of ``||theta0||`` or 0.1); ``zero_rtol`` the relative cut of null eigenvalues.
    ``lm_steps`` and ``channel_steps`` bound the Levenberg–Marquardt runs that resolve a point the
    search leaves uncertified (:mod:`.path_saddle`: on the network, on a channel's limit model)."""

    tagged = False
    what = "saddle-search settings"
    refuse_unknown = True
    omit_none = True

    follow_steps: int = 100
    newton_steps: int = 100
    switch_factor: float = 1e-6
    trust: float | None = None
    zero_rtol: float = 1e-10
    lm_steps: int = 400
    channel_steps: int = 300


#: The stored keys of a :class:`SaddleSearch`, in their stored order.
SEARCH_KEYS = ("theta", "value", "grad_norm", "grad_floor", "follow_steps", "newton_steps", "moved", "stop_reason")


@dataclasses.dataclass
class SaddleSearch(Record):
    """Where the search ended: ``point``, the :class:`RefinedPoint` reached (``iterations`` the Newton
    steps taken, ``grad_floor`` the float64 floor of ``||grad L||`` there, ``moved`` the distance from
    the start; its ``stage`` is ``FOLLOW`` when it was cancelled before Newton), and the
    ``follow_steps`` of eigenvector following taken. Stored flat (:data:`SEARCH_KEYS`), the point's
    loss as ``value``."""

    point: RefinedPoint
    follow_steps: int

    @property
    def theta(self) -> np.ndarray:
        return self.point.theta

    @property
    def value(self) -> float:
        return self.point.loss

    @property
    def grad_norm(self) -> float:
        return self.point.grad_norm

    @property
    def grad_floor(self) -> float:
        return self.point.grad_floor

    @property
    def newton_steps(self) -> int:
        return self.point.iterations if self.point.stage is Stage.NEWTON else 0

    @property
    def moved(self) -> float:
        return self.point.moved

    @property
    def stop_reason(self) -> str:
        return self.point.stop_reason

    def to_dict(self) -> dict:
        out = {"record": type(self).__name__, **{key: getattr(self, key) for key in SEARCH_KEYS}}
        return {k: v.item() if isinstance(v, np.generic) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, d: dict) -> SaddleSearch:
        if d.get("record", cls.__name__) != cls.__name__:
            raise ValueError(f"a stored {d['record']} cannot be read as a {cls.__name__}")
        missing = [key for key in SEARCH_KEYS if key not in d]
        if missing:
            raise ValueError(f"stored {cls.__name__} lacks {', '.join(missing)}")
        point = RefinedPoint.read_back(d["theta"], d["value"], d["grad_norm"], d["stop_reason"], d["newton_steps"],
                                       Stage.NEWTON, grad_floor=d["grad_floor"], moved=d["moved"])
        return cls(point, d["follow_steps"])


def _ended(x0: np.ndarray, x: np.ndarray, value, g_norm: float, lam: np.ndarray, follow: int, newton: int,
           status: Status, stage: Stage) -> SaddleSearch:
    """The search's end at ``x``: the point, its steps and why it stopped."""
    point = RefinedPoint(x, float(value), g_norm, newton if stage is Stage.NEWTON else follow, status, stage,
                         grad_floor=grad_floor(lam, x), moved=float(np.linalg.norm(x - x0)))
    return SaddleSearch(point, follow)


def _prfo_step(lam: np.ndarray, vec: np.ndarray, g: np.ndarray, j: int, cut: float) -> np.ndarray:
    """Partitioned rational-function step: maximise along mode ``j``, minimise along the others.

    The shifts of Baker's P-RFO keep the step bounded along soft modes (a Newton step ``g_i / lam_i``
    would be huge where ``lam_i ~ 0``): ``mu_p = lam_j / 2 + sqrt(lam_j^2 / 4 + g_j^2)`` for the
    followed mode, and for the others ``mu_n``, the lowest eigenvalue of the augmented Hessian
    ``[[diag(lam_i), g_i], [g_i^T, 0]]``. Null modes (``|lam| <= cut``) are left out.
    """
    gi = vec.T @ g
    keep = np.abs(lam) > cut
    keep[j] = True
    others = np.flatnonzero(keep & (np.arange(len(lam)) != j))
    step = np.zeros_like(gi)
    mu_p = lam[j] / 2 + np.sqrt(lam[j] ** 2 / 4 + gi[j] ** 2)
    if lam[j] - mu_p != 0:
        step[j] = -gi[j] / (lam[j] - mu_p)
    if others.size:
        aug = np.zeros((others.size + 1, others.size + 1))
        aug[np.arange(others.size), np.arange(others.size)] = lam[others]
        aug[:-1, -1] = aug[-1, :-1] = gi[others]
        mu_n = min(float(symmetric_eigen.eigvalsh(aug)[0]), 0.0)
        denom = lam[others] - mu_n
        ok = np.abs(denom) > 0
        step[others[ok]] = -gi[others[ok]] / denom[ok]
    return vec @ step


def find_saddle(landscape: Landscape, theta0, mode0=None, config: SaddleConfig | None = None,
                stop: threading.Event | None = None) -> SaddleSearch:
    """Search a saddle from ``theta0 (P,)`` following the mode closest to ``mode0 (P,)`` (module docstring).

    Without ``mode0`` the lowest mode is followed.
    """
    config = config or SaddleConfig()
    x0 = np.array(theta0, dtype=np.float64)
    x = x0.copy()
    value, g, h = landscape.value_grad_hessian(x)
    g_norm = g0 = float(np.linalg.norm(g))
    lam, vec = symmetric_eigen.eigh(h)
    mode = vec[:, 0] if mode0 is None else np.asarray(mode0, dtype=np.float64) / np.linalg.norm(mode0)
    trust = config.trust if config.trust is not None else 0.1 * max(float(np.linalg.norm(x0)), 1.0)
    follow = 0
    while follow < config.follow_steps:
        if stop_requested(stop):
            return _ended(x0, x, value, g_norm, lam, follow, 0, Status.CANCELLED, Stage.FOLLOW)
        if g_norm <= max(config.switch_factor * g0, grad_floor(lam, x)):
            break
        j = int(np.argmax(np.abs(vec.T @ mode)))
        mode = vec[:, j] * np.sign(vec[:, j] @ mode or 1.0)
        step = _prfo_step(lam, vec, g, j, config.zero_rtol * float(np.abs(lam).max()))
        length = float(np.linalg.norm(step))
        if length > trust:
            step *= trust / length
        follow += 1
        v_new, g_new, h_new = landscape.value_grad_hessian(x + step)
        gn_new = float(np.linalg.norm(g_new))
        if gn_new < g_norm or trust < 1e-12 * max(float(np.linalg.norm(x)), 1.0):
            x, value, g, g_norm = x + step, v_new, g_new, gn_new
            lam, vec = symmetric_eigen.eigh(h_new)
            trust = min(2.0 * trust, 10.0 * max(float(np.linalg.norm(x)), 1.0)) if length >= trust else trust
        else:
            trust = 0.25 * min(trust, length)
    # Newton (Levenberg-Marquardt) on grad L = 0 to the float64 floor.
    mu = (config.zero_rtol * float(np.abs(lam).max())) ** 2
    newton = 0
    while newton < config.newton_steps:
        if g_norm <= grad_floor(lam, x):
            status = Status.GRAD_CONVERGED
            break
        if stop_requested(stop):
            status = Status.CANCELLED
            break
        gi = vec.T @ g
        step = -vec @ (lam * gi / (lam * lam + mu))
        newton += 1
        v_new, g_new, h_new = landscape.value_grad_hessian(x + step)
        gn_new = float(np.linalg.norm(g_new))
        if np.isfinite(gn_new) and gn_new < g_norm:
            x, value, g, g_norm = x + step, v_new, g_new, gn_new
            lam, vec = symmetric_eigen.eigh(h_new)
            mu = max(mu / 100.0, (config.zero_rtol * float(np.abs(lam).max())) ** 2)
        else:
            mu = max(100.0 * mu, 1e-300)
            if mu > 1e10 * float(np.abs(lam).max()) ** 2:
                status = Status.STALLED
                break
    else:
        status = Status.NEWTON_STEPS
    return _ended(x0, x, value, g_norm, lam, follow, newton, status, Stage.NEWTON)


__all__ = ["SEARCH_KEYS", "SaddleConfig", "SaddleSearch", "find_saddle"]
