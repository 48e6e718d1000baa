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

from lsexplorer.cli import main as cli_main  # noqa: E402
from lsexplorer.core.progress import run_generator  # noqa: E402
from lsexplorer.core.session import load_session  # noqa: E402
from lsexplorer.core.sweep import run_sweep  # noqa: E402
from lsexplorer.core.sweep_manifest import SweepError, plan_sweep, read_manifest  # noqa: E402

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
    from lsexplorer.core.experiment import read_toml

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
