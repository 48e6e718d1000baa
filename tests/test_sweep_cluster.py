"""Sweeps on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1.

A worker killed while tasks run loses nothing, every seed lands exactly once and equals a
single-process ``lsexplorer train`` of the same seeds; Ctrl-C keeps finished chunks and a re-run
computes only the missing ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from lsexplorer.cli.commands import main as cli_main  # noqa: E402
from lsexplorer.core.base.progress import run_generator  # noqa: E402
from lsexplorer.core.store.session import load_session  # noqa: E402
from lsexplorer.core.sweep.manifest import SweepError, plan_sweep, read_manifest  # noqa: E402
from lsexplorer.core.sweep.sweep import run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: A small Gaussian-teacher problem whose end points refine in well under a second each; widths 2
#: (the teacher's) and 3 give global and local minima.
TOML = """
[data]
n_samples = 64
teacher_widths = [2]
[train]
epochs = 3000
lr = 0.05
device = "cpu"
[refine]
slsqp_maxeval = 3000
"""
WIDTHS = [2, 3]
N_SEEDS = 16


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


class LocalDaskCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (a free port, via a scheduler file)."""

    def __init__(self, folder: Path, n_workers: int) -> None:
        self.scheduler_file = folder / "scheduler.json"
        self.scheduler = self._spawn(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", str(self.scheduler_file)], folder / "s.log")
        self.workers: dict[str, subprocess.Popen] = {}
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.05)
        for i in range(n_workers):
            name = f"w{i}"
            self.workers[name] = self._spawn(
                ["distributed.cli.dask_worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--memory-limit", "0", "--name", name], folder / f"{name}.log")
        self.address = json.loads(self.scheduler_file.read_text())["address"]

    @staticmethod
    def _spawn(args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as fh:
            return subprocess.Popen([sys.executable, "-m", *args], stdout=fh, stderr=subprocess.STDOUT, env=_env(),
                                    start_new_session=True)

    def close(self) -> None:
        procs = [*self.workers.values(), self.scheduler]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalDaskCluster(tmp_path_factory.mktemp("dask"), 2)
    try:
        with distributed.Client(c.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def toml_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "small.toml"
    path.write_text(TOML)
    return path


def _plan(toml_file: Path, chunk: int):
    from lsexplorer.core.experiment.experiment import read_toml

    return plan_sweep("gaussian", read_toml(toml_file), {"seeds": {"count": N_SEEDS}}, WIDTHS, None, chunk)


def _sweep_args(toml_file: Path, out: Path, cluster: LocalDaskCluster, chunk: int) -> list[str]:
    return ["sweep", "--preset", "gaussian", "--config", str(toml_file), "--widths", *map(str, WIDTHS),
            "--seeds", str(N_SEEDS), "--chunk", str(chunk), "--scheduler", str(cluster.scheduler_file),
            "-o", str(out), "-q"]


def test_ctrl_c_keeps_finished_chunks_and_rerun_finishes_only_the_missing(cluster, toml_file, tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.Popen([sys.executable, "-m", "lsexplorer", *_sweep_args(toml_file, out, cluster, 2)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while True:
        try:
            if read_manifest(out)["done"]["chunks"]:
                break
        except SweepError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err

    kept = read_manifest(out)["done"]["chunks"]
    plan = _plan(toml_file, 2)
    assert 1 <= len(kept) < len(plan.chunks)
    stamps = {key: (out / f"chunks/{key}.npz").stat().st_mtime_ns for key in kept}

    with distributed.Client(cluster.address, timeout=30) as client:
        summary = run_generator(run_sweep(plan, out, client))
    assert sorted(summary.skipped) == sorted(kept)
    assert sorted(summary.ran) == sorted(c.key for c in plan.chunks if c.key not in kept)
    assert summary.complete and not summary.failed
    assert {key: (out / f"chunks/{key}.npz").stat().st_mtime_ns for key in kept} == stamps
    manifest = read_manifest(out)
    assert manifest["done"]["complete"] and len(manifest["done"]["chunks"]) == len(plan.chunks)

    with distributed.Client(cluster.address, timeout=30) as client:
        again = run_generator(run_sweep(plan, out, client))
    assert again.ran == [] and len(again.skipped) == len(plan.chunks)

    other = _plan(toml_file, 4)
    with pytest.raises(SweepError, match="different sweep"):
        run_generator(run_sweep(other, out, client=None))


def test_killed_worker_loses_nothing_and_seeds_match_single_process_train(cluster, toml_file, tmp_path):
    out = tmp_path / "sweep"
    plan = _plan(toml_file, 4)
    killed = None
    with distributed.Client(cluster.address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
        runner = run_sweep(plan, out, client)
        summary = None
        while True:
            try:
                progress = next(runner)
            except StopIteration as done:
                summary = done.value
                break
            if progress.chunk is not None and killed is None:
                killed = _kill_a_busy_worker(client, cluster)
        assert killed is not None
        assert len(client.scheduler_info()["workers"]) == 1
    assert summary.complete and not summary.failed
    assert sorted(summary.ran) == sorted(c.key for c in plan.chunks)

    for width in WIDTHS:
        swept = load_session(out / f"w{width}.h5")
        assert swept.runs.seed.tolist() == list(range(N_SEEDS))  # every seed exactly once, in order
        ref_path = tmp_path / f"train_w{width}.h5"
        assert cli_main(["train", "--preset", "gaussian", "--config", str(toml_file), "--width", str(width),
                         "--seeds", str(N_SEEDS), "-o", str(ref_path), "-q"]) == 0
        ref = load_session(ref_path)
        np.testing.assert_array_equal(swept.runs.kind, ref.runs.kind)
        np.testing.assert_allclose(swept.runs.theta, ref.runs.theta, rtol=0, atol=1e-12)
        np.testing.assert_allclose(swept.runs.loss, ref.runs.loss, rtol=1e-9, atol=1e-15)
        assert swept.config["run"]["sweep"]["chunks"] == N_SEEDS // 4
        assert {k: v for k, v in swept.config.items() if k != "run"} == \
               {k: v for k, v in ref.config.items() if k != "run"}


def _kill_a_busy_worker(client, cluster: LocalDaskCluster) -> str | None:
    """SIGKILL a worker process that is running a task right now; its name, or None if none was busy."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [addr for addr, keys in client.processing().items() if keys]
        info = client.scheduler_info()["workers"]
        for addr in busy:
            name = info.get(addr, {}).get("name")
            if name in cluster.workers:
                cluster.workers[name].send_signal(signal.SIGKILL)
                cluster.workers[name].wait(timeout=10)
                return name
        time.sleep(0.01)
    return None


def test_a_task_that_fails_on_its_worker_is_reported_and_the_sweep_exits_1(cluster, toml_file, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("the failure provoked here is a worker without a GPU")
    args = _sweep_args(toml_file, tmp_path / "sweep", cluster, 2)
    args[args.index("--seeds") + 1] = "2"
    args[args.index("--widths") + 1: args.index("--seeds")] = ["2"]
    # The workers here have no GPU: each task raises there, and says why.
    assert cli_main([*args, "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "task w2/00000 failed: ValueError: device 'cuda' requested" in err
    assert "1 task(s) failed" in err
    manifest = read_manifest(tmp_path / "sweep")
    assert manifest["done"]["chunks"] == [] and not manifest["done"]["complete"]


# --------------------------------------------------------------------------- signals to the whole process group

#: Chunks of one seed that take about a second each, so a sweep is still running when it is signalled.
QUICK_TOML = """
[data]
n_samples = 32
teacher_widths = [2]
[train]
epochs = 2000
lr = 0.05
device = "cpu"
[refine]
slsqp_maxeval = 2000
"""


def _quick_sweep(tmp_path: Path, out: Path, seeds: int = 6) -> subprocess.Popen:
    """``lsexplorer sweep`` on a local cluster of one worker, in a session of its own (as a terminal's
    foreground job, or a batch job, is a process group of its own)."""
    config = tmp_path / "quick.toml"
    config.write_text(QUICK_TOML)
    return subprocess.Popen([sys.executable, "-m", "lsexplorer", "sweep", "--preset", "gaussian", "--config",
                             str(config), "--widths", "2", "--seeds", str(seeds), "--chunk", "1", "--workers", "1",
                             "-o", str(out), "-q"],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


@pytest.fixture
def dask_port_taken():
    """Dask's default HTTP port held, as another cluster on the machine would hold it."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("", 8787))
            sock.listen()
        except OSError:
            pass  # taken already
        yield


def _worker_pids(parent: int) -> set[int]:
    """Processes that ``parent`` started through multiprocessing's spawn (a local cluster's workers)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            pids.add(int(entry.name))
    return pids


def _signalled(proc: subprocess.Popen, sig: int, workers: set[int]) -> tuple[int, list[str]]:
    """Send ``sig`` to ``proc``'s whole process group; its exit status and stderr lines, once its
    workers have gone too."""
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert "Traceback" not in text, text
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "worker processes outlived the sweep"
    return proc.returncode, [line for line in text.splitlines() if line.strip()]


def _wait(proc: subprocess.Popen, ready, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"never saw {what}; {proc.communicate()[1].decode(errors='replace')[-3000:]}")
        time.sleep(0.02)
    return found


def _done_chunks(out: Path) -> list[str]:
    try:
        return read_manifest(out)["done"]["chunks"]
    except SweepError:
        return []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
@pytest.mark.parametrize("sig, code, how", [(signal.SIGINT, 130, "interrupted"),
                                            (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_to_the_process_group_mid_sweep_gives_one_line_and_keeps_finished_chunks(tmp_path, sig, code, how,
                                                                                          dask_port_taken):
    out = tmp_path / "sweep"
    proc = _quick_sweep(tmp_path, out)
    workers = _wait(proc, lambda: _worker_pids(proc.pid), "the local cluster's worker")
    kept = _wait(proc, lambda: _done_chunks(out), "a finished chunk")
    status, lines = _signalled(proc, sig, workers)  # the worker is running the next chunk now
    assert status == code
    assert lines == [f"lsexplorer sweep: {how}; finished tasks are kept in {out}; run the same command to finish"]
    listed = read_manifest(out)["done"]["chunks"]
    assert set(kept) <= set(listed) and 1 <= len(listed) < 6
    assert sorted(str(p.relative_to(out / "chunks"))[:-4] for p in (out / "chunks").rglob("*.npz")) == listed


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_sigterm_while_the_local_cluster_starts_gives_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "sweep"
    proc = _quick_sweep(tmp_path, out)
    workers = _wait(proc, lambda: _worker_pids(proc.pid), "the local cluster's worker")  # still importing
    status, lines = _signalled(proc, signal.SIGTERM, workers)
    assert status == 143
    assert lines == ["lsexplorer sweep: terminated (SIGTERM); nothing written"]
    assert not out.exists()


# --------------------------------------------------------------------------- refused before a cluster starts

def test_a_second_sweep_into_a_busy_folder_is_refused_at_once_without_a_cluster(tmp_path, toml_file):
    folder = tmp_path / "sweep"
    folder.mkdir()
    manifest = Path(os.path.realpath(folder / "sweep.json"))
    code = ("import time; from pathlib import Path; from lsexplorer.core.store.writer_lock import writer_lock\n"
            f"with writer_lock(Path({str(manifest)!r})):\n"
            "    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=_env())
    try:
        assert holder.stdout.readline().strip() == b"held"
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "lsexplorer", "sweep", "--preset", "gaussian", "--config",
                               str(toml_file), "--widths", "2", "--seeds", "2", "-o", str(folder)],
                              env=_env(), capture_output=True, text=True, timeout=120, check=False)
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lsexplorer sweep: error: {folder} is being written by another "
                                                   f"lsexplorer (pid {holder.pid})"), proc.stderr
    assert took < 2.0  # the lock is checked before the config is built or a cluster started
    assert [p.name for p in folder.iterdir() if p.name != ".sweep.json.lock"] == []  # the holder's lock


@pytest.mark.parametrize("extra, message", [
    (["--widths", "2"], "exists, is not empty and holds no sweep"),
    (["--widths", "3000", "--seeds", "100000", "--chunk", "100000"], "of memory"),
])
def test_sweeps_that_cannot_run_are_refused_before_a_cluster_starts(tmp_path, toml_file, extra, message):
    folder = tmp_path / "sweep"
    if "of memory" not in message:
        folder.mkdir()
        (folder / "mine.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "lsexplorer", "sweep", "--preset", "gaussian", "--config",
                           str(toml_file), *extra, "--workers", "1", "-o", str(folder)],
                          env=_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lsexplorer sweep: error: ") and message in lines[0], proc.stderr
    assert "local cluster" not in proc.stderr  # the line a started cluster prints first
    assert not folder.exists() or [p.name for p in folder.iterdir()] == ["mine.txt"]


def test_a_sweep_with_analyze_returns_sessions_analysed_as_one_process_would(cluster, toml_file, tmp_path, capsys):
    """``--analyze`` runs the analyses inside the tasks; the assembled session holds, row for row, what
    analysing the plain session in this process stores, and ``info`` counts symmetry-induced points."""
    import dataclasses

    from test_analyses_registry import _assert_tree_equal

    from lsexplorer.core.analyses.analyze import analyze_session
    from lsexplorer.core.base.kinds import Kind

    out = tmp_path / "sweep"
    args = ["sweep", "--preset", "gaussian", "--config", str(toml_file), "--widths", "3", "--seeds", "6",
            "--chunk", "3", "--scheduler", str(cluster.scheduler_file), "-o", str(out), "-q",
            "--analyze", "closest_saddle", "escape"]
    assert cli_main(args) == 0, capsys.readouterr().err
    assert read_manifest(out)["analyses"] == ["closest_saddle", "escape"]
    swept = load_session(out / "w3.h5")
    assert set(swept.analyses) == {"closest_saddle", "escape"}

    kind = swept.runs.kind.copy()  # the session as the sweep would have assembled it without --analyze
    points = swept.analyses["escape"]["points"]
    for row, point in points.items():
        kind[int(row)] = point["kind_before"]
    runs = dataclasses.replace(swept.runs, kind=kind, symmetry_induced=np.zeros(len(kind), dtype=bool))
    here = dataclasses.replace(swept, runs=runs, analyses={})
    run_generator(analyze_session(here, None, ["closest_saddle", "escape"], workers=1))
    for group in ("closest_saddle", "escape"):
        _assert_tree_equal(_timeless(here.analyses[group]), _timeless(swept.analyses[group]), group)
    np.testing.assert_array_equal(here.runs.kind, swept.runs.kind)
    np.testing.assert_array_equal(here.runs.symmetry_induced, swept.runs.symmetry_induced)
    assert len(points) == int(np.sum(kind == Kind.LOCAL_MIN))

    capsys.readouterr()
    assert cli_main(["info", str(out), "--json"]) == 0
    (point,) = json.loads(capsys.readouterr().out)["points"]
    assert point["symmetry_induced"]["count"] == int(swept.runs.symmetry_induced.sum())

    with pytest.raises(SweepError, match="other analyses"):
        run_generator(run_sweep(_plan(toml_file, 3), out, client=None))


def _timeless(tree):
    """``tree`` without the wall-clock fields (``elapsed``, ``seconds``), which differ between any two runs."""
    if isinstance(tree, dict):
        return {k: _timeless(v) for k, v in tree.items() if k not in ("elapsed", "seconds")}
    return tree
