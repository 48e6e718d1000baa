"""One step of the batched Rosenbrock methods of :mod:`.flow`, for all running seeds at once.

A step of size ``h (K,)`` from ``y (K, P)`` with ``f0 = -grad L(y)`` returns the new points, ``-grad L``
and ``L`` there, and each row's scaled error norm (``<= 1``: accept; NaN where anything was not
finite or the linear system was singular). Both methods solve with ``c I - J``, ``J = -H`` the exact
Jacobian of ``-grad L``, factorised once per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

ValueGrad = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Hessians = Callable[[torch.Tensor], torch.Tensor]


class ErrorTolerances(Protocol):
    """What a step reads of its settings: the local error tolerances."""

    rtol: float
    atol: float


#: ``ode23s``'s constants: ``d = 1 / (2 + sqrt 2)`` and ``e32 = 6 + sqrt 2``.
_D = 1.0 / (2.0 + math.sqrt(2.0))
_E32 = 6.0 + math.sqrt(2.0)


def _factorise(hessians: Hessians, y: torch.Tensor, diagonal: torch.Tensor):
    """LU factors of ``diagonal I + H(y)`` per row, and which rows failed (singular or not finite).

    Both methods solve with ``c I - J`` where ``J = -H`` is the exact Jacobian of ``-grad L``.
    """
    k_rows, p = y.shape
    w = torch.diag_embed(diagonal[:, None].expand(k_rows, p)) + hessians(y)
    lu, pivots, info = torch.linalg.lu_factor_ex(w)
    bad = (info != 0).numpy() | ~torch.isfinite(w).flatten(1).all(dim=1).numpy()
    if bad.any():  # keep the other rows' solves finite; the failed rows' steps are rejected
        lu = torch.where(torch.from_numpy(bad)[:, None, None], torch.eye(p, dtype=y.dtype), lu)

    def solve(b: torch.Tensor) -> torch.Tensor:
        return torch.linalg.lu_solve(lu, pivots, b[:, :, None])[:, :, 0]

    return solve, bad


def _error_norm(err: torch.Tensor, y: torch.Tensor, ynew: torch.Tensor, fnew: torch.Tensor, lnew: torch.Tensor,
                bad: np.ndarray, settings: ErrorTolerances) -> np.ndarray:
    """Root-mean-square of ``err`` in units of ``atol + rtol max(|y|, |ynew|)``; NaN where anything failed."""
    scale = settings.atol + settings.rtol * torch.maximum(y.abs(), ynew.abs())
    errn = torch.sqrt(((err / scale) ** 2).mean(dim=1)).numpy()
    finite = torch.isfinite(ynew).all(dim=1) & torch.isfinite(fnew).all(dim=1) & torch.isfinite(lnew)
    return np.where(finite.numpy() & ~bad, errn, np.nan)


def _ode23s_step(value_grad: ValueGrad, hessians: Hessians, y: torch.Tensor, f0: torch.Tensor, h: np.ndarray,
                 settings: ErrorTolerances) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """One ``ode23s`` step of size ``h (K,)`` from ``y (K, P)`` with ``f0 = -grad L(y)``.

    Returns the new points, ``-grad L`` and ``L`` there, and the scaled error norm ``(K,)``
    (``<= 1``: accept; NaN where anything was not finite).
    """
    ht = torch.from_numpy(h)[:, None]
    # W = I - h d J; dividing by h d gives (1 / (h d)) I + H, factorised once for three solves.
    solve_scaled, bad = _factorise(hessians, y, torch.from_numpy(1.0 / (h * _D)))
    hd = ht * _D

    def solve(b: torch.Tensor) -> torch.Tensor:
        return solve_scaled(b) / hd

    k1 = solve(f0)
    _, g1 = value_grad(y + 0.5 * ht * k1)
    f1 = -g1
    k2 = solve(f1 - k1) + k1
    ynew = y + ht * k2
    lnew, g2 = value_grad(ynew)
    f2 = -g2
    k3 = solve(f2 - _E32 * (k2 - f1) - 2.0 * (k1 - f0))
    err = (ht / 6.0) * (k1 - 2.0 * k2 + k3)
    return ynew, f2, lnew, _error_norm(err, y, ynew, f2, lnew, bad, settings)


#: Hairer & Wanner's RODAS (Solving ODEs II, section VI.4): gamma, the stage coefficients a_ij (the
#: sixth stage's are the fifth's plus a_65 = 1) and c_ij of the form that solves
#: ``(1 / (gamma h) - J) k_i = f(y + sum_j a_ij k_j) + sum_j c_ij k_j / h``; the solution is
#: ``y + sum_j a_5j k_j + k_5 + k_6`` and ``k_6`` the error estimate (order 3 against order 4).
_RODAS_GAMMA = 0.25
_RODAS_A = ((), (1.544,), (0.9466785280815826, 0.2557011698983284),
            (3.314825187068521, 2.896124015972201, 0.9986419139977817),
            (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950))
_RODAS_C = ((), (-5.6688,), (-2.430093356833875, -0.2063599157091915),
            (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
            (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
            (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054))


def _rodas4_step(value_grad: ValueGrad, hessians: Hessians, y: torch.Tensor, f0: torch.Tensor, h: np.ndarray,
                 settings: ErrorTolerances) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """One RODAS step (order 4, stiffly accurate, L-stable) of size ``h (K,)``: as :func:`_ode23s_step`."""
    ht = torch.from_numpy(h)[:, None]
    solve, bad = _factorise(hessians, y, torch.from_numpy(1.0 / (_RODAS_GAMMA * h)))
    ks: list[torch.Tensor] = []
    for i in range(6):
        if i == 0:
            f = f0
        else:
            stage = y + sum(a * k for a, k in zip(_RODAS_A[min(i, 4)], ks))
            if i == 5:
                stage = stage + ks[4]
            f = -value_grad(stage)[1]
        ks.append(solve(f + sum(c * k for c, k in zip(_RODAS_C[i], ks)) / ht))
    ynew = y + sum(a * k for a, k in zip(_RODAS_A[4], ks)) + ks[4] + ks[5]
    lnew, gnew = value_grad(ynew)
    return ynew, -gnew, lnew, _error_norm(ks[5], y, ynew, -gnew, lnew, bad, settings)


#: Per batched method: its step and the order of its error estimate's leading term (for the controller).
STEPPERS = {"rodas4": (_rodas4_step, 4), "rosenbrock23": (_ode23s_step, 3)}


__all__ = ["ValueGrad", "Hessians", "ErrorTolerances", "STEPPERS"]
