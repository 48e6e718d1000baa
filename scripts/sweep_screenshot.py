"""Render the Sweep view of a sweep folder to PNG at one or more window sizes (for docs/ and review).

    python scripts/sweep_screenshot.py [SWEEP_DIR] [--out docs/screenshots] [--size 1280x720 1920x1080]

Default folder: the bundled ``sample_data/toy_sweep``. Writes ``sweep_<W>x<H>.png`` per size.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtWidgets import QApplication

from lsexplorer.gui.style import configure_pyqtgraph
from lsexplorer.gui.sweep_view import QtSweepView


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(REPO / "sample_data" / "toy_sweep"))
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--size", nargs="+", default=["1280x720", "1920x1080"])
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    configure_pyqtgraph()
    view = QtSweepView()
    worker = view.open_folder(args.folder)
    while worker.is_running or view.outcomes is None:
        app.processEvents()
        if not worker.is_running and view.outcomes is None:
            print(f"sweep_screenshot: {view.header.text()}", file=sys.stderr)
            return 2
    for size in args.size:
        w, h = (int(v) for v in size.split("x"))
        view.resize(w, h)
        view.show()
        for _ in range(10):
            app.processEvents()
        path = out / f"sweep_{w}x{h}.png"
        view.grab().save(str(path))
        print(path)
    view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
