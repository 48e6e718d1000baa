"""200 random mutations of a valid session (bit flips, attribute edits, dataset swaps and
replacements, deletions): every command exits 0 or 2 (never a traceback) and stays far below 1 GB.

Most commands run in this process through ``lsexplorer.cli.commands.main`` (fast); a few run as processes of
their own, including one figure export of a damaged but readable session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from lsexplorer.core.store.session import save_session
from reliability_support import ENV, run_main, small_session

N_MUTATIONS = 200
POOL = ["xyz", "", -1, 0, 2**62, 1e300, float("nan"), float("inf"), True, np.arange(3), np.zeros(0),
        np.array(["a", "b"], dtype=object), h5py.Empty("f8"), np.float32(2.5)]
JSON_POOL = ["xyz", -1, 0, 1e300, float("nan"), None, True, [], {}, 2.5, "2-5-1", [2, "5", 1], {"a": 1}]


def _objects(f: h5py.File) -> list[str]:
    names = ["/"]
    f.visit(lambda name: names.append("/" + name))
    return names


def _datasets(f: h5py.File) -> list[str]:
    return [n for n in _objects(f) if isinstance(f[n], h5py.Dataset)]


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def flip_bits(path, rng) -> str:
    data = bytearray(path.read_bytes())
    for _ in range(int(rng.integers(1, 17))):
        i = int(rng.integers(len(data)))
        data[i] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))
    return "bit flips"


def edit_attribute(path, rng) -> str:
    with h5py.File(path, "r+") as f:
        if rng.random() < 0.4:
            config = json.loads(f.attrs["config"])
            section = _pick(rng, sorted(config))
            value = _pick(rng, JSON_POOL)
            if isinstance(config[section], dict) and config[section] and rng.random() < 0.8:
                key = _pick(rng, sorted(config[section]))
                config[section][key] = value
                what = f"config {section}.{key} = {value!r}"
            else:
                config[section] = value
                what = f"config {section} = {value!r}"
            f.attrs["config"] = json.dumps(config)
            return what
        name = _pick(rng, _objects(f))
        obj = f[name]
        keys = list(obj.attrs) or ["extra"]
        key = _pick(rng, keys)
        value = _pick(rng, POOL)
        obj.attrs[key] = value
        return f"attribute {name}@{key} = {value!r}"


def swap_datasets(path, rng) -> str:
    with h5py.File(path, "r+") as f:
        a, b = _pick(rng, _datasets(f)), _pick(rng, _datasets(f))
        da, db = f[a][()], f[b][()]
        del f[a]
        if a == b:
            f[a] = np.asarray(da).T if np.ndim(da) > 1 else np.asarray(da)[::-1] if np.ndim(da) else da
            return f"reverse {a}"
        del f[b]
        f[a], f[b] = db, da
        return f"swap {a} <-> {b}"


def replace_object(path, rng) -> str:
    with h5py.File(path, "r+") as f:
        name = _pick(rng, _objects(f)[1:])
        old = f[name]
        data = old[()] if isinstance(old, h5py.Dataset) else None
        choice = int(rng.integers(5))
        del f[name]
        if choice == 0:
            return f"delete {name}"
        if choice == 1:
            f.create_group(name)
            return f"{name} -> empty group"
        if choice == 2:
            f[name] = _pick(rng, [np.float64(3.0), np.arange(7), np.array(["x"], dtype=object), np.ones((2, 2, 2))])
            return f"{name} -> other array"
        if data is not None and np.ndim(data) >= 1 and np.shape(data)[0] > 1:
            f[name] = data[:-1]
            return f"{name} loses its last row"
        f[name] = np.full(3, np.nan)
        return f"{name} -> NaN"


MUTATIONS = (flip_bits, edit_attribute, swap_datasets, replace_object)

PEAK = textwrap.dedent("""
    import sys
    from lsexplorer.cli.commands import main
    code = main(sys.argv[2:])
    peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
    open(sys.argv[1], "w").write(peak)
    sys.exit(code)
""")


def _peak_kb() -> int:
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1])


def _check(code: int, err: str, what: str) -> None:
    assert code in (0, 2), f"{what}: exit {code}\n{err}"
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in err, f"{what}:\n{err}"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    session, _ = small_session()
    path = tmp_path_factory.mktemp("fuzz") / "base.h5"
    save_session(session, path)
    return path


def test_mutated_sessions_exit_0_or_2_and_stay_small(base, tmp_path):
    rng = np.random.default_rng(20261130)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # count the peak RSS from here
    baseline = _peak_kb()
    outcomes = {0: 0, 2: 0}
    readable = []
    for i in range(N_MUTATIONS):
        path = tmp_path / f"m{i}.h5"
        shutil.copy(base, path)
        try:
            what = MUTATIONS[i % len(MUTATIONS)](path, rng)
        except (OSError, KeyError, ValueError, TypeError) as e:  # h5py could not make this one
            what = f"(mutation failed: {e})"
        code, _, err = run_main("info", path, "--runs")
        _check(code, err, f"info after {what}")
        outcomes[code] += 1
        if code == 0:
            readable.append(path)
            if i % 2 == 0:
                code, _, err = run_main("analyze", path, "--symmetry", "--runs", "0", "-o", tmp_path / "out.h5", "-q")
                _check(code, err, f"analyze after {what}")
        else:
            path.unlink()
    assert (_peak_kb() - baseline) < 500 * 1024, "RSS grew by more than 500 MB while reading mutated files"
    assert outcomes[0] > 20 and outcomes[2] > 20, outcomes  # both kinds of files were exercised

    # A few as processes of their own, with their peak memory: info and analyze of refused and readable
    # files, and one export of a damaged but readable session (all its figures).
    refused = tmp_path / "refused.h5"
    shutil.copy(base, refused)
    edit_attribute(refused, np.random.default_rng(3))  # first: bit flips may leave h5py unable to open it
    flip_bits(refused, np.random.default_rng(0))
    jobs = [["info", refused, "--json"], ["analyze", readable[-1], "--symmetry", "--runs", "0", "-q"],
            ["export", readable[len(readable) // 2], "--out", tmp_path / "figures"]]
    for argv in jobs:
        peak_file = tmp_path / "peak.txt"
        r = subprocess.run([sys.executable, "-c", PEAK, str(peak_file), *map(str, argv)], env=ENV,
                           capture_output=True, text=True, timeout=300)
        stderr = "\n".join(line for line in r.stderr.splitlines() if "propagateSizeHints" not in line)
        _check(r.returncode, stderr, " ".join(map(str, argv)))
        if peak_file.exists():
            assert int(peak_file.read_text()) < 1024 * 1024, f"{argv}: peak RSS over 1 GB"
