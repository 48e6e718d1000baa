"""MNIST from its standard IDX files, and the PCA-10 odd/even features of thesis section 6.3.

**Files.** The four standard files (``train-images-idx3-ubyte`` 60000 x 28 x 28 pixels,
``train-labels-idx1-ubyte``, and the ``t10k-*`` test pair), gzipped or not, are read from a directory
given explicitly (``--mnist-dir``), else from ``$LSEXPLORER_MNIST``, else from the user cache
(:func:`mnist_cache_dir`, ``~/.cache/lsexplorer/mnist``), where :func:`download_mnist` puts them when
the machine is online, checking each file's published SHA-256. Files are checked as they are read:
magic number, element type, dimensions, length (truncated or overlong files), labels in 0..9 and
as many labels as images; every problem is a :class:`MnistError` naming the file and what is wrong.

**Features** (:func:`fit_pca`). Pixels are divided by their full scale (255 for MNIST, 16 for
scikit-learn's 8x8 digits), so inputs lie in [0, 1]; the mean image of the *training* set is
subtracted; the top ``k`` principal axes of the training images (eigenvectors of their covariance)
give the coordinates. No whitening: each coordinate keeps its variance (standard deviations 0.84
down to 0.38 for the 8x8 digits; MNIST's 784 pixels give larger ones, about 2.3 for the first), so
the features are the orthogonal projection of pixel space, distances in them are pixel distances
within the subspace, and their O(1) scale suits sigmoid units at Xavier initialisation. Whitening
would instead blow the weak components up to the scale of the strong ones. Each axis' sign is fixed
(largest entry positive) so features are reproducible across LAPACK builds.

**Labels.** +1 for an odd digit, -1 for an even one (:func:`odd_even_targets`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ..base.errors import InputError
from ..base.user_files import UnreadableFile, format_bytes, read_regular
from ..landscape import symmetric_eigen

#: The standard files, by role, as published (gzipped).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
#: SHA-256 of the published gzipped files (the same on every mirror below).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
#: Where the files are published, tried in order: PyTorch's and TensorFlow's mirrors, then the
#: original site (which has refused anonymous downloads at times).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: Environment variable naming a directory that holds the files.
MNIST_ENV = "LSEXPLORER_MNIST"

#: IDX element types: code -> (numpy dtype, big-endian, as stored).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801


class MnistError(InputError, ValueError):
    """MNIST files that are missing, unreadable, corrupt or inconsistent; the message says which and why."""


# --------------------------------------------------------------------------- reading IDX files

#: The largest MNIST file, train-images, holds 47,040,016 bytes; nothing larger, gzipped or not, is one.
MAX_IDX_BYTES = 64 << 20


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic (whatever its name); a file
    that is not regular or holds, or expands to, more than :data:`MAX_IDX_BYTES` is refused."""
    try:
        raw = read_regular(path, MAX_IDX_BYTES, "an MNIST file")
    except UnreadableFile as exc:
        raise MnistError(f"cannot read {path}: {exc}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    gunzip = zlib.decompressobj(wbits=31)
    try:
        data = gunzip.decompress(raw, MAX_IDX_BYTES + 1)
    except zlib.error as exc:
        raise MnistError(f"{path} is a corrupt gzip file ({exc})") from None
    if len(data) > MAX_IDX_BYTES:
        raise MnistError(f"{path} expands to more than the {format_bytes(MAX_IDX_BYTES)} an MNIST file may have")
    if not gunzip.eof:
        raise MnistError(f"{path} is a truncated gzip file (it ends before its end-of-stream marker)")
    return data


def read_idx(path: str | os.PathLike) -> tuple[int, np.ndarray]:
    """``(magic, array)`` of one IDX file, gzipped or not; the array has the file's dims and native dtype.

    The header is ``0x00 0x00 <type> <ndim>`` followed by ``ndim`` big-endian uint32 sizes.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise MnistError(f"{path} is truncated: {len(data)} bytes, not even an IDX header")
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or code not in _IDX_TYPES or ndim == 0:
        raise MnistError(f"{path} is not an IDX file: magic number 0x{magic:08x} (expected 0x000008NN "
                         f"for unsigned bytes, e.g. 0x{_IMAGES_MAGIC:08x} images, 0x{_LABELS_MAGIC:08x} labels)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistError(f"{path} is truncated inside its header ({len(data)} of {header} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise MnistError(f"{path} is truncated: {len(data)} bytes, but its header {list(dims)} needs {expected}")
    if len(data) > expected:
        raise MnistError(f"{path} is corrupt: {len(data) - expected} bytes beyond the {list(dims)} its header declares")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return magic, array.astype(dtype.newbyteorder("="))


def _candidates(name: str) -> list[str]:
    """File names a copy of ``name`` may carry: gzipped or not, ``-idx`` or ``.idx`` (a common repackaging)."""
    plain = name.removesuffix(".gz")
    dotted = plain.replace("-idx", ".idx")
    return [name, plain, dotted + ".gz", dotted]


def find_mnist_file(directory: str | os.PathLike, role: str) -> Path | None:
    """The file for ``role`` (a key of :data:`MNIST_FILES`) in ``directory``, or None."""
    for candidate in _candidates(MNIST_FILES[role]):
        path = Path(directory) / candidate
        if path.is_file():
            return path
    return None


def read_mnist(directory: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray, dict]:
    """Images ``(n, rows, cols)`` uint8, digits ``(n,)`` uint8 and ``{"images": path, "labels": path,
    "images_sha256": ..., "labels_sha256": ...}`` of the ``"train"`` or ``"test"`` split in ``directory``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    paths = {}
    for kind in ("images", "labels"):
        path = find_mnist_file(directory, f"{split}_{kind}")
        if path is None:
            raise MnistError(f"{directory} has no MNIST {split} {kind} file ({MNIST_FILES[f'{split}_{kind}']}, "
                             f"gzipped or not)")
        paths[kind] = path
    magic, images = read_idx(paths["images"])
    if magic != _IMAGES_MAGIC:
        raise MnistError(f"{paths['images']} is not an MNIST image file: magic 0x{magic:08x}, expected "
                         f"0x{_IMAGES_MAGIC:08x} (unsigned bytes, 3 dimensions)")
    magic, labels = read_idx(paths["labels"])
    if magic != _LABELS_MAGIC:
        raise MnistError(f"{paths['labels']} is not an MNIST label file: magic 0x{magic:08x}, expected "
                         f"0x{_LABELS_MAGIC:08x} (unsigned bytes, 1 dimension)")
    if len(labels) != len(images):
        raise MnistError(f"{paths['images']} holds {len(images)} images but {paths['labels']} "
                         f"{len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise MnistError(f"{paths['labels']} holds label {int(labels.max())}; digits are 0..9")
    info = {"images": str(paths["images"]), "labels": str(paths["labels"]),
            "images_sha256": _sha256(paths["images"]), "labels_sha256": _sha256(paths["labels"])}
    return images, labels, info


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- where the files are

def mnist_cache_dir() -> Path:
    """The download cache: ``$LSEXPLORER_CACHE`` or ``$XDG_CACHE_HOME/lsexplorer`` (default
    ``~/.cache/lsexplorer``), then ``/mnist``; the root is the one the kernel cache uses."""
    root = os.environ.get("LSEXPLORER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "lsexplorer")
    return Path(root) / "mnist"


def download_mnist(dest: str | os.PathLike | None = None, mirrors: tuple[str, ...] = MNIST_MIRRORS,
                   timeout: float = 60.0) -> Path:
    """Fetch the four gzipped files into ``dest`` (default :func:`mnist_cache_dir`); returns ``dest``.

    Files already there with the right SHA-256 are kept. Each download is streamed to a temporary
    file, checked against :data:`MNIST_SHA256` and only then renamed into place, so ``dest`` never
    holds a partial or wrong file. Mirrors are tried in order; if none delivers a file, MnistError
    says why for each.
    """
    dest = Path(dest) if dest is not None else mnist_cache_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MnistError(f"cannot create the MNIST directory {dest}: {exc.strerror}") from None
    for name, digest in MNIST_SHA256.items():
        target = dest / name
        if target.is_file() and _sha256(target) == digest:
            continue
        failures = []
        for mirror in mirrors:
            reason = _fetch(mirror + name, target, digest, timeout)
            if reason is None:
                break
            failures.append(f"{mirror}: {reason}")
        else:
            raise MnistError(f"could not download {name} ({'; '.join(failures)}). Offline? Fetch the four files "
                             f"{', '.join(MNIST_SHA256)} yourself and pass --mnist-dir DIR or set {MNIST_ENV}")
    return dest


def _fetch(url: str, target: Path, digest: str, timeout: float) -> str | None:
    """Download ``url`` to ``target`` if its SHA-256 is ``digest``; None on success, else why not."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        sha = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 16):
                sha.update(block)
                out.write(block)
        if sha.hexdigest() != digest:
            return f"SHA-256 {sha.hexdigest()} differs from the published {digest}"
        os.replace(tmp, target)
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_mnist(mnist_dir: str | os.PathLike | None = None, split: str = "train", download: bool = True
               ) -> tuple[np.ndarray, np.ndarray, dict]:
    """:func:`read_mnist` from ``mnist_dir``, else ``$LSEXPLORER_MNIST``, else the cache.

    Only the cache is ever downloaded into (when ``download`` and the files are missing there); a
    directory the user named must already hold the files. The info dict gains ``"directory"``.
    """
    named = mnist_dir if mnist_dir is not None else os.environ.get(MNIST_ENV) or None
    directory = Path(named).expanduser() if named is not None else mnist_cache_dir()
    if named is not None and not directory.is_dir():
        source = "--mnist-dir" if mnist_dir is not None else f"${MNIST_ENV}"
        raise MnistError(f"MNIST directory {directory} (from {source}) does not exist")
    missing = [role for role in (f"{split}_images", f"{split}_labels") if find_mnist_file(directory, role) is None]
    if missing and named is None:
        if not download:
            raise MnistError(f"MNIST is not in {directory}; pass --mnist-dir DIR or set {MNIST_ENV}")
        download_mnist(directory)
    images, labels, info = read_mnist(directory, split)
    info["directory"] = str(directory)
    return images, labels, info


# --------------------------------------------------------------------------- PCA features and labels

@dataclasses.dataclass
class PCA:
    """Principal axes of training pixels: ``x -> (x / scale - mean) @ components.T``.

    ``mean (D,)`` of the scaled training pixels, ``components (k, D)`` orthonormal rows, strongest
    first; ``explained_variance (k,)`` their variances (covariance with ``n - 1``) and
    ``explained_variance_ratio (k,)`` the fractions of the total pixel variance.
    """

    scale: float
    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, pixels: np.ndarray, chunk: int = 10_000) -> np.ndarray:
        """Coordinates ``(n, k)`` float64 of ``pixels (n, D)`` (or ``(n, rows, cols)``), in chunks of rows."""
        pixels = pixels.reshape(len(pixels), -1)
        out = np.empty((len(pixels), len(self.components)))
        for i in range(0, len(pixels), chunk):
            out[i:i + chunk] = (pixels[i:i + chunk] / self.scale - self.mean) @ self.components.T
        return out


def fit_pca(pixels: np.ndarray, scale: float, k: int = 10, chunk: int = 10_000) -> PCA:
    """The top ``k`` principal axes of ``pixels (n, D)`` (or ``(n, rows, cols)``) divided by ``scale``.

    The covariance is accumulated in float64 over chunks of rows, so 60000 MNIST images never need
    a float copy of their own; its eigenvectors are the axes (module docstring for the conventions).
    """
    pixels = pixels.reshape(len(pixels), -1)
    n, dim = pixels.shape
    if n < 2 or not 1 <= k <= dim:
        raise ValueError(f"PCA to {k} components needs at least 2 samples and k <= {dim}, got {pixels.shape}")
    mean = pixels.sum(axis=0, dtype=np.float64) / (n * scale)
    cov = np.zeros((dim, dim))
    for i in range(0, n, chunk):
        centred = pixels[i:i + chunk] / scale - mean
        cov += centred.T @ centred
    cov /= n - 1
    values, vectors = symmetric_eigen.eigh(cov)
    order = np.argsort(values)[::-1][:k]
    components = vectors[:, order].T.copy()
    components *= np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])[:, None]
    explained = np.clip(values[order], 0.0, None)
    return PCA(float(scale), mean, components, explained, explained / max(float(np.trace(cov)), 1e-300))


def odd_even_targets(digits: np.ndarray) -> np.ndarray:
    """``(n, 1)`` float64: +1 for odd digits, -1 for even ones."""
    return np.where(np.asarray(digits) % 2 == 1, 1.0, -1.0)[:, None]


__all__ = ["MNIST_FILES", "MNIST_SHA256", "MNIST_MIRRORS", "MNIST_ENV", "MnistError", "read_idx", "find_mnist_file",
           "read_mnist", "mnist_cache_dir", "download_mnist", "load_mnist", "PCA", "fit_pca", "odd_even_targets"]
