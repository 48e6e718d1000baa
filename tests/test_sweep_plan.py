"""Sweep plans, manifests, chunk files and outcome fractions, without a cluster."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lsexplorer.cli.commands import main as cli_main
from lsexplorer.core.experiment.experiment import ConfigError
from lsexplorer.core.sweep.manifest import (
    SweepChunk,
    SweepError,
    check_same_sweep,
    chunk_done,
    plan_sweep,
    read_chunk,
    read_manifest,
    write_chunk,
    write_manifest,
)
from lsexplorer.core.sweep.outcomes import group_of, ordered_groups, read_sweep_outcomes, wilson_interval


def test_plan_covers_every_seed_of_every_point_once():
    plan = plan_sweep("toy", None, {"seeds": {"start": 3, "count": 10}}, [4, 6], [1e-3, 1e-2], chunk=4)
    assert [p.name for p in plan.points] == ["w4_lr0.001", "w6_lr0.001", "w4_lr0.01", "w6_lr0.01"]
    for p in plan.points:
        seeds = [s for c in plan.chunks if c.point == p.name for s in c.seeds]
        assert seeds == list(range(3, 13))
        assert p.config["network"]["widths"] == [2, p.width, 1] and p.config["train"]["lr"] == p.lr
        assert p.config["seeds"] == list(range(3, 13))
    assert [len(c.seeds) for c in plan.chunks if c.point == "w4_lr0.001"] == [4, 4, 2]
    single = plan_sweep("toy", None, {"seeds": {"count": 2}}, [5], None, chunk=8)
    assert [p.name for p in single.points] == ["w5"] and single.points[0].lr == 1e-4


@pytest.mark.parametrize("kwargs, message", [
    ({"widths": []}, "at least one width"),
    ({"widths": [4, 4]}, "distinct"),
    ({"widths": [4], "chunk": 0}, "chunk"),
    ({"widths": [4], "lrs": [0.1, 0.1]}, "distinct positive"),
    ({"widths": [4], "overrides": {"train": {"grad_tol": 1e-6}}}, "grad_tol"),
    ({"widths": [4], "overrides": {"network": {"widths": [2, 4, 1]}}}, "network.widths"),
])
def test_impossible_sweeps_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(SweepError, match=message):
        plan_sweep("toy", None, kwargs.pop("overrides", {"seeds": {"count": 2}}), **kwargs)


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown preset"):
        plan_sweep("nope", None, None, [4])


def test_chunk_files_and_manifest_round_trip_and_detect_other_sweeps(tmp_path):
    plan = plan_sweep("toy", None, {"seeds": {"count": 4}}, [3], None, chunk=2)
    chunk = plan.chunks[1]
    arrays = {"seed": np.array(chunk.seeds), "kind": np.array(["global_min", "local_min"]),
              "theta": np.arange(6.0).reshape(2, 3), "run": {"device": "cpu"}}
    assert not chunk_done(tmp_path, chunk)
    write_chunk(tmp_path, chunk, arrays)
    back = read_chunk(tmp_path, chunk)
    assert chunk_done(tmp_path, chunk) and back["run"] == {"device": "cpu"}
    np.testing.assert_array_equal(back["theta"], arrays["theta"])
    assert read_chunk(tmp_path, SweepChunk(chunk.point, chunk.index, (7, 8))) is None  # other seeds
    assert not list(tmp_path.rglob("*.tmp"))

    write_manifest(tmp_path, plan, [chunk.key], [])
    manifest = read_manifest(tmp_path)
    assert manifest["done"]["chunks"] == [chunk.key] and not manifest["done"]["complete"]
    check_same_sweep(manifest, plan, tmp_path)
    other = plan_sweep("toy", None, {"seeds": {"count": 4}, "train": {"epochs": 10}}, [3], None, chunk=2)
    with pytest.raises(SweepError, match="different sweep"):
        check_same_sweep(manifest, other, tmp_path)
    with pytest.raises(SweepError, match="not a sweep folder"):
        read_manifest(tmp_path / "chunks")


def test_wilson_interval_closed_forms():
    z = 1.959963984540054
    for n in (1, 16, 32, 1000):
        lo, hi = wilson_interval(0, n)
        assert lo == 0.0 and hi == pytest.approx(z * z / (n + z * z), rel=1e-12)
        lo, hi = wilson_interval(n, n)
        assert hi == 1.0 and lo == pytest.approx(n / (n + z * z), rel=1e-12)
    # k = n/2: symmetric about 1/2 with half-width z sqrt(n/4 + z^2/4) / (n + z^2)
    lo, hi = wilson_interval(8, 16)
    half = z * math.sqrt(16 / 4 + z * z / 4) / (16 + z * z)
    assert (lo, hi) == (pytest.approx(0.5 - half, rel=1e-12), pytest.approx(0.5 + half, rel=1e-12))
    # Tabulated in Newcombe (1998), Table I: 81/263 -> 0.2553..0.3662
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_kinds_are_grouped_from_their_strings():
    assert [group_of(k) for k in ("global_min", "local_min", "channel", "strict_saddle", "nonstrict_saddle",
                                  "not_converged", "minimum_at_infinity")] == \
        ["global", "local", "channel", "saddle", "saddle", "not converged", "minimum_at_infinity"]
    assert ordered_groups(["minimum_at_infinity", "channel"]) == \
        ["global", "local", "channel", "saddle", "not converged", "minimum_at_infinity"]


def test_info_on_an_unfinished_sweep_counts_finished_chunks(tmp_path, capsys):
    plan = plan_sweep("toy", None, {"seeds": {"count": 4}}, [3, 4], None, chunk=2)
    kinds = {"w3/00000": ["global_min", "local_min"], "w3/00001": ["channel", "strict_saddle"],
             "w4/00000": ["global_min", "global_min"]}
    for chunk in plan.chunks:
        if chunk.key in kinds:
            write_chunk(tmp_path, chunk, {"seed": np.array(chunk.seeds), "kind": np.array(kinds[chunk.key])})
    write_manifest(tmp_path, plan, list(kinds), [])
    outcomes = read_sweep_outcomes(tmp_path)
    assert outcomes.groups == ["global", "local", "channel", "saddle", "not converged"]
    w3, w4 = outcomes.points
    assert (w3.n_done, w3.n_asked, w4.n_done) == (4, 4, 2) and not w3.complete
    assert w3.fraction("channel")[0] == 0.25 and w4.fraction("global")[0] == 1.0

    assert cli_main(["info", str(tmp_path), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    row = table["points"][0]
    assert row["kinds"] == {"channel": 1, "global_min": 1, "local_min": 1, "strict_saddle": 1}
    assert row["outcomes"]["saddle"]["count"] == 1
    assert row["outcomes"]["saddle"]["ci95"] == pytest.approx(list(wilson_interval(1, 4)))
    assert cli_main(["info", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "0.250 [" in text and "2/4" in text and "running or interrupted" in text


def test_sweep_cli_refuses_bad_requests_with_one_line(tmp_path, capsys):
    assert cli_main(["sweep", "--widths", "4", "4", "-o", str(tmp_path / "s")]) == 2
    assert "distinct" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    assert cli_main(["sweep", "--widths", "4", "--seeds", "2", "--epochs", "10", "--workers", "1",
                     "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path / "busy")]) == 2
    assert "--workers" in capsys.readouterr().err
    assert cli_main(["info", str(tmp_path / "busy")]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


def test_bundled_sweep_is_complete_and_its_sessions_load():
    from pathlib import Path

    from lsexplorer.core.store.session import load_session

    folder = Path(__file__).resolve().parents[1] / "sample_data" / "toy_sweep"
    outcomes = read_sweep_outcomes(folder)
    assert [p.width for p in outcomes.points] == [4, 5, 6]
    for p in outcomes.points:
        assert p.complete and p.n_done == 32
        session = load_session(p.session)
        assert session.runs.seed.tolist() == list(range(32))
        assert session.config["network"]["widths"] == [2, p.width, 1]
        assert dict(zip(*np.unique(session.runs.kind, return_counts=True))) == p.kinds
    assert read_manifest(folder)["done"]["complete"]


def test_a_second_sweep_into_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from lsexplorer.core.base.progress import run_generator
    from lsexplorer.core.sweep.sweep import run_sweep

    plan = plan_sweep("toy", None, {"seeds": {"count": 2}}, [3], None, chunk=2)
    folder = tmp_path / "sweep"
    folder.mkdir()
    manifest = Path(os.path.realpath(folder / "sweep.json"))
    root = Path(__file__).resolve().parents[1]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from lsexplorer.core.store.writer_lock import writer_lock\n"
         f"with writer_lock(__import__('pathlib').Path({str(manifest)!r})):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(SweepError, match="being written by another lsexplorer"):
            run_generator(run_sweep(plan, folder, client=None))
    finally:
        holder.kill()
        holder.wait()


class _Future:
    """A Dask future stand-in: finished with ``arrays``, or still running when ``arrays`` is None."""

    def __init__(self, arrays):
        self._arrays = arrays
        self.status = "pending" if arrays is None else "finished"

    def done(self):
        return self._arrays is not None

    def result(self):
        return self._arrays

    def release(self):
        pass


class _FirstChunkClient:
    """A Dask client stand-in that runs nothing: the first chunk is finished at once, the others never."""

    def __init__(self):
        self.submitted = 0

    def submit(self, fn, config, seeds, key, retries):
        n = len(seeds)
        self.submitted += 1
        if self.submitted > 1:
            return _Future(None)
        return _Future({"seed": np.array(seeds), "kind": np.array(["global_min"] * n),
                                "theta": np.zeros((n, 3))})

    def cancel(self, futures):
        pass


def test_an_interrupt_between_a_chunk_file_and_the_manifest_leaves_the_manifest_true(tmp_path, monkeypatch):
    from lsexplorer.core.sweep import sweep

    plan = plan_sweep("toy", None, {"seeds": {"count": 4}}, [3], None, chunk=2)
    calls = []

    def interrupted_second_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the save right after the first chunk's file is written
            raise KeyboardInterrupt
        write_manifest(*args, **kwargs)

    monkeypatch.setattr(sweep, "write_manifest", interrupted_second_write)
    with pytest.raises(KeyboardInterrupt):
        for _ in sweep.run_sweep(plan, tmp_path / "s", _FirstChunkClient()):
            pass
    on_disk = [c.key for c in plan.chunks if chunk_done(tmp_path / "s", c)]
    assert on_disk == [plan.chunks[0].key] and read_manifest(tmp_path / "s")["done"]["chunks"] == on_disk
