"""The CLI's edges that are not about a session's bytes: optional config keys that `info` must not
trust, stdout that cannot be written, user numbers too big to compute, and signals that come early."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from lsexplorer.core.session import save_session
from reliability_support import run_main, small_session


def one_line_error(err: str, needle: str = "") -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lsexplorer ") and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    session, _ = small_session()
    path = tmp_path_factory.mktemp("bounds") / "small.h5"
    save_session(session, path)
    return path


def _with_config(src: Path, dst: Path, edit) -> Path:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        config = json.loads(f.attrs["config"])
        edit(config)
        f.attrs["config"] = json.dumps(config)
    return dst


# ------------------------------------------------------------------ info and optional config keys

#: Every config key the outcome table reads, by section ("" for the top level).
_INFO_KEYS = [("", "preset"), ("", "train"), ("", "run"), ("", "tolerances"),
              ("train", "optimizer"), ("train", "lr"), ("train", "epochs"),
              ("run", "epochs_done"), ("run", "stopped"), ("run", "device"), ("run", "backend"),
              ("run", "train_seconds"), ("run", "imported_from"), ("run", "refined"), ("run", "formats")]
_MISSING = object()


def _set(config: dict, section: str, key: str, value) -> None:
    table = config if not section else config.setdefault(section, {})
    if value is _MISSING:
        table.pop(key, None)
    else:
        table[key] = value


@pytest.mark.slow
@pytest.mark.parametrize("section, key", _INFO_KEYS)
@pytest.mark.parametrize("value", [_MISSING, 5, [1, "a"]], ids=["missing", "int", "list"])
def test_info_never_trips_on_an_optional_config_key(small, tmp_path, section, key, value):
    """Each key the outcome table reads, deleted or of a wrong type: a table or one line, never a traceback."""
    path = _with_config(small, tmp_path / "s.h5", lambda c: _set(c, section, key, value))
    for argv in (["info", path], ["info", path, "--json"]):
        code, out, err = run_main(*argv)
        assert code in (0, 2), err
        if code == 0:
            assert err == "" and out.strip(), err
        else:
            one_line_error(err)


@pytest.mark.parametrize("run", [{"epochs_done": 5, "stopped": False, "backend": "native"},
                                 {"backend": "native", "device": "cpu"},
                                 {"imported_from": ["a.npz"]},
                                 {}])
def test_info_shows_what_a_run_record_has(small, tmp_path, run):
    path = _with_config(small, tmp_path / "s.h5", lambda c: c.__setitem__("run", run))
    code, out, err = run_main("info", path)
    assert code == 0 and err == "", err
    assert "runs" in out.splitlines()[0]


def test_a_run_record_of_the_wrong_type_is_named_on_open(small, tmp_path):
    path = _with_config(small, tmp_path / "s.h5", lambda c: c.__setitem__("run", {"imported_from": 5}))
    code, _, err = run_main("info", path)
    assert code == 2
    one_line_error(err, "run.imported_from")
