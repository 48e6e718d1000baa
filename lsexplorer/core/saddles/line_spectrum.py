"""The exact Hessian spectrum at any point of a saddle line θ(μ), with Theorem 3's prediction there.

A saddle line is a point θ* with neuron ``j`` of hidden layer ``l`` duplicated at share μ
(:func:`~lsexplorer.core.symmetry.operations.duplicate_neuron`). :class:`LineSpectra` answers
"what is the spectrum at μ" for one line and one data set, again and again as a user moves along
it: Theorem 3's data of the narrow point (its Hessian, ``Y``, ``U``) does not depend on μ, so it is
computed once, on the first request, and every later one costs one Hessian of the wider net.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np

from ..base.classify import Tolerances
from ..base.spec import MLPSpec
from ..landscape import symmetric_eigen
from ..landscape.hessian import loss_grad_hessian
from ..symmetry.operations import duplicate_neuron
from .inertia import Inertia, Theorem3, measured_inertia, theorem3


@dataclasses.dataclass(frozen=True)
class NeuronLine:
    """The line θ(μ): ``theta`` of ``spec`` with neuron ``neuron`` of hidden layer ``layer`` duplicated."""

    spec: MLPSpec
    theta: np.ndarray
    layer: int
    neuron: int

    def point(self, mu: float) -> tuple[MLPSpec, np.ndarray]:
        """``(spec', θ(μ))``: the wider net and its point at share ``mu``."""
        return duplicate_neuron(self.spec, self.theta, self.layer, self.neuron, mu)


@dataclasses.dataclass
class SpectrumAtMu:
    """The exact Hessian spectrum at θ(μ): loss, ‖∇L‖, ascending ``eigvals (P',)``, the zero tolerance,
    measured and predicted (Theorem 3) inertia, and the seconds it took."""

    mu: float
    loss: float
    grad_norm: float
    eigvals: np.ndarray
    zero_tol: float
    measured: Inertia
    predicted: Inertia
    seconds: float


class LineSpectra:
    """Spectra along one :class:`NeuronLine` on data ``x, y``; Theorem 3's data computed once, on first use.

    Safe to call from one thread at a time or several: the first call computes the theorem's data
    under a lock.
    """

    def __init__(self, line: NeuronLine, x, y, tolerances: Tolerances) -> None:
        self.line, self.x, self.y, self.tolerances = line, x, y, tolerances
        self._theorem: Theorem3 | None = None
        self._lock = threading.Lock()

    @property
    def theorem(self) -> Theorem3:
        """Theorem 3's data of the narrow point (computed on first use)."""
        with self._lock:
            if self._theorem is None:
                line = self.line
                self._theorem = theorem3(line.spec, line.theta, self.x, self.y, line.layer, line.neuron,
                                         self.tolerances)
            return self._theorem

    def at(self, mu: float) -> SpectrumAtMu:
        """The spectrum at θ(``mu``), measured against Theorem 3's prediction."""
        start = time.perf_counter()
        theorem = self.theorem
        wspec, wtheta = self.line.point(mu)
        value, grad, hess = loss_grad_hessian(wspec, wtheta, self.x, self.y)
        eig = symmetric_eigen.eigvalsh(hess)
        tol = self.tolerances.zero_eig_tol(eig)
        return SpectrumAtMu(float(mu), float(value), float(np.linalg.norm(grad)), eig, tol,
                            measured_inertia(eig, tol), theorem.inertia(mu), time.perf_counter() - start)


__all__ = ["LineSpectra", "NeuronLine", "SpectrumAtMu"]
