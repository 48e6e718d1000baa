"""The layer contracts of pyproject.toml ([tool.importlinter]) hold, and they do catch a violation.

``lint-imports`` reads every import statement of the package (function-level ones included) without
importing it: core never imports the GUI, the CLI or Qt; the GUI never imports the CLI; modules of
the GUI import each other without cycles; core's sub-packages import downwards only and without
cycles. A graph of every module's imports also has no cycle at all, at any level.
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
    assert "8 kept, 0 broken" in run.stdout


def test_core_importing_the_gui_breaks_the_contracts(tmp_path):
    """A copy of the package whose core imports the GUI (inside a function, where it is easy to miss)."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "lsexplorer", copy / "lsexplorer", ignore=shutil.ignore_patterns("__pycache__", "*.h5"))
    kinds = copy / "lsexplorer" / "core" / "base" / "kinds.py"
    kinds.write_text(kinds.read_text() + "\n\ndef _colour():\n    from ...gui.style import KIND_COLORS\n"
                     "    return KIND_COLORS\n")
    run = _lint_imports(copy, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "core never imports the GUI, the CLI, the figures or Qt BROKEN" in run.stdout
    assert "the CLI over the GUI over the figures over core BROKEN" in run.stdout
    assert "lsexplorer.core.base.kinds -> lsexplorer.gui.style" in run.stdout


def test_an_upward_import_inside_core_breaks_the_layers(tmp_path):
    """base importing refinement (inside a function, as a dodge would) breaks the sub-package order."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "lsexplorer", copy / "lsexplorer", ignore=shutil.ignore_patterns("__pycache__", "*.h5"))
    kinds = copy / "lsexplorer" / "core" / "base" / "kinds.py"
    kinds.write_text(kinds.read_text() + "\n\ndef _refine():\n    from ..critical.refine import refine\n"
                     "    return refine\n")
    run = _lint_imports(copy, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "core's sub-packages import downwards only (docs/architecture.md) BROKEN" in run.stdout
    assert "lsexplorer.core.base.kinds -> lsexplorer.core.critical.refine" in run.stdout


def _cycles(package: str) -> list[list[str]]:
    """Every set of modules of ``package`` that import one another in a cycle (strongly connected)."""
    import grimp

    graph = grimp.build_graph(package, include_external_packages=False)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_module_takes_part_in_an_import_cycle():
    assert _cycles("lsexplorer") == []
