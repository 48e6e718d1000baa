"""The core layer must stay importable without Qt: the CLI and scripts run on headless machines."""

import subprocess
import sys
import textwrap


def test_importing_every_core_module_loads_no_qt():
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        import lsexplorer.core as core
        names = [m.name for m in pkgutil.walk_packages(core.__path__, core.__name__ + ".")]
        for name in names:
            importlib.import_module(name)
        importlib.import_module("lsexplorer.cli.commands")
        qt = sorted(m for m in sys.modules
                    if m.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "shiboken6"})
        print(len(names), ",".join(qt))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 60, "expected the core modules to be found"
    assert len(out) == 1, f"core imported Qt modules: {out[1]}"
