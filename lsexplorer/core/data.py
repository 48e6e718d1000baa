"""Data sets a student is trained on: the thesis' toy grid with its fixed teacher, and a seeded
Gaussian-input teacher-student set for any teacher.

Every data set is float64 numpy; training casts to its own dtype.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .nets import MLPSpec, forward

#: Incoming weights of the thesis' teacher (section 6.2), one row per hidden neuron.
TOY_TEACHER_W = np.array([[0.6, 0.5], [-0.5, 0.5], [-0.2, -0.6], [0.1, -0.6]])
#: Outgoing weights of the thesis' teacher, alternating +1 / -1.
TOY_TEACHER_A = np.array([1.0, -1.0, 1.0, -1.0])


@dataclasses.dataclass
class Dataset:
    """Inputs ``x: (N, d)`` and targets ``y: (N, d_out)``, with the teacher that made them, if any."""

    name: str
    x: np.ndarray
    y: np.ndarray
    teacher_spec: MLPSpec | None = None
    teacher_theta: np.ndarray | None = None
    params: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
        if self.y.ndim == 1:
            self.y = self.y[:, None]
        if self.x.ndim != 2 or self.y.ndim != 2 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"data set {self.name!r}: x {self.x.shape} and y {self.y.shape} do not pair up")
        if not (np.isfinite(self.x).all() and np.isfinite(self.y).all()):
            raise ValueError(f"data set {self.name!r} contains NaN or infinite values")

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def d_in(self) -> int:
        return self.x.shape[1]

    @property
    def d_out(self) -> int:
        return self.y.shape[1]


def teacher_outputs(spec: MLPSpec, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``f(x; theta)`` in float64: ``(N, d_out)``."""
    with torch.no_grad():
        out = forward(spec, torch.from_numpy(np.asarray(theta, dtype=np.float64)),
                      torch.from_numpy(np.asarray(x, dtype=np.float64)))
    return out.numpy()


def toy_grid() -> np.ndarray:
    """The 41 x 41 grid ``{-5, -4.75, ..., 5}^2``: ``(1681, 2)``, first coordinate varying slowest."""
    axis = np.arange(-20, 21) / 4.0
    g1, g2 = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([g1.ravel(), g2.ravel()], axis=1)


def toy_teacher() -> tuple[MLPSpec, np.ndarray]:
    """The thesis' 2-4-1 sigmoid teacher without biases, in the flat layout ``(w_1..w_4, a_1..a_4)``."""
    spec = MLPSpec((2, 4, 1), "sigmoid", bias=False)
    return spec, np.concatenate([TOY_TEACHER_W.ravel(), TOY_TEACHER_A])


def toy_dataset() -> Dataset:
    """Thesis section 6.2: 1681 grid points labelled by the 4-neuron sigmoid teacher."""
    spec, theta = toy_teacher()
    x = toy_grid()
    return Dataset("toy", x, teacher_outputs(spec, theta, x), spec, theta, {"kind": "toy"})


def gaussian_teacher_dataset(n_samples: int, teacher_spec: MLPSpec, seed: int = 0,
                             teacher_theta: np.ndarray | None = None, input_std: float = 1.0,
                             teacher_std: float = 1.0) -> Dataset:
    """Inputs ``x ~ N(0, input_std^2 I)`` labelled by a teacher network.

    Without ``teacher_theta`` the teacher's weights are drawn ``N(0, teacher_std^2)`` from the same
    seed (biases too), so ``seed`` alone reproduces the whole data set.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    rng = np.random.default_rng(int(seed))
    x = rng.normal(0.0, input_std, size=(n_samples, teacher_spec.d_in))
    if teacher_theta is None:
        teacher_theta = rng.normal(0.0, teacher_std, size=teacher_spec.n_params)
    teacher_theta = np.asarray(teacher_theta, dtype=np.float64)
    if teacher_theta.shape != (teacher_spec.n_params,):
        raise ValueError(f"teacher_theta has shape {teacher_theta.shape}, the teacher needs ({teacher_spec.n_params},)")
    params = {"kind": "gaussian", "n_samples": n_samples, "seed": int(seed), "input_std": input_std,
              "teacher_std": teacher_std, "teacher": teacher_spec.to_dict()}
    return Dataset("gaussian", x, teacher_outputs(teacher_spec, teacher_theta, x), teacher_spec, teacher_theta, params)


__all__ = ["Dataset", "toy_dataset", "toy_grid", "toy_teacher", "gaussian_teacher_dataset", "teacher_outputs",
           "TOY_TEACHER_W", "TOY_TEACHER_A"]
