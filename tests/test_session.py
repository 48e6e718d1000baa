"""The HDF5 session store: exact round trips, validation of bad files, atomic saves."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from lsexplorer.core.data.datasets import toy_dataset
from lsexplorer.core.landscape.nets import MLPSpec
from lsexplorer.core.store.session import (FORMAT, FORMAT_VERSION, KINDS, LossCurve, Runs, Session, SessionError,
                                     Trajectory, load_session, save_session, validate_session)

REPO = Path(__file__).resolve().parents[1]
TOLERANCES = {"grad_tol": 1e-10, "eig_rtol": 1e-6, "loss_atol": 1e-12, "max_norm_growth": 10}


#: The kinds of format 1; make_session cycles through them.
FIVE_KINDS = ("global_min", "local_min", "strict_saddle", "nonstrict_saddle", "not_converged")


def make_session(S: int = 6, N: int = 30, K: int = 5, L: int = 20, teacher: bool = True, seed: int = 0) -> Session:
    """A small 2-5-1 session with every field filled; run ``i`` has kind ``FIVE_KINDS[i % 5]``.

    The not_converged rows carry NaN/inf where the schema allows them.
    """
    rng = np.random.default_rng(seed)
    spec = MLPSpec((2, 5, 1))
    P = spec.n_params
    kind = np.array([FIVE_KINDS[i % 5] for i in range(S)])
    bad = kind == "not_converged"
    eig = np.sort(rng.normal(size=(S, P)), axis=1)
    loss = rng.uniform(0, 1, S)
    loss[bad] = np.nan
    eig[bad] = np.nan
    traj_loss = rng.uniform(0, 1, (S, K))
    traj_loss[bad, -1] = np.inf
    runs = Runs(seed=np.arange(S) * 7, theta_init=rng.normal(size=(S, P)), theta=rng.normal(size=(S, P)),
                loss=loss, grad_norm=rng.uniform(0, 1e-12, S), hessian_eigvals=eig, kind=kind,
                degeneracy=rng.integers(0, 3, S), lambda_min=eig[:, 0],
                stop_reason=np.array(["xtol reached", "ftol ✓"] * S)[:S], train_loss=rng.uniform(0, 1, S),
                theta_trained=rng.normal(size=(S, P)), symmetry_induced=rng.uniform(size=S) < 0.5,
                trajectory=Trajectory(epochs=np.arange(K) ** 2,
                                      theta=rng.normal(size=(S, K, P)), loss=traj_loss),
                loss_curve=LossCurve(epochs=np.arange(L) * 10, loss=rng.uniform(0, 1, (S, L))))
    teacher_spec = MLPSpec((2, 4, 1))
    config = {"preset": "toy", "data": {"kind": "gaussian", "n_samples": N}, "network": spec.to_dict(),
              "teacher": teacher_spec.to_dict() if teacher else None, "seeds": runs.seed.tolist(),
              "train": {"epochs": 10_000, "lr": 0.01}, "refine": {"method": "LD_SLSQP"}, "tolerances": TOLERANCES}
    return Session(config=config, x=rng.normal(size=(N, 2)), y=rng.normal(size=(N, 1)),
                   teacher_theta=rng.normal(size=teacher_spec.n_params) if teacher else None, runs=runs,
                   analyses={"symmetry": {"pairs": np.array([[0, 1], [2, 3]]), "note": "run 0 ≈ run 1"}},
                   created="2026-05-09T07:35:25+00:00")


def assert_same_array(a, b) -> None:
    """Equal values, shape and dtype; str arrays may differ in itemsize (it is not stored)."""
    assert isinstance(b, np.ndarray) and a.shape == b.shape
    assert a.dtype == b.dtype or a.dtype.kind == b.dtype.kind == "U"
    np.testing.assert_array_equal(a, b)  # NaN == NaN here


def assert_same_tree(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, dict):
            assert_same_tree(value, b[key])
        elif isinstance(value, np.ndarray):
            assert_same_array(value, b[key])
        elif isinstance(value, float) and np.isnan(value):
            assert isinstance(b[key], float) and np.isnan(b[key])
        else:
            assert type(b[key]) is type(value) and b[key] == value, key


def assert_same_session(a: Session, b: Session) -> None:
    assert a.config == b.config
    assert (a.lsexplorer_version, a.created) == (b.lsexplorer_version, b.created)
    assert_same_array(a.x, b.x)
    assert_same_array(a.y, b.y)
    if a.teacher_theta is None:
        assert b.teacher_theta is None
    else:
        assert_same_array(a.teacher_theta, b.teacher_theta)
    for field in dataclasses.fields(Runs):
        va, vb = getattr(a.runs, field.name), getattr(b.runs, field.name)
        if va is None:
            assert vb is None, field.name
        elif isinstance(va, np.ndarray):
            assert_same_array(va, vb)
        else:
            for part in dataclasses.fields(va):
                assert_same_array(getattr(va, part.name), getattr(vb, part.name))
    assert_same_tree(a.analyses, b.analyses)


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "good.h5"
    save_session(make_session(), path)
    return path


# ---------------------------------------------------------------------------- round trips

def test_round_trip_every_field(tmp_path):
    session = make_session()
    save_session(session, tmp_path / "s.h5")
    loaded = load_session(tmp_path / "s.h5")
    assert_same_session(session, loaded)
    assert loaded.runs.theta.dtype == np.float64 and loaded.runs.trajectory.theta.dtype == np.float32
    assert loaded.runs.kind.dtype.kind == "U" and loaded.runs.symmetry_induced.dtype == bool
    assert loaded.spec == MLPSpec((2, 5, 1)) and loaded.teacher_spec == MLPSpec((2, 4, 1))


def test_round_trip_minimal_session(tmp_path):
    """No teacher, trajectory, loss curve or analyses; symmetry_induced defaults to all False."""
    full = make_session(teacher=False)
    r = full.runs
    runs = Runs(**{f.name: getattr(r, f.name) for f in dataclasses.fields(Runs)
                   if f.name not in ("symmetry_induced", "trajectory", "loss_curve")})
    session = Session(config=full.config, x=full.x, y=full.y, teacher_theta=None, runs=runs)
    assert not runs.symmetry_induced.any() and runs.symmetry_induced.shape == (6,)
    save_session(session, tmp_path / "s.h5")
    loaded = load_session(tmp_path / "s.h5")
    assert_same_session(session, loaded)
    assert loaded.teacher_spec is None and loaded.runs.trajectory is None and loaded.analyses == {}
    with h5py.File(tmp_path / "s.h5") as f:
        assert "teacher" not in f and "trajectory" not in f["runs"] and "analyses" in f


def test_round_trip_no_runs(tmp_path):
    session = make_session(S=0)
    save_session(session, tmp_path / "s.h5")
    loaded = load_session(tmp_path / "s.h5")
    assert_same_session(session, loaded)
    assert loaded.outcome_counts()["runs"] == 0


def test_analyses_nested_round_trip(tmp_path):
    session = make_session()
    session.analyses = {
        "symmetry": {
            "groups": {"g0": np.array([0, 3]), "g1": np.array([], dtype=np.int64)},
            "reduced_theta": np.random.default_rng(1).normal(size=(100, 15)),  # big enough to be compressed
            "flags": np.array([True, False]), "labels": np.array(["w₁", "a"]), "eigs": np.array([1 + 2j]),
            "small": np.arange(4, dtype=np.int8), "half": np.ones((2, 2), dtype=np.float32),
            "zero_d": np.array(2.5), "zero_d_str": np.array("μ"), "no_labels": np.array([], dtype=str), "empty": {},
        },
        "count": 3, "ratio": 0.25, "ok": True, "name": "escape ∇", "nothing": None, "missing": float("nan"),
        "big": 2**62, "c": 1 - 1j,
    }
    save_session(session, tmp_path / "s.h5")
    loaded = load_session(tmp_path / "s.h5")
    assert_same_tree(session.analyses, loaded.analyses)
    assert list(loaded.analyses["symmetry"]) == list(session.analyses["symmetry"])  # creation order kept
    # numpy scalars come back as the Python scalar they equal
    session.analyses = {"f": np.float32(0.5), "i": np.int16(-3), "b": np.bool_(False)}
    save_session(session, tmp_path / "s.h5")
    assert load_session(tmp_path / "s.h5").analyses == {"f": 0.5, "i": -3, "b": False}


@pytest.mark.parametrize("analyses, reason", [
    ({"runs": [1, 2, 3]}, "/analyses/runs is a list"),
    ({"a": {"b": np.array([object()])}}, "/analyses/a/b is a object array"),
    ({"a/b": 1}, "key 'a/b' cannot name an HDF5 object"),
    ({3: 1}, "key 3 cannot name"),
    ({"huge": 2**70}, "does not fit in int64"),
])
def test_bad_analyses_are_refused(tmp_path, analyses, reason):
    session = make_session()
    session.analyses = analyses
    with pytest.raises(SessionError, match=re.escape(reason)):
        save_session(session, tmp_path / "s.h5")
    assert not list(tmp_path.iterdir())


def test_outcome_counts():
    session = make_session(S=12)
    session.runs.symmetry_induced[:] = False
    session.runs.symmetry_induced[[1, 4, 7]] = True
    assert session.outcome_counts() == {"runs": 12, "global_min": 3, "local_min": 3, "strict_saddle": 2,
                                        "nonstrict_saddle": 2, "channel": 0, "channel_saddle": 0,
                                        "not_converged": 2, "symmetry_induced": 3}


def test_file_layout_readable_with_plain_h5py(saved):
    """The file is self-describing: root attributes, tolerances on /runs/kind, the docs' snippet runs."""
    with h5py.File(saved) as f:
        assert f.attrs["format"] == FORMAT and f.attrs["format_version"] == FORMAT_VERSION
        assert dict(f["runs/kind"].attrs) == {"grad_tol": 1e-10, "eig_rtol": 1e-6, "loss_atol": 1e-12,
                                              "max_norm_growth": 10}
    doc = (REPO / "docs" / "session-format.md").read_text()
    snippet = re.search(r"<!-- plain-h5py -->\s*```python\n(.*?)```", doc, re.S).group(1)
    assert len(snippet.strip().splitlines()) <= 5
    scope = {"path": str(saved)}
    exec(snippet, scope)
    assert scope["theta"].shape == (6, 15) and list(scope["kind"][:2]) == ["global_min", "local_min"]


def test_toy_session_with_trajectories_stays_small(tmp_path):
    """100 toy seeds, 60 snapshots, a 1000-point loss curve: a few MB."""
    data = toy_dataset()
    S, K, L = 100, 60, 1000
    base = make_session(S=S, K=K, L=L)
    rng = np.random.default_rng(3)
    # training drifts smoothly, which is what the compressor sees in practice
    base.runs.trajectory.theta = np.cumsum(rng.normal(scale=0.01, size=(S, K, 15)), axis=1).astype(np.float32)
    session = Session(config=base.config | {"teacher": data.teacher_spec.to_dict()}, x=data.x, y=data.y,
                      teacher_theta=data.teacher_theta, runs=base.runs)
    save_session(session, tmp_path / "toy.h5")
    assert (tmp_path / "toy.h5").stat().st_size < 4_000_000
    assert_same_session(session, load_session(tmp_path / "toy.h5"))


# ---------------------------------------------------------------------------- bad files

def _edit(path: Path, fn) -> None:
    with h5py.File(path, "r+") as f:
        fn(f)


def _replace(name: str, make):
    def edit(f):
        old = f[name][()]
        del f[name]
        f[name] = make(old)
    return edit


def _set_config(**changes):
    def edit(f):
        f.attrs["config"] = json.dumps(json.loads(f.attrs["config"]) | changes)
    return edit


def _set_row(name: str, row: int, value):
    def edit(f):
        f[name][row] = value
    return edit


BAD_EDITS = {
    "wrong format": (lambda f: f.attrs.__setitem__("format", "pandas.table"),
                     "not an lsexplorer session (format 'pandas.table'"),
    "newer version": (lambda f: f.attrs.__setitem__("format_version", 3),
                      "written by a newer lsexplorer (format 3); this one reads up to 2"),
    "bad json": (lambda f: f.attrs.__setitem__("config", "{network: [2, 5"), "config attribute is not valid JSON"),
    "no network": (_set_config(network=None), 'config["network"] must be an object'),
    "no tolerances": (_set_config(tolerances=None), 'config["tolerances"] must be an object'),
    "missing dataset": (lambda f: f.__delitem__("runs/grad_norm"), "/runs/grad_norm is missing"),
    "missing runs": (lambda f: f.__delitem__("runs"), "/runs is missing"),
    "missing teacher": (lambda f: f.__delitem__("teacher"), "names a teacher but /teacher/theta is missing"),
    "P vs widths": (_set_config(network={"widths": [2, 6, 1], "activation": "sigmoid", "bias": False}),
                    "/runs/theta_init has shape (6, 15), expected (6, 18) (S = 6 runs from /runs/seed, "
                    "P = 18 parameters of the network 2-6-1)"),
    "S mismatch": (_replace("runs/loss", lambda a: a[:5]), "/runs/loss has shape (5,), expected (6,)"),
    "x width": (_replace("data/x", lambda a: np.hstack([a, a])),
                "/data/x (30, 4) and /data/y (30, 1) do not fit the network 2-5-1"),
    "y rows": (_replace("data/y", lambda a: a[:-1]), "must be (N, d) and (N, d_out)"),
    "eigvals shape": (_replace("runs/hessian_eigvals", lambda a: a[:, 1:]),
                      "/runs/hessian_eigvals has shape (6, 14), expected (6, 15)"),
    "eigvals unsorted": (_replace("runs/hessian_eigvals", lambda a: a[:, ::-1]), "must be sorted ascending"),
    "trajectory K": (_replace("runs/trajectory/loss", lambda a: a[:, :-1]),
                     "/runs/trajectory/loss has shape (6, 4), expected (6, 5)"),
    "unknown kind": (_replace("runs/kind", lambda a: np.array([b"minimum"] + list(a[1:]), dtype=object)),
                     "/runs/kind of run 0 is 'minimum'; expected one of global_min"),
    "kind as numbers": (_replace("runs/kind", lambda a: np.zeros(6)), "/runs/kind holds float64, expected strings"),
    "nan theta": (_set_row("runs/theta", 0, np.nan),
                  "/runs/theta of run 0 (seed 0, global_min) is not finite; only not_converged runs"),
    "nan loss": (_set_row("runs/loss", 1, np.nan), "/runs/loss of run 1 (seed 7, local_min) is not finite"),
    "nan theta_init": (_set_row("runs/theta_init", 4, np.nan), "/runs/theta_init of run 4 (seed 28, not_conve"),
    "negative loss": (_set_row("runs/loss", 0, -1.0), "/runs/loss holds negative values"),
    "repeated seed": (_set_row("runs/seed", 1, 0), "/runs/seed repeats a seed"),
}


@pytest.mark.parametrize("case", BAD_EDITS)
def test_bad_session_files(saved, case):
    edit, reason = BAD_EDITS[case]
    _edit(saved, edit)
    with pytest.raises(SessionError) as info:
        load_session(saved)
    message = str(info.value)
    assert message.startswith(f"cannot open {saved}: ") and reason in message
    assert "\n" not in message and "Traceback" not in message


def _not_hdf5(path: Path) -> None:
    path.write_text("x,y\n1,2\n")


def _truncated(path: Path) -> None:
    save_session(make_session(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((3, 4, 4))
        f["labels"] = np.arange(3)


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "it is a folder"),
    (_not_hdf5, "not an HDF5 file"),
    (_truncated, "not a readable HDF5 file, it may be truncated or corrupt"),
    (_foreign, "not an lsexplorer session (no 'format' attribute; it holds /images, /labels)"),
])
def test_unopenable_files(tmp_path, make, reason):
    path = tmp_path / "s.h5"
    make(path)
    with pytest.raises(SessionError) as info:
        load_session(path)
    assert str(info.value).startswith(f"cannot open {path}: ") and reason in str(info.value)
    assert "\n" not in str(info.value)


def test_not_converged_rows_may_hold_nan(saved):
    """Run 4 is not_converged: NaN/inf in its refined point and training end are accepted."""
    _edit(saved, _set_row("runs/theta", 4, np.nan))
    _edit(saved, _set_row("runs/theta_trained", 4, np.inf))
    assert np.isnan(load_session(saved).runs.theta[4]).all()


def test_validate_session_in_memory():
    session = make_session()
    validate_session(session)
    session.runs.kind[2] = "maximum"
    with pytest.raises(SessionError, match=r"^invalid session: /runs/kind of run 2 is 'maximum'"):
        validate_session(session)
    session = make_session()
    session.config["teacher"] = None
    with pytest.raises(SessionError, match=re.escape('/teacher/theta is present but config["teacher"] is null')):
        validate_session(session)
    session = make_session()
    session.runs.seed = session.runs.seed.astype(float)
    with pytest.raises(SessionError, match="/runs/seed must be a numpy int64 array, got float64"):
        validate_session(session)
    session = make_session()
    session.runs.trajectory.theta = session.runs.trajectory.theta.tolist()
    with pytest.raises(SessionError, match="/runs/trajectory/theta must be a numpy float32 array, got list"):
        validate_session(session)
    session.config["network"]["widths"] = [2, 0, 1]
    with pytest.raises(SessionError, match="every layer width must be at least 1"):
        session.spec


# ---------------------------------------------------------------------------- atomic saves

def test_save_replaces_and_keeps_permissions(saved):
    os.chmod(saved, 0o640)
    session = make_session(seed=5)
    save_session(session, saved)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o640
    assert_same_session(session, load_session(saved))
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_failed_write_leaves_old_file_untouched(saved, monkeypatch):
    before = saved.read_bytes()
    real = h5py.Group.create_dataset
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(SessionError, match=f"^cannot save {re.escape(str(saved))}: .*No space left on device"):
        save_session(make_session(seed=5), saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_invalid_session_is_not_saved(saved):
    before = saved.read_bytes()
    session = make_session(seed=5)
    session.runs.theta[0, 0] = np.nan
    with pytest.raises(SessionError, match="^cannot save .*/runs/theta of run 0"):
        save_session(session, saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(SessionError, match="does not exist"):
        save_session(make_session(), tmp_path / "nope" / "s.h5")


def test_killed_save_leaves_old_file_untouched(saved):
    """SIGKILL a process in the middle of writing: the old session still opens, byte for byte."""
    before = saved.read_bytes()
    child = textwrap.dedent(f"""
        import sys, time
        import h5py
        from lsexplorer.core.store.session import load_session, save_session
        session = load_session({str(saved)!r})
        session.runs.theta = session.runs.theta + 1
        real = h5py.Group.create_dataset
        def stalling(self, *args, **kwargs):
            out = real(self, *args, **kwargs)
            if args[0] == "theta_init":
                print("writing", flush=True)
                time.sleep(60)
            return out
        h5py.Group.create_dataset = stalling
        save_session(session, {str(saved)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": str(REPO)})
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.readline().strip() == "writing"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert saved.read_bytes() == before
    assert_same_session(make_session(), load_session(saved))
    leftovers = [p for p in saved.parent.iterdir() if p != saved]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f".{saved.name}.")  # the kill hit mid-write



def test_format_1_files_open_and_are_written_as_format_2(tmp_path):
    session = make_session()
    path = tmp_path / "old.h5"
    save_session(session, path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = np.int64(1)
    old = load_session(path)
    np.testing.assert_array_equal(old.runs.kind, session.runs.kind)
    save_session(old, path)
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == FORMAT_VERSION == 2
