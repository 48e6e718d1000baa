"""Helpers of the reliability tests: a small valid session cut from the bundled sample, the CLI as a
real process, and CLI calls in this process that report any traceback as exit status 1."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "toy_width5.h5"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}


def cli(*args, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    """``lsexplorer ARGS`` as its own process."""
    return subprocess.run([sys.executable, "-m", "lsexplorer", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout, **kw)


def run_main(*args) -> tuple[int, str, str]:
    """``lsexplorer.cli.commands.main(ARGS)`` in this process: ``(status, stdout, stderr)``; an escaping exception is
    status 1 with its traceback as stderr, as the interpreter would report it."""
    from lsexplorer.cli.commands import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
        except BaseException:  # noqa: BLE001 - any escaping exception is a crash here
            code, err = 1, io.StringIO(traceback.format_exc())
    return code, out.getvalue(), err.getvalue()


def _remap_analyses(tree: dict, mapping: dict[int, int]) -> dict:
    def rows(group: dict) -> dict:
        return {str(mapping[int(k)]): v for k, v in group.items() if int(k) in mapping}

    out = {}
    for name, group in tree.items():
        if name == "theorems":
            out[name] = rows(group)
            continue
        group = dict(group)
        if "points" in group:
            group["points"] = rows(group["points"])
        if "summary" in group:
            s = group["summary"]
            keep = np.isin(s["run"], list(mapping))
            group["summary"] = {k: v[keep] for k, v in s.items()}
            group["summary"]["run"] = np.array([mapping[int(r)] for r in s["run"][keep]], dtype=np.int64)
        out[name] = group
    return out


def small_session():
    """Four runs of the sample session (a global minimum, a local minimum with every analysis, a
    not_converged run whose refined point is NaN, another global minimum) with their analyses."""
    from lsexplorer.core.store.session import LossCurve, Runs, Trajectory, load_session

    s = load_session(SAMPLE)
    kind = s.runs.kind
    local = next(int(r) for r in s.analyses["theorems"] if kind[int(r)] == "local_min"
                 and r in s.analyses["mu_sweep"]["points"] and r in s.analyses["escape"]["points"])
    glob = [int(r) for r in np.flatnonzero(kind == "global_min")[:2]]
    bad = int(np.flatnonzero(kind == "not_converged")[0])
    keep = sorted({glob[0], local, bad, glob[1]})
    r = s.runs
    fields = {f.name: getattr(r, f.name)[keep] for f in dataclasses.fields(Runs)
              if f.name not in ("trajectory", "loss_curve")}
    fields["theta"] = fields["theta"].copy()
    fields["theta"][keep.index(bad)] = np.nan
    runs = Runs(**fields, trajectory=Trajectory(r.trajectory.epochs, r.trajectory.theta[keep], r.trajectory.loss[keep]),
                loss_curve=LossCurve(r.loss_curve.epochs, r.loss_curve.loss[keep]))
    config = dict(s.config, seeds=[int(x) for x in runs.seed])
    analyses = _remap_analyses(s.analyses, {old: new for new, old in enumerate(keep)})
    return dataclasses.replace(s, config=config, runs=runs, analyses=analyses), keep.index(local)


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str):
    """A tmpfs of ``size`` (mount's syntax, e.g. ``600k``) mounted on ``folder`` (made) for a block;
    skips the test where mounting is not permitted (it needs root)."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def sha(path: Path) -> str:
    """The SHA-256 of a file's bytes: "untouched" means this did not change."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def one_line_error(err: str, needle: str = "") -> None:
    """``err`` is one line from lsexplorer (``lsexplorer VERB: …`` or, before a verb, ``lsexplorer: …``),
    no traceback, and holds ``needle``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(("lsexplorer ", "lsexplorer:")) and "Traceback" not in err, err
    assert needle in lines[0], lines[0]
