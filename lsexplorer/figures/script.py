"""``NAME.py``: a short standalone script (numpy and matplotlib only) that redraws a figure from its CSV.

The script holds the figure's size and fonts as plain constants and rcParams, reads ``NAME.csv``
beside it, and makes the same matplotlib calls as :func:`~.render.draw` (each layer writes its own
lines: :meth:`~.plot.Line.code` and its siblings), so a researcher restyles a figure by editing one
file. ``python NAME.py`` writes ``NAME.pdf`` beside it; ``python NAME.py OUT.png`` writes elsewhere.
"""

from __future__ import annotations

import pprint

from .._version import __version__
from .plot import Heatmap, Plot
from .render import wrap_note
from .style import PaperStyle

_HEADER = '''\
"""{caption}

Redraws {name} from {name}.csv (written by lsexplorer {version}).
Run `python {name}.py` to write {name}.pdf beside it, or `python {name}.py OUT.png|svg|pdf`.
Needs numpy and matplotlib only; edit freely.
"""
import csv
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
{extra_imports}
HERE = Path(__file__).resolve().parent
WIDTH_MM, HEIGHT_MM = {width!r}, {height!r}
STYLE = {rc}

with open(HERE / "{name}.csv", newline="", encoding="utf-8") as file:
    ROWS = list(csv.DictReader(file))


def data(axes, kind, series):
    """The x, y and z columns of one layer of the CSV, as float arrays."""
    rows = [r for r in ROWS if int(r["axes"]) == axes and r["kind"] == kind and r["series"] == series]
    return tuple(np.array([float(r[c]) for r in rows]) for c in ("x", "y", "z"))


def draw():
    """The figure, drawn from the CSV."""
    plt.rcParams.update(STYLE)
{user_style}    fig, axes = plt.subplots(1, {count}, figsize=(WIDTH_MM / 25.4, HEIGHT_MM / 25.4), layout="constrained",
                             squeeze=False)
'''

_FOOTER = '''\
    handles = {{}}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=min({columns}, len(handles)))
    return fig


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else HERE / "{name}.pdf"
    draw().savefig(out)
'''


def script_text(plot: Plot, name: str, style: PaperStyle) -> str:
    """The source of the script that redraws ``plot`` (its CSV is ``name.csv``) in ``style``."""
    width, height = (v * 25.4 for v in style.size_inches(plot.aspect))
    needs_lognorm = any(isinstance(layer, Heatmap) and layer.log for ax in plot.axes for layer in ax.layers)
    user_style = f"    plt.style.use({style.style!r})\n" if style.style is not None else ""
    lines = [_HEADER.format(caption=plot.caption, name=name, version=__version__,
                            extra_imports="from matplotlib.colors import LogNorm\n" if needs_lognorm else "",
                            width=round(width, 3), height=round(height, 3),
                            rc=pprint.pformat(style.rc(), indent=4, width=110, sort_dicts=False),
                            user_style=user_style, count=len(plot.axes))]
    for index, spec in enumerate(plot.axes):
        ax = f"axes[0, {index}]"
        lines.append(f"    ax = {ax}")
        for layer in spec.layers:
            lines += [f"    {line}" for line in layer.code("ax", index)]
        for scale, axis in ((spec.xscale, "x"), (spec.yscale, "y")):
            if scale == "symlog":
                lines.append(f"    ax.set_{axis}scale('symlog', linthresh={spec.linthresh!r})")
            elif scale != "linear":
                lines.append(f"    ax.set_{axis}scale({scale!r})")
        if spec.xlim is not None:
            lines.append(f"    ax.set_xlim({spec.xlim[0]!r}, {spec.xlim[1]!r})")
        if spec.ylim is not None:
            lines.append(f"    ax.set_ylim({spec.ylim[0]!r}, {spec.ylim[1]!r})")
        if spec.xticks is not None:
            lines.append(f"    ax.set_xticks({list(spec.xticks)!r})")
        if spec.equal:
            lines.append("    ax.set_aspect('equal', adjustable='datalim')")
        if spec.integer_x:
            lines.append("    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))")
        lines.append(f"    ax.set_xlabel({spec.xlabel!r})")
        lines.append(f"    ax.set_ylabel({spec.ylabel!r})")
        if spec.title:
            lines.append(f"    ax.set_title({spec.title!r})")
        if spec.note:
            note = wrap_note(spec.note, style, len(plot.axes))
            lines.append(f"    ax.text(0.5, 0.5, {note!r}, transform=ax.transAxes, ha='center', va='center', "
                         f"fontsize={style.small_pt!r}, color='0.25')")
    lines.append(_FOOTER.format(columns=plot.legend_columns, name=name))
    return "\n".join(lines)


__all__ = ["script_text"]
