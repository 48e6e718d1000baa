"""What a new user meets first: typos in a config, Ctrl-C and SIGTERM at every stage, quick start-up.

The signal tests send real signals to real ``lsexplorer`` processes and check the exit status, the
single line said, that no partial file is left and that an existing session keeps every byte.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lsexplorer.cli.commands import main

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5"


def _error(capsys, argv):
    code = main(argv)
    return code, capsys.readouterr().err.strip()


# --------------------------------------------------------------------------- config keys

@pytest.mark.parametrize("toml, section, key", [
    ("[network]\nwidht = 5\n", "network", "widht"),
    ("[network]\ndepht = 2\n", "network", "depht"),
    ('preset = "gaussian"\n[data]\nn_sample = 10\n', "data", "n_sample"),
    ("[data]\nbogus = 1\n", "data", "bogus"),
    ("[seeds]\nstart = 0\ncont = 3\n", "seeds", "cont"),
    ("[train]\nlrr = 0.1\n", "train", "lrr"),
    ("[refine]\nslsqp_maxevals = 3\n", "refine", "slsqp_maxevals"),
    ("[tolerances]\ngrad_toll = 1e-9\n", "tolerances", "grad_toll"),
])
def test_every_unknown_key_is_refused_naming_key_and_section(capsys, tmp_path, toml, section, key):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    code, err = _error(capsys, ["train", "--config", str(cfg), "-q", "-o", str(tmp_path / "o.h5")])
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert key in err and f"[{section}]" in err
    assert not (tmp_path / "o.h5").exists()


def test_known_keys_of_every_section_are_accepted():
    from lsexplorer.core.experiment.experiment import build_config

    config = build_config("gaussian", {"data": {"n_samples": 20, "seed": 3, "input_std": 2.0},
                                       "network": {"width": 3, "depth": 1, "bias": True},
                                       "seeds": {"start": 2, "count": 2}, "train": {"epochs": 10}})
    assert config["data"]["n_samples"] == 20 and config["seeds"] == [2, 3]
    assert config["network"]["widths"] == [2, 3, 1] and config["network"]["bias"] is True


def test_a_sessions_own_config_is_accepted_back():
    """A session's stored config (with its resolved keys) is valid input for a re-run."""
    from lsexplorer.core.experiment.experiment import build_config
    from lsexplorer.core.store.session import load_session

    config = load_session(SAMPLE).config
    rebuilt = build_config("toy", config)
    for section in ("data", "network", "seeds", "tolerances", "teacher"):
        assert rebuilt[section] == config[section]
    for section in ("train", "refine"):  # settings added since the sample was made take their defaults
        assert config[section].items() <= rebuilt[section].items()


# --------------------------------------------------------------------------- start-up and messages

def _imports_after(argv: list[str]) -> set[str]:
    code = ("import sys, contextlib, io\n"
            "from lsexplorer.cli.commands import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        main({argv!r})\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m in ('torch', 'h5py', 'PySide6', 'scipy', 'nlopt'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def test_help_and_counting_load_no_heavy_module(tmp_path):
    assert _imports_after(["--help"]) == set()
    assert _imports_after(["counting", "--r", "3", "--m", "5"]) == set()
    # The sample stores a minimum-energy path, whose reader needs the numerics; a session without one
    # is summarised from its file alone.
    import shutil

    import h5py

    light = tmp_path / "no_paths.h5"
    shutil.copy(SAMPLE, light)
    with h5py.File(light, "r+") as f:
        del f["analyses/paths"]
    assert _imports_after(["info", str(light)]) == {"h5py"}


def test_argparse_errors_are_one_line():
    for argv in (["train"], ["train", "--widht", "3", "-o", "x.h5"], ["counting", "--r", "x", "--m", "2"], ["nope"]):
        proc = subprocess.run([sys.executable, "-m", "lsexplorer", *argv], capture_output=True, text=True)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0], proc.stderr


def test_analyze_output_into_a_missing_folder_fails_before_any_work(capsys, tmp_path):
    started = time.perf_counter()
    code, err = _error(capsys, ["analyze", str(tmp_path / "absent.h5"), "-o", str(tmp_path / "no" / "out.h5")])
    assert code == 2 and "does not exist" in err and str(tmp_path / "no") in err
    assert time.perf_counter() - started < 5


def test_intra_op_pools_are_pinned_unless_the_user_sized_them(tmp_path):
    code = ("from lsexplorer.cli.commands import build_parser, _configure_threads\n"
            "args = build_parser().parse_args(['train', '--threads', '2', '-o', 'x.h5'])\n"
            "_configure_threads(args)\n"
            "import torch\n"
            "from lsexplorer.core.base.threads import parallel_threads\n"
            "print(torch.get_num_threads(), parallel_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert proc.stdout.split() == ["1", "2"]
    env["OMP_NUM_THREADS"] = "2"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert proc.stdout.split()[0] == "2"


# --------------------------------------------------------------------------- real signals

class _Process:
    """An ``lsexplorer`` process whose stderr is collected in the background."""

    def __init__(self, argv: list[str], cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "lsexplorer", *argv], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stderr.read1(4096):
            self.err += chunk

    def wait_for(self, needle: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.err:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"never saw {needle!r}; stderr: {self.err.decode(errors='replace')[-2000:]}")
            time.sleep(0.05)

    def stop(self, sig: int, timeout: float = 60.0) -> tuple[int, list[str]]:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        text = self.err.decode(errors="replace")
        assert "Traceback" not in text, text
        lines = [part.strip() for part in text.replace("\r", "\n").splitlines() if part.strip()]
        return code, lines


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.slow
def test_ctrl_c_during_refinement_exits_130_with_one_line_and_no_file(tmp_path):
    p = _Process(["train", "--preset", "toy", "--seeds", "40", "--epochs", "2000", "--lr", "0.01", "--device", "cpu",
                  "-o", "out.h5"], tmp_path)
    p.wait_for("refining")
    time.sleep(0.3)  # inside the nlopt objective or a Newton step, wherever it lands
    code, lines = p.stop(signal.SIGINT)
    assert code == 130
    assert lines[-1] == "lsexplorer train: interrupted; nothing written to out.h5"
    assert [line for line in lines if "lsexplorer" in line] == [lines[-1]]
    assert not (tmp_path / "out.h5").exists() and _leftovers(tmp_path) == []


@pytest.mark.slow
def test_sigterm_during_training_keeps_the_existing_session(tmp_path):
    target = tmp_path / "kept.h5"
    shutil.copy(SAMPLE, target)
    before = _digest(target)
    p = _Process(["train", "--preset", "toy", "--seeds", "4", "--epochs", "1e7", "--device", "cpu", "--force",
                  "-o", "kept.h5"], tmp_path)
    p.wait_for("training")
    code, lines = p.stop(signal.SIGTERM)
    assert code == 143
    assert lines[-1] == "lsexplorer train: terminated (SIGTERM); nothing written to kept.h5"
    assert _digest(target) == before and _leftovers(tmp_path) == []


@pytest.mark.slow
def test_sigterm_during_analysis_leaves_the_session_byte_for_byte(tmp_path):
    target = tmp_path / "s.h5"
    shutil.copy(SAMPLE, target)
    before = _digest(target)
    p = _Process(["analyze", "s.h5", "--theorems"], tmp_path)
    p.wait_for("%")  # the progress bar: the analysis is running
    code, lines = p.stop(signal.SIGTERM)
    assert code == 143
    assert lines[-1] == "lsexplorer analyze: terminated (SIGTERM); s.h5 unchanged"
    assert _digest(target) == before and _leftovers(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_during_export_leaves_only_whole_files(tmp_path):
    out = tmp_path / "figs"
    p = _Process(["export", str(SAMPLE), "--out", str(out)], tmp_path)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and len(list(out.iterdir())) >= 3):
        assert p.proc.poll() is None and time.monotonic() < deadline, p.err.decode(errors="replace")
        time.sleep(0.02)
    code, lines = p.stop(signal.SIGINT)
    assert code == 130
    assert lines[-1].startswith("lsexplorer export: interrupted; no partial file left")
    assert not any("propagateSizeHints" in line for line in lines)
    assert _leftovers(out) == []
    for png in out.glob("*.png"):
        assert png.read_bytes()[-8:-4] == b"IEND", png  # the PNG's last chunk: the file is whole
    for csv in out.glob("*.csv"):
        assert csv.read_text().endswith("\n")


def test_keyboard_interrupt_inside_nlopt_propagates_as_itself(monkeypatch):
    """nlopt's C layer cannot carry a Python exception; refinement must re-raise it, not a SystemError."""
    import numpy as np

    from lsexplorer.core.critical import refine as refine_module
    from lsexplorer.core.critical import refine_stages
    from lsexplorer.core.data.datasets import toy_dataset, toy_teacher

    spec, teacher = toy_teacher()
    data = toy_dataset()
    calls = {"n": 0}
    original = refine_stages.PointLoss.__call__  # SLSQP's objective

    def interrupted(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(refine_stages.PointLoss, "__call__", interrupted)
    start = teacher + np.random.default_rng(0).normal(size=teacher.size) * 0.1
    with pytest.raises(KeyboardInterrupt):
        refine_module.refine(spec, start, data.x, data.y)
    assert calls["n"] == 3


def test_info_json_keys_are_unchanged(capsys):
    assert main(["info", str(SAMPLE), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert {"runs", "global_min", "local_min", "strict_saddle", "nonstrict_saddle", "not_converged",
            "symmetry_induced"} <= set(counts)


def test_a_real_signal_inside_nlopt_is_raised_after_it_returns():
    """Ctrl-C while nlopt is in its C loop: recorded, the run stopped, KeyboardInterrupt raised after."""
    import nlopt
    import numpy as np

    from lsexplorer.core.base.nlopt_guard import CallbackGuard

    opt = nlopt.opt(nlopt.LD_SLSQP, 2)
    opt.set_exceptions_enabled(False)
    guard = CallbackGuard(opt)
    calls = {"n": 0}

    def quartic(x, grad):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
        if grad.size:
            grad[:] = 4 * (x - 3) ** 3
        return float(np.sum((x - 3) ** 4)) + 1.0

    opt.set_min_objective(guard(quartic))
    opt.set_maxeval(100_000)
    with pytest.raises(KeyboardInterrupt):
        guard.optimize(np.array([1.0, 2.0]))
    assert 5 <= calls["n"] <= 6  # stopped at once, not after the budget
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
