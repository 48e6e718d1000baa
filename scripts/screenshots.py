"""Render the main window and each panel of lsexplorer's GUI to PNG (for docs/ and for review).

    python scripts/screenshots.py [SESSION.h5] [--out docs/screenshots] [--run SEED]
                                  [--sizes 1280x720 1920x1080] [--expand-layer L [--expand-neuron J]]
                                  [--eigs FIRST COUNT] [--symlog]

Opens SESSION (default: the bundled sample session) offscreen, selects a run (``--run`` seed, else
:func:`lsexplorer.figures.export.showcase_run`: the first local minimum with a converged closest
saddle), and for every window size lays the window out as View ▸ Reset layout does and writes
``<out>/<W>x<H>/window.png`` plus one ``<panel>.png`` per panel as it sits in the window, after the
panel's background work (live spectrum, 2D slice) has finished. The offscreen screen is made 4K so
that no size is shrunk to it. ``--expand-layer`` switches the Saddle line panel to "expand a neuron
of this run" (neuron ``--expand-neuron`` of that hidden layer; thesis Figs 6.16-6.18 for a deep net)
and waits for its μ sweep; ``--eigs`` draws COUNT eigenvalues from the FIRST-smallest on (at a saddle
the crossing ones follow its negative ones), ``--symlog`` on the symlog scale. Uses throw-away settings, so the user's saved window layout neither
shapes nor receives the screenshots.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

if "QT_QPA_PLATFORM" not in os.environ:  # offscreen, on a virtual 4K screen
    _SCREEN = Path(tempfile.gettempdir()) / "lsexplorer-screenshots-screen.json"
    _SCREEN.write_text('{"screens": [{"name": "virtual", "x": 0, "y": 0, "width": 3840, "height": 2160, '
                       '"logicalDpiX": 96, "logicalDpiY": 96, "dpr": 1}]}')
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_SCREEN}"
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from lsexplorer.gui.app import SAMPLE_SESSION, MainWindow
from lsexplorer.figures.export import showcase_run as showcase_row
from lsexplorer.gui.layout import arrange_docks

#: File name of each panel's screenshot (stable: the README links them).
PANEL_FILES = {"Runs": "runs.png", "Neurons": "neurons.png", "Statistics": "statistics.png",
               "Training": "training.png", "Counting": "counting.png", "Saddle line": "saddle_line.png",
               "Slices": "slices.png", "Escape": "escape.png", "Channel": "channel.png", "Paths": "paths.png",
               "Curvature plane": "curvature_plane.png"}


def settle(app: QApplication, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session", nargs="?", default=str(SAMPLE_SESSION), help="session file (default: sample)")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"), help="output folder")
    parser.add_argument("--run", type=int, default=None, help="seed of the run to select")
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"], help="window sizes WxH")
    parser.add_argument("--expand-layer", type=int, default=None, help="Saddle line: expand a neuron of this layer")
    parser.add_argument("--expand-neuron", type=int, default=0, help="the neuron of --expand-layer (default 0)")
    parser.add_argument("--eigs", type=int, nargs=2, metavar=("FIRST", "COUNT"), default=None,
                        help="Saddle line: draw COUNT eigenvalues from the FIRST-smallest (1-based)")
    parser.add_argument("--symlog", action="store_true", help="Saddle line: symlog eigenvalue axis")
    args = parser.parse_args(argv)
    session = Path(args.session)
    if not session.exists():
        print(f"screenshots: {session} does not exist; pass a session file", file=sys.stderr)
        return 2
    out = Path(args.out)

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "screenshots.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
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
        if args.expand_layer is not None:
            line = window.saddle_line
            line.source_combo.setCurrentIndex(line.source_combo.findData("expand"))
            line.layer_spin.setValue(args.expand_layer)
            line.neuron_spin.setValue(args.expand_neuron)
            line.compute()
            line.sweep_job.wait(600_000)
            settle(app)
        if args.eigs is not None:
            window.saddle_line.k_spin.setValue(args.eigs[1])
            window.saddle_line.first_spin.setValue(args.eigs[0])
        if args.symlog:
            window.saddle_line.scale.setCurrentIndex(window.saddle_line.scale.findData("symlog"))
        path_worker = window.paths.compute()  # the selected run's path to the nearest global minimum
        if path_worker is not None:
            path_worker.wait(600_000)
        showcase = window.model.current
        channel_rows = [i for i, k in enumerate(runs.kind) if k in ("channel", "channel_saddle")]
        written = []
        for size in args.sizes:
            width, height = (int(v) for v in size.lower().split("x"))
            folder = out / f"{width}x{height}"
            folder.mkdir(parents=True, exist_ok=True)
            window.resize(width, height)
            settle(app)
            arrange_docks(window, window.docks)
            settle(app)
            for job in window.saddle_line.jobs + window.slices.jobs:
                job.wait(600_000)
            settle(app)
            window.grab().save(str(folder / "window.png"))
            written.append(f"{folder.name}/window.png")
            for title, name in PANEL_FILES.items():
                dock = window.docks[title]
                dock.raise_()
                settle(app)
                for job in getattr(dock.widget().widget(), "jobs", []):  # the panel, in its scroll area
                    job.wait(600_000)
                if title == "Channel" and channel_rows:  # the showcase is a local minimum: a run in a channel
                    window.model.select(channel_rows[0])
                settle(app)
                dock.widget().widget().grab().save(str(folder / name))  # the panel, in its scroll area
                written.append(f"{folder.name}/{name}")
                if window.model.current != showcase:
                    window.model.select(showcase)
                    settle(app)
        window.model.tasks.wait_all(30_000)
        window.saddle_line.stop()
        window.model.set_modified(False)
        window.close()
    print(f"wrote {', '.join(written)} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
