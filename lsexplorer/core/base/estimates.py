"""How much memory and time an experiment will take, worked out before it starts.

A config with 10 000-wide layers or a million seeds is valid, but it would run out of memory after
an hour of training, or refine for weeks, with nothing written. :func:`estimate_experiment` gives
the peak memory and the wall time from the config alone (sizes, epochs, seeds), from cost models
calibrated on the measurements in the comments below; :func:`check_budget` refuses a run whose
memory exceeds what the machine has, and one that would take longer than :data:`LONG_SECONDS` unless
the caller confirms it (the CLI's ``--yes``). The estimates aim at the right order of magnitude, and
err on the high side.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from .distribution import is_population
from .memory import available_memory

#: A run estimated to take longer than this needs a confirmation: the presets (the default toy
#: experiment, 100 seeds x 1e7 epochs, about 1.2 h on 2 CPU cores; mnist-pca10 about 4 h) start
#: without one, a million seeds (over a year) do not.
LONG_SECONDS = 24 * 3600.0
#: The CLI prints the estimate before runs longer than this.
NOTE_SECONDS = 600.0
#: Sample counts of the fixed data sets.
_SAMPLES = {"toy": 1681, "digits-pca10": 1797, "mnist-pca10": 60_000}
#: Training throughput in (samples x parameters) per second per student-epoch: the native toy kernel
#: does 230k..600k student-epochs/s at N = 1681, P = 15 (6e9..1.5e10), the batched torch path 5k/s at
#: N = 1797, P = 341 (3e9), both on 2 loaded cores.
_NATIVE_RATE, _TORCH_RATE = 6e9, 3e9
#: Refinement of one point: up to slsqp_maxeval gradient evaluations (2 N P flops each), Newton
#: iterations each forming an exact Hessian (2 N P^2) and its eigendecomposition (~10 P^3), at this
#: many flops per second. Toy points take 0.02..2.5 s (1.2 s on average over 1e6 points at worst),
#: digits-pca10 points about 30 s.
_FLOPS = 1e9
#: Snapshot losses are evaluated in chunks of at most this many bytes of activations.
SNAPSHOT_CHUNK_BYTES = 256 * 2**20


class ResourceError(ValueError):
    """A run that cannot fit, or that needs a confirmation; the message gives the numbers."""


@dataclasses.dataclass
class Estimate:
    """Peak memory (bytes) and wall time (seconds) of training and of refining ``points`` points."""

    memory: int
    train_seconds: float
    refine_seconds: float
    points: int

    @property
    def seconds(self) -> float:
        return self.train_seconds + self.refine_seconds

    def describe(self) -> str:
        return (f"about {format_bytes(self.memory)} of memory and {format_seconds(self.seconds)} "
                f"(training {format_seconds(self.train_seconds)}, refining {self.points} points "
                f"{format_seconds(self.refine_seconds)})")


def format_bytes(n: float) -> str:
    if n >= 1e15:
        return f"{n:.1e} B"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def format_seconds(s: float) -> str:
    if s >= 86400 * 365 * 1000:
        return f"{s / (86400 * 365):.1e} years"
    if s >= 86400 * 2:
        return f"{s / 86400:.0f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def _samples(data: Mapping) -> int:
    kind = data.get("kind")
    if kind == "gaussian":
        return int(data.get("n_samples", 1))
    if kind == "mnist-pca10" and data.get("n_samples"):
        return int(data["n_samples"])
    return _SAMPLES.get(kind, 1)


def estimate_experiment(config: Mapping) -> Estimate:
    """Memory and time of :func:`lsexplorer.core.experiment.experiment.run_experiment` for a built ``config``."""
    if is_population(config):
        return _population_estimate(config)
    widths = [int(w) for w in config["network"]["widths"]]
    P = sum(a * b + (b if config["network"].get("bias") else 0) for a, b in zip(widths, widths[1:]))
    N, S = _samples(config["data"]), len(config["seeds"])
    train, refine = config["train"], config.get("refine", {})
    epochs, K, L = int(train["epochs"]), int(train["n_snapshots"]), int(train["n_loss_points"])
    itemsize = 8 if train.get("dtype") == "float64" else 4
    hidden = sum(widths[1:])

    data_bytes = 8 * N * (widths[0] + widths[-1]) * 3
    # Parameters, optimizer state and gradients of every seed (float64 copies kept beside the training
    # dtype), and for the batched torch path the activations and their gradients of all seeds at once
    # (the native one-hidden-layer kernels keep one seed's per thread).
    native = len(widths) == 3 and train.get("backend", "auto") in ("auto", "native")
    train_bytes = S * P * 8 * 6 + (64 if native else S) * N * hidden * itemsize * 4
    # What the session holds: (S, P) float64 arrays, the float32 trajectory, the loss curve; the saved
    # file is built in memory beside it.
    session_bytes = S * P * 8 * 5 + S * K * P * 4 + S * (K + L) * 8
    # Refining one point: SLSQP's dense P x P quasi-Newton matrix, the Hessian, its eigenvectors and
    # LAPACK workspace; the Gauss-Newton Jacobian (N d_out x P).
    refine_bytes = 8 * P * P * 4 + 8 * N * widths[-1] * P * 2
    snapshot_bytes = min(S * K * N * max(widths) * 8 * 3, SNAPSHOT_CHUNK_BYTES * 3)
    memory = data_bytes + session_bytes + max(train_bytes, refine_bytes, snapshot_bytes, session_bytes)

    train_seconds = S * epochs * N * P / (_NATIVE_RATE if native else _TORCH_RATE)
    if train.get("optimizer") == "flow":
        # Gradient flow: about 250 RODAS4 steps a seed at rtol 1e-3 (measured on the toy problem),
        # growing as rtol^(-1/4); each one closed-form Hessian (~10 N P^2 with its temporaries) and six
        # batched gradients (~20 N P each). The output times' float64 states of every seed and a batch
        # of Hessians are held.
        steps = 250 * (1e-3 / float(train.get("rtol", 1e-3))) ** (1 / 4)
        train_seconds = S * steps * (10 * N * P * P + 120 * N * P + P ** 3) / _FLOPS
        memory += S * (K + L) * P * 8 + S * P * P * 8 * 3
    per_point = _refine_seconds(N, P, refine)
    return Estimate(memory=int(memory), train_seconds=train_seconds, refine_seconds=S * per_point, points=S)


def _refine_seconds(n_samples: int, n_params: int, refine: Mapping) -> float:
    """Refinement of one point: up to ``slsqp_maxeval`` gradients and ``newton_max_iter`` Newton steps."""
    N, P = n_samples, n_params
    evals = int(refine.get("slsqp_maxeval", 20000))
    newton = int(refine.get("newton_max_iter", 30))
    return (evals * 2 * N * P + newton * (2 * N * P * P + 10 * P ** 3)) / _FLOPS


def _population_estimate(config: Mapping) -> Estimate:
    """A ``relu-gaussian`` run: batched descent over (student, student-or-teacher) pairs, typically
    a few thousand steps a seed (converged seeds leave the batch; ``max_steps`` caps it), then about
    15 Newton steps (Hessian and eigendecomposition) a seed."""
    d, n = (int(w) for w in config["network"]["widths"][:2])
    k, S = int(config["data"]["teacher_width"]), len(config["seeds"])
    P, pairs = n * d, n * (n + k) * d
    train = config["train"]
    K = int(train.get("snapshots", 40)) + 1
    memory = S * P * 8 * (6 + K) + S * pairs * 8 * 6 + 64 * n * n * d * d * 8 * 4
    train_seconds = S * min(int(train.get("max_steps", 200_000)), 5_000) * pairs * 30 / _FLOPS
    refine_seconds = S * 15 * (2 * P ** 3 + n * (n + k) * d * d * 20) / _FLOPS
    return Estimate(memory=int(memory), train_seconds=train_seconds, refine_seconds=refine_seconds, points=S)


@dataclasses.dataclass
class Cost:
    """Peak memory (bytes) and wall time (seconds) of work sized by a command's numbers; ``cause``
    names those numbers (flags and values) for the message that refuses it."""

    memory: float
    seconds: float
    cause: str


#: Bytes per sample and hidden unit of a batched float64 forward and backward pass (activations,
#: their gradients and torch's temporaries).
_ACTIVATION_BYTES = 8 * 4
#: Band arrays per image of a minimum-energy path, in float64 vectors of ``P``: the images, values,
#: gradients, tangents, forces, the optimizer's state, the tightened copy.
_BAND_VECTORS = 12


def band_cost(n_params: int, n_samples: int, hidden_units: int, images: int, lbfgs_memory: int = 10,
              cause: str = "") -> Cost:
    """A minimum-energy path of ``images`` interior images: the whole band's losses and gradients
    are evaluated at once, so memory grows with images x samples x hidden units. Its time is capped
    by the band's own time limits (``NEBConfig.max_seconds``), so only memory is estimated."""
    k = images + 2
    per_image = 8 * n_params * (_BAND_VECTORS + 2 * lbfgs_memory) + _ACTIVATION_BYTES * n_samples * hidden_units
    return Cost(memory=float(k) * per_image, seconds=0.0, cause=cause)


def descent_cost(n_params: int, n_samples: int, hidden_units: int, runs: int, epochs: int,
                 refine: Mapping | None = None, cause: str = "") -> Cost:
    """A saddle descent: ``runs`` perturbed points of the widened network (``n_params``) retrained
    together for ``epochs`` epochs in float64, then each refined and certified."""
    P = n_params
    memory = runs * (8.0 * P * 12 + _ACTIVATION_BYTES * n_samples * hidden_units) + 8 * P * P * 4
    seconds = runs * epochs * n_samples * P / _TORCH_RATE + runs * _refine_seconds(n_samples, P, refine or {})
    return Cost(memory=memory, seconds=seconds, cause=cause)


def check_cost(cost: Cost, confirmed: bool = False, memory_limit: int | None = None,
               long_seconds: float = LONG_SECONDS) -> None:
    """Raise :class:`ResourceError` if ``cost`` needs more memory than there is (``memory_limit``,
    default what is available now), or more than ``long_seconds`` without ``confirmed``."""
    limit = available_memory() if memory_limit is None else memory_limit
    if limit is not None and cost.memory > limit:
        raise ResourceError(f"{cost.cause} needs about {format_bytes(cost.memory)} of memory, but only "
                            f"{format_bytes(limit)} is available")
    if not confirmed and math.isfinite(cost.seconds) and cost.seconds > long_seconds:
        raise ResourceError(f"{cost.cause} needs about {format_seconds(cost.seconds)}; pass --yes to start it anyway")


def check_budget(estimate: Estimate, confirmed: bool = False, memory_limit: int | None = None,
                 long_seconds: float = LONG_SECONDS) -> None:
    """Raise :class:`ResourceError` if ``estimate`` needs more memory than there is (``memory_limit``,
    default what is available now), or more than ``long_seconds`` without ``confirmed``."""
    limit = available_memory() if memory_limit is None else memory_limit
    if limit is not None and estimate.memory > limit:
        raise ResourceError(f"this run needs {estimate.describe()}, but only {format_bytes(limit)} of memory is "
                            "available; use fewer seeds, narrower layers, fewer samples or fewer snapshots")
    if not confirmed and math.isfinite(estimate.seconds) and estimate.seconds > long_seconds:
        raise ResourceError(f"this run needs {estimate.describe()}; pass --yes to start it anyway")


__all__ = ["LONG_SECONDS", "NOTE_SECONDS", "SNAPSHOT_CHUNK_BYTES", "ResourceError", "Estimate", "Cost", "format_bytes",
           "format_seconds", "estimate_experiment", "band_cost", "descent_cost", "check_cost", "check_budget"]
