"""Minimum-energy paths between two points of a session's network, with a certified saddle on each.

The pipeline of :func:`minimum_energy_path`:

1. **align** the target to its symmetry-equivalent copy nearest the source (:mod:`.alignment`), so the
   path measures a change of function, not a relabelling of neurons;
2. the **straight line** between them, sampled densely: the barrier a path must beat;
3. a climbing-image **NEB**, or **AutoNEB** (:mod:`.neb`), on the float64 loss;
4. the climbing image **refined to a saddle** (:mod:`.saddle_search`) and **certified** from the
   exact Hessian of :mod:`.hessian`: ``||grad L||``, the full spectrum and its inertia, and a kind
   by :func:`classify.classify` with the session's tolerances; where that search stalls, the highest
   point is **resolved** by :mod:`.path_saddle` (Levenberg–Marquardt onto a degenerate critical
   manifold, the narrower net of a saddle line, or a flat channel's limit model: a saddle at
   infinity) into a :class:`path_saddle.SaddleOutcome`;
5. the **plane** through source, aligned target and saddle, with every image's coordinates in it.

:func:`path_analysis` runs it between two runs of a session (``to="global"``: the global minimum
whose aligned copy is nearest); its caller stores the :class:`PathResult` under
``/analyses/paths/<from>_to_<to>`` (:mod:`.analyses.paths`). :func:`write_path` / :func:`read_path`
move one result to and from an HDF5 group (layout in ``docs/session-format.md``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator

import h5py
import numpy as np
import torch

from ..base.classify import Tolerances
from ..base.record import Record
from ..base.refined import Status
from ..critical.certify import SINGLE_THREAD_PARAMS
from ..landscape.nets import MLPSpec
from ..landscape.surface import Landscape, network_landscape, stop_requested
from ..store.session import Session, _read_analyses, _write_analyses
from ..symmetry.alignment import Alignment, align_to
from .neb import Band, BandProgress, NEBConfig, auto_neb, neb
from .path_saddle import (
    SaddleCertificate,
    SaddleOutcome,
    certify_saddle,
    outcome_label,
    resolve_highest_point,
)
from .saddle_search import SaddleConfig, SaddleSearch, find_saddle


@dataclasses.dataclass
class PathConfig(Record):
    """What :func:`minimum_energy_path` does: ``auto`` for AutoNEB (else NEB with ``neb.images``),
    ``align`` the target first, ``straight_points`` samples of the straight line, and the settings of
    the band (:class:`NEBConfig`) and of the saddle search (:class:`SaddleConfig`). With ``tighten``
    a band whose highest point is not a certified index-1 saddle is relaxed further by FIRE from where
    it stands (its force tolerance then relative to its own, already small, forces; at most
    ``tighten_seconds``), and the tighter band replaces it when its highest image is not higher."""

    tagged = False
    what = "path settings"
    refuse_unknown = True

    auto: bool = False
    align: bool = True
    straight_points: int = 101
    neb: NEBConfig = dataclasses.field(default_factory=NEBConfig)
    saddle: SaddleConfig = dataclasses.field(default_factory=SaddleConfig)
    tighten: bool = True
    tighten_seconds: float = 120.0


@dataclasses.dataclass
class PathPlane(Record):
    """The plane through the source (origin), the aligned target and the saddle: orthonormal
    ``basis (2, P)``, image coordinates ``coords (K, 2)`` and their out-of-plane ``residual (K,)``,
    ``saddle (2,)`` and ``target (2,)`` coordinates."""

    origin: np.ndarray
    basis: np.ndarray
    coords: np.ndarray
    residual: np.ndarray
    saddle: np.ndarray
    target: np.ndarray


@dataclasses.dataclass
class PathResult(Record):
    """A minimum-energy path between two points and the certified saddle on it.

    run_from, run_to: session rows (-1 for points given directly); to_global: whether ``run_to`` was
    picked as the nearest global minimum. alignment: how the target was aligned. method:
    ``"neb"`` or ``"autoneb"``. images (K, P), values (K,), arc (K,) cumulative length, forces (K,)
    final NEB force norms; climbing index of the climbing image (-1 without); local_maxima indices of
    the band's interior local maxima; converged, stop_reason, steps, cycles, force_tol, spring of the
    band. barrier = max(values) - values[0]; straight_t (M,), straight_values (M,), straight_barrier
    the same along the straight line. search: the saddle search; saddle: its certificate (None if
    the search was cancelled). plane: :class:`PathPlane`. elapsed seconds. config: the settings.
    outcome: what the highest point is (:class:`path_saddle.SaddleOutcome`; None when cancelled or
    for paths stored before it existed).
    """

    run_from: int
    run_to: int
    to_global: bool
    alignment: Alignment
    method: str
    images: np.ndarray
    values: np.ndarray
    arc: np.ndarray
    forces: np.ndarray
    climbing: int
    local_maxima: np.ndarray
    converged: bool
    stop_reason: str
    steps: int
    cycles: int
    force_tol: float
    spring: float
    barrier: float
    straight_t: np.ndarray
    straight_values: np.ndarray
    straight_barrier: float
    search: SaddleSearch | None
    saddle: SaddleCertificate | None
    plane: PathPlane
    elapsed: float
    config: dict
    outcome: SaddleOutcome | None = None

    @property
    def key(self) -> str:
        """The path's name, ``<from>_to_<to>``: also its group under ``/analyses/paths``."""
        return f"{int(self.run_from)}_to_{int(self.run_to)}"

    @classmethod
    def from_dict(cls, d: dict) -> PathResult:
        d = dict(d)
        for name, kind in (("search", SaddleSearch), ("saddle", SaddleCertificate), ("outcome", SaddleOutcome)):
            d[name] = None if d.get(name) is None else kind.from_dict(d[name])
        search, saddle, outcome = d.pop("search"), d.pop("saddle"), d.pop("outcome")
        d["search"] = d["saddle"] = d["outcome"] = None
        out = super().from_dict(d)
        out.search, out.saddle, out.outcome = search, saddle, outcome
        return out

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["config"] = _flat_config(self.config)
        return out


def path_summary(result: PathResult) -> dict:
    """The numbers a person or a script wants from a path, JSON-ready."""
    s = result.saddle
    out = {"from": result.run_from, "to": result.run_to, "to_global": result.to_global, "method": result.method,
           "images": int(len(result.images)), "converged": result.converged, "stop_reason": result.stop_reason,
           "steps": result.steps, "cycles": result.cycles, "distance_before": result.alignment.distance_before,
           "distance_after": result.alignment.distance_after, "distance_saved": result.alignment.saved,
           "loss_from": float(result.values[0]), "loss_to": float(result.values[-1]),
           "barrier": result.barrier, "straight_barrier": result.straight_barrier,
           "local_maxima": int(len(result.local_maxima)), "elapsed": result.elapsed}
    if s is not None:
        out["saddle"] = {"loss": s.loss, "grad_norm": s.grad_norm, "n_negative": s.n_negative, "n_zero": s.n_zero,
                         "kind": s.kind, "certified": s.certified, "index1": s.index1,
                         "lambda_min": float(s.eigvals[0]), "distance_to_climbing": s.distance_to_climbing,
                         "search": result.search.stop_reason}
    o = result.outcome
    if o is not None:
        out["outcome"] = {"outcome": o.outcome, "label": outcome_label(o), "index": o.index, "n_zero": o.n_zero,
                          "loss": o.loss, "grad_norm": o.grad_norm, "route": o.route, "in_range": o.in_range,
                          "fd_hessian_error": o.fd_hessian_error, "fd_index": o.fd_index, "reason": o.reason}
    return out


def _flat_config(config: dict) -> dict:
    return {k: (_flat_config(v) if isinstance(v, dict) else v) for k, v in config.items()}


# --------------------------------------------------------------------------- the pipeline

def path_plane(source: np.ndarray, target: np.ndarray, third: np.ndarray, images: np.ndarray) -> PathPlane:
    """:class:`PathPlane` through ``source``, ``target`` and ``third`` (the saddle), all ``(P,)``."""
    e1 = target - source
    n1 = np.linalg.norm(e1)
    e1 = e1 / n1 if n1 > 0 else np.eye(len(source))[0]
    r = third - source
    e2 = r - (r @ e1) * e1
    if np.linalg.norm(e2) <= 1e-12 * max(np.linalg.norm(r), 1e-300):  # saddle on the line: any normal
        e2 = np.eye(len(source))[int(np.argmin(np.abs(e1)))]
        e2 = e2 - (e2 @ e1) * e1
    e2 = e2 / np.linalg.norm(e2)
    basis = np.stack([e1, e2])
    rel = images - source
    coords = rel @ basis.T
    residual = np.linalg.norm(rel - coords @ basis, axis=1)
    return PathPlane(source.copy(), basis, coords, residual, (third - source) @ basis.T, (target - source) @ basis.T)


def _local_maxima(values: np.ndarray) -> np.ndarray:
    inner = np.arange(1, len(values) - 1)
    return inner[(values[1:-1] > values[:-2]) & (values[1:-1] >= values[2:])]


def band_on_landscape(landscape: Landscape, theta_a, theta_b, config: PathConfig,
                      stop: threading.Event | None = None) -> Generator[BandProgress, None, Band]:
    """NEB or AutoNEB between two points of any landscape, as ``config`` says."""
    run = auto_neb if config.auto else neb
    band = yield from run(landscape, theta_a, theta_b, config.neb, stop)
    return band


def minimum_energy_path(spec: MLPSpec, x, y, theta_from, theta_to, config: PathConfig | None = None,
                        tolerances: Tolerances | None = None, stop: threading.Event | None = None,
                        run_from: int = -1, run_to: int = -1, to_global: bool = False,
                        ) -> Generator[BandProgress, None, PathResult]:
    """The pipeline of the module docstring between ``theta_from (P,)`` and ``theta_to (P,)``.

    Yields :class:`BandProgress` records (stages ``"align"``, ``"straight"``, the band's, ``"saddle"``);
    returns the :class:`PathResult`. When ``stop`` is set the band is returned as it is, with no
    saddle search; set during the saddle stage, the result's ``stop_reason`` is ``"cancelled"``.
    """
    config = config or PathConfig()
    started = time.perf_counter()
    threads = torch.get_num_threads()
    if spec.n_params <= SINGLE_THREAD_PARAMS:
        torch.set_num_threads(1)
    try:
        a = np.asarray(theta_from, dtype=np.float64)
        yield BandProgress("align", 0, 1, 0.0, images=2)
        if config.align:
            alignment = align_to(spec, a, theta_to)
        else:
            d = float(np.linalg.norm(a - np.asarray(theta_to, dtype=np.float64)))
            alignment = Alignment(np.array(theta_to, dtype=np.float64), np.zeros(0, np.int64), np.zeros(0, bool),
                                  d, d, 0.0, "none")
        b = alignment.theta
        landscape = network_landscape(spec, x, y)
        yield BandProgress("straight", 0, 1, time.perf_counter() - started, images=2)
        t = np.linspace(0.0, 1.0, config.straight_points)
        straight = landscape.values_and_grads((1 - t)[:, None] * a + t[:, None] * b)[0]
        band = yield from band_on_landscape(landscape, a, b, config, stop)
        straight_barrier = float(straight.max() - straight[0])
        if config.neb.optimizer == "lbfgs" and band.stop_reason != "cancelled" and (
                not band.converged or band.values.max() - band.values[0] > straight_barrier):
            # L-BFGS on the (non-conservative) NEB force can wander off; FIRE is slower but robust.
            retry = dataclasses.replace(config, neb=dataclasses.replace(config.neb, optimizer="fire"))
            again = yield from band_on_landscape(landscape, a, b, retry, stop)
            if again.stop_reason != "cancelled" and (again.converged or again.values.max() < band.values.max()):
                again.stop_reason = f"{again.stop_reason} (fire, after lbfgs {band.stop_reason})"
                band = again
        climbing = band.climbing if band.climbing > 0 else band.highest
        search = certificate = outcome = None
        if band.stop_reason != "cancelled":
            search, certificate, outcome = yield from _highest_point(spec, x, y, landscape, band, climbing, config,
                                                                      tolerances, stop, started)
            if config.tighten and outcome is not None and not outcome.index1:
                yield BandProgress("tighten", 0, 1, time.perf_counter() - started, images=len(band.images))
                tight_config = dataclasses.replace(config.neb, optimizer="fire", max_seconds=config.tighten_seconds)
                tight = yield from neb(landscape, a, b, tight_config, stop, initial=band.images)
                if tight.stop_reason == "cancelled" or stop_requested(stop):
                    band.stop_reason = "cancelled"  # a cancelled path is not stored, as during the band
                elif tight.values.max() <= band.values.max():
                    tight_climbing = tight.climbing if tight.climbing > 0 else tight.highest
                    found = yield from _highest_point(spec, x, y, landscape, tight, tight_climbing, config,
                                                      tolerances, stop, started)
                    if found[2] is not None:
                        tight.stop_reason = f"{tight.stop_reason} (tightened by fire after {band.stop_reason})"
                        tight.steps += band.steps
                        band, climbing, (search, certificate, outcome) = tight, tight_climbing, found
        if stop_requested(stop):
            band.stop_reason = "cancelled"  # stopped during the saddle stage: the caller stores nothing
        third = certificate.theta if certificate is not None else band.images[climbing]
        plane = path_plane(a, b, third, band.images)
        return PathResult(
            run_from=int(run_from), run_to=int(run_to), to_global=bool(to_global), alignment=alignment,
            method="autoneb" if config.auto else "neb", images=band.images, values=band.values, arc=band.arc_length,
            forces=band.forces, climbing=int(band.climbing), local_maxima=_local_maxima(band.values).astype(np.int64),
            converged=bool(band.converged), stop_reason=band.stop_reason, steps=int(band.steps), cycles=int(band.cycles),
            force_tol=float(band.force_tol), spring=float(band.spring),
            barrier=float(band.values.max() - band.values[0]), straight_t=t, straight_values=straight,
            straight_barrier=straight_barrier, search=search, saddle=certificate, plane=plane,
            elapsed=time.perf_counter() - started, config=config.to_dict(), outcome=outcome)
    finally:
        torch.set_num_threads(threads)


def _highest_point(spec, x, y, landscape, band: Band, climbing: int, config: PathConfig, tolerances, stop, started):
    """Generator: the saddle search from the band's climbing image, its certificate and the resolved
    :class:`SaddleOutcome` (None entries where cancelled)."""
    yield BandProgress("saddle", 0, 1, time.perf_counter() - started, images=len(band.images),
                       max_force=float(band.forces.max()), barrier=float(band.values.max() - band.values[0]))
    search = find_saddle(landscape, band.images[climbing], band.tangents[climbing], config.saddle, stop)
    if search.point.status is Status.CANCELLED:
        return search, None, None
    certificate = certify_saddle(spec, search.theta, x, y, tolerances, band.images[climbing])
    if not certificate.certified:
        yield BandProgress("resolve saddle", 0, 1, time.perf_counter() - started, images=len(band.images))
    outcome = resolve_highest_point(spec, x, y, band.values, band.images[climbing], search.theta, config.saddle,
                                    tolerances, stop=stop)
    if outcome.reason == "cancelled":
        return search, certificate, None
    if outcome.outcome in ("saddle", "symmetry_induced") and outcome.route != "direct":
        certificate = certify_saddle(spec, outcome.theta, x, y, tolerances, band.images[climbing])
        certificate.route = outcome.route
    return search, certificate, outcome


# --------------------------------------------------------------------------- sessions

def nearest_global_minimum(session: Session, row: int) -> tuple[int, Alignment]:
    """The ``global_min`` run whose symmetry-aligned copy is nearest run ``row``, and that alignment."""
    candidates = np.flatnonzero(session.runs.kind == "global_min")
    candidates = candidates[candidates != row]
    if candidates.size == 0:
        raise ValueError("the session has no global minimum to connect to (no run of kind global_min)")
    spec, source = session.spec, session.runs.theta[row]
    best = None
    for j in candidates:
        al = align_to(spec, source, session.runs.theta[j])
        if best is None or al.distance_after < best[1].distance_after:
            best = (int(j), al)
    return best


def _check_row(session: Session, row, what: str) -> int:
    n = session.runs.n_runs
    if not isinstance(row, (int, np.integer)) or not 0 <= row < n:
        raise ValueError(f"{what} run must be an index in 0..{n - 1}, got {row!r}")
    if not np.isfinite(session.runs.theta[row]).all():
        raise ValueError(f"{what} run {row} has no finite point")
    return int(row)


def path_analysis(session: Session, row_from: int, to: int | str = "global", config: PathConfig | None = None,
                  stop: threading.Event | None = None) -> Generator[BandProgress, None, PathResult]:
    """The path from run ``row_from`` to run ``to`` (or ``"global"``: the nearest global minimum).

    Computes only: the caller stores a result that was not cancelled with
    :func:`lsexplorer.core.analyses.paths.write` and saves the session.
    """
    row_from = _check_row(session, row_from, "source")
    if isinstance(to, str):
        if to != "global":
            raise ValueError(f"the target must be a run index or 'global', got {to!r}")
        row_to, _ = nearest_global_minimum(session, row_from)
        to_global = True
    else:
        row_to, to_global = _check_row(session, to, "target"), False
        if row_to == row_from:
            raise ValueError(f"a path needs two different runs, got {row_from} twice")
    tolerances = Tolerances.from_dict(session.config.get("tolerances", {}))
    result = yield from minimum_energy_path(session.spec, session.x, session.y, session.runs.theta[row_from],
                                            session.runs.theta[row_to], config, tolerances, stop,
                                            row_from, row_to, to_global)
    return result


def write_path(group: h5py.Group, result: PathResult) -> None:
    """Write ``result`` into the empty HDF5 ``group`` (the layout of ``/analyses/paths/<key>``)."""
    _write_analyses(group, result.to_dict())


def read_path(group: h5py.Group) -> PathResult:
    """The :class:`PathResult` stored in ``group`` by :func:`write_path` or a session save."""
    return PathResult.from_dict(_read_analyses(group))


__all__ = ["PathConfig", "PathPlane", "PathResult", "band_on_landscape", "minimum_energy_path",
           "nearest_global_minimum", "path_analysis", "path_plane", "path_summary", "read_path", "write_path"]
