"""Files from anyone, read by real processes: sessions whose compressed datasets expand to gigabytes,
hard links inside a session, config files that are not text, nest without end or never end, and point
files whose headers declare more than they hold."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from reliability_support import ENV, one_line_error, small_session

from lsexplorer.core.store.session import SessionError, load_session, save_session


def _high_water_mb(pid: int) -> float | None:
    """The process's own peak resident memory (``VmHWM``), None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cli_measured(*args, timeout: float = 120, **kw) -> tuple[int, str, float, float]:
    """``lsexplorer ARGS`` as its own process: ``(status, stderr, seconds, peak RSS in MB)`` of that process.

    The peak is the process's own high-water mark, read while it runs: ``ru_maxrss`` of a child also
    counts the memory of the (large, late in a test run) process it was forked from.
    """
    with open(os.devnull, "w") as out, __import__("tempfile").TemporaryFile("w+") as err:
        started = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "lsexplorer", *map(str, args)], env=ENV, stdout=out,
                             stderr=err, text=True, **kw)
        peak = 0.0
        while p.poll() is None and time.perf_counter() - started < timeout:
            peak = max(peak, _high_water_mb(p.pid) or 0.0)
            time.sleep(0.005)
        if p.poll() is None:
            p.kill()
            p.wait()
        seconds = time.perf_counter() - started
        err.seek(0)
        return p.returncode, err.read(), seconds, peak


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    session, _ = small_session()
    path = tmp_path_factory.mktemp("hostile") / "small.h5"
    save_session(session, path)
    return path


@pytest.fixture
def copy(small, tmp_path) -> Path:
    path = tmp_path / "s.h5"
    shutil.copy(small, path)
    return path


# ------------------------------------------------------------------ sessions that expand when read

def _add_gzip_bomb(path: Path, gib: float = 4.0) -> None:
    """A gzip-compressed all-zero dataset declaring ``gib`` GiB under /analyses, a few MB in the file."""
    chunk = 1 << 19  # float64 values: 4 MiB a chunk, about 4 kB compressed
    n_chunks = int(gib * 2**30 / (8 * chunk))
    zeros = zlib.compress(bytes(8 * chunk), 9)
    with h5py.File(path, "r+") as f:
        ds = f["analyses"].create_dataset("zeros", shape=(chunk * n_chunks,), dtype="f8", chunks=(chunk,),
                                          compression="gzip")
        for i in range(n_chunks):
            ds.id.write_direct_chunk((i * chunk,), zeros)


def test_a_small_session_expanding_to_gigabytes_is_refused_before_reading(copy):
    _add_gzip_bomb(copy)
    assert copy.stat().st_size < 8 * 2**20
    t = time.perf_counter()
    with pytest.raises(SessionError, match="expand to 4.0 GiB when read, more than 100 times"):
        load_session(copy)
    assert time.perf_counter() - t < 2


@pytest.mark.parametrize("verb", ["info", "export", "analyze -o"])
def test_verbs_on_an_expanding_session_stay_small(copy, tmp_path, verb):
    _add_gzip_bomb(copy)
    argv = {"info": ["info", copy, "--runs"], "export": ["export", copy, "--out", tmp_path / "figures"],
            "analyze -o": ["analyze", copy, "--symmetry", "--runs", "0", "-o", tmp_path / "out.h5", "-q"]}[verb]
    code, err, seconds, peak_mb = cli_measured(*argv)
    assert code == 2
    one_line_error(err, "expand to 4.0 GiB")
    assert peak_mb < 600 and seconds < 30, (peak_mb, seconds)  # reading it took 4.2 GB and 24 s
    assert not (tmp_path / "out.h5").exists() and not (tmp_path / "figures").exists()


def test_sessions_lsexplorer_writes_are_far_below_the_expansion_bound(copy):
    from lsexplorer.core.store.hdf5_guard import MAX_EXPANSION, check_hdf5_tree

    with h5py.File(copy, "r") as f:
        declared = check_hdf5_tree(f, copy.stat().st_size)
    assert declared < MAX_EXPANSION / 10 * copy.stat().st_size


def test_many_unallocated_datasets_cannot_add_up_to_gigabytes(copy):
    with h5py.File(copy, "r+") as f:  # each within its own allowance, 2 GiB together
        for i in range(2048):
            f["analyses"].create_dataset(f"empty{i}", shape=(1 << 17,), dtype="f8", chunks=(1 << 14,))
    with pytest.raises(SessionError, match="expand to 2.0 GiB"):
        load_session(copy)


def test_a_memory_limit_counts_the_copies_reading_makes():
    from lsexplorer.core.store.hdf5_guard import LOAD_COPIES, UnsafeFile, check_expansion

    check_expansion(100 << 20, 10 << 20, memory_limit=LOAD_COPIES * (100 << 20))
    with pytest.raises(UnsafeFile, match="in memory to read"):
        check_expansion(100 << 20, 10 << 20, memory_limit=LOAD_COPIES * (100 << 20) - 1)


# ---------------------------------------------------------------------------------- hard links

@pytest.mark.parametrize("where", ["analyses/dup", "runs/trajectory/again", "aaa_first"])
def test_a_second_hard_link_to_one_object_is_refused(copy, where):
    with h5py.File(copy, "r+") as f:
        f[where] = f["runs/theta"]  # a hard link: the same dataset under two names
    with pytest.raises(SessionError, match="reached by 2 hard links"):
        load_session(copy)


def test_a_hard_link_back_to_a_parent_group_is_refused(copy):
    with h5py.File(copy, "r+") as f:
        f["analyses/loop"] = f["/"]
    with pytest.raises(SessionError, match="hard links"):
        load_session(copy)


def test_the_root_groups_own_attributes_are_checked(copy):
    with h5py.File(copy, "r+") as f:
        f.attrs["odd"] = np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])
    with pytest.raises(SessionError, match="attribute 'odd' of / has the HDF5 type"):
        load_session(copy)


# ------------------------------------------------------------------------------------ config files

def _config(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.toml"
    if kind == "latin-1":
        path.write_bytes('[network]\nactivation = "sigmo\xefd"\n'.encode("latin-1"))
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "deep":
        path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "huge":
        path.write_text("# padding\n" * 200_000 + "[seeds]\nstart = -1\n")  # 2 MB, refused before it is parsed
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        return Path("/dev/zero")
    return path


CONFIG_NEEDLES = {"latin-1": "is not UTF-8 text (byte 0xef at offset 29)", "binary": "is not UTF-8 text",
                  "deep": "nests arrays or tables too deeply", "huge": "more than the 1.0 MiB a config file may have",
                  "fifo": "it is a FIFO (named pipe), not a regular file",
                  "folder": "it is a folder, not a regular file", "device": "it is a character device"}


@pytest.mark.parametrize("kind", [k for k in CONFIG_NEEDLES if k != "fifo"])
@pytest.mark.parametrize("verb", ["train", "import"])
def test_config_files_that_are_not_toml_text_are_one_line_errors(tmp_path, kind, verb):
    from reliability_support import run_main

    points = tmp_path / "points.npy"
    np.save(points, np.zeros((2, 15)))
    argv = ["train", "--seeds", "1", "--epochs", "1", "-q"] if verb == "train" else ["import", points, "-q"]
    code, _, err = run_main(*argv, "--config", _config(tmp_path, kind), "-o", tmp_path / "out.h5")
    assert code == 2
    one_line_error(err, CONFIG_NEEDLES[kind])
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("verb", ["train", "import"])
def test_a_fifo_as_config_is_refused_at_once_by_a_real_process(tmp_path, verb):
    from reliability_support import cli

    points = tmp_path / "points.npy"
    np.save(points, np.zeros((2, 15)))
    argv = ["train", "-q"] if verb == "train" else ["import", points, "-q"]
    r = cli(*argv, "--config", _config(tmp_path, "fifo"), "-o", tmp_path / "out.h5", timeout=60)  # it hung for ever
    assert r.returncode == 2
    one_line_error(r.stderr, CONFIG_NEEDLES["fifo"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.toml", "points.npy"]  # no lock left, no output


def test_the_config_is_read_before_the_output_is_locked(tmp_path):
    from reliability_support import cli

    from lsexplorer.core.store.session import session_writer

    out = tmp_path / "out.h5"
    with session_writer(out):  # another writer holds the output: a bad config is still named as such
        r = cli("train", "--config", _config(tmp_path, "latin-1"), "-o", out, "-q", timeout=60)
    assert r.returncode == 2
    one_line_error(r.stderr, CONFIG_NEEDLES["latin-1"])



# ---------------------------------------------------------------------------------- point files

def _npy_header(shape: tuple, descr: str = "<f8") -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _zip_of_zeros(path: Path, member: str, header: bytes, n_bytes: int) -> None:
    """A deflated archive member: ``header`` and then ``n_bytes`` zeros (about 1000 times smaller)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z, z.open(member, "w", force_zip64=True) as m:
        m.write(header)
        block = bytes(1 << 22)
        for start in range(0, n_bytes, len(block)):
            m.write(block[:min(len(block), n_bytes - start)])


def _point_file(tmp_path: Path, kind: str) -> Path:
    import zipfile

    if kind == "npy declaring 1e12 points":
        path = tmp_path / "huge.npy"
        path.write_bytes(_npy_header((10**12, 15)))
    elif kind == "npz declaring 1e12 points":
        path = tmp_path / "huge.npz"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("theta.npy", _npy_header((10**12, 15)))
    elif kind == "npz bomb":
        path = tmp_path / "bomb.npz"
        _zip_of_zeros(path, "theta.npy", _npy_header((2_000_000, 15)), 2_000_000 * 15 * 8)
    elif kind == "pt bomb":
        path = tmp_path / "bomb.pt"
        _zip_of_zeros(path, "archive/data/0", b"", 240_000_000)
    elif kind == "csv FIFO":
        path = tmp_path / "points.csv"
        os.mkfifo(path)
    elif kind == "csv of 65 MB":
        path = tmp_path / "points.csv"
        with open(path, "wb") as f:
            f.truncate(65 << 20)
    return path


POINT_NEEDLES = {
    "npy declaring 1e12 points": "declares shape (1000000000000, 15) (120,000,000,000,000 bytes) but holds 0 bytes",
    "npz declaring 1e12 points": "array 'theta' declares shape (1000000000000, 15)",
    "npz bomb": "array 'theta' expands to 228.9 MiB from",
    "pt bomb": "its tensors expand to 228.9 MiB",
    "csv FIFO": "it is a FIFO (named pipe), not a regular file",
    "csv of 65 MB": "more than the 64.0 MiB a CSV file (save more points as .npy) may have",
}


@pytest.mark.parametrize("kind", list(POINT_NEEDLES))
def test_point_files_declaring_more_than_they_hold_are_refused_before_allocating(tmp_path, kind):
    from reliability_support import cli

    t = time.perf_counter()
    r = cli("import", _point_file(tmp_path, kind), "--preset", "toy", "-o", tmp_path / "out.h5", "-q", timeout=60)
    assert r.returncode == 2
    one_line_error(r.stderr, POINT_NEEDLES[kind])
    assert time.perf_counter() - t < 30 and not (tmp_path / "out.h5").exists()


def test_an_npz_whose_header_claims_more_rows_than_its_data_is_refused(tmp_path):
    import zipfile

    from lsexplorer.core.experiment.importer import ImportFileError, read_points
    from lsexplorer.core.landscape.nets import MLPSpec

    path = tmp_path / "claimed.npz"
    with zipfile.ZipFile(path, "w") as z:  # 4 points of data under a header claiming 9
        z.writestr("theta.npy", _npy_header((9, 15)) + np.zeros((4, 15)).tobytes())
    with pytest.raises(ImportFileError, match=r"declares shape \(9, 15\) \(1,080 bytes\) but holds 480 bytes"):
        read_points([path], MLPSpec((2, 5, 1)))


def test_good_point_files_still_import(tmp_path):
    from lsexplorer.core.experiment.importer import read_points
    from lsexplorer.core.landscape.nets import MLPSpec

    theta = np.random.default_rng(0).normal(size=(3, 15))
    np.save(tmp_path / "a.npy", theta)
    np.savez_compressed(tmp_path / "b.npz", theta=theta, seed=np.array([7, 8, 9]))
    np.savetxt(tmp_path / "c.csv", theta, delimiter=",")
    points = read_points([tmp_path / "a.npy", tmp_path / "b.npz", tmp_path / "c.csv"], MLPSpec((2, 5, 1)))
    np.testing.assert_array_equal(points.theta[:6], np.concatenate([theta, theta]))
    np.testing.assert_allclose(points.theta[6:], theta, rtol=1e-15, atol=0)


def test_an_mnist_file_that_expands_to_half_a_gigabyte_is_refused_after_64_mib(tmp_path):
    import resource

    from lsexplorer.core.data import mnist

    path = tmp_path / "train-images-idx3-ubyte.gz"
    gzip_stream = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(1 << 24)
    with open(path, "wb") as f:  # 512 MiB of zeros in about 500 kB
        f.write(gzip_stream.compress(b"\0\0\x08\x03" + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2))
        f.writelines(gzip_stream.compress(block) for _ in range(32))
        f.write(gzip_stream.flush())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(mnist.MnistError, match="expands to more than the 64.0 MiB an MNIST file may have"):
        mnist.read_idx(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 400 * 1024  # kB
