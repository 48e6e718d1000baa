"""Thesis section 6.3.2: from a saddle line to the minimum nearest to it.

A critical point ``theta*`` of a network and one of its hidden neurons ``j`` in layer ``l`` give the
saddle line ``theta(mu)`` of :func:`lsexplorer.core.symmetry.operations.duplicate_neuron`: critical points of
the network one neuron wider, all with the loss of ``theta*``. Where the line is a strict saddle
(Corollary 3.2: ``mu`` in (0, 1) when ``Y`` has a negative eigenvalue, outside [0, 1] when it has a
positive one) gradient descent cannot start from it (the gradient is zero), so each point is pushed
off the line by Gaussian noise ``N(0, sigma^2 I)`` and retrained; the end point is refined in
float64 and classified (:mod:`lsexplorer.core.critical.certify`). The question is where it lands: back on
a point of the same loss (the line itself, or another point of the same critical manifold), or lower,
at a local or global minimum.

Perturbation ``p`` draws the same noise vector at every ``mu`` (generator seeded by ``(seed, p)``),
so rows that differ only in ``mu`` differ only in where on the line they start. Retraining runs all
``len(mus) x n_perturbations`` points as one batch in float64 with Adam or SGD at a constant or a
cyclical (triangular, Smith 2017) learning rate; it is a plain loop here rather than
:func:`lsexplorer.core.training.train.train` because the trainer has no learning-rate schedule. A run counts
as *lower* when its refined loss is below the line's by more than ``lower_rtol`` of it.

:func:`saddle_descent` is a generator (progress records, a ``threading.Event`` to stop) returning a
:class:`SaddleDescent` with ``to_dict``/``from_dict`` for a session's ``/analyses`` and
:meth:`SaddleDescent.table`, the outcome counts per ``mu``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Generator

import numpy as np
import torch

from ..base.classify import Tolerances
from ..base.progress import Progress
from ..base.record import AS_LIST, Record
from ..critical.certify import certify
from ..critical.refine import RefineConfig
from ..landscape.hessian import loss_grad_hessian, spectrum
from ..landscape.nets import MLPSpec, loss, loss_and_grad
from ..symmetry.operations import duplicate_neuron, incoming_vectors

SCHEDULES = ("constant", "cyclical")
#: Outcome columns of :meth:`SaddleDescent.table`, from the refined end point's kind.
OUTCOMES = ("global_min", "local_min", "saddle", "not_converged")


@dataclasses.dataclass
class DescentConfig(Record):
    """Where on the line to start, how to perturb, how to retrain.

    ``mus``: split values; ``n_perturbations`` noise draws per ``mu``, ``sigma`` their standard
    deviation (thesis: 0.01), ``seed`` their generator. ``optimizer`` ``adam`` or ``sgd`` (no momentum),
    ``lr`` the (peak) learning rate; ``schedule`` ``constant`` or ``cyclical``: a triangle from
    ``lr_min`` up to ``lr`` and back every ``cycle_epochs``. ``epochs`` caps retraining; a run stops
    early once ``||grad L|| <= grad_tol`` (0: never). ``lower_rtol``: how much lower than the line
    counts as lower. ``refine``: the :class:`RefineConfig` of the end points, as a dict.
    """

    tagged = False
    what = "saddle-descent setting(s)"
    refuse_unknown = True

    mus: tuple[float, ...] = dataclasses.field(default=(0.25, 0.5, 0.75), metadata=AS_LIST)
    n_perturbations: int = 4
    sigma: float = 0.01
    seed: int = 0
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    lr_min: float = 1e-6
    cycle_epochs: int = 2000
    epochs: int = 20_000
    grad_tol: float = 0.0
    lower_rtol: float = 1e-8
    refine: dict = dataclasses.field(default_factory=lambda: RefineConfig().to_dict())

    def __post_init__(self) -> None:
        self.mus = tuple(float(m) for m in np.atleast_1d(np.asarray(self.mus, dtype=np.float64)))
        self.validate()

    def validate(self) -> None:
        """ValueError naming the first impossible setting."""
        if not self.mus or not all(math.isfinite(m) for m in self.mus):
            raise ValueError(f"mus must be finite numbers, at least one, got {self.mus!r}")
        for name in ("n_perturbations", "epochs", "cycle_epochs"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name, lo_open in (("sigma", False), ("lr", True), ("lr_min", True), ("grad_tol", False),
                              ("lower_rtol", False)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 if lo_open else v >= 0)):
                raise ValueError(f"{name} must be a finite number {'> 0' if lo_open else '>= 0'}, got {v!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose adam or sgd")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose {' or '.join(SCHEDULES)}")
        if self.schedule == "cyclical" and self.lr_min > self.lr:
            raise ValueError(f"a cyclical schedule needs lr_min <= lr, got {self.lr_min} > {self.lr}")
        RefineConfig.from_dict(self.refine)

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based): ``lr``, or the triangle of the cyclical schedule."""
        if self.schedule == "constant":
            return self.lr
        phase = ((epoch - 1) % self.cycle_epochs) / self.cycle_epochs
        return self.lr_min + (self.lr - self.lr_min) * (1.0 - abs(2.0 * phase - 1.0))


#: :func:`saddle_descent`'s record: ``stage`` ``"retrain"`` (epochs) or ``"refine"`` (points).
DescentProgress = Progress


@dataclasses.dataclass
class SaddleDescent:
    """Where perturbed points of one saddle line end up (module docstring).

    About the line: ``layer``, ``neuron``, ``line_loss`` (the loss of ``theta*`` and of every
    ``theta(mu)``), ``narrow_grad_norm``; per ``mu`` of ``config.mus`` (``K``) the number of negative
    Hessian eigenvalues at ``theta(mu)``, ``line_index (K,)``. Per run (``R = K * n_perturbations``,
    ``mu``-major): ``mu``, ``perturbation``, ``loss_start`` (perturbed), ``loss_trained``,
    ``loss_end`` (refined), ``grad_norm``, ``lambda_min``, ``kind``, ``lower`` (bool),
    ``split`` (distance between the incoming vectors of the two copies at the end: 0 on the line),
    ``moved`` (``||theta_end - theta(mu)||``), ``epochs_run``, ``theta_end (R, P')``.
    ``stopped``: cancelled before the end; the per-run results are then incomplete.
    """

    config: DescentConfig
    layer: int
    neuron: int
    line_loss: float
    narrow_grad_norm: float
    line_index: np.ndarray
    mu: np.ndarray
    perturbation: np.ndarray
    loss_start: np.ndarray
    loss_trained: np.ndarray
    loss_end: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    kind: np.ndarray
    lower: np.ndarray
    split: np.ndarray
    moved: np.ndarray
    epochs_run: np.ndarray
    theta_end: np.ndarray
    stopped: bool = False

    def outcomes(self) -> np.ndarray:
        """Each run's outcome in :data:`OUTCOMES` (strict and non-strict saddles are ``saddle``)."""
        return np.array(["saddle" if k.endswith("saddle") else k for k in self.kind.astype(str)])

    def table(self) -> list[dict]:
        """One row per ``mu``: ``mu``, ``line_index``, ``runs``, a count per :data:`OUTCOMES`, ``lower``,
        ``best_loss`` (lowest refined loss) and ``median_split``."""
        outcomes = self.outcomes()
        rows = []
        for k, mu in enumerate(self.config.mus):
            mask = self.mu == mu
            rows.append({"mu": float(mu), "line_index": int(self.line_index[k]), "runs": int(mask.sum()),
                         **{o: int((outcomes[mask] == o).sum()) for o in OUTCOMES},
                         "lower": int(self.lower[mask].sum()),
                         "best_loss": float(np.min(self.loss_end[mask])) if mask.any() else math.nan,
                         "median_split": float(np.median(self.split[mask])) if mask.any() else math.nan})
        return rows

    def format_table(self) -> str:
        """:meth:`table` as aligned text, with the line's loss for comparison."""
        lines = [f"saddle line of neuron {self.neuron} in hidden layer {self.layer}: loss {self.line_loss:.6e}, "
                 f"narrow ||grad L|| {self.narrow_grad_norm:.1e}",
                 f"{'mu':>7} {'index':>5} {'runs':>4} {'global':>6} {'local':>5} {'saddle':>6} {'n/c':>4} "
                 f"{'lower':>5}  {'best loss':>11}  {'split':>8}"]
        for r in self.table():
            lines.append(f"{r['mu']:>7.3f} {r['line_index']:>5} {r['runs']:>4} {r['global_min']:>6} "
                         f"{r['local_min']:>5} {r['saddle']:>6} {r['not_converged']:>4} {r['lower']:>5}  "
                         f"{r['best_loss']:>11.4e}  {r['median_split']:>8.2e}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A tree of numpy arrays and scalars for ``/analyses`` (``settings/`` holds the config)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "config"}
        settings = self.config.to_dict()
        settings["mus"] = np.asarray(settings["mus"], dtype=np.float64)
        out["settings"] = settings
        out["kind"] = np.asarray(self.kind, dtype=str)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> SaddleDescent:
        settings = dict(d["settings"])
        settings["mus"] = tuple(np.asarray(settings["mus"], dtype=np.float64))
        kw = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name != "config"}
        for name in ("layer", "neuron"):
            kw[name] = int(kw[name])
        kw["stopped"] = bool(kw["stopped"])
        kw["kind"] = np.asarray(kw["kind"], dtype=str)
        return cls(config=DescentConfig.from_dict(settings), **kw)


def _float64_data(x, y) -> tuple[np.ndarray, np.ndarray]:
    """``x (N, d)`` and ``y (N, d_out)`` as float64 numpy (``y (N,)`` becomes a column)."""
    x = np.asarray(x, dtype=np.float64)
    return x, np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def perturbed_starts(spec: MLPSpec, theta, layer: int, j: int, config: DescentConfig
                     ) -> tuple[MLPSpec, np.ndarray, np.ndarray]:
    """``(wide spec, line points (K, P'), starts (K * n_perturbations, P'))``, ``mu``-major.

    Start ``k * n + p`` is ``theta(mu_k) + sigma * eps_p`` with ``eps_p ~ N(0, I)`` drawn from a
    generator seeded by ``(config.seed, p)``.
    """
    line = [duplicate_neuron(spec, theta, layer, j, mu) for mu in config.mus]
    wide_spec, points = line[0][0], np.stack([p for _, p in line])
    noise = np.stack([np.random.default_rng((int(config.seed), p)).normal(size=wide_spec.n_params)
                      for p in range(config.n_perturbations)])
    starts = (points[:, None, :] + config.sigma * noise[None, :, :]).reshape(-1, wide_spec.n_params)
    return wide_spec, points, starts


def retrain(spec: MLPSpec, starts: np.ndarray, x, y, config: DescentConfig, stop: threading.Event | None = None
            ) -> Generator[DescentProgress, None, tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
    """Batched float64 retraining of ``starts (R, P)``: returns ``(theta (R, P), loss (R,), epochs_run (R,), stopped)``.

    Adam is ``torch.optim.Adam``'s (betas 0.9, 0.999, eps 1e-8, bias-corrected); SGD has no
    momentum. A run whose gradient norm is at most ``config.grad_tol`` stops moving for good.
    """
    theta = torch.tensor(np.asarray(starts, dtype=np.float64))
    xt, yt = (torch.from_numpy(a) for a in _float64_data(x, y))
    m1, m2 = torch.zeros_like(theta), torch.zeros_like(theta)
    running = torch.ones(len(theta), dtype=torch.bool)
    epochs_run = np.zeros(len(theta), dtype=np.int64)
    b1, b2, eps = 0.9, 0.999, 1e-8
    started = last = time.perf_counter()
    stopped = False
    with torch.no_grad():
        for t in range(1, config.epochs + 1):
            value, grad = loss_and_grad(spec, theta, xt, yt)
            if config.grad_tol > 0:
                running &= torch.linalg.vector_norm(grad, dim=1) > config.grad_tol
                if not running.any():
                    break
            epochs_run += running.numpy()
            lr = config.learning_rate(t)
            if config.optimizer == "adam":
                m1.lerp_(grad, 1 - b1)
                m2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                step = m1 / (m2.sqrt() / math.sqrt(1 - b2 ** t) + eps) * (lr / (1 - b1 ** t))
            else:
                step = grad * lr
            theta -= step * running[:, None]
            if time.perf_counter() - last >= 0.1:
                last = time.perf_counter()
                yield DescentProgress("retrain", t, config.epochs, last - started)
                if stop is not None and stop.is_set():
                    stopped = True
                    break
        value = loss_and_grad(spec, theta, xt, yt)[0]
    return theta.numpy(), value.numpy(), epochs_run, stopped


def saddle_descent(spec: MLPSpec, theta, x, y, layer: int, j: int, config: DescentConfig | None = None,
                   tolerances: Tolerances | None = None, stop: threading.Event | None = None
                   ) -> Generator[DescentProgress, None, SaddleDescent]:
    """Perturb the saddle line of neuron ``j`` of hidden layer ``layer`` at ``theta (P,)``, retrain, refine, classify.

    ``theta`` should be a critical point (its gradient norm is recorded); ``x (N, d)``, ``y (N, d_out)``.
    """
    config = config or DescentConfig()
    tolerances = tolerances or Tolerances()
    started = time.perf_counter()
    value, g, _ = loss_grad_hessian(spec, theta, x, y)
    wide_spec, points, starts = perturbed_starts(spec, theta, layer, j, config)
    line_index = np.array([int((ev < -tolerances.zero_eig_tol(ev)).sum()) for ev in
                           (spectrum(loss_grad_hessian(wide_spec, p, x, y)[2])[0] for p in points)], dtype=np.int64)
    with torch.no_grad():
        xt, yt = (torch.from_numpy(a) for a in _float64_data(x, y))
        loss_start = loss(wide_spec, torch.from_numpy(starts), xt, yt).numpy()
    trained, loss_trained, epochs_run, stopped = yield from retrain(wide_spec, starts, x, y, config, stop)
    n_runs = len(starts)
    if stopped:
        ends = dict(theta=trained, loss=loss_trained, grad_norm=np.full(n_runs, np.nan),
                    lambda_min=np.full(n_runs, np.nan), kind=np.full(n_runs, "not_converged"))
    else:
        certifier = certify(wide_spec, trained, x, y, RefineConfig.from_dict(config.refine), tolerances, stop)
        while True:
            try:
                p = next(certifier)
            except StopIteration as done:
                points_end = done.value
                break
            yield DescentProgress("refine", p.done, p.total, time.perf_counter() - started)
        stopped = stop is not None and stop.is_set()
        ends = dict(theta=points_end.theta, loss=points_end.loss, grad_norm=points_end.grad_norm,
                    lambda_min=points_end.lambda_min, kind=points_end.kind)
    copies = [incoming_vectors(wide_spec, t, layer) for t in ends["theta"]]
    split = np.array([np.linalg.norm(v[j] - v[-1]) for v in copies])
    line_rows = np.repeat(points, config.n_perturbations, axis=0)
    return SaddleDescent(
        config=config, layer=int(layer), neuron=int(j), line_loss=float(value),
        narrow_grad_norm=float(np.linalg.norm(g)),
        line_index=line_index, mu=np.repeat(np.asarray(config.mus), config.n_perturbations),
        perturbation=np.tile(np.arange(config.n_perturbations, dtype=np.int64), len(config.mus)),
        loss_start=loss_start, loss_trained=loss_trained, loss_end=np.asarray(ends["loss"], dtype=np.float64),
        grad_norm=np.asarray(ends["grad_norm"], dtype=np.float64),
        lambda_min=np.asarray(ends["lambda_min"], dtype=np.float64), kind=np.asarray(ends["kind"], dtype=str),
        lower=np.asarray(ends["loss"] < value * (1.0 - config.lower_rtol), dtype=bool), split=split,
        moved=np.linalg.norm(ends["theta"] - line_rows, axis=1), epochs_run=epochs_run,
        theta_end=np.asarray(ends["theta"], dtype=np.float64), stopped=bool(stopped))


__all__ = ["SCHEDULES", "OUTCOMES", "DescentConfig", "DescentProgress", "SaddleDescent", "perturbed_starts", "retrain",
           "saddle_descent"]
