"""The MNIST loader on hand-made IDX files, its download with checksums (served locally), the PCA-10
odd/even pipeline, and the offline digits-pca10 set that runs the same pipeline."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import urllib.error

import numpy as np
import pytest

from lsexplorer.cli.commands import main
from lsexplorer.core.data import mnist
from lsexplorer.core.data.datasets import digits_pca10_dataset, mnist_pca10_dataset
from lsexplorer.core.experiment.experiment import ConfigError, build_config, make_dataset


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file of unsigned bytes: magic ``0x000008<ndim>`` (or ``magic``), sizes, data."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", magic if magic is not None else 0x0800 + array.ndim)
    return header + b"".join(struct.pack(">I", s) for s in array.shape) + array.tobytes()


def fake_mnist(rng: np.random.Generator, n: int, rows: int = 6, cols: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``n`` small random images whose pixels depend on the digit, so PCA has structure to find."""
    digits = rng.integers(0, 10, size=n).astype(np.uint8)
    base = rng.integers(0, 256, size=(10, rows, cols))
    noise = rng.integers(-40, 41, size=(n, rows, cols))
    return np.clip(base[digits] + noise, 0, 255).astype(np.uint8), digits


def write_split(directory, split, images, digits, gz=True):
    prefix = "train" if split == "train" else "t10k"
    for kind, data in (("images-idx3", images), ("labels-idx1", digits)):
        raw = idx_bytes(data)
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)


@pytest.fixture()
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    images, digits = fake_mnist(rng, 300)
    write_split(tmp_path, "train", images, digits, gz=True)
    test_images, test_digits = fake_mnist(rng, 40)
    write_split(tmp_path, "test", test_images, test_digits, gz=False)
    return tmp_path, images, digits, test_images, test_digits


def test_reads_gzipped_and_plain_files(mnist_dir):
    directory, images, digits, test_images, test_digits = mnist_dir
    got_images, got_digits, info = mnist.read_mnist(directory, "train")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_digits, digits)
    assert got_images.dtype == np.uint8 and info["images"].endswith(".gz")
    assert info["images_sha256"] == hashlib.sha256((directory / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    got_images, got_digits, info = mnist.read_mnist(directory, "test")
    np.testing.assert_array_equal(got_images, test_images)
    np.testing.assert_array_equal(got_digits, test_digits)
    assert not info["labels"].endswith(".gz")


def test_other_idx_types_are_read_big_endian(tmp_path):
    values = np.array([[1.5, -2.25], [3e10, 0.0]])
    path = tmp_path / "f.idx"
    path.write_bytes(struct.pack(">I", 0x0E02) + struct.pack(">II", 2, 2) + values.astype(">f8").tobytes())
    magic, array = mnist.read_idx(path)
    assert magic == 0x0E02 and array.dtype == np.float64
    np.testing.assert_array_equal(array, values)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-7], "truncated: .* needs"),
    (lambda raw: raw[:10], "truncated inside its header"),
    (lambda raw: raw + b"\0\0\0", "3 bytes beyond"),
    (lambda raw: b"\x12\x34" + raw[2:], "not an IDX file: magic number 0x1234"),
])
def test_damaged_plain_files_give_clear_errors(mnist_dir, damage, message):
    directory = mnist_dir[0]
    path = directory / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(mnist.MnistError, match=message):
        mnist.read_mnist(directory, "test")


def test_truncated_and_corrupt_gzip_give_clear_errors(mnist_dir):
    directory = mnist_dir[0]
    path = directory / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(mnist.MnistError, match="truncated gzip"):
        mnist.read_mnist(directory, "train")
    path.write_bytes(raw[:10] + bytes(255 - b for b in raw[10:]))
    with pytest.raises(mnist.MnistError, match="corrupt gzip"):
        mnist.read_mnist(directory, "train")
    # A gzip stream whose content is a truncated IDX file: the IDX check still catches it.
    path.write_bytes(gzip.compress(gzip.decompress(raw)[:-100]))
    with pytest.raises(mnist.MnistError, match="truncated: "):
        mnist.read_mnist(directory, "train")


def test_wrong_magic_mismatched_counts_and_labels(mnist_dir):
    directory, images, digits, _, _ = mnist_dir
    labels = directory / "train-labels-idx1-ubyte.gz"
    images_file = directory / "train-images-idx3-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(digits[:-1])))
    with pytest.raises(mnist.MnistError, match="holds 300 images but .* 299 labels"):
        mnist.read_mnist(directory, "train")
    labels.write_bytes(gzip.compress(idx_bytes(np.where(digits == 3, 12, digits))))
    with pytest.raises(mnist.MnistError, match="label 12"):
        mnist.read_mnist(directory, "train")
    labels.write_bytes(gzip.compress(idx_bytes(digits)))
    images_file.write_bytes(gzip.compress(idx_bytes(digits)))   # a label file where the images belong
    with pytest.raises(mnist.MnistError, match="not an MNIST image file: magic 0x00000801"):
        mnist.read_mnist(directory, "train")


def test_missing_files_and_directories(tmp_path, monkeypatch):
    with pytest.raises(mnist.MnistError, match="no MNIST train images file"):
        mnist.read_mnist(tmp_path, "train")
    with pytest.raises(mnist.MnistError, match="does not exist"):
        mnist.load_mnist(tmp_path / "nowhere")
    monkeypatch.setenv(mnist.MNIST_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(mnist.MnistError, match=r"from \$LSEXPLORER_MNIST\) does not exist"):
        mnist.load_mnist()


def test_directory_from_environment_and_repackaged_names(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    images, digits = fake_mnist(rng, 30)
    (tmp_path / "train-images.idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels.idx1-ubyte").write_bytes(idx_bytes(digits))
    monkeypatch.setenv(mnist.MNIST_ENV, str(tmp_path))
    got, got_digits, info = mnist.load_mnist()
    np.testing.assert_array_equal(got, images)
    assert info["directory"] == str(tmp_path)


class _Served:
    """urlopen stand-in serving files by name, recording the URLs asked for."""

    def __init__(self, files: dict[str, bytes], broken_mirror: str | None = None):
        self.files, self.broken, self.asked = files, broken_mirror, []

    def __call__(self, url, timeout=None):
        self.asked.append(url)
        if self.broken and url.startswith(self.broken):
            raise urllib.error.URLError("connection refused")
        return io.BytesIO(self.files[url.rsplit("/", 1)[1]])


def test_download_checks_sha256_and_falls_back_to_the_next_mirror(tmp_path, monkeypatch, mnist_dir):
    source = mnist_dir[0]
    files = {name: (source / name).read_bytes() if (source / name).exists() else
             gzip.compress((source / name.removesuffix(".gz")).read_bytes()) for name in mnist.MNIST_SHA256}
    served = _Served(files, broken_mirror=mnist.MNIST_MIRRORS[0])
    monkeypatch.setattr(mnist.urllib.request, "urlopen", served)
    cache = tmp_path / "cache"
    monkeypatch.setenv("LSEXPLORER_CACHE", str(cache))
    assert mnist.mnist_cache_dir() == cache / "mnist"
    # The real published checksums do not match the fake files: refused, nothing left behind.
    with pytest.raises(mnist.MnistError, match="SHA-256 .* differs from the published"):
        mnist.download_mnist()
    assert not any((cache / "mnist").iterdir())
    monkeypatch.setattr(mnist, "MNIST_SHA256", {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    images, digits, info = mnist.load_mnist()   # nothing named, nothing cached: downloads into the cache
    assert info["directory"] == str(cache / "mnist")
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(mnist.MNIST_SHA256)
    np.testing.assert_array_equal(images, mnist_dir[1])
    assert any(url.startswith(mnist.MNIST_MIRRORS[1]) for url in served.asked)
    served.asked.clear()
    mnist.download_mnist()   # verified files are not fetched again
    assert served.asked == []


def test_offline_download_is_one_clear_error(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")
    monkeypatch.setattr(mnist.urllib.request, "urlopen", offline)
    monkeypatch.setenv("LSEXPLORER_CACHE", str(tmp_path))
    monkeypatch.delenv(mnist.MNIST_ENV, raising=False)
    with pytest.raises(mnist.MnistError, match="could not download .* Offline\\? .*--mnist-dir"):
        mnist.load_mnist()


def test_published_checksums_and_urls():
    assert set(mnist.MNIST_SHA256) == set(mnist.MNIST_FILES.values())
    assert mnist.MNIST_SHA256["train-images-idx3-ubyte.gz"].startswith("440fcabf73cc546f")
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in mnist.MNIST_SHA256.values())
    assert all(m.endswith("/mnist/") for m in mnist.MNIST_MIRRORS)


# --- PCA ----------------------------------------------------------------------------------------

def test_pca_is_orthonormal_ordered_and_fitted_on_training_images_only(mnist_dir):
    directory, images, digits, test_images, _ = mnist_dir
    pca = mnist.fit_pca(images, 255.0, 10, chunk=64)   # chunked accumulation of the covariance
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(10), atol=1e-12)
    x = images.reshape(len(images), -1) / 255.0
    np.testing.assert_allclose(pca.mean, x.mean(axis=0), atol=1e-15)
    cov = np.cov(x, rowvar=False)
    total = np.trace(cov)
    for c, var in zip(pca.components, pca.explained_variance):
        assert c @ cov @ c == pytest.approx(var, rel=1e-10)
    assert np.all(np.diff(pca.explained_variance) <= 0)
    np.testing.assert_allclose(pca.explained_variance_ratio, pca.explained_variance / total, rtol=1e-12)
    assert np.linalg.eigvalsh(cov)[::-1][:10] == pytest.approx(pca.explained_variance, rel=1e-10)
    features = pca.transform(images)
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-12)
    # The test images are projected, never fitted: the training mean stays the reference.
    test_features = pca.transform(test_images)
    np.testing.assert_allclose(test_features, (test_images.reshape(40, -1) / 255.0 - pca.mean) @ pca.components.T,
                               atol=1e-12)


def test_mnist_pca10_dataset_from_files(mnist_dir):
    directory, images, digits, _, _ = mnist_dir
    ds = mnist_pca10_dataset(directory)
    assert ds.name == "mnist-pca10" and ds.x.shape == (300, 10) and ds.teacher_spec is None
    np.testing.assert_array_equal(ds.y[:, 0], np.where(digits % 2 == 1, 1.0, -1.0))
    np.testing.assert_allclose(ds.x, mnist.fit_pca(images, 255.0).transform(images), atol=1e-12)
    assert 0 < ds.params["explained_variance_total"] <= 1
    small = mnist_pca10_dataset(directory, n_samples=50)
    assert small.x.shape == (50, 10)
    config = build_config("mnist-pca10", overrides={"data": {"mnist_dir": str(directory), "n_samples": 50}})
    assert config["teacher"] is None and config["data"]["n_samples"] == 50
    np.testing.assert_array_equal(make_dataset(config).x, small.x)
    with pytest.raises(ConfigError, match="n_samples"):
        build_config("mnist-pca10", overrides={"data": {"n_samples": 0}})


def test_digits_pca10_is_the_bundled_8x8_digits():
    from sklearn.datasets import load_digits

    ds = digits_pca10_dataset()
    digits = load_digits()
    assert ds.name == "digits-pca10" and ds.x.shape == (1797, 10) and ds.y.shape == (1797, 1)
    np.testing.assert_array_equal(ds.y[:, 0], np.where(digits.target % 2 == 1, 1.0, -1.0))
    assert set(np.unique(ds.y)) == {-1.0, 1.0}
    np.testing.assert_allclose(ds.x.mean(axis=0), 0.0, atol=1e-12)
    # Uncorrelated coordinates with the top-10 variances of the pixels scaled to [0, 1].
    cov = np.cov(ds.x, rowvar=False)
    top = np.linalg.eigvalsh(np.cov(digits.data / 16.0, rowvar=False))[::-1][:10]
    np.testing.assert_allclose(np.diag(cov), top, rtol=1e-10)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-12)
    assert ds.params["explained_variance_total"] == pytest.approx(0.738, abs=1e-3)


def test_cli_mnist_dir_errors_are_one_line(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["train", "--preset", "mnist-pca10", "--mnist-dir", str(tmp_path / "none"), "-q", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not exist" in err and "\n" not in err
    assert main(["train", "--preset", "toy", "--mnist-dir", str(tmp_path), "-q", "-o", str(out)]) == 2
    assert "--mnist-dir goes with --preset mnist-pca10" in capsys.readouterr().err
