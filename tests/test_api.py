"""The public Python API (``import lsexplorer as lx``): its names, and that it behaves as the CLI does.

Opening refuses a damaged or foreign file with the line ``lsexplorer info`` prints; the runs table
holds what ``info --runs --json`` lists, with NA where nothing was computed; training and importing
refuse bad input before writing anything, and an interrupt leaves nothing behind.
"""

from __future__ import annotations

import _thread
import importlib
import json
import pkgutil
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import lsexplorer as lx
from lsexplorer.cli.commands import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "toy_width5.h5"
#: A small Gaussian-teacher problem that trains and refines in about a second: widths 2 (the
#: teacher's) and 3 give global and local minima.
SMALL = {"preset": "gaussian", "data": {"n_samples": 64, "teacher_widths": [2]}, "refine": {"slsqp_maxeval": 3000},
         "epochs": 3000, "lr": 0.05, "device": "cpu"}


def _small(**more):
    settings = {**SMALL, **more}
    return lx.train(settings.pop("preset"), progress=False, **settings)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> Path:
    """Six width-3 students of the small problem, saved once; tests open their own copy in memory."""
    out = tmp_path_factory.mktemp("small") / "small.h5"
    _small(seeds=6, width=3, output=out)
    return out


@pytest.fixture(scope="module")
def sample():
    return lx.open(SAMPLE)


# ------------------------------------------------------------------------------------------------ names


def test_everything_public_is_in_all_and_nothing_else_becomes_public():
    assert lx.__version__ == "0.1.0"
    for name in lx.__all__:
        assert getattr(lx, name) is not None
    assert lx.figures is importlib.import_module("lsexplorer.figures")
    # Importing every module of the package makes each a (public-looking) attribute of its parent.
    for module in pkgutil.walk_packages(lx.__path__, "lsexplorer."):
        if module.name != "lsexplorer.__main__" and not module.name.startswith("lsexplorer.gui"):
            importlib.import_module(module.name)
    submodules = {m.name for m in pkgutil.iter_modules(lx.__path__)}
    public = {name for name in vars(lx) if not name.startswith("_")}
    assert public - set(lx.__all__) - submodules == set()
    assert set(dir(lx)) >= set(lx.__all__)


def test_every_public_name_has_a_numpydoc_docstring():
    for name in lx.__all__:
        obj = getattr(lx, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
    for fn in (lx.open, lx.train, lx.sweep, lx.import_students, lx.counting, lx.Session.analyze, lx.Session.path,
               lx.Session.figure, lx.Session.save):
        assert "Raises\n" in fn.__doc__, fn.__qualname__


def test_importing_lsexplorer_loads_no_numerics():
    import subprocess
    import sys

    code = "import sys, lsexplorer; print(sorted(m for m in ('numpy', 'torch', 'h5py', 'pandas', 'matplotlib') " \
           "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


# ------------------------------------------------------------------------------------------------ opening


def _info_error(path: Path, capsys) -> str:
    """The one line ``lsexplorer info PATH`` prints, without its ``lsexplorer info: error: `` prefix."""
    capsys.readouterr()
    assert cli_main(["info", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lsexplorer info: error: "), lines
    return lines[0].removeprefix("lsexplorer info: error: ")


def _bad_files(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {"random bytes": folder / "noise.h5", "text": folder / "notes.h5", "foreign HDF5": folder / "foreign.h5",
             "truncated session": folder / "truncated.h5", "newer format": folder / "newer.h5",
             "missing": folder / "missing.h5"}
    files["random bytes"].write_bytes(rng.bytes(4096))
    files["text"].write_text("not a session\n")
    with h5py.File(files["foreign HDF5"], "w") as f:
        f["weights"] = np.zeros(3)
    files["truncated session"].write_bytes(SAMPLE.read_bytes()[:200_000])
    files["newer format"].write_bytes(SAMPLE.read_bytes())
    with h5py.File(files["newer format"], "r+") as f:
        f.attrs["format_version"] = np.int64(99)
    return files


def test_open_refuses_a_damaged_or_foreign_file_with_the_line_info_prints(tmp_path, capsys):
    for what, path in _bad_files(tmp_path).items():
        with pytest.raises(lx.InputError) as caught:
            lx.open(path)
        message = str(caught.value)
        assert "\n" not in message, what
        assert message == _info_error(path, capsys), what


def test_open_refuses_a_folder_in_one_line(tmp_path):
    with pytest.raises(lx.InputError, match="a folder"):
        lx.open(tmp_path)


# ------------------------------------------------------------------------------------------------ tables


def test_runs_hold_what_info_lists_and_na_where_nothing_was_computed(sample, capsys):
    runs = sample.runs
    assert list(runs.columns) == ["run", "seed", "kind", "loss", "grad_norm", "lambda_min", "index", "degeneracy",
                                  "symmetry_induced", "symmetry_type", "loss_limit", "train_loss", "stop_reason"]
    assert cli_main(["info", str(SAMPLE), "--runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["per_run"]
    assert len(runs) == len(listed) == len(sample) == 100
    for record in listed:
        row = runs.loc[record["run"]]
        for key in ("seed", "kind", "stop_reason"):
            assert row[key] == record[key]
        for key in ("loss", "grad_norm", "lambda_min"):
            assert row[key] == record[key] if record[key] is not None else np.isnan(row[key])
    kinds = runs.kind
    # The not-converged run (62) was not given a symmetry decision, an index or a type: NA, not 0.
    stuck = runs[kinds == "not_converged"]
    assert stuck.index.tolist() == [62]
    assert stuck.symmetry_induced.isna().all() and stuck["index"].isna().all() and stuck.symmetry_type.isna().all()
    assert (runs.loc[kinds == "local_min", "index"] == 0).all()
    channels = runs[kinds == "channel"]
    assert channels.loss_limit.notna().all() and runs.loc[kinds != "channel", "loss_limit"].isna().all()
    assert channels.loss_limit.between(4e-5, 2e-4).all()
    # Every global minimum of the sample reduces to the teacher, each with its symmetry type; nothing else does.
    induced = runs[runs.symmetry_induced.fillna(False)]
    assert len(induced) == 51 and (induced.kind == "global_min").all()
    assert induced.symmetry_type.value_counts().to_dict() == {"duplicate": 25, "zero_outgoing": 14, "zero_incoming": 8,
                                                              "flipped_duplicate": 4}
    assert (runs.loc[kinds == "local_min", "symmetry_type"] == "irreducible").all()


def test_outcomes_are_the_info_table(sample, capsys):
    table = sample.outcomes
    assert cli_main(["info", str(SAMPLE), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    for kind in table.index[:-1]:
        assert table.loc[kind, "count"] == counts[kind]
    assert table.loc["total", "count"] == counts["runs"] and table.loc["total", "symmetry_induced"] == 51
    assert counts["symmetry_types_by_kind"]["global_min"] == {"duplicate": 25, "zero_outgoing": 14, "zero_incoming": 8,
                                                              "flipped_duplicate": 4}


def test_point_holds_the_stored_run(sample):
    point = sample.point(2)
    runs = sample.core.runs
    assert point.kind == "global_min" and point.symmetry_type == "duplicate" and point.symmetry_induced is True
    assert np.array_equal(point.theta, runs.theta[2]) and np.array_equal(point.eigenvalues, runs.hessian_eigvals[2])
    assert point.network == {"widths": [2, 5, 1], "activation": "sigmoid", "bias": False}
    (w1, b1), (w2, b2) = point.layers
    assert w1.shape == (5, 2) and w2.shape == (1, 5) and b1 is None and b2 is None
    assert np.array_equal(np.concatenate([w1.ravel(), w2.ravel()]), point.theta)
    assert point.stop_reason == str(runs.stop_reason[2])
    for bad in (100, -1, [1, 2], "2"):
        with pytest.raises(lx.InputError):
            sample.point(bad)


def test_figures_take_the_api_session(sample):
    from matplotlib.figure import Figure

    assert isinstance(sample.figure("training_loss"), Figure)
    assert isinstance(lx.figures.figure("training_loss", sample), Figure)
    with pytest.raises(lx.InputError, match="unknown figure"):
        sample.figure("no_such_figure")
    with pytest.raises(lx.InputError, match="unknown figure option"):
        sample.figure("training_loss", zoom=2)


def test_counting_is_the_cli_count(capsys):
    assert cli_main(["counting", "--r", "3", "--m", "5", "--json"]) == 0
    assert lx.counting(3, 5) == json.loads(capsys.readouterr().out)
    for bad in ((0, 3), (2, 2.5), (True, 3)):
        with pytest.raises(lx.InputError):
            lx.counting(*bad)
    with pytest.raises(lx.InputError, match="zero_type"):
        lx.counting(2, 3, zero_type="pairs")


# ------------------------------------------------------------------------------------------------ computing


def test_train_analyze_path_save_and_reopen(small_file, tmp_path):
    fresh = _small(seeds=2, epochs=10)
    assert len(fresh) == 2 and fresh.file is None
    session = lx.open(small_file)
    assert len(session) == 6 and session.file == small_file
    assert session.config["network"]["widths"] == [2, 3, 1]
    assert session.runs.symmetry_induced.isna().all()  # nothing analysed yet
    critical = [int(r) for r in session.runs.index[session.runs.kind.isin(["global_min", "local_min"])]]
    summary = session.analyze("closest_saddle", runs=critical[0], progress=False)
    assert summary["closest_saddle"]["runs"] == 1
    assert session.runs.symmetry_induced.notna().sum() == 1
    path = session.path(critical[0], critical[1], images=6, max_seconds=2, progress=False)
    assert (path.run_from, path.run_to) == (critical[0], critical[1])
    assert path.loss.shape == path.arc.shape == (len(path.images),) and path.barrier >= 0
    assert path.highest_point and path.summary["images"] == len(path.images)
    out = session.save(tmp_path / "small.h5")
    assert session.file == out
    reopened = lx.open(out)
    assert reopened.runs.equals(session.runs)
    assert set(reopened.core.analyses["paths"]) == {f"{critical[0]}_to_{critical[1]}"}
    session.save()  # back into its own file: no overwrite= needed
    (tmp_path / "other.h5").write_bytes(b"someone else's")
    with pytest.raises(lx.InputError, match="overwrite=True"):
        session.save(tmp_path / "other.h5")
    assert (tmp_path / "other.h5").read_bytes() == b"someone else's"


def test_bad_input_is_one_input_error_and_writes_nothing(small_file, tmp_path):
    out = tmp_path / "out.h5"
    small_session = lx.open(small_file)
    never_saved = lx.Session(small_session.core)
    calls = [
        (lambda: lx.train("no-such-preset", seeds=2, output=out), "unknown preset"),
        (lambda: _small(seeds=2, foo=1, output=out), "unknown setting foo="),
        (lambda: _small(seeds=2, lr=-1.0, output=out), "train.lr"),
        (lambda: _small(seeds=2, output=tmp_path / "no" / "out.h5"), "does not exist"),
        (lambda: _small(seeds=[1, 1], output=out), "repeat"),
        (lambda: _small(seeds=[1, 2], first_seed=3, output=out), "first_seed"),
        (lambda: _small(seeds=2, device="cuda:7", output=out), "cuda"),
        (lambda: lx.import_students(tmp_path / "none.npz", output=out), "none.npz"),
        (lambda: small_session.analyze("no_such_analysis"), "unknown analysis"),
        (lambda: small_session.analyze("escape", runs=[0, 99]), "runs 0..5"),
        (lambda: small_session.analyze("escape", options={"escape": {"max_seconds": -1}}), "positive"),
        (lambda: small_session.path(0, 0), "two different runs"),
        (lambda: small_session.path(0, 1, images=0), "images="),
        (lambda: small_session.path(0, 1, max_seconds=0), "max_seconds="),
        (lambda: never_saved.save(), "no file"),
    ]
    for call, needle in calls:
        with pytest.raises(lx.InputError) as caught:
            call()
        assert needle in str(caught.value) and "\n" not in str(caught.value), (needle, caught.value)
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"keep")
    with pytest.raises(lx.InputError, match="overwrite=True"):
        _small(seeds=2, output=out)
    assert out.read_bytes() == b"keep"


def test_an_interrupt_stops_training_writes_nothing_and_propagates(tmp_path):
    out = tmp_path / "interrupted.h5"
    timer = threading.Timer(1.5, _thread.interrupt_main)  # what Ctrl-C or a kernel interrupt does
    timer.start()
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            _small(seeds=4, epochs=10_000_000, output=out)
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no session, no temporary, no lock file left
    _small(seeds=1, epochs=10, output=out)  # the writer lock was released
    assert lx.open(out).runs.shape[0] == 1


def test_import_students_as_the_cli_imports_them(small_file, tmp_path):
    theta = lx.open(small_file).core.runs.theta
    np.savez(tmp_path / "students.npz", theta=theta, seed=np.arange(10, 10 + len(theta)))
    imported = lx.import_students(tmp_path / "students.npz", like=small_file, output=tmp_path / "imported.h5",
                                  progress=False)
    assert cli_main(["import", str(tmp_path / "students.npz"), "--like", str(small_file), "-q",
                     "-o", str(tmp_path / "cli.h5")]) == 0
    assert imported.file == tmp_path / "imported.h5"
    assert list(imported.runs.seed) == list(range(10, 16))
    assert imported.runs.equals(lx.open(tmp_path / "cli.h5").runs)
    assert np.array_equal(imported.core.runs.theta, theta)


def test_open_sweep_refuses_a_folder_without_a_sweep(tmp_path):
    with pytest.raises(lx.InputError):
        lx.open_sweep(tmp_path)


def test_a_sweep_returns_a_session_per_width(tmp_path):
    pytest.importorskip("distributed")
    sweep = lx.sweep([2, 3], tmp_path / "sweep", seeds=4, chunk=4, workers=1, progress=False,
                     **{k: v for k, v in SMALL.items() if k != "preset"}, preset="gaussian")
    assert sweep.failed == {}
    assert set(sweep.sessions) == {"w2", "w3"}
    assert [len(s) for s in sweep.sessions.values()] == [4, 4]
    table = sweep.outcomes
    assert set(table.point) == {"w2", "w3"} and table.complete.all()
    assert table.groupby("point")["count"].sum().to_dict() == {"w2": 4, "w3": 4}
    assert repr(lx.open_sweep(tmp_path / "sweep")).endswith("2 of 2 points complete>")
