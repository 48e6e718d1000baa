"""What a session hands out: one run's critical point, and a minimum-energy path between two runs.

Plain frozen dataclasses of numpy arrays and numbers, built from the core's records, so that a
notebook holds on to values that do not change when the core's internals do.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads with the first session, not with ``import lsexplorer``
    import numpy as np

    from ..core.paths.minimum_energy import PathResult


@dataclasses.dataclass(frozen=True, eq=False)
class Point:
    """One run of a session: where it started, where training ended and the critical point refinement found.

    Attributes
    ----------
    run, seed : int
        The run's row in the session and its seed.
    kind : str
        ``global_min``, ``local_min``, ``strict_saddle``, ``nonstrict_saddle``, ``channel``,
        ``channel_saddle`` or ``not_converged``.
    loss, grad_norm, lambda_min : float
        At the refined point (NaN where it is not finite).
    index : int or None
        Negative Hessian eigenvalues (of the limit model for ``channel`` kinds); None when not known.
    degeneracy : int or None
        Hessian eigenvalues counted as zero; None where the spectrum is not finite.
    symmetry_induced : bool or None
        The closest-saddle decision; None when that analysis has not run for this run.
    symmetry_type : str or None
        How the point reduces to a narrower network (``duplicate``, ``flipped_duplicate``,
        ``zero_outgoing``, ``zero_incoming`` joined by ``+``, or ``irreducible``); None when it is
        not a finite critical point.
    loss_limit : float or None
        The loss L∞ a channel approaches; None for other kinds.
    theta : ndarray, shape (P,)
        The refined point in the flat layout: per layer ``W_l`` (``n_l × n_{l-1}``, row-major), then
        ``b_l`` when the network has biases.
    eigenvalues : ndarray, shape (P,)
        The Hessian spectrum at ``theta``, ascending.
    theta_init, theta_trained : ndarray, shape (P,)
        The initial point and the end of training.
    network : dict
        ``widths``, ``activation`` and ``bias`` of the network.
    stop_reason : str
        Why refinement stopped, stage by stage.
    """

    run: int
    seed: int
    kind: str
    loss: float
    grad_norm: float
    lambda_min: float
    index: int | None
    degeneracy: int | None
    symmetry_induced: bool | None
    symmetry_type: str | None
    loss_limit: float | None
    theta: np.ndarray
    eigenvalues: np.ndarray
    theta_init: np.ndarray
    theta_trained: np.ndarray
    network: dict
    stop_reason: str

    @property
    def layers(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """``[(W_l, b_l), ...]`` of ``theta``: ``W_l`` of shape ``(n_l, n_{l-1})``, ``b_l`` of shape
        ``(n_l,)`` or None without biases (copies)."""
        import numpy as np

        from ..core.base.spec import MLPSpec

        spec = MLPSpec.from_dict(self.network)
        out = []
        for layer in spec.layers:
            if layer.w_stop > layer.w_start:
                w = self.theta[layer.w_start:layer.w_stop].reshape(layer.n_out, layer.n_in).copy()
            else:  # a fixed output layer: its weights are ones and not parameters
                w = np.ones((layer.n_out, layer.n_in))
            b = None if layer.b_start is None else self.theta[layer.b_start:layer.b_stop].copy()
            out.append((w, b))
        return out

    def __repr__(self) -> str:
        return (f"Point(run={self.run}, seed={self.seed}, kind={self.kind!r}, loss={self.loss:.4g}, "
                f"grad_norm={self.grad_norm:.2g}, lambda_min={self.lambda_min:.3g}, index={self.index})")


@dataclasses.dataclass(frozen=True, eq=False)
class MinimumEnergyPath:
    """A minimum-energy path (NEB or AutoNEB) between two runs, and what its highest point is.

    Attributes
    ----------
    run_from, run_to : int
        The runs it joins; ``to_global`` says ``run_to`` was picked as the nearest global minimum.
    arc : ndarray, shape (K,)
        Cumulative length along the path at each image.
    loss : ndarray, shape (K,)
        The loss at each image.
    images : ndarray, shape (K, P)
        The images, the target aligned to the source (permutations and sign flips).
    straight_t, straight_loss : ndarray, shape (M,)
        The loss along the straight line between the two (aligned) points, at ``t`` in [0, 1].
    barrier, straight_barrier : float
        Highest loss above the source's along the path and along the straight line.
    highest_point : str
        What the path's highest point is, in words (a certified index-1 saddle, a saddle at
        infinity, ...).
    summary : dict
        Everything ``lsexplorer path --json`` prints: method, steps, alignment distances, the
        refined saddle's loss, gradient norm and inertia, the outcome.
    """

    run_from: int
    run_to: int
    to_global: bool
    arc: np.ndarray
    loss: np.ndarray
    images: np.ndarray
    straight_t: np.ndarray
    straight_loss: np.ndarray
    barrier: float
    straight_barrier: float
    highest_point: str
    summary: dict[str, Any]

    @classmethod
    def from_result(cls, result: PathResult) -> MinimumEnergyPath:
        """The path of a core :class:`~lsexplorer.core.paths.minimum_energy.PathResult`."""
        import numpy as np

        from ..core.analyses.paths import highest_point_label
        from ..core.paths.minimum_energy import path_summary

        return cls(run_from=int(result.run_from), run_to=int(result.run_to), to_global=bool(result.to_global),
                   arc=np.asarray(result.arc), loss=np.asarray(result.values), images=np.asarray(result.images),
                   straight_t=np.asarray(result.straight_t), straight_loss=np.asarray(result.straight_values),
                   barrier=float(result.barrier), straight_barrier=float(result.straight_barrier),
                   highest_point=highest_point_label(result), summary=path_summary(result))

    def __repr__(self) -> str:
        return (f"MinimumEnergyPath({self.run_from} -> {self.run_to}, {len(self.loss)} images, "
                f"barrier={self.barrier:.4g}, highest point: {self.highest_point})")
