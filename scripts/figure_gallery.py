"""Draw every paper figure of the bundled samples at one column and write the gallery docs/figures.md.

    python scripts/figure_gallery.py [--out docs]

For each figure of :data:`lsexplorer.figures.FIGURES` it draws the toy sample's run that the export
draws by default, or, where that run cannot give the figure (a channel figure of a local minimum),
the first run that can; then the deep sample's expanded saddle line (λ64 touching 0) and the toy
sweep's outcome fractions. Each PNG goes to ``<out>/figures/NAME.png`` and the gallery lists it with
its caption and the ``lsexplorer export`` command that writes the same figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lsexplorer.core.analyses.opening import open_session
from lsexplorer.core.sweep.outcomes import read_sweep_outcomes
from lsexplorer.figures import FIGURES, FigureOptions, FigureUnavailable, PaperStyle, draw
from lsexplorer.figures.export import showcase_run
from lsexplorer.figures.files import figure_bytes
from lsexplorer.figures.sweep import outcome_fractions

ROOT = Path(__file__).resolve().parents[1]
TOY = "sample_data/toy_width5.h5"
DEEP = "sample_data/mnist5k_deep.h5"
SWEEP = "sample_data/toy_sweep"
#: Gallery PNGs: one column at a screen-friendly resolution (the export's default is 300 dpi).
STYLE = PaperStyle(dpi=200)


def candidate_runs(session) -> list[int]:
    """The default run first, then the first run of every kind."""
    first = [showcase_run(session)]
    kinds = [str(k) for k in session.runs.kind]
    for kind in dict.fromkeys(kinds):
        first.append(kinds.index(kind))
    return list(dict.fromkeys(first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="docs folder (default: the checkout's docs/)")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    toy = open_session(ROOT / TOY)
    entries: list[tuple[str, str, str, str, str]] = []  # (panel, name, caption, command, why not)

    def add(plot, panel: str, stem: str, command: str) -> None:
        (out / "figures" / f"{stem}.png").write_bytes(figure_bytes(draw(plot, STYLE), "png", STYLE))
        entries.append((panel, stem, plot.caption, command, ""))
        print(f"drew {stem}")

    for name, spec in FIGURES.items():
        runs = candidate_runs(toy) if spec.per_run else [None]
        reasons = []
        for run in runs:
            try:
                plot = spec.build(toy, run, FigureOptions())
            except FigureUnavailable as exc:
                reasons.append(f"run {run}: {exc.reason}")
                continue
            flags = f" --runs {run}" if run is not None else ""
            add(plot, spec.panel, name, f"lsexplorer export {TOY} --out figs --figures {name}{flags}")
            break
        else:
            entries.append((spec.panel, name, spec.title, "", "; ".join(reasons)))
            print(f"not drawn: {name}: {reasons}")

    deep = open_session(ROOT / DEEP)
    if "saddle_line_eigenvalues_vs_mu" in FIGURES:
        run = showcase_run(deep)
        plot = FIGURES["saddle_line_eigenvalues_vs_mu"].build(deep, run, FigureOptions(eigs=(62, 4), expand=(3, 0)))
        add(plot, "deep sample: saddle line of an expanded neuron", "deep_saddle_line_eigenvalues_vs_mu",
            f"lsexplorer export {DEEP} --out figs --figures saddle_line_eigenvalues_vs_mu --runs {run} "
            "--expand-layer 3 --eigs 62 4")
    add(outcome_fractions(read_sweep_outcomes(ROOT / SWEEP)), "sweep", "sweep_outcome_fractions",
        f"lsexplorer export {SWEEP} --out figs")

    lines = ["# Figure gallery", "",
             "Every figure lsexplorer draws for a paper, from the bundled samples, at one journal column "
             "(85 mm, 8 pt; shown here at 200 dpi). Each command writes the figure as PDF, SVG and PNG, the "
             "CSV of the data drawn and `NAME.py`, a numpy + matplotlib script that redraws it from that CSV. "
             "The app's File ▸ Export figure writes the same files for the selected run. "
             "Regenerate this page with `python scripts/figure_gallery.py`.", ""]
    panel = None
    for entry_panel, stem, caption, command, why in entries:
        if entry_panel != panel:
            panel = entry_panel
            lines += [f"## {panel.replace('_', ' ').capitalize()}", ""]
        lines += [f"### `{stem}`", ""]
        if why:
            lines += [f"Not drawn from the samples: {why}", ""]
            continue
        lines += [caption, "", f"![{stem}](figures/{stem}.png)", "", "```bash", command, "```", ""]
    (out / "figures.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out / 'figures.md'}")


if __name__ == "__main__":
    main()
