"""The layer contracts of pyproject.toml ([tool.importlinter]) hold, and they do catch a violation.

``lint-imports`` reads every import statement of the package (function-level ones included) without
importing it: core never imports the GUI, the CLI or Qt; the GUI never imports the CLI; modules of
the GUI import each other without cycles.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the test extra")

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(package_parent: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contracts on the package found under ``package_parent``."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=cwd, capture_output=True, text=True, env={"PYTHONPATH": str(package_parent),
                                                                        "PATH": "/usr/bin:/bin"}, timeout=120)


def test_the_package_keeps_every_contract(tmp_path):
    run = _lint_imports(ROOT, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


def test_core_importing_the_gui_breaks_the_contracts(tmp_path):
    """A copy of the package whose core imports the GUI (inside a function, where it is easy to miss)."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "lsexplorer", copy / "lsexplorer", ignore=shutil.ignore_patterns("__pycache__", "*.h5"))
    kinds = copy / "lsexplorer" / "core" / "kinds.py"
    kinds.write_text(kinds.read_text() + "\n\ndef _colour():\n    from ..gui.style import KIND_COLORS\n"
                     "    return KIND_COLORS\n")
    run = _lint_imports(copy, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "core never imports the GUI, the CLI or Qt BROKEN" in run.stdout
    assert "the CLI over the GUI over core BROKEN" in run.stdout
    assert "lsexplorer.core.kinds -> lsexplorer.gui.style" in run.stdout
