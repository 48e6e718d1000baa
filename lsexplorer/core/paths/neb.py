"""Nudged elastic bands between two points of any smooth landscape: NEB, climbing image, AutoNEB.

A *band* is a chain of images ``R_0 .. R_{K-1}`` (``(K, P)``) whose end points are held fixed. Each
interior image feels the component of the true force ``-grad L`` perpendicular to the path and a
spring force along it (the "nudging" of Jonsson, Mills & Jacobsen 1998). The tangent is the
*improved tangent* of Henkelman & Jonsson (J. Chem. Phys. 113, 9978, 2000): the bond to the higher
neighbour, or at a local extremum of the band a mix of both bonds weighted by the energy
differences, which keeps kinks out of a band in a curved valley. With the *climbing image*
(Henkelman, Uberuaga & Jonsson, J. Chem. Phys. 113, 9901, 2000) the highest image feels no spring
and the full force with its tangential part inverted, so it climbs along the path and converges to
the saddle point on it.

*AutoNEB* (Draxler et al., "Essentially No Barriers in Neural Network Energy Landscape", ICML 2018)
starts with few images and runs cycles: relax the band, evaluate the loss along each straight segment
between neighbouring images, and insert a new image where the loss between two images rises above
both of them (the band misses a bump there) or where a segment is much longer than the others (the
path is poorly resolved); stop when no segment needs one, then relax with a climbing image.

All bands are relaxed with FIRE (Bitzek et al., PRL 97, 170201, 2006), the optimizer Sheppard,
Terrell & Henkelman (J. Chem. Phys. 128, 134106, 2008) found among the most robust for NEB; its time
step is scaled by the largest Hessian eigenvalue at the ends, so the same settings work on the
Mueller-Brown potential (curvatures ~1e3) and on a network loss (~1e-2). Every image of a band is
evaluated in one batched call of the landscape.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Generator

import numpy as np

from ..base.progress import Progress
from ..base.record import Record
from ..landscape import symmetric_eigen
from ..landscape.surface import Landscape, stop_requested

OPTIMIZERS = ("lbfgs", "fire")


@dataclasses.dataclass
class NEBConfig(Record):
    """Settings of :func:`relax_band` and :func:`auto_neb`.

    images:
        Interior images of a plain NEB band (AutoNEB starts from ``auto_start_images``).
    climb:
        Let the highest image climb once the band is roughly relaxed.
    force_rtol, force_atol:
        Converged when every image's NEB force norm is at most
        ``max(force_rtol * F0, force_atol)``, ``F0`` the largest gradient norm on the initial band.
    climb_after:
        The climbing image starts once the largest force is below ``climb_after * F0`` (or after a
        fifth of ``max_steps``).
    spring:
        Spring constant; ``None`` sets ``spring_rel * lambda_max`` from the Hessians at the end points.
    max_steps, max_seconds:
        Budget of one band relaxation.
    optimizer, memory:
        ``"lbfgs"`` (global L-BFGS on the NEB force, ``memory`` pairs) or ``"fire"``.
    max_move:
        Largest step of one image in one FIRE step, as a fraction of the end points' distance.
    auto_start_images, auto_max_images, auto_cycles, auto_steps:
        AutoNEB: interior images to start with, the most it may grow to, the most insertion cycles,
        and FIRE steps per cycle.
    auto_rise, auto_length:
        AutoNEB inserts an image where the loss between two neighbours rises more than
        ``auto_rise`` times the band's energy span above both, or where a segment is longer than
        ``auto_length`` times the mean segment.
    auto_probe:
        Points evaluated inside each segment to look for a rise.
    """

    tagged = False
    what = "band settings"
    refuse_unknown = True
    omit_none = True

    images: int = 16
    climb: bool = True
    force_rtol: float = 1e-3
    force_atol: float = 0.0
    climb_after: float = 0.05
    spring: float | None = None
    spring_rel: float = 0.1
    max_steps: int = 20000
    max_seconds: float = 300.0
    max_move: float = 0.01
    optimizer: str = "lbfgs"
    memory: int = 10
    auto_start_images: int = 4
    auto_max_images: int = 32
    auto_cycles: int = 12
    auto_steps: int = 400
    auto_rise: float = 0.05
    auto_length: float = 2.0
    auto_probe: int = 9

    def __post_init__(self) -> None:
        if int(self.images) < 1:
            raise ValueError(f"a band needs at least one interior image, got images={self.images}")
        if not 1 <= int(self.auto_start_images) <= int(self.auto_max_images):
            raise ValueError(f"AutoNEB needs 1 <= auto_start_images ({self.auto_start_images}) <= "
                             f"auto_max_images ({self.auto_max_images})")
        if self.force_rtol < 0 or self.force_atol < 0 or (self.force_rtol == 0 and self.force_atol == 0):
            raise ValueError("give a positive force_rtol or force_atol")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown band optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.spring is not None and not self.spring > 0:
            raise ValueError(f"the spring constant must be positive, got {self.spring}")


@dataclasses.dataclass(kw_only=True)
class BandProgress(Progress):
    """``done`` of at most ``total`` optimizer steps of ``stage`` (``"neb"``, ``"climb"``, ``"autoneb:<cycle>"``);
    ``images`` in the band (ends included), its largest NEB force and barrier so far."""

    images: int = 0
    max_force: float = float("nan")
    barrier: float = float("nan")


@dataclasses.dataclass
class Band:
    """A relaxed band.

    images (K, P), values (K,), tangents (K, P) unit tangents (zero rows at the ends), forces (K,)
    NEB force norms (0 at the ends), climbing (index of the climbing image, -1 without), converged,
    steps (optimizer steps over all cycles), force_tol, spring, stop_reason (``"converged"``,
    ``"max_steps"``, ``"max_seconds"``, ``"cancelled"``, ``"not_finite"``, ``"ran_away"``), cycles (AutoNEB cycles
    run, 0 for plain NEB), evaluations (image gradients computed).
    """

    images: np.ndarray
    values: np.ndarray
    tangents: np.ndarray
    forces: np.ndarray
    climbing: int
    converged: bool
    steps: int
    force_tol: float
    spring: float
    stop_reason: str
    cycles: int = 0
    evaluations: int = 0

    @property
    def highest(self) -> int:
        """Index of the highest interior image."""
        return 1 + int(np.argmax(self.values[1:-1]))

    @property
    def arc_length(self) -> np.ndarray:
        """Cumulative Euclidean length ``(K,)`` along the band, 0 at the first image."""
        return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(self.images, axis=0), axis=1))])


# --------------------------------------------------------------------------- forces

def improved_tangents(images: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Henkelman-Jonsson unit tangents ``(K - 2, P)`` at the interior images of ``images (K, P)``.

    Uphill neighbour's bond where the energy is monotone through the image; at a local extremum of
    the band both bonds, weighted by ``max`` / ``min`` of the two energy differences towards the
    higher neighbour.
    """
    tp, tm = images[2:] - images[1:-1], images[1:-1] - images[:-2]
    vp, v0, vm = values[2:], values[1:-1], values[:-2]
    dmax = np.maximum(np.abs(vp - v0), np.abs(vm - v0))[:, None]
    dmin = np.minimum(np.abs(vp - v0), np.abs(vm - v0))[:, None]
    mixed = np.where((vp > vm)[:, None], tp * dmax + tm * dmin, tp * dmin + tm * dmax)
    tau = np.where(((vp > v0) & (v0 > vm))[:, None], tp, np.where(((vp < v0) & (v0 < vm))[:, None], tm, mixed))
    norm = np.linalg.norm(tau, axis=1)
    flat = norm <= 1e-300  # equal energies around the image: the plain bisector
    tau[flat] = tp[flat] / np.linalg.norm(tp[flat], axis=1, keepdims=True) + tm[flat] / np.linalg.norm(tm[flat], axis=1, keepdims=True)
    return tau / np.linalg.norm(tau, axis=1, keepdims=True)


def neb_forces(images: np.ndarray, values: np.ndarray, grads: np.ndarray, spring: float,
               climbing: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """NEB forces ``(K - 2, P)`` on the interior images and their unit tangents ``(K - 2, P)``.

    ``images (K, P)`` with fixed ends, ``values (K,)``, ``grads (K - 2, P)`` of the interior images.
    Perpendicular true force plus the spring force ``k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau``;
    the climbing image (an index into ``images``, -1 for none) gets ``-g + 2 (g . tau) tau``.
    """
    tau = improved_tangents(images, values)
    g_par = np.einsum("kp,kp->k", grads, tau)
    lengths = np.linalg.norm(np.diff(images, axis=0), axis=1)
    force = -(grads - g_par[:, None] * tau) + (spring * (lengths[1:] - lengths[:-1]))[:, None] * tau
    if climbing > 0:
        i = climbing - 1
        force[i] = -grads[i] + 2.0 * g_par[i] * tau[i]
    return force, tau


# --------------------------------------------------------------------------- relaxation

def straight_band(theta_a, theta_b, interior: int) -> np.ndarray:
    """``interior + 2`` equally spaced images ``(K, P)`` on the segment from ``theta_a`` to ``theta_b``."""
    a, b = np.asarray(theta_a, dtype=np.float64), np.asarray(theta_b, dtype=np.float64)
    t = np.linspace(0.0, 1.0, interior + 2)[:, None]
    return (1 - t) * a + t * b


def curvature_scale(landscape: Landscape, points: np.ndarray) -> float:
    """The largest Hessian eigenvalue magnitude over ``points (K, P)`` (sets FIRE's time step)."""
    rows = max(1, landscape.hessian_rows)
    lam = 0.0
    for k in range(0, len(points), rows):
        for h in landscape.hessians(points[k:k + rows]):
            lam = max(lam, float(np.abs(symmetric_eigen.eigvalsh(h)).max()))
    return lam


@dataclasses.dataclass
class _Scales:
    spring: float
    lam: float
    dt_max: float
    max_move: float
    force_tol: float
    f0: float


def band_scales(landscape: Landscape, images: np.ndarray, config: NEBConfig) -> _Scales:
    """Spring constant, FIRE time step, step cap and force tolerance for the band ``images (K, P)``.

    Curvatures are measured at the two ends and the middle image (Hessians are cheap for the nets
    this project studies); the time step keeps ``dt^2 * lambda`` below 1 for the stiffest of the
    landscape and the springs (``4 k``), which velocity-Verlet needs to be stable.
    """
    probe = images[[0, len(images) // 2, -1]]
    lam = max(curvature_scale(landscape, probe), 1e-300)
    spring = config.spring if config.spring is not None else config.spring_rel * lam
    _, g = landscape.values_and_grads(images)
    f0 = float(np.linalg.norm(g, axis=1).max())
    return _Scales(spring=spring, lam=max(lam, 4 * spring), dt_max=0.5 / math.sqrt(max(lam, 4 * spring)),
                   max_move=config.max_move * float(np.linalg.norm(images[-1] - images[0])),
                   force_tol=max(config.force_rtol * f0, config.force_atol), f0=f0)


class _Fire:
    """FIRE: velocity Verlet with the velocity mixed towards the force while the power is positive."""

    def __init__(self, shape: tuple[int, int], dt_max: float):
        self.velocity = np.zeros(shape)
        self.dt_max, self.dt, self.alpha, self.since_negative = dt_max, 0.1 * dt_max, 0.1, 0

    def reset(self) -> None:
        self.velocity[:] = 0.0

    def move(self, x: np.ndarray, force: np.ndarray) -> np.ndarray:
        power = float(np.vdot(force, self.velocity))
        if power > 0:
            fn, vn = float(np.linalg.norm(force)), float(np.linalg.norm(self.velocity))
            self.velocity = (1 - self.alpha) * self.velocity + self.alpha * vn * force / max(fn, 1e-300)
            self.since_negative += 1
            if self.since_negative > 5:
                self.dt, self.alpha = min(1.1 * self.dt, self.dt_max), 0.99 * self.alpha
        else:
            self.velocity[:] = 0.0
            self.dt, self.alpha, self.since_negative = 0.5 * self.dt, 0.1, 0
        self.velocity += self.dt * force
        return self.dt * self.velocity


class _LBFGS:
    """Global L-BFGS on the whole band with ``-F`` as the gradient (Sheppard, Terrell & Henkelman 2008).

    The NEB force is not the gradient of one function, so a pair with ``s . y <= 0`` is skipped and a
    direction against the force resets the memory to a steepest-descent step of length
    ``F / lambda_max``.
    """

    def __init__(self, memory: int, h0: float):
        self.memory, self.h0 = memory, h0
        self.reset()

    def reset(self) -> None:
        self.pairs: list[tuple[np.ndarray, np.ndarray, float]] = []
        self.prev: tuple[np.ndarray, np.ndarray] | None = None

    def move(self, x: np.ndarray, force: np.ndarray) -> np.ndarray:
        g = -force.ravel()
        if self.prev is not None:
            s, y = x.ravel() - self.prev[0], g - self.prev[1]
            sy = float(s @ y)
            if sy > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
                self.pairs.append((s, y, 1.0 / sy))
                self.pairs = self.pairs[-self.memory:]
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * float(s @ q)
            alphas.append(a)
            q -= a * y
        if self.pairs:
            s, y, _ = self.pairs[-1]
            q *= float(s @ y) / float(y @ y)
        else:
            q *= self.h0
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            q += (a - rho * float(y @ q)) * s
        direction = -q
        if float(direction @ force.ravel()) <= 0:
            self.pairs = []
            direction = self.h0 * force.ravel()
        self.prev = (x.ravel().copy(), g)
        return direction.reshape(force.shape)


def relax_band(landscape: Landscape, images: np.ndarray, config: NEBConfig, scales: _Scales,
               climb: bool, max_steps: int, stage: str = "neb", stop: threading.Event | None = None,
               started: float | None = None) -> Generator[BandProgress, None, Band]:
    """Relax the interior of ``images (K, P)`` by FIRE under NEB forces; generator of progress, returns a :class:`Band`.

    With ``climb`` the highest image climbs once the largest force is below ``climb_after * F0``
    (or after a fifth of ``max_steps``). Yields every 25 steps.
    """
    started = time.perf_counter() if started is None else started
    r = np.array(images, dtype=np.float64)
    k = len(r)
    v_ends = landscape.values_and_grads(r[[0, -1]])[0]
    values = np.empty(k)
    values[0], values[-1] = v_ends
    optimizer = (_LBFGS(config.memory, 0.25 / scales.lam) if config.optimizer == "lbfgs"
                 else _Fire((k - 2, r.shape[1]), scales.dt_max))
    climbing, evaluations, reason = -1, 2, "max_steps"
    force = tau = None
    step = 0
    # A band whose highest image rises well above the band it started from has run away (the NEB
    # force is no gradient, and L-BFGS can be thrown far along flat directions): go back to the
    # last band below that ceiling with half the step cap and a fresh optimizer.
    start_values = landscape.values_and_grads(r[1:-1])[0]
    low = min(values[0], values[-1])
    ceiling = float(max(start_values.max(), values.max())) + 0.5 * float(max(start_values.max(), values.max()) - low)
    safe, move_cap = r.copy(), scales.max_move
    for step in range(1, max_steps + 1):
        v, g = landscape.values_and_grads(r[1:-1])
        evaluations += k - 2
        if not (np.isfinite(v).all() and np.isfinite(g).all()) or v.max() > ceiling:
            if move_cap < 1e-6 * scales.max_move:
                reason = "not_finite" if not np.isfinite(v).all() else "ran_away"
                r = safe.copy()
                v, g = landscape.values_and_grads(r[1:-1])
                values[1:-1] = v
                break
            r, move_cap = safe.copy(), 0.5 * move_cap
            optimizer.reset()
            continue
        values[1:-1] = v
        if step % 10 == 0:
            safe = r.copy()
        if climb and climbing < 0 and force is not None:
            fmax = float(np.linalg.norm(force, axis=1).max())
            if fmax <= config.climb_after * scales.f0 or step > max_steps // 5:
                climbing = 1 + int(np.argmax(v))
                optimizer.reset()
        elif climbing > 0 and 1 + int(np.argmax(v)) != climbing:
            climbing = 1 + int(np.argmax(v))
            optimizer.reset()
        force, tau = neb_forces(r, values, g, scales.spring, climbing)
        norms = np.linalg.norm(force, axis=1)
        if norms.max() <= scales.force_tol and (climbing > 0 or not climb):
            reason = "converged"
            break
        if step % 25 == 0:
            yield BandProgress(stage, step, max_steps, time.perf_counter() - started, images=k,
                               max_force=float(norms.max()), barrier=float(values.max() - values[0]))
            if stop_requested(stop):
                reason = "cancelled"
                break
            if time.perf_counter() - started > config.max_seconds:
                reason = "max_seconds"
                break
        move = optimizer.move(r[1:-1], force)
        longest = float(np.linalg.norm(move, axis=1).max())
        if longest > move_cap:
            move *= move_cap / longest
        r[1:-1] += move
    # Measure the band as it is left: after the last of max_steps the images have moved past the
    # values and forces of the step before (and a restored band past those of the band it replaced).
    if force is None or reason in ("ran_away", "not_finite", "max_steps"):
        v, g = landscape.values_and_grads(r[1:-1])
        values[1:-1] = v
        force, tau = neb_forces(r, values, g, scales.spring, climbing if climbing > 0 else -1)
    tangents = np.zeros_like(r)
    tangents[1:-1] = tau
    forces = np.zeros(k)
    forces[1:-1] = np.linalg.norm(force, axis=1)
    return Band(r, values.copy(), tangents, forces, climbing, reason == "converged", step, scales.force_tol,
                scales.spring, reason, evaluations=evaluations)


def neb(landscape: Landscape, theta_a, theta_b, config: NEBConfig | None = None,
        stop: threading.Event | None = None, initial: np.ndarray | None = None
        ) -> Generator[BandProgress, None, Band]:
    """Climbing-image NEB with ``config.images`` interior images from the straight segment
    (or from ``initial (K, P)``); generator of :class:`BandProgress`, returns the :class:`Band`."""
    config = config or NEBConfig()
    images = straight_band(theta_a, theta_b, config.images) if initial is None else np.asarray(initial, np.float64)
    scales = band_scales(landscape, images, config)
    band = yield from relax_band(landscape, images, config, scales, config.climb, config.max_steps,
                                 "climb" if config.climb else "neb", stop)
    return band


def segment_rises(landscape: Landscape, images: np.ndarray, values: np.ndarray, probe: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For each segment of ``images (K, P)``: how far the loss inside it rises above both its ends
    ``(K - 1,)``, and where it peaks (the point ``(K - 1, P)``)."""
    t = np.linspace(0.0, 1.0, probe + 2)[1:-1]
    a, b = images[:-1], images[1:]
    pts = (1 - t)[None, :, None] * a[:, None, :] + t[None, :, None] * b[:, None, :]
    v = landscape.values_and_grads(pts.reshape(-1, images.shape[1]))[0].reshape(len(a), probe)
    peak = np.argmax(v, axis=1)
    rise = v[np.arange(len(a)), peak] - np.maximum(values[:-1], values[1:])
    return rise, pts[np.arange(len(a)), peak]


def auto_neb(landscape: Landscape, theta_a, theta_b, config: NEBConfig | None = None,
             stop: threading.Event | None = None) -> Generator[BandProgress, None, Band]:
    """AutoNEB (module docstring): insertion cycles from ``auto_start_images``, then a climbing image.

    Each cycle relaxes the band for ``auto_steps`` FIRE steps without climbing and inserts at most
    as many images as the band has segments, largest rise first, up to ``auto_max_images``.
    """
    config = config or NEBConfig()
    started = time.perf_counter()
    images = straight_band(theta_a, theta_b, config.auto_start_images)
    scales = band_scales(landscape, images, config)
    steps = evaluations = cycles = 0
    band: Band | None = None
    for cycle in range(1, config.auto_cycles + 1):
        band = yield from relax_band(landscape, images, config, scales, False, config.auto_steps,
                                     f"autoneb:{cycle}", stop, started)
        steps, evaluations, cycles = steps + band.steps, evaluations + band.evaluations, cycle
        images = band.images
        if band.stop_reason in ("cancelled", "not_finite", "max_seconds"):
            break
        room = config.auto_max_images + 2 - len(images)
        if room <= 0:
            break
        rise, peak = segment_rises(landscape, images, band.values, config.auto_probe)
        span = float(band.values.max() - band.values.min())
        lengths = np.linalg.norm(np.diff(images, axis=0), axis=1)
        bump = rise > config.auto_rise * span
        long = lengths > config.auto_length * lengths.mean()
        want = np.flatnonzero(bump | long)
        if want.size == 0:
            break
        # bumps first, largest rise first; then long segments, longest first
        order = sorted(want, key=lambda i: (not bump[i], -(rise[i] if bump[i] else lengths[i])))[:room]
        new = {int(i): (peak[i] if bump[i] else 0.5 * (images[i] + images[i + 1])) for i in order}
        rows = []
        for i in range(len(images)):
            rows.append(images[i])
            if i in new:
                rows.append(new[i])
        images = np.array(rows)
    if band is not None and band.stop_reason in ("cancelled", "not_finite", "max_seconds"):
        band.steps, band.evaluations, band.cycles = steps, evaluations, cycles
        return band
    final = yield from relax_band(landscape, images, config, scales, config.climb, config.max_steps,
                                  "climb" if config.climb else "neb", stop, started)
    final.steps, final.evaluations, final.cycles = steps + final.steps, evaluations + final.evaluations, cycles
    return final


__all__ = ["NEBConfig", "BandProgress", "Band", "improved_tangents", "neb_forces", "straight_band",
           "curvature_scale", "band_scales", "relax_band", "neb", "segment_rises", "auto_neb"]
