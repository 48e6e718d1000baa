"""The Mueller-Brown potential: the standard two-dimensional test surface for path and saddle methods.

``V(x, y) = sum_k A_k exp(a_k (x - x0_k)^2 + b_k (x - x0_k)(y - y0_k) + c_k (y - y0_k)^2)`` with the
constants of Mueller & Brown (Theor. Chim. Acta 53, 75, 1979). It has three minima and two saddles
whose energies are tabulated to two decimals in the literature (:data:`MINIMA`, :data:`SADDLES`);
the minimum energy path from the deepest minimum to the second passes the third minimum and both
saddles, which makes it a test of whether a band finds the right path and a climbing image the right
saddle. Exposed as a :class:`~lsexplorer.core.landscape.surface.Landscape` so the same NEB code runs on it
and on a network loss.
"""

from __future__ import annotations

import torch

from .surface import Landscape

_A = (-200.0, -100.0, -170.0, 15.0)
_a = (-1.0, -1.0, -6.5, 0.7)
_b = (0.0, 0.0, 11.0, 0.6)
_c = (-10.0, -10.0, -6.5, 0.7)
_X0 = (1.0, 0.0, -0.5, -1.0)
_Y0 = (0.0, 0.5, 1.5, 1.0)

#: Published minima: (x, y, V), coordinates to three decimals, energies to two.
MINIMA = ((-0.558, 1.442, -146.70), (0.623, 0.028, -108.17), (-0.050, 0.467, -80.77))
#: Published saddles: (x, y, V). The first lies between minima 0 and 2, the second between 2 and 1.
SADDLES = ((-0.822, 0.624, -40.66), (0.212, 0.293, -72.25))


def muller_brown(p: torch.Tensor) -> torch.Tensor:
    """``V`` at ``p (..., 2)``: ``(...)``."""
    x, y = p[..., 0], p[..., 1]
    out = torch.zeros_like(x)
    for big_a, a, b, c, x0, y0 in zip(_A, _a, _b, _c, _X0, _Y0):
        dx, dy = x - x0, y - y0
        out = out + big_a * torch.exp(a * dx * dx + b * dx * dy + c * dy * dy)
    return out


def muller_brown_landscape() -> Landscape:
    """The potential as a float64 :class:`Landscape` of two parameters (autograd derivatives)."""
    return Landscape(fn=muller_brown, n_params=2, value_scale=100.0, tangent_bytes=64)


__all__ = ["MINIMA", "SADDLES", "muller_brown", "muller_brown_landscape"]
