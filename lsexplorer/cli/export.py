"""The ``lsexplorer export`` verb: chosen figures of chosen runs as PDF/SVG/PNG, CSV and a redraw script.

Headless and without Qt: figures are drawn by :mod:`lsexplorer.figures`. A figure the session cannot
give is named on one line with why (and the command that computes what it lacks);
``--compute-missing`` computes those analyses first and saves them into the session, under the
session's writer lock, as ``analyze`` would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import UserError


def add_export_parser(sub, positive_int, positive_float) -> None:
    """Add the ``export`` subparser to ``sub`` (the CLI's subparsers), with the CLI's number parsers."""
    p = sub.add_parser(
        "export", help="write figures of a session for a paper: PDF, SVG, PNG, the data drawn (CSV) and a "
                       "script that redraws each (NAME.py)",
        description="Draw the chosen figures of the chosen runs with matplotlib at a journal width and write each "
                    "as NAME.pdf/.svg/.png, NAME.csv (exactly the data drawn) and NAME.py (a numpy + matplotlib "
                    "script that redraws it from the CSV). Figures the session lacks the data for are named, "
                    "with the command that computes it.")
    p.add_argument("session", metavar="SESSION.h5|SWEEP_DIR", nargs="?",
                   help="a session, or a sweep folder (its outcome-fractions figure)")
    p.add_argument("--out", metavar="DIR", help="directory for the files (created; required)")
    p.add_argument("--runs", default=None, metavar="I,J|all",
                   help="runs drawn by the per-run figures (rows, 0-based; default: the first local minimum with "
                        "every analysis, as the app shows first)")
    p.add_argument("--figures", default=None, metavar="NAME,…",
                   help="figures to draw (default all; `lsexplorer export --list-figures` lists them)")
    p.add_argument("--list-figures", action="store_true", help="list the figure names and what each shows, then exit")
    p.add_argument("--compute-missing", action="store_true",
                   help="first compute (and save into the session) the analyses the chosen figures lack")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--width-mm", type=positive_float, metavar="MM",
                      help="figure width on paper in mm (default 85, one column)")
    size.add_argument("--columns", type=int, choices=[1, 2],
                      help="1: one journal column (85 mm), 2: the full text width (175 mm)")
    p.add_argument("--height-mm", type=positive_float, metavar="MM",
                   help="figure height in mm (default: from each figure's aspect)")
    p.add_argument("--font-pt", type=positive_float, default=8.0, metavar="PT",
                   help="axis-label size in points; ticks, legends and notes 1 pt smaller (default 8)")
    p.add_argument("--dpi", type=positive_int, default=300, metavar="N", help="resolution of the PNGs (default 300)")
    p.add_argument("--style", metavar="STYLE",
                   help="a matplotlib style applied on top: a .mplstyle file or a style name (e.g. seaborn-v0_8-paper)")
    p.add_argument("--formats", default="pdf,svg,png", metavar="pdf,svg,png", help="image formats (default all three)")
    p.add_argument("--mu", type=float, metavar="MU",
                   help="saddle-line figures: the split μ drawn (default the midpoint)")
    p.add_argument("--expand-layer", type=positive_int, metavar="L",
                   help="saddle-line figures: duplicate a neuron of hidden layer L of the run (any kind)")
    p.add_argument("--expand-neuron", type=int, default=0, metavar="J", help="the neuron of --expand-layer (default 0)")
    p.add_argument("--eigs", type=positive_int, nargs=2, metavar=("FIRST", "COUNT"),
                   help="saddle line: draw COUNT eigenvalues from the FIRST-smallest on")
    p.add_argument("--flip", action="store_true",
                   help="neurons figure: draw neurons that match a teacher neuron with the opposite sign at (−w, −a)")
    p.add_argument("--json", action="store_true", help="print the written files and the skipped figures as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="threads for seed-parallel work of --compute-missing (default: every usable CPU)")


def list_figures() -> str:
    """One line per figure: its name, whether it is drawn per run, and what it shows."""
    from ..figures.registry import FIGURES

    width = max(len(name) for name in FIGURES)
    return "\n".join(f"{name:<{width}}  {'per run    ' if spec.per_run else 'per session'}  {spec.title}"
                     for name, spec in FIGURES.items())


def _style(args: argparse.Namespace):
    from ..figures.style import ONE_COLUMN_MM, TWO_COLUMNS_MM, PaperStyle

    if args.columns is not None:
        width = ONE_COLUMN_MM if args.columns == 1 else TWO_COLUMNS_MM
    else:
        width = args.width_mm if args.width_mm is not None else ONE_COLUMN_MM
    return PaperStyle(width_mm=width, height_mm=args.height_mm, font_pt=args.font_pt, dpi=args.dpi, style=args.style)


def _options(args: argparse.Namespace, session):
    from ..figures.catalog import FigureOptions

    expand = None
    if args.expand_layer is not None:
        hidden = session.spec.hidden_widths
        if args.expand_layer > len(hidden):
            raise UserError(f"--expand-layer must be in 1..{len(hidden)} for {session.spec.describe()}")
        if not 0 <= args.expand_neuron < hidden[args.expand_layer - 1]:
            raise UserError(f"--expand-neuron must be in 0..{hidden[args.expand_layer - 1] - 1}")
        expand = (args.expand_layer, args.expand_neuron)
    return FigureOptions(mu=args.mu, eigs=tuple(args.eigs) if args.eigs else None, expand=expand, flip=args.flip)


def _out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"{out} is not writable")


def _runs(text: str | None, session) -> list[int]:
    from ..figures.export import showcase_run

    n = len(session.runs.seed)
    if text is None:
        return [showcase_run(session)]
    if text.strip().lower() == "all":
        return list(range(n))
    try:
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--runs must be 'all' or comma-separated integers, got {text!r}") from None
    bad = [r for r in rows if not 0 <= r < n]
    if not rows or bad:
        raise UserError(f"--runs: the session has runs 0..{n - 1}, got {text!r}")
    return list(dict.fromkeys(rows))


def _compute_missing(args: argparse.Namespace, specs, runs: list[int], drive_with_progress):
    """Compute and save what the chosen figures lack (analyses, paths to the nearest global minimum);
    returns the session as saved."""
    from ..core.analyses import REGISTRY
    from ..core.analyses import paths as stored_paths
    from ..core.analyses.analyze import analyze_session
    from ..core.analyses.opening import open_session
    from ..core.paths.minimum_energy import PathConfig, path_analysis
    from ..core.store.session import save_session, session_writer
    from ..figures.catalog import PATH_TO_GLOBAL
    from ..figures.export import missing_analyses

    with session_writer(args.session):
        session = open_session(args.session)
        todo = missing_analyses(session, specs, runs)
        if not todo:
            return session
        args.on_interrupt = f"{args.session} unchanged, nothing exported"
        quiet = args.quiet or args.json
        paths = todo.pop(PATH_TO_GLOBAL, [])
        rows = sorted({r for rs in todo.values() for r in rs})
        try:
            if todo:
                stages = {name: (name.replace("_", " "), "run", False) for name in REGISTRY}
                drive_with_progress(analyze_session(session, rows, list(todo)), stages, quiet)
            for row in paths:
                result = drive_with_progress(path_analysis(session, row, "global", PathConfig()),
                                             {"climb": (f"path of run {row}", "step", False)}, quiet)
                stored_paths.write(session, result)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        save_session(session, Path(args.session))
        if not args.json:
            done = [n.replace("_", " ") for n in todo] + ([f"paths of runs {','.join(map(str, paths))}"] if paths
                                                            else [])
            print(f"computed {', '.join(done)}{' for runs ' + ','.join(map(str, rows)) if rows else ''}; "
                  f"saved into {args.session}", file=sys.stderr)
        return session


def _export_sweep(args: argparse.Namespace, style, formats) -> int:
    """A sweep folder's figure: outcome fractions against width, one figure per learning rate."""
    from ..core.sweep.manifest import SweepError
    from ..core.sweep.outcomes import read_sweep_outcomes
    from ..figures.files import write_figure
    from ..figures.sweep import lrs, outcome_fractions

    if args.figures not in (None, "sweep_outcome_fractions") or args.runs is not None:
        raise UserError("a sweep folder has one figure, sweep_outcome_fractions; --figures and --runs are for "
                        "sessions")
    try:
        outcomes = read_sweep_outcomes(args.session)
    except SweepError as exc:
        raise UserError(str(exc)) from None
    out = Path(args.out)
    _out_dir(out)
    args.on_interrupt = f"no partial file left in {out} (files are written whole or not at all)"
    rates = lrs(outcomes)
    written = []
    for lr in rates:
        name = "sweep_outcome_fractions" + (f"_lr{lr:g}" if len(rates) > 1 else "")
        written += write_figure(outcome_fractions(outcomes, lr), out, style, formats, name=name)
    if args.json:
        print(json.dumps({"written": [str(p) for p in written], "skipped": []}))
    else:
        print(f"wrote the outcome-fractions figure ({len(written)} files) to {out}, {style.describe()}")
    return 0


def cmd_export(args: argparse.Namespace, drive_with_progress) -> int:
    """Draw and write the chosen figures; one line on stderr per figure skipped, and why."""
    from tqdm import tqdm

    from ..core.analyses.opening import open_session
    from ..figures.export import chosen_figures, export_figures, jobs
    from ..figures.files import parse_formats

    if args.list_figures:
        print(list_figures())
        return 0
    if args.session is None or args.out is None:
        raise UserError("give the session and --out DIR (or --list-figures)")
    style = _style(args)  # a bad size or style fails before anything is read or created
    formats = parse_formats(args.formats)
    try:
        specs = chosen_figures(args.figures.split(",") if args.figures else None)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if Path(args.session).is_dir():
        return _export_sweep(args, style, formats)
    session = open_session(args.session)  # a bad file fails here, with the session layer's one-line reason
    runs = _runs(args.runs, session)
    options = _options(args, session)
    out = Path(args.out)
    if args.compute_missing:
        session = _compute_missing(args, specs, runs, drive_with_progress)
    _out_dir(out)
    args.on_interrupt = f"no partial file left in {out} (files are written whole or not at all)"
    total = len(jobs(specs, runs))
    quiet = True if args.quiet or args.json else None  # None: a bar only on a terminal
    with tqdm(total=total, desc="figures", unit="figure", disable=quiet, file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(done: int, total: int, what: str) -> None:
            bar.set_postfix_str(what, refresh=False)
            bar.update(done - bar.n)

        report = export_figures(session, out, runs, [s.name for s in specs], style, formats, options,
                                progress=progress)
    name = str(args.session)
    if args.json:
        print(json.dumps({"written": [str(p) for p in report.written],
                          "skipped": [{"figure": s.figure, "run": s.run, "reason": s.line(name)}
                                      for s in report.skipped]}))
    else:
        for skipped in report.skipped:
            print(f"not drawn: {skipped.line(name)}", file=sys.stderr)
        figures = len(report.written) // (len(formats) + 2)
        plural = "" if figures == 1 else "s"
        print(f"wrote {figures} figure{plural} ({len(report.written)} files) to {out}, {style.describe()}"
              + (f"; {len(report.skipped)} not drawn (above)" if report.skipped else ""))
    return 0


__all__ = ["add_export_parser", "cmd_export", "list_figures"]
