"""Certification of end points: refine each to a critical point, take its exact spectrum, classify.

:func:`certify` is the pipeline the CLI and the GUI run over all end points of a session. It is a
generator (``DESIGN.md``): it yields a :class:`CertifyProgress` after every point and returns the
:class:`CertifiedPoints` (``StopIteration.value``; ``result = yield from certify(...)`` in a caller
that is itself a generator). A ``threading.Event`` cancels it between points and inside a
refinement.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator

import numpy as np
import torch

from ..base.classify import Tolerances, classify, loss_scale
from ..base.numerical_failure import failure_reason, is_numerical_failure
from ..base.progress import Progress
from ..base.refined import Status
from ..channels.flat_channel import ChannelResult, analyse_channel
from ..landscape.hessian import loss_grad_hessian, spectrum
from ..landscape.nets import MLPSpec, as_tensor
from .refine import RefineConfig, refine

#: Up to this many parameters a refinement runs on one torch thread: its Hessians and gradients are
#: too small to share, and extra threads only spin (a 100-point toy certification on a 16-core
#: machine took 9.5 min wall and 92 min CPU with torch's default threads).
SINGLE_THREAD_PARAMS = 128


#: :func:`certify`'s record: stage ``"certify"``, ``done`` of ``total`` points certified.
CertifyProgress = Progress


@dataclasses.dataclass
class CertifiedPoints:
    """Per-point results for ``S`` points of ``P`` parameters.

    theta (S, P) refined points; loss, grad_norm (S,); hessian_eigvals (S, P) ascending (NaN where
    the point is not finite); kind (S,) strings from ``classify.KINDS``; degeneracy (S,) number of
    zero eigenvalues; lambda_min (S,); stop_reason (S,) strings from ``RefinedPoint.stop_reason``
    ("cancelled" for rows not refined); refine_seconds (S,); channels: the channel analysis
    (``channels.py``) of every diverged row by row index, whose kind it sets. The arrays are the
    certified columns of a session's runs under their names there: ``Runs.from_certified`` takes them.
    """

    theta: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    hessian_eigvals: np.ndarray
    kind: np.ndarray
    degeneracy: np.ndarray
    lambda_min: np.ndarray
    stop_reason: np.ndarray
    refine_seconds: np.ndarray
    channels: dict[int, ChannelResult] = dataclasses.field(default_factory=dict)


def certify(spec: MLPSpec, thetas, x, y, refine_config: RefineConfig | None = None,
            tolerances: Tolerances | None = None, stop: threading.Event | None = None,
            ) -> Generator[CertifyProgress, None, CertifiedPoints]:
    """Refine, take the exact Hessian spectrum of, and classify every row of ``thetas (S, P)``.

    ``x (N, d)``, ``y (N, d_out)`` are the training data. If ``stop`` is set, the points done so far
    are returned as they are; every unfinished row keeps its input theta, with loss, gradient and
    spectrum computed there, kind ``"not_converged"`` and stop reason ``"cancelled"``.
    """
    refine_config = refine_config or RefineConfig()
    tolerances = tolerances or Tolerances()
    thetas = np.array(thetas, dtype=np.float64, ndmin=2)
    if thetas.ndim != 2 or thetas.shape[1] != spec.n_params:
        raise ValueError(f"thetas must have shape (S, {spec.n_params}) for {spec.describe()}, got {thetas.shape}")
    xt, yt = as_tensor(x, torch.float64, "cpu"), as_tensor(y, torch.float64, "cpu")
    if yt.ndim == 1:
        yt = yt[:, None]
    y_scale = loss_scale(yt.numpy())
    n_points, n_params = thetas.shape
    out = CertifiedPoints(
        theta=thetas.copy(), loss=np.full(n_points, np.nan), grad_norm=np.full(n_points, np.nan),
        hessian_eigvals=np.full((n_points, n_params), np.nan), kind=np.full(n_points, "not_converged", dtype=object),
        degeneracy=np.zeros(n_points, dtype=np.int64), lambda_min=np.full(n_points, np.nan),
        stop_reason=np.full(n_points, "cancelled", dtype=object), refine_seconds=np.zeros(n_points))

    def measure(row: int, theta: np.ndarray, cancelled: bool) -> None:
        """Loss, gradient, spectrum and kind of ``theta`` into ``out[row]``."""
        out.theta[row] = theta
        if not np.isfinite(theta).all():
            return
        value, g, h = loss_grad_hessian(spec, theta, xt, yt)
        out.loss[row], out.grad_norm[row] = value, float(np.linalg.norm(g))
        if np.isfinite(h).all():
            out.hessian_eigvals[row] = spectrum(h)[0]
        c = classify(out.loss[row], out.grad_norm[row], out.hessian_eigvals[row], y_scale, tolerances)
        out.kind[row] = "not_converged" if cancelled else c.kind
        out.degeneracy[row], out.lambda_min[row] = c.n_zero, c.lambda_min

    def record_failure(row: int, exc: Exception, refined: np.ndarray | None = None) -> None:
        """Row ``row`` failed numerically: ``not_converged`` with the reason, measured where it can be."""
        try:
            measure(row, thetas[row] if refined is None else refined, cancelled=True)
        except Exception as again:
            if not is_numerical_failure(again):
                raise
        out.kind[row], out.stop_reason[row] = "not_converged", failure_reason(exc)

    start = time.perf_counter()
    done = 0
    yield Progress("certify", 0, n_points, 0.0)  # the stage has begun: a progress bar shows from here
    threads = torch.get_num_threads()
    while done < n_points and not (stop is not None and stop.is_set()):
        if n_params <= SINGLE_THREAD_PARAMS:
            torch.set_num_threads(1)
        try:
            result = refine(spec, thetas[done], xt, yt, refine_config, stop)
        except Exception as exc:
            if not is_numerical_failure(exc):
                raise
            result = exc
        finally:
            torch.set_num_threads(threads)
        if isinstance(result, Exception):
            record_failure(done, result)
            done += 1
            yield Progress("certify", done, n_points, time.perf_counter() - start)
            continue
        if result.status is Status.CANCELLED:
            break
        try:
            measure(done, result.theta, cancelled=False)
            out.stop_reason[done], out.refine_seconds[done] = result.stop_reason, result.elapsed
            start_norm, end_norm = np.linalg.norm(thetas[done]), np.linalg.norm(result.theta)
            if end_norm > tolerances.max_norm_growth * max(start_norm, 1.0):
                out.kind[done] = "not_converged"
                out.stop_reason[done] += f"+diverged:|theta| {start_norm:.3g}->{end_norm:.3g}"
                if np.isfinite(out.hessian_eigvals[done]).all() and np.isfinite(out.lambda_min[done]):
                    channel = analyse_channel(spec, [thetas[done], result.theta], xt.numpy(), yt.numpy(),
                                              tolerances, stop=stop)
                    out.channels[done] = channel
                    out.kind[done] = channel.kind
        except Exception as exc:
            if not is_numerical_failure(exc):
                raise
            out.channels.pop(done, None)
            record_failure(done, exc, refined=result.theta)
        done += 1
        yield Progress("certify", done, n_points, time.perf_counter() - start)
    for row in range(done, n_points):
        try:
            measure(row, thetas[row], cancelled=True)
        except Exception as exc:
            if not is_numerical_failure(exc):
                raise
    out.kind = out.kind.astype(str)
    out.stop_reason = out.stop_reason.astype(str)
    return out


__all__ = ["CertifyProgress", "CertifiedPoints", "certify"]
