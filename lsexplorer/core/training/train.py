"""Full-batch training of many student networks at once, as a progress generator.

``S`` seeds are trained in one batched computation: every seed has its own parameters and optimizer
state and nothing of one seed enters another, so a seed trains exactly as it would alone. An epoch is
one full-batch gradient step on ``L(theta) = (1/N) sum_i ||f(x_i) - y_i||^2``. Along the way the
trainer keeps ``theta`` at log-spaced epochs (the trajectory) and the training loss at log-spaced
epochs (the loss curve), both including epoch 0 and the last epoch.

:func:`train` is a generator: it yields a :class:`TrainProgress` about every 0.1 s of wall time,
checks a ``threading.Event`` between chunks of epochs, and returns a :class:`TrainResult`. The work
itself is done by a *stepper* from :mod:`lsexplorer.core.training.kernels`, chosen by
``TrainConfig.backend``: ``native`` (generated C, CPU; one hidden layer from
:mod:`lsexplorer.core.training.kernels`, deeper nets from :mod:`lsexplorer.core.training.deep_kernels`) or
``triton`` (generated Triton, CUDA, one hidden layer), or :class:`TorchStepper` here (any MLP and
device, the reference); ``auto`` picks the fastest that covers the network.

With ``TrainConfig.grad_tol > 0`` a seed stops where ``||grad L||`` (float64, at its current point)
has fallen to ``grad_tol`` (the thesis' "stop at ~1e-6", section 6.3): its point, trajectory and
loss stay there while the others go on, and training ends when every seed has stopped or at
``epochs``. The check runs between chunks of epochs, at most every :data:`GRAD_CHECK_SECONDS` and at
most 5% of the time, so a seed stops within about a second of wall time of getting there (it may be
a little past it), and no stepper, fast kernels included, needs to know about it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import math
import threading
import time
from collections.abc import Generator

import numpy as np
import torch

from ..base.config_schema import BACKENDS, DTYPES, FLOW_METHODS, OPTIMIZERS  # noqa: F401  (kept with the schema)
from ..base.progress import Progress
from ..base.record import AS_LIST, Record
from ..landscape.nets import MLPSpec, loss_and_grad
from . import kernels as tk
from .deep_kernels import MAX_DEEP_PARAMS, DeepNativeStepper, deep_supports

#: Wall time one chunk of epochs aims at; a chunk is the unit between stop checks.
CHUNK_SECONDS = 0.1
#: Least wall time between two progress records.
PROGRESS_SECONDS = 0.1
#: Least wall time between two gradient-norm checks for ``TrainConfig.grad_tol``.
GRAD_CHECK_SECONDS = 1.0


#: The settings of ``optimizer = "flow"`` alone.
FLOW_KEYS = ("flow_method", "rtol", "atol", "t_max")


@dataclasses.dataclass
class TrainConfig(Record):
    """How to train: optimizer, step size, length, precision, device and what to record.

    ``backend`` picks the implementation (``auto``: native C kernel on CPU, Triton on CUDA, where
    they cover the network, else torch); all implement the same arithmetic. ``grad_tol > 0`` stops
    each seed once its gradient norm is at most ``grad_tol`` (module docstring); 0 trains every seed
    for ``epochs``. ``optimizer = "flow"`` integrates gradient flow instead (:mod:`.flow_training`):
    ``flow_method``, the local error tolerances ``rtol``/``atol`` and the end time ``t_max`` apply to
    it (``grad_tol`` too), ``lr``, ``epochs``, ``betas``, ``eps``, ``momentum`` and ``backend`` do not.
    """

    tagged = False
    what = "training setting(s)"
    refuse_unknown = True

    optimizer: str = "adam"
    lr: float = 1e-4
    epochs: int = 10_000_000
    dtype: str = "float32"
    device: str = "auto"
    betas: tuple[float, float] = dataclasses.field(default=(0.9, 0.999), metadata=AS_LIST)
    eps: float = 1e-8
    momentum: float = 0.0
    n_snapshots: int = 64
    n_loss_points: int = 256
    backend: str = "auto"
    grad_tol: float = 0.0
    flow_method: str = "rodas4"
    rtol: float = 1e-3
    atol: float = 1e-6
    t_max: float = 1e7

    def __post_init__(self) -> None:
        if isinstance(self.betas, (list, tuple)):
            self.betas = tuple(self.betas)  # JSON gives lists
        self.validate()

    def to_dict(self) -> dict:
        """The stored settings; the gradient-flow keys only where ``optimizer = "flow"`` uses them, so
        an Adam or SGD config reads as it always did."""
        out = super().to_dict()
        if self.optimizer != "flow":
            for key in FLOW_KEYS:
                out.pop(key)
        return out

    def validate(self) -> None:
        """Raise ValueError naming the first impossible setting."""
        def number(name: str, lo: float, lo_open: bool, hi: float | None = None) -> None:
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            ok = ok and (v > lo if lo_open else v >= lo) and (hi is None or v < hi)
            if not ok:
                bound = f"> {lo}" if lo_open else f">= {lo}"
                raise ValueError(f"{name} must be a finite number {bound}{f' and < {hi}' if hi else ''}, got {v!r}")

        def count(name: str, lo: int) -> None:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")

        def choice(name: str, options: tuple[str, ...]) -> None:
            if getattr(self, name) not in options:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(options)}")

        choice("optimizer", OPTIMIZERS)
        choice("dtype", DTYPES)
        choice("backend", BACKENDS)
        if not (isinstance(self.device, str) and (self.device in ("auto", "cpu", "cuda")
                                                  or (self.device.startswith("cuda:") and self.device[5:].isdigit()))):
            raise ValueError(f"unknown device {self.device!r}; choose auto, cpu, cuda or cuda:N")
        number("lr", 0.0, True)
        count("epochs", 1)
        if not isinstance(self.betas, tuple) or len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers, got {self.betas!r}")
        for i, b in enumerate(self.betas):
            if not (isinstance(b, (int, float)) and not isinstance(b, bool) and 0.0 <= b < 1.0):
                raise ValueError(f"betas[{i}] must lie in [0, 1), got {b!r}")
        number("eps", 0.0, False)
        number("momentum", 0.0, False, 1.0)
        count("n_snapshots", 2)
        count("n_loss_points", 2)
        number("grad_tol", 0.0, False)
        choice("flow_method", FLOW_METHODS)
        number("rtol", 0.0, True, 1.0)
        number("atol", 0.0, True)
        number("t_max", 1.0, False, 1e15)
        if self.optimizer == "flow" and self.dtype != "float64":
            raise ValueError("gradient flow integrates in float64; set dtype = float64 (or leave it out)")


#: :func:`train`'s record: stage ``"train"``, ``done`` of ``total`` epochs, ``loss (S,)`` at the last
#: epoch run, ``epochs_per_s`` since the previous record, ``converged`` seeds stopped by ``grad_tol``.
TrainProgress = Progress


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns (all numpy, float64 points).

    ``theta: (S, P)`` end points; ``snapshots: (S, K, P)`` at ``snapshot_epochs: (K,)``;
    ``loss_curve: (S, L)`` at ``loss_epochs: (L,)``, each the loss of the point *before* that epoch's
    update, at ``epochs_done`` the loss of ``theta``. Both epoch lists start at 0 and end at
    ``epochs_done``; after a stop they hold the epochs reached plus the point where training stopped.
    ``converged_epoch: (S,)`` is the epoch at which ``grad_tol`` stopped each seed, -1 where it did not.
    Gradient flow (:mod:`.flow_training`) fills the same fields with times in place of epochs and
    ``end_reason: (S,)``, why each seed's integration ended (None for Adam and SGD).
    """

    theta: np.ndarray
    snapshot_epochs: np.ndarray
    snapshots: np.ndarray
    loss_epochs: np.ndarray
    loss_curve: np.ndarray
    epochs_done: int
    stopped: bool
    elapsed: float
    device: str
    dtype: str
    backend: str = ""
    converged_epoch: np.ndarray | None = None
    end_reason: np.ndarray | None = None


def tune_glibc_malloc(threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds so large temporaries are reused instead of re-mapped.

    Batched torch loops on CPU (:class:`TorchStepper`, Hessians) allocate and free the same large
    tensors every step; above glibc's mmap threshold each becomes a fresh ``mmap`` with page faults
    (2-3x slower measured on the toy problem at 1000 seeds). Process-wide, so an application calls
    it once at start-up. Returns False where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h> constants
    return bool(mallopt(m_mmap_threshold, threshold)) and bool(mallopt(m_trim_threshold, 2 * threshold))


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a usable GPU -> ValueError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if torch.version.cuda is None:
            raise ValueError(f"device {name!r} requested, but this PyTorch build has no CUDA support "
                             f"(torch {torch.__version__}); use --device cpu or auto")
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested, but no CUDA GPU is visible; use --device cpu or auto")
        index = int(name[5:]) if name.startswith("cuda:") else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} requested, but only {torch.cuda.device_count()} GPU(s) are visible")
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")


def log_spaced_epochs(end: int, n: int) -> np.ndarray:
    """``min(n, end + 1)`` unique integers in ``[0, end]``, log-spaced, 0 and ``end`` included: ``(n,)`` int64.

    Spacing is geometric in ``epoch + 1``; where rounding merges neighbours at the start, more
    points are drawn until ``n`` distinct ones remain, so the count is exact.
    """
    if end + 1 <= n:
        return np.arange(end + 1, dtype=np.int64)
    k = n
    while True:
        e = np.unique(np.rint(np.geomspace(1.0, end + 1.0, k)).astype(np.int64) - 1)
        if len(e) >= n:
            break
        k += n - len(e)
    if len(e) > n:  # keep both ends, thin the (dense, linear) start evenly
        keep = np.unique(np.rint(np.linspace(0, len(e) - 1, n)).astype(np.int64))
        e = e[keep]
    return e


class TorchStepper:
    """Batched back-propagation through :func:`nets.loss_and_grad` and an in-place batched optimizer
    step; any MLP, any device. Same contract as the steppers in :mod:`train_kernels`."""

    name = "torch"

    def __init__(self, spec: MLPSpec, theta0: np.ndarray, x: np.ndarray, y: np.ndarray, config,
                 device: torch.device) -> None:
        dtype = torch.float32 if config.dtype == "float32" else torch.float64
        self.spec, self.config = spec, config
        self._x = torch.tensor(x, dtype=dtype, device=device)
        self._y = torch.tensor(y, dtype=dtype, device=device)
        self._theta = torch.tensor(np.asarray(theta0), dtype=dtype, device=device)  # a copy
        self._st1 = torch.zeros_like(self._theta)
        self._st2 = torch.zeros_like(self._theta)
        self.t = 0

    @torch.no_grad()
    def advance(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Run ``k >= 0`` epochs; the losses ``(S,)`` before the first and before the last of them."""
        first = last = None
        for e in range(max(k, 1)):
            last, grad = loss_and_grad(self.spec, self._theta, self._x, self._y)
            first = last if e == 0 else first
            if k > 0:
                self._update(grad)
        return first.double().cpu().numpy(), last.double().cpu().numpy()

    def _update(self, grad: torch.Tensor) -> None:
        c = self.config
        self.t += 1
        if c.optimizer == "adam":
            b1, b2 = c.betas
            self._st1.lerp_(grad, 1 - b1)
            self._st2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = (self._st2.sqrt() / math.sqrt(1 - b2 ** self.t)).add_(c.eps)
            self._theta.addcdiv_(self._st1, denom, value=-c.lr / (1 - b1 ** self.t))
        else:
            if self.t == 1 or c.momentum == 0:
                self._st1.copy_(grad)
            else:
                self._st1.mul_(c.momentum).add_(grad)
            self._theta.add_(self._st1, alpha=-c.lr)

    def theta(self) -> np.ndarray:
        """Current points ``(S, P)`` float64 (a copy)."""
        return self._theta.double().cpu().numpy()

    def close(self) -> None:
        pass


def _kernel_covers(backend: str, spec: MLPSpec) -> bool:
    """Whether the generated kernels of ``backend`` cover ``spec`` (native: any depth; triton: one hidden layer)."""
    return tk.unrolled_supports(spec) or (backend == "native" and deep_supports(spec))


def check_backend(backend: str, spec: MLPSpec, device: torch.device) -> None:
    """ValueError if an explicitly chosen backend cannot run ``spec`` on ``device`` (cheap, no build)."""
    if backend == "native" and device.type == "cpu" and deep_supports(spec):
        return
    if backend in ("native", "triton"):
        wanted = {"native": "cpu", "triton": "cuda"}[backend]
        if device.type != wanted or not tk.unrolled_supports(spec):
            deeper = f", or two or more with at most {MAX_DEEP_PARAMS}" if backend == "native" else ""
            raise ValueError(f"backend {backend!r} runs on {wanted} for one hidden layer and at most "
                             f"{tk.MAX_UNROLLED_PARAMS} parameters{deeper}, not for {spec.describe()} on {device}")


def make_stepper(spec: MLPSpec, theta0: np.ndarray, x: np.ndarray, y: np.ndarray, config: TrainConfig,
                 device: torch.device):
    """The stepper ``config.backend`` asks for (see module docs); ValueError if it cannot serve.

    ``auto`` takes the generated kernel for the device where it covers the network and can be
    built (a C compiler on CPU, triton on CUDA), else the torch path, which computes the same thing.
    """
    backend = config.backend
    if backend == "auto":
        kernel = {"cpu": "native", "cuda": "triton"}.get(device.type)
        if kernel is not None and _kernel_covers(kernel, spec):
            try:
                return _kernel_stepper(kernel, spec, theta0, x, y, config, device)
            except ValueError:
                pass
        return TorchStepper(spec, theta0, x, y, config, device)
    check_backend(backend, spec, device)
    if backend == "torch":
        return TorchStepper(spec, theta0, x, y, config, device)
    return _kernel_stepper(backend, spec, theta0, x, y, config, device)


def _kernel_stepper(backend: str, spec, theta0, x, y, config: TrainConfig, device: torch.device):
    try:
        if backend == "native":
            stepper = DeepNativeStepper if deep_supports(spec) else tk.NativeStepper
            return stepper(spec, theta0, x, y, config)
        return tk.TritonStepper(spec, theta0, x, y, config, device)
    except (RuntimeError, ImportError) as exc:  # no C compiler, no triton, a failed build
        raise ValueError(f"backend {backend!r} is unavailable: {exc}") from exc


def train(spec: MLPSpec, theta0: np.ndarray, x: np.ndarray, y: np.ndarray, config: TrainConfig,
          stop: threading.Event | None = None) -> Generator[TrainProgress, None, TrainResult]:
    """Train ``theta0: (S, P)`` on ``x: (N, d)``, ``y: (N, d_out)``; a generator returning a TrainResult.

    Inputs, device and an explicitly chosen backend are checked here, so bad input fails at the
    call; the stepper (and any CUDA memory) is made on the first ``next``, in the consuming thread,
    which also builds a generated kernel the first time a shape is seen (about a second; a few seconds
    for a deep net on an idle machine, up to a minute under heavy load). Setting
    ``stop`` ends training within one chunk (about 0.1 s) with ``stopped=True``.
    """
    config.validate()
    if config.optimizer == "flow":
        raise ValueError("optimizer 'flow' is integrated by lsexplorer.core.training.flow_training.train_flow")
    theta0 = np.asarray(theta0, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if theta0.ndim != 2 or theta0.shape[1] != spec.n_params or theta0.shape[0] < 1:
        raise ValueError(f"theta0 must be (S, {spec.n_params}) for {spec.describe()}, got {theta0.shape}")
    if x.ndim != 2 or x.shape[1] != spec.d_in or y.shape != (x.shape[0], spec.d_out) or x.shape[0] < 1:
        raise ValueError(f"x must be (N, {spec.d_in}) and y (N, {spec.d_out}), got {x.shape} and {y.shape}")
    if not (np.isfinite(theta0).all() and np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("theta0, x and y must be finite")
    device = resolve_device(config.device)
    check_backend(config.backend, spec, device)
    return _train(spec, theta0, x, y, config, device, stop)


def _train(spec, theta0, x, y, config: TrainConfig, device: torch.device, stop: threading.Event | None
           ) -> Generator[TrainProgress, None, TrainResult]:
    t_start = time.perf_counter()
    epochs = int(config.epochs)
    snap_plan = log_spaced_epochs(epochs, config.n_snapshots)
    loss_plan = log_spaced_epochs(epochs, config.n_loss_points)
    boundaries = np.union1d(snap_plan, loss_plan)
    snap_set, loss_set = set(snap_plan.tolist()), set(loss_plan.tolist())
    snap_epochs: list[int] = []
    snaps: list[np.ndarray] = []
    loss_epochs: list[int] = []
    losses: list[np.ndarray] = []
    held = _ConvergedSeeds(spec, theta0, x, y, config.grad_tol)
    stepper = make_stepper(spec, theta0, x, y, config, device)
    yield Progress("train", 0, epochs, 0.0)  # the stage has begun: a progress bar shows from here
    try:
        done, chunk, b = 0, 1, 0
        last_yield, last_yield_epoch = time.perf_counter(), 0
        stopped = False
        while done < epochs and not held.all_converged:
            if stop is not None and stop.is_set():
                stopped = True
                break
            while boundaries[b] <= done:
                b += 1
            k = int(min(boundaries[b] - done, chunk))
            t0 = time.perf_counter()
            if done in snap_set:
                snap_epochs.append(done)
                snaps.append(held.theta(stepper.theta()))
            loss_first, loss_last = stepper.advance(k)
            if done in loss_set:
                loss_epochs.append(done)
                losses.append(held.loss(loss_first))
            done += k
            now = time.perf_counter()
            # Aim at CHUNK_SECONDS, growing at most 4x at a time so a chunk timed too fast cannot
            # overshoot much; a chunk cut short by a record is dominated by overhead and only grows.
            fit = min(int(CHUNK_SECONDS * k / max(now - t0, 1e-9)), 4 * chunk)
            chunk = max(1, fit) if k == chunk else max(chunk, fit)
            held.check(stepper, done, now)
            if now - last_yield >= PROGRESS_SECONDS or done == epochs or held.all_converged:
                yield Progress("train", done, epochs, now - t_start, loss=held.loss(loss_last),
                               epochs_per_s=(done - last_yield_epoch) / max(now - last_yield, 1e-9),
                               converged=held.n_converged)
                last_yield, last_yield_epoch = now, done
        final_loss = held.loss(stepper.advance(0)[0])
        theta = held.theta(stepper.theta())
    finally:
        stepper.close()
    snap_epochs.append(done)
    snaps.append(theta)
    loss_epochs.append(done)
    losses.append(final_loss)
    return TrainResult(
        theta=theta, snapshot_epochs=np.asarray(snap_epochs, dtype=np.int64), snapshots=np.stack(snaps, axis=1),
        loss_epochs=np.asarray(loss_epochs, dtype=np.int64), loss_curve=np.stack(losses, axis=1),
        epochs_done=done, stopped=stopped, elapsed=time.perf_counter() - t_start, device=str(device),
        dtype=config.dtype, backend=stepper.name, converged_epoch=held.epoch)


class _ConvergedSeeds:
    """Seeds that ``grad_tol`` has stopped: their point and loss, held while the stepper runs on.

    :meth:`check` measures ``||grad L||`` in float64 at the stepper's current points of the seeds
    still running, no sooner than :data:`GRAD_CHECK_SECONDS` after the last check and 20 times the
    last check's cost (so checking takes at most 5% of the time). With ``grad_tol = 0`` it does nothing.
    """

    def __init__(self, spec: MLPSpec, theta0: np.ndarray, x: np.ndarray, y: np.ndarray, grad_tol: float) -> None:
        self.spec, self.grad_tol = spec, float(grad_tol)
        self.epoch = np.full(len(theta0), -1, dtype=np.int64)
        self._theta = np.zeros_like(theta0)
        self._loss = np.zeros(len(theta0))
        self._x, self._y = torch.from_numpy(x), torch.from_numpy(y)
        self._next = time.perf_counter() + GRAD_CHECK_SECONDS

    @property
    def n_converged(self) -> int:
        return int((self.epoch >= 0).sum())

    @property
    def all_converged(self) -> bool:
        return self.grad_tol > 0 and bool((self.epoch >= 0).all())

    def check(self, stepper, done: int, now: float) -> None:
        """Stop (hold) every running seed whose gradient norm is at most ``grad_tol`` after ``done`` epochs."""
        if self.grad_tol <= 0 or now < self._next:
            return
        running = np.flatnonzero(self.epoch < 0)
        theta = stepper.theta()[running]
        with torch.no_grad():
            value, grad = loss_and_grad(self.spec, torch.from_numpy(theta), self._x, self._y)
        norms = torch.linalg.vector_norm(grad, dim=1).numpy()
        hit = norms <= self.grad_tol
        rows = running[hit]
        self.epoch[rows] = done
        self._theta[rows] = theta[hit]
        self._loss[rows] = value.numpy()[hit]
        cost = time.perf_counter() - now
        self._next = time.perf_counter() + max(GRAD_CHECK_SECONDS, 20 * cost)

    def theta(self, theta: np.ndarray) -> np.ndarray:
        """``theta (S, P)`` with the held points in the rows of stopped seeds."""
        stopped = self.epoch >= 0
        theta[stopped] = self._theta[stopped]
        return theta

    def loss(self, loss: np.ndarray) -> np.ndarray:
        """``loss (S,)`` with the held losses in the rows of stopped seeds."""
        stopped = self.epoch >= 0
        loss = np.array(loss, dtype=np.float64)
        loss[stopped] = self._loss[stopped]
        return loss
