"""Training by gradient flow (``train.optimizer = "flow"``): the integrator of :mod:`.flow` on an MLP's loss.

Time ``t`` of the flow ``theta' = -grad L(theta)`` takes the place of epochs: the trajectory and the
loss curve are recorded at whole, log-spaced times from 0 to ``t_max`` (the same plan as Adam's
log-spaced epochs), so everything that reads a session's epochs reads a flow session unchanged.
Integration is in float64 on the CPU whatever ``dtype`` and ``device`` say; gradients come from the
batched back-propagation of :func:`nets.loss_and_grad`, Hessians (the solver's Jacobian) in closed
form (:func:`surface.two_layer_hessians` for one hidden layer, :func:`hessian.hessian_t` per point
for deeper nets).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator

import numpy as np
import torch

from ..base.progress import Progress
from ..landscape.hessian import hessian_t
from ..landscape.nets import MLPSpec, loss_and_grad
from ..landscape.surface import two_layer_hessians
from .flow import FlowResult, FlowSettings, Hessians, ValueGrad, integrate
from .train import TrainConfig, TrainResult, log_spaced_epochs

#: Memory one batch of closed-form Hessians may take; more seeds are done in several batches.
HESSIAN_CHUNK_BYTES = 512 * 2**20


def flow_settings(config: TrainConfig) -> FlowSettings:
    """The integrator settings a training config asks for (``t_max`` rounded down to whole time units)."""
    return FlowSettings(method=config.flow_method, rtol=float(config.rtol), atol=float(config.atol),
                        t_max=float(math.floor(config.t_max)), grad_tol=float(config.grad_tol))


def network_flow_functions(spec: MLPSpec, x: np.ndarray, y: np.ndarray) -> tuple[ValueGrad, Hessians]:
    """Batched float64 ``(K, P) -> (loss, grad)`` and ``(K, P) -> Hessians`` of ``spec``'s loss on ``x``, ``y``."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.float64))
    if yt.ndim == 1:
        yt = yt[:, None]

    def value_grad(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return loss_and_grad(spec, theta, xt, yt)

    if spec.n_layers == 2:
        batch = two_layer_hessians(spec, xt, yt)
        # The closed form holds a (rows, N d_out, P) Jacobian and a few temporaries of that size.
        rows = max(1, HESSIAN_CHUNK_BYTES // (8 * 4 * xt.shape[0] * spec.d_out * spec.n_params))

        def hessians_in_chunks(theta: torch.Tensor) -> torch.Tensor:
            return torch.cat([batch(theta[i:i + rows]) for i in range(0, theta.shape[0], rows)])

        return value_grad, hessians_in_chunks

    def hessians(theta: torch.Tensor) -> torch.Tensor:
        return torch.stack([hessian_t(spec, row, xt, yt) for row in theta])

    return value_grad, hessians


def flow_times(config: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output times (snapshots and loss points together), the snapshot times and the loss times: whole numbers."""
    end = int(math.floor(config.t_max))
    snaps = log_spaced_epochs(end, config.n_snapshots)
    losses = log_spaced_epochs(end, config.n_loss_points)
    return np.union1d(snaps, losses), snaps, losses


def train_flow(spec: MLPSpec, theta0: np.ndarray, x: np.ndarray, y: np.ndarray, config: TrainConfig,
               stop: threading.Event | None = None) -> Generator[Progress, None, TrainResult]:
    """Follow the gradient flow of every row of ``theta0 (S, P)``; a generator returning a :class:`TrainResult`.

    ``snapshot_epochs``/``loss_epochs`` hold times; ``epochs_done`` is the last time reached (rounded
    up); ``converged_epoch`` the time ``grad_tol`` ended a seed (rounded up), -1 elsewhere. The
    per-seed end reasons are in :attr:`TrainResult.end_reason` (``flow.END_REASONS``). Progress
    counts time (the last output time every seed has passed) for the batched integrator, seeds for scipy's.
    """
    config.validate()
    if config.optimizer != "flow":
        raise ValueError(f"train_flow integrates gradient flow; the config asks for {config.optimizer!r}")
    value_grad, hessians = network_flow_functions(spec, x, y)
    return flow_train_result(value_grad, hessians, theta0, config, stop)


def flow_train_result(value_grad: ValueGrad, hessians: Hessians, theta0: np.ndarray, config: TrainConfig,
                      stop: threading.Event | None = None) -> Generator[Progress, None, TrainResult]:
    """Integrate any batched loss (``value_grad``, ``hessians``) and report it as training: see :func:`train_flow`."""
    times, snaps, losses = flow_times(config)
    settings = flow_settings(config)
    records = integrate(value_grad, hessians, theta0, times, settings, stop)
    batched = settings.method not in ("radau", "bdf")
    result: FlowResult = yield from (_in_time_units(records, times) if batched else records)
    done = int(math.ceil(result.t_end.max()))
    keep = times < done
    snap_rows = np.flatnonzero(np.isin(times, snaps) & keep)
    loss_rows = np.flatnonzero(np.isin(times, losses) & keep)
    converged = np.where(result.reason == "grad_tol", np.ceil(result.t_end), -1).astype(np.int64)
    trained = TrainResult(
        theta=result.theta,
        snapshot_epochs=np.append(times[snap_rows], done).astype(np.int64),
        snapshots=np.concatenate([result.out_theta[:, snap_rows], result.theta[:, None]], axis=1),
        loss_epochs=np.append(times[loss_rows], done).astype(np.int64),
        loss_curve=np.concatenate([result.out_loss[:, loss_rows], result.loss[:, None]], axis=1),
        epochs_done=done, stopped=result.stopped, elapsed=result.elapsed, device="cpu", dtype="float64",
        backend=f"flow:{settings.method}", converged_epoch=converged, end_reason=result.reason)
    return trained


def _in_time_units(gen: Generator[Progress, None, FlowResult], times: np.ndarray
                   ) -> Generator[Progress, None, FlowResult]:
    """The integrator's records with ``done`` of ``total`` in time units (the last output time every seed passed),
    and the ``share`` of the integration done: that of log(1 + t), since an adaptive step covers the plateaus and
    the approach in steps whose length grows with t."""
    total = int(times[-1])
    while True:
        try:
            p = next(gen)
        except StopIteration as finished:
            return finished.value
        p.done, p.total = int(times[max(p.done, 1) - 1]), total
        p.share = min(1.0, math.log1p(p.done) / math.log1p(total))
        yield p


__all__ = ["flow_settings", "network_flow_functions", "flow_times", "train_flow", "flow_train_result"]
