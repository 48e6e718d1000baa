"""The CLI's edges that are not about a session's bytes: optional config keys that `info` must not
trust, stdout that cannot be written, user numbers too big to compute, and signals that come early."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from lsexplorer.core.store.session import load_session, save_session
from reliability_support import ENV, one_line_error, run_main, small_session


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    session, _ = small_session()
    del session.analyses["teacher_match"]  # so that a test can see the one an analyze saves
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


# ------------------------------------------------------------------ stdout that cannot be written

def _to_dev_full(*args) -> subprocess.CompletedProcess:
    with open("/dev/full", "w") as full:
        return subprocess.run([sys.executable, "-m", "lsexplorer", *map(str, args)], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=ENV, timeout=180)


@pytest.mark.parametrize("argv", [["info", "SESSION"], ["info", "SESSION", "--json", "--runs"],
                                  ["counting", "--r", "2", "--m", "4"]])
def test_a_full_stdout_is_one_line_exit_2(small, argv):
    p = _to_dev_full(*[small if a == "SESSION" else a for a in argv])
    assert p.returncode == 2, p.stderr
    one_line_error(p.stderr, "could not write to standard output: No space left on device")


def test_a_summary_that_cannot_be_printed_keeps_the_save(small, tmp_path):
    path = tmp_path / "c.h5"
    shutil.copy(small, path)
    p = _to_dev_full("analyze", path, "--symmetry", "--runs", "0", "-q")
    assert p.returncode == 2, p.stderr
    one_line_error(p.stderr, f"saved {path}; could not print the summary: No space left on device")
    assert load_session(path).analyses["teacher_match"]["summary"]["run"].tolist() == [0]


# ------------------------------------------------------------------ signals before the verb starts

def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler of its own for ``sig`` (its SigCgt mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(mask >> (sig - 1) & 1)


def _start_info(small) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lsexplorer", "info", str(small)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


_STOPS = [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted")]


def _stop_early(small, sig: int, after: float) -> subprocess.CompletedProcess:
    """``info`` stopped by ``sig`` ``after`` seconds past the moment its SIGTERM handler appears (the
    interpreter's own start-up, before any lsexplorer code runs, is outside anything it can do)."""
    p = subprocess.Popen([sys.executable, "-m", "lsexplorer", "info", str(small)], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not _catches(p.pid, signal.SIGTERM) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(after)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_the_stop_handlers_come_before_the_heavy_imports(small):
    """SIGTERM is caught before numpy (the first heavy import, ~0.15 s of loading) is in the process:
    it is frozen the moment its handler appears and its mapped libraries read."""
    p = subprocess.Popen([sys.executable, "-m", "lsexplorer", "info", str(small)], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not _catches(p.pid, signal.SIGTERM) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0002)
    p.send_signal(signal.SIGSTOP)
    maps = Path(f"/proc/{p.pid}/maps").read_text()
    p.send_signal(signal.SIGTERM)
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=60)
    assert "numpy" not in maps
    assert p.returncode == 143, (p.returncode, err)
    one_line_error(err, "terminated (SIGTERM)")


@pytest.mark.parametrize("sig, status, word", _STOPS)
@pytest.mark.parametrize("after", [0.0, 0.05, 0.15])
def test_a_signal_in_the_first_moments_still_ends_in_one_line(small, sig, status, word, after):
    p = _stop_early(small, sig, after)
    assert p.returncode == status, (p.returncode, p.stderr)
    one_line_error(p.stderr, word)


# ------------------------------------------------------------------ user numbers too big to compute

def _limited_memory(limit: int = 6 * 2**30):
    """Run a child under an address-space limit, so that a runaway allocation fails fast instead of
    filling the machine (and so that the refusal's numbers do not depend on the machine)."""
    import resource

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _bounded_cli(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "lsexplorer", *map(str, args)], capture_output=True, text=True,
                       env=ENV, timeout=timeout, preexec_fn=_limited_memory())
    p.seconds = time.monotonic() - started
    return p


@pytest.mark.parametrize("argv, needle", [
    (["path", "SESSION", "--from", "0", "--to", "2", "--images", "1000000", "-q"], "--images 1000000"),
    (["analyze", "SESSION", "--runs", "1", "--expand-neuron", "0", "--saddle-descent", "--perturbations", "100000000",
      "-q"], "--perturbations 100000000"),
    (["analyze", "SESSION", "--runs", "1", "--expand-neuron", "0", "--saddle-descent", "--descent-epochs", "1e12",
      "-q"], "pass --yes"),
    (["counting", "--r", "1000000", "--m", "2000000"], "--m 2000000"),
    (["counting", "--r", "2", "--m", "20000"], "--m 20000"),
])
def test_work_too_big_for_the_machine_is_refused_up_front(small, tmp_path, argv, needle):
    path = tmp_path / "c.h5"
    shutil.copy(small, path)
    before = path.read_bytes()
    p = _bounded_cli(*[path if a == "SESSION" else a for a in argv])
    assert p.returncode == 2, p.stderr[-2000:]
    one_line_error(p.stderr, needle)
    assert path.read_bytes() == before and p.seconds < 30


def test_a_huge_narrow_width_counts_zero_at_once():
    """T and G of a wider teacher or point than the student are 0, without working out r!."""
    p = _bounded_cli("counting", "--r", "100000000", "--m", "20", "--json", timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"r": 100000000, "m": 20, "T": 0, "G": 0} and p.seconds < 10


@pytest.mark.slow
def test_counts_longer_than_4300_digits_print_exactly():
    p = _bounded_cli("counting", "--r", "1600", "--m", "1700", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    record = json.loads(p.stdout, parse_int=str)  # digits as text: this process keeps the limit
    assert len(record["T"]) > 4300 and record["T"].isdigit() and int(record["G"][:20]) > 0


def test_the_counting_cost_bounds_what_the_rows_take():
    """The Stirling rows up to m take no more than the estimate, and not far less (right order)."""
    import tracemalloc

    from lsexplorer.core.symmetry import counting

    saved = list(counting._STIRLING_ROWS)
    counting._STIRLING_ROWS[:] = [[1]]
    try:
        tracemalloc.start()
        counting.T(2, 500)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        counting._STIRLING_ROWS[:] = saved
    estimate = counting.closed_form_cost(2, 500)[0]
    assert peak <= estimate <= 20 * peak
    assert counting.closed_form_cost(30, 20) == (0.0, 0.0)


def test_the_default_band_and_descent_fit_anywhere():
    from lsexplorer.core.base.estimates import band_cost, descent_cost

    assert band_cost(15, 1681, 6, 16).memory < 50e6
    default = descent_cost(19, 1681, 7, 12, 20_000)
    assert default.memory < 50e6 and default.seconds < 600
    assert descent_cost(19, 1681, 7, 12, 10**12).seconds > 86400
