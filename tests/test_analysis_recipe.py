"""The recipe of docs/architecture.md: one module's ``Analysis`` is all it takes for an analysis to be a
CLI flag, computed and stored, listed by ``info``, checked when its session is opened again, and
computed on request by the app."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from lsexplorer.core.analyses import REGISTRY, checks
from lsexplorer.core.analyses.base import Analysis, Context, group_of
from lsexplorer.core.analyses.opening import open_session
from lsexplorer.core.store.session import SessionError

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"
GROUP = "theta_norm"


# ---- the analysis, written as a module of core/analyses would be --------------------------------

@dataclasses.dataclass(frozen=True)
class NormOptions:
    order: float = dataclasses.field(default=2.0, metadata={"help": "which p-norm"})


def _compute(ctx: Context, row: int):
    return float(np.linalg.norm(ctx.session.runs.theta[row], ord=ctx.options_of(THETA_NORM).order))
    yield  # a generator without progress of its own


def _write(session, results: dict[int, float]) -> None:
    points = session.analyses.setdefault(GROUP, {}).setdefault("points", {})
    for row, value in results.items():
        points[str(row)] = {"norm": value}
    ordered = sorted(points, key=int)
    session.analyses[GROUP]["summary"] = {"run": np.array([int(r) for r in ordered], dtype=np.int64),
                                          "norm": np.array([points[r]["norm"] for r in ordered])}


def _read(session, row: int) -> float | None:
    point = group_of(session, GROUP).get("points", {}).get(str(int(row)))
    return None if point is None else float(point["norm"])


def _summary(session) -> dict | None:
    table = group_of(session, GROUP).get("summary")
    return None if table is None else {"runs": len(table["run"]), "largest": round(float(table["norm"].max()), 3)}


def _check(group, session, results: bool) -> None:
    g = checks.points_and_summary(group, f"/analyses/{GROUP}", session.runs.n_runs, ("run", "norm"))
    for row, point in g.get("points", {}).items():
        norm = point.get("norm")
        if not isinstance(norm, float) or not norm >= 0:
            checks.bad(f"/analyses/{GROUP}/points/{row}/norm", f"must be a norm (a number >= 0), got {norm!r}")


THETA_NORM = Analysis(name=GROUP, group=GROUP, help="the norm of every chosen run's point", compute=_compute,
                      write=_write, read=_read, summary=_summary, rows=lambda ctx: list(ctx.rows), check=_check,
                      options=NormOptions)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(REGISTRY, GROUP, THETA_NORM)
    return THETA_NORM


@pytest.fixture
def session_file(tmp_path):
    path = tmp_path / "s.h5"
    shutil.copy(SAMPLE, path)
    return path


def test_a_registered_analysis_is_a_flag_stored_listed_and_checked(registered, session_file, capsys):
    from lsexplorer.cli.commands import main

    with pytest.raises(SystemExit):  # the flags are built from the registry as it is now
        main(["analyze", "--help"])
    help_text = capsys.readouterr().out
    assert "--theta-norm" in help_text and "the norm of every chosen run's point" in help_text
    assert "--theta-norm-order" in help_text and "which p-norm [2.0]" in help_text

    assert main(["analyze", str(session_file), "--theta-norm", "--runs", "0,3", "-q"]) == 0
    assert "theta norm: runs 2" in capsys.readouterr().out
    session = open_session(session_file)
    for row in (0, 3):
        assert registered.read(session, row) == pytest.approx(np.linalg.norm(session.runs.theta[row]), rel=1e-15)
    assert registered.read(session, 1) is None
    assert main(["analyze", str(session_file), "--theta-norm", "--theta-norm-order", "1", "--runs", "1", "-q"]) == 0
    theta = open_session(session_file).runs.theta[1]
    assert registered.read(open_session(session_file), 1) == pytest.approx(np.abs(theta).sum(), rel=1e-15)
    assert main(["info", str(session_file)]) == 0
    assert "analysis theta norm: runs 3" in capsys.readouterr().out

    with h5py.File(session_file, "r+") as f:  # a hand-edited file: the analysis' own check refuses it
        f[f"/analyses/{GROUP}/points/3"].attrs["norm"] = -1.0
    with pytest.raises(SessionError, match=f"/analyses/{GROUP}/points/3/norm must be a norm"):
        open_session(session_file)
    assert main(["info", str(session_file)]) == 2
    assert f"/analyses/{GROUP}/points/3/norm must be a norm" in capsys.readouterr().err


def test_the_app_computes_a_registered_analysis_on_request(registered, session_file, qtbot):
    from lsexplorer.gui.analysis import requestable
    from lsexplorer.gui.model import SessionModel

    assert GROUP in requestable()
    model = SessionModel()
    model.set_session(open_session(session_file), session_file)
    finished = []
    model.analysis.finished.connect(lambda row, names: finished.append((row, names)))
    model.analysis.request(5, [GROUP])
    assert model.analysis.wait(60_000)
    assert finished == [(5, (GROUP,))]
    assert registered.read(model.session, 5) == pytest.approx(np.linalg.norm(model.session.runs.theta[5]), rel=1e-15)
    assert model.modified
