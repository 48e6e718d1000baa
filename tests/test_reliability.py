"""Reliability as an unlucky or hostile user meets it, with real processes and real files: concurrent
writers, full disks, special files, files that point outside themselves or declare more than they
hold, bad settings, closed pipes, runs too large to finish."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from lsexplorer.core.store.session import SessionError, load_session, save_session, session_writer
from reliability_support import ENV, cli, one_line_error, run_main, sha, small_session


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, int]:
    """A 4-run session with every analysis (runs 0 and 2 are global minima, run ``local`` = 1 the
    analysed local minimum, run 3 not_converged with a NaN point), without teacher matches, so a
    test can see which land."""
    session, local = small_session()
    del session.analyses["teacher_match"]
    path = tmp_path_factory.mktemp("reliability") / "small.h5"
    save_session(session, path)
    return path, local


@pytest.fixture
def copy(small, tmp_path) -> Path:
    path = tmp_path / "s.h5"
    shutil.copy(small[0], path)
    return path


def matched_runs(path: Path) -> list[int]:
    with h5py.File(path, "r") as f:
        return f["analyses/teacher_match/summary/run"][()].tolist() if "analyses/teacher_match" in f else []


# ----------------------------------------------------------------------------------------- writers

def test_second_writer_is_refused_with_the_holders_pid(copy):
    before = sha(copy)
    with session_writer(copy):
        r = cli("analyze", copy, "--symmetry", "--runs", "0", "-q")
    assert r.returncode == 2
    one_line_error(r.stderr, f"is being written by another lsexplorer (pid {os.getpid()})")
    assert sha(copy) == before
    assert not list(copy.parent.glob(".*.lock"))  # released and removed


def test_concurrent_analyses_both_land_or_one_is_refused(copy):
    procs = [subprocess.Popen([sys.executable, "-m", "lsexplorer", "analyze", str(copy), "--symmetry", "--runs", run,
                               "-q"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for run in ("0", "2")]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    landed = matched_runs(copy)
    for run, (code, err) in zip((0, 2), results):
        if code == 0:
            assert run in landed, (run, landed)
        else:
            assert code == 2
            one_line_error(err, "is being written by another lsexplorer (pid ")
    assert any(code == 0 for code, _ in results)


def test_sequential_analyses_of_different_runs_keep_both(copy):
    assert run_main("analyze", copy, "--symmetry", "--runs", "0", "-q")[0] == 0
    assert run_main("analyze", copy, "--symmetry", "--runs", "2", "-q")[0] == 0
    assert matched_runs(copy) == [0, 2]
    assert run_main("analyze", copy, "--symmetry", "--runs", "0", "-q")[0] == 0  # again: replaced, not doubled
    assert matched_runs(copy) == [0, 2]


def test_save_refuses_to_overwrite_a_file_replaced_since_it_was_read(copy):
    mine, theirs = load_session(copy), load_session(copy)
    theirs.analyses["note"] = "theirs"
    save_session(theirs, copy)
    mine.analyses["note"] = "mine"
    with pytest.raises(SessionError, match="replaced the file since"):
        save_session(mine, copy)
    assert load_session(copy).analyses["note"] == "theirs"
    save_session(theirs, copy)  # the writer that read it last may save again


def test_nan_rows_of_not_converged_runs_analyze_fine(copy):
    code, out, err = run_main("analyze", copy, "--symmetry", "--runs", "0,2,3", "--json")
    assert code == 0, err
    assert json.loads(out)["analyses"]["teacher_match"] == {"runs": 2, "matched": 2}
    assert matched_runs(copy) == [0, 2]


# ------------------------------------------------------------------------------------- full disks

def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


SAVE_WITHOUT_PRECHECK = textwrap.dedent("""
    import sys
    import lsexplorer.core.store.atomic_write as aw
    aw._check_room = lambda folder, size: None   # reach the writes themselves
    from lsexplorer.cli.commands import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.fixture
def file_size_limit():
    """Set RLIMIT_FSIZE of this process for a block (CPython ignores SIGXFSZ, so writes fail with EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def limit(n: int):
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, hard))

    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("precheck", [True, False], ids=["precheck", "write-fails"])
def test_file_size_limit_during_save(copy, precheck, file_size_limit, monkeypatch):
    before = sha(copy)
    if not precheck:
        import lsexplorer.core.store.atomic_write as aw

        monkeypatch.setattr(aw, "_check_room", lambda folder, size: None)
    file_size_limit(copy.stat().st_size // 2)
    code, _, err = run_main("analyze", copy, "--symmetry", "--runs", "0", "-q")
    file_size_limit(resource.RLIM_INFINITY)
    assert code == 2
    one_line_error(err, "ulimit -f" if precheck else "File too large")
    assert sha(copy) == before and _leftovers(copy.parent) == []


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 300 kB tmpfs (root only), unmounted afterwards."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_during_save(small, full_tmpfs):
    path = full_tmpfs / "s.h5"
    shutil.copy(small[0], path)  # 214 kB of the 300 kB
    before = sha(path)
    code, _, err = run_main("analyze", path, "--symmetry", "--runs", "0", "-q")
    assert code == 2
    one_line_error(err, "not enough space")
    # The writes themselves failing, in a process of its own (h5py writing there used to segfault).
    r = subprocess.run([sys.executable, "-c", SAVE_WITHOUT_PRECHECK, "analyze", str(path), "--symmetry", "--runs", "0",
                        "-q"], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr  # never 139
    one_line_error(r.stderr, "No space left on device")
    assert sha(path) == before and _leftovers(full_tmpfs) == []


# ---------------------------------------------------------------------------------- special files

def test_non_regular_targets_are_never_replaced(copy, tmp_path):
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    t = time.perf_counter()
    for argv in (["train", "--seeds", "1", "--epochs", "1", "--device", "cpu", "-q", "-o", fifo, "--force"],
                 ["analyze", copy, "--symmetry", "--runs", "0", "-o", fifo, "-q"],
                 ["analyze", copy, "--symmetry", "--runs", "0", "-o", "/dev/full", "-q"],
                 ["info", fifo], ["info", "/dev/null"], ["export", fifo, "--out", tmp_path / "figs"]):
        code, _, err = run_main(*argv)
        assert code == 2, (argv, err)
        one_line_error(err, "FIFO" if fifo in argv else "character device")
    assert time.perf_counter() - t < 10
    assert Path(fifo).is_fifo() and Path("/dev/full").is_char_device()


@pytest.mark.parametrize("target, needle", [("folder", "it is a folder"), ("missing/out.h5", "does not exist")])
def test_bad_output_paths_are_found_before_any_work(copy, tmp_path, target, needle):
    (tmp_path / "folder").mkdir()
    t = time.perf_counter()
    for argv in (["analyze", copy, "--closest-saddle", "--escape", "-o", tmp_path / target, "-q"],
                 ["train", "--seeds", "1", "--epochs", "1000000", "-o", tmp_path / target, "--force", "-q"]):
        code, _, err = run_main(*argv)
        assert code == 2
        one_line_error(err, needle)
    assert time.perf_counter() - t < 10  # neither analysed nor trained


def test_estimates_scale_with_the_run():
    from lsexplorer.core.experiment.experiment import build_config
    from lsexplorer.core.base.estimates import LONG_SECONDS, estimate_experiment

    default = estimate_experiment(build_config("toy"))
    assert default.seconds < LONG_SECONDS and default.memory < 1e9  # the thesis protocol starts without --yes
    many = estimate_experiment(build_config("toy", overrides={"seeds": {"start": 0, "count": 1_000_000}}))
    assert many.seconds > 1e4 * default.seconds / 2
    wide = estimate_experiment(build_config("toy", overrides={"network": {"width": 10_000}, "seeds": 1}))
    P = 3 * 10_000
    assert wide.memory >= 4 * 8 * P * P  # SLSQP's matrix, the Hessian, its eigenvectors, workspace


def test_snapshot_losses_in_chunks_match_a_direct_evaluation(toy, monkeypatch):
    import lsexplorer.core.experiment.experiment as experiment
    from lsexplorer.core.landscape.nets import MLPSpec
    from numpy_reference import loss_grad_hessian

    spec = MLPSpec((2, 3, 1))
    snaps = np.random.default_rng(1).normal(size=(3, 4, spec.n_params)).astype(np.float32)
    monkeypatch.setattr(experiment, "SNAPSHOT_CHUNK_BYTES", 8 * toy.x.shape[0] * 3 * 3 * 5)  # 5 points a chunk
    got = experiment.snapshot_losses(spec, snaps, toy.x, toy.y)
    expected = [[loss_grad_hessian(snaps[s, k].astype(np.float64), toy.x, toy.y, 3)[0] for k in range(4)]
                for s in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def _external_link(path: Path, tmp: Path) -> None:
    secret = tmp / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.arange(5.0)
    with h5py.File(path, "r+") as f:
        f["analyses"]["stolen"] = h5py.ExternalLink(str(secret), "/data")


def _soft_link(path: Path, tmp: Path) -> None:
    with h5py.File(path, "r+") as f:
        f["analyses"]["again"] = h5py.SoftLink("/runs/theta")


def _external_storage(path: Path, tmp: Path) -> None:
    (tmp / "raw.bin").write_bytes(np.arange(8.0).tobytes())
    with h5py.File(path, "r+") as f:
        f["analyses"].create_dataset("raw", shape=(8,), dtype="f8", external=[(str(tmp / "raw.bin"), 0, 64)])


def _huge_runs_seed(path: Path, tmp: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["runs/seed"]
        f["runs"].create_dataset("seed", shape=(2_000_000_000,), dtype="i8", chunks=(1 << 16,), compression="gzip")


def _huge_contiguous(path: Path, tmp: Path) -> None:
    with h5py.File(path, "r+") as f:
        f["analyses"].create_dataset("big", shape=(4_000_000_000,), dtype="f8")


HOSTILE = {"external link": (_external_link, "external link"), "soft link": (_soft_link, "soft link"),
           "external storage": (_external_storage, "external storage"),
           "huge chunked": (_huge_runs_seed, "declares shape (2000000000,)"),
           "huge contiguous": (_huge_contiguous, "declares shape (4000000000,)")}

MEASURE = textwrap.dedent("""
    import json, sys, time
    from lsexplorer.core.store.session import SessionError, load_session

    def peak_kb():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])

    out = {}
    for path in sys.argv[1:]:
        open("/proc/self/clear_refs", "w").write("5")  # restart the peak-RSS count here
        base, t = peak_kb(), time.perf_counter()
        try:
            load_session(path)
            message = None
        except SessionError as e:
            message = str(e)
        out[path] = {"seconds": time.perf_counter() - t, "extra_mb": (peak_kb() - base) / 1024, "error": message}
    print(json.dumps(out))
""")


def test_hostile_files_are_refused_fast_and_small(small, tmp_path):
    paths = {}
    for name, (make, _) in HOSTILE.items():
        paths[name] = tmp_path / f"{name.replace(' ', '_')}.h5"
        shutil.copy(small[0], paths[name])
        make(paths[name], tmp_path)
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    specials = {"FIFO": (fifo, "FIFO"), "device": ("/dev/zero", "character device")}
    args = [str(p) for p in paths.values()] + [str(p) for p, _ in specials.values()]
    r = subprocess.run([sys.executable, "-c", MEASURE, *args], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    measured = json.loads(r.stdout)
    expected = {str(paths[n]): needle for n, (_, needle) in HOSTILE.items()}
    expected.update({str(p): needle for p, needle in specials.values()})
    for path, needle in expected.items():
        m = measured[path]
        assert m["error"] is not None and needle in m["error"], (path, m)
        assert m["seconds"] < 1.0 and m["extra_mb"] < 200, (path, m)


def test_analyze_never_copies_a_linked_file_into_the_session(copy, tmp_path):
    _external_link(copy, tmp_path)
    code, _, err = run_main("analyze", copy, "--symmetry", "--runs", "0", "-o", tmp_path / "out.h5", "-q")
    assert code == 2 and not (tmp_path / "out.h5").exists()
    one_line_error(err, "external link")


# ---------------------------------------------------------------------------------- bad settings

def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("toml, needle", [
    ("[network]\nwidth = true\n", "network.width must be an integer"),
    ('[network]\nwidths = "2-5-1"\n', "network.widths must be a list"),
    ('[data]\nkind = "gaussian"\nn_samples = 2.7\n', "data.n_samples must be an integer"),
    ("[tolerances]\ngrad_tol = -1\n", "tolerances.grad_tol"),
    ("[tolerances]\neig_rtol = 1e300\n", "tolerances.eig_rtol"),
    ("[tolerances]\ngrad_tol = nan\n", "tolerances.grad_tol must be a finite number"),
    ("[refine]\nslsqp_maxeval = -3\n", "refine.slsqp_maxeval"),
    ("[refine]\nnewton_rcond = inf\n", "refine.newton_rcond must be a finite number"),
    ('[train]\ngrad_tol = "abc"\n', "train.grad_tol must be a number"),
    ("[train]\nepochs = 1e19\n", "train.epochs must be an integer"),
    ("[seeds]\nstart = -1\ncount = 2\n", "seeds.start"),
    ("train = 3\n", "train must be a table"),
])
def test_bad_settings_exit_2_naming_the_key(tmp_path, toml, needle):
    code, _, err = run_main("train", "--config", _toml(tmp_path, toml), "-o", tmp_path / "x.h5", "-q")
    assert code == 2
    one_line_error(err, needle)
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--epochs", "inf"], "--epochs"), (["--epochs", "1e19"], "--epochs"), (["--epochs", "nan"], "--epochs"),
    (["--seeds", "1", "--first-seed", "9223372036854775807"], "seeds.start"),
    (["--seeds", "1000000"], "pass --yes"), (["--width", "10000", "--seeds", "1"], "of memory"),
])
def test_bad_flags_and_runs_too_big_exit_2(tmp_path, argv, needle):
    code, _, err = run_main("train", *argv, "-o", tmp_path / "x.h5", "-q")
    assert code == 2
    assert needle in err and "Traceback" not in err, err


def _edit_config(path: Path, **changes) -> None:
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["config"])
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if name:
                config[section][name] = value
            else:
                config[section] = value
        f.attrs["config"] = json.dumps(config)


def _points_as_dataset(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["analyses/closest_saddle/points"]
        f["analyses/closest_saddle/points"] = np.arange(3)


@pytest.mark.parametrize("edit, needle", [
    (lambda p: _edit_config(p, train="xyz"), 'config["train"] must be an object'),
    (lambda p: _edit_config(p, run=5), 'config["run"] must be an object'),
    (lambda p: _edit_config(p, **{"tolerances.grad_tol": "abc"}), "tolerances.grad_tol must be a number"),
    (lambda p: _edit_config(p, **{"run.train_seconds": "fast"}), "run.train_seconds must be a number"),
    (lambda p: _edit_config(p, **{"network.bias": "no"}), "network.bias must be true or false"),
    (_points_as_dataset, "/analyses/closest_saddle/points must be a group"),
])
@pytest.mark.parametrize("verb", ["info", "analyze"])
def test_sessions_that_would_crash_later_are_refused_on_open(copy, edit, needle, verb):
    edit(copy)
    argv = ["info", copy, "--runs"] if verb == "info" else ["analyze", copy, "--symmetry", "--runs", "0", "-q"]
    code, _, err = run_main(*argv)
    assert code == 2
    one_line_error(err, needle)


def test_info_into_a_closed_pipe_is_quiet(small):
    p = subprocess.Popen([sys.executable, "-m", "lsexplorer", "info", str(small[0]), "--runs"], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # the reader has gone before the first line, as `| head -0` would
    assert p.wait(timeout=120) == 0
    assert p.stderr.read() == ""


def test_export_into_a_folder_that_cannot_be_made(small, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in (blocker / "figures", Path("/proc/lsexplorer-figures")):
        code, _, err = run_main("export", small[0], "--out", out)
        assert code == 2
        one_line_error(err, "cannot create")


def test_a_writer_killed_while_holding_the_lock_leaves_the_session_whole_and_unlocked(copy):
    before = sha(copy)
    p = subprocess.Popen([sys.executable, "-m", "lsexplorer", "analyze", str(copy), "--symmetry", "--runs", "0", "-q"],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = copy.parent / f".{copy.name}.lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert p.poll() is None, "the writer ended before it was seen holding the lock"
    p.kill()  # SIGKILL: no clean-up of any kind runs
    p.wait(timeout=60)
    load_session(copy)  # whole: the old file, or the new one if the save had landed
    assert sha(copy) == before or matched_runs(copy) == [0]
    with session_writer(copy):  # the kernel dropped the dead writer's lock
        pass


def test_a_stored_data_kind_of_the_wrong_type_is_named_not_a_crash():
    from lsexplorer.core.base.config_schema import ConfigValueError, check_stored_config
    from lsexplorer.core.store.session import load_session

    config = load_session(Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5").config
    for bad in (["toy"], {"k": 1}, 3):
        config["data"]["kind"] = bad
        with pytest.raises(ConfigValueError, match="data.kind"):
            check_stored_config(config)
