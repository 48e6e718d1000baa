"""Render the main window and each panel of lsexplorer's GUI to PNG (for docs/ and for review).

    python scripts/screenshots.py [SESSION.h5] [--out docs/screenshots] [--run SEED]

Opens SESSION (default: the bundled sample session) offscreen, selects a run (``--run`` seed, else
:func:`lsexplorer.gui.export_session.showcase_row`: the first local minimum with a converged closest saddle),
lays the window out at a fixed size and writes ``window.png`` plus one ``<panel>.png`` per panel,
after the panel's background work (live spectrum, 2D slice) has finished. Uses throw-away settings, so the user's saved
window layout neither shapes nor receives the screenshots.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from lsexplorer.gui.app import SAMPLE_SESSION, MainWindow
from lsexplorer.gui.export_session import showcase_row

#: File name of each panel's screenshot (stable: the README links them).
PANEL_FILES = {"Runs": "runs.png", "Neurons": "neurons.png", "Statistics": "statistics.png",
               "Training": "training.png", "Counting": "counting.png", "Saddle line": "saddle_line.png",
               "Slices": "slices.png", "Escape": "escape.png", "Curvature plane": "curvature_plane.png"}

#: Panels that share the window's narrow middle column are rendered floating, at this size.
FLOAT_SIZES = {"Saddle line": (1000, 760), "Slices": (1000, 620), "Escape": (900, 700),
               "Curvature plane": (1000, 620)}


def settle(app: QApplication, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session", nargs="?", default=str(SAMPLE_SESSION), help="session file (default: sample)")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"), help="output folder")
    parser.add_argument("--run", type=int, default=None, help="seed of the run to select")
    parser.add_argument("--size", default="1600x1000", help="window size WxH")
    args = parser.parse_args(argv)
    session = Path(args.session)
    if not session.exists():
        print(f"screenshots: {session} does not exist; pass a session file", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "screenshots.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
        window.show()
        settle(app)
        worker = window.open_session(session)
        if not worker.wait(60_000) or not window.model.has_session:
            print(f"screenshots: could not open {session}", file=sys.stderr)
            return 1
        runs = window.model.session.runs
        if args.run is not None:
            hits = [i for i, s in enumerate(runs.seed) if int(s) == args.run]
            if not hits:
                print(f"screenshots: no run with seed {args.run}", file=sys.stderr)
                return 2
            window.model.select(hits[0])
        else:
            window.model.select(showcase_row(window.model.session))
        settle(app)
        window.saddle_line.wait_live()
        window.slices.wait_done()
        window.curvature_plane.wait_done()
        settle(app)
        window.grab().save(str(out / "window.png"))
        written = ["window.png"]
        for title, name in PANEL_FILES.items():
            dock = window.docks[title]
            dock.show()
            dock.raise_()
            if title in FLOAT_SIZES:  # tabbed in a narrow column: shown floating at a readable size
                dock.setFloating(True)
                dock.resize(*FLOAT_SIZES[title])
            settle(app)
            if title in ("Slices", "Curvature plane"):
                (window.slices if title == "Slices" else window.curvature_plane).wait_done()
                settle(app)
            dock.widget().grab().save(str(out / name))
            written.append(name)
        window.model.tasks.wait_all(30_000)
        window.saddle_line.stop()
        window.model.set_modified(False)
        window.close()
    print(f"wrote {', '.join(written)} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
