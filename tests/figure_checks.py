"""Checks every paper figure must pass, shared by the figure tests.

- :func:`check_layout`: every text lies inside the figure, fonts are the style's pt, the legend does
  not overlap any axes' data area;
- :func:`check_page_width`: the PDF's page and the SVG's width are the style's width in mm;
- :func:`check_redraw`: the written ``NAME.py`` runs in a clean subprocess (``python -I``) and draws
  the same data as the figure (line vertices, scatter offsets and colours, heat-map values, histogram
  bins, bands, texts).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.collections import PathCollection, PolyCollection, QuadMesh
from matplotlib.lines import Line2D
from matplotlib.patches import StepPatch
from matplotlib.text import Text

from lsexplorer.figures import PaperStyle, Plot, draw, write_figure

#: One pixel at 72 dpi, what a text may stick out by (antialiasing, rounding of extents).
SLACK_PX = 1.0


def check_layout(fig, style: PaperStyle) -> None:
    """Texts inside the figure at the declared sizes; the legend clear of every axes."""
    canvas = fig.canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    sizes = {round(style.font_pt, 3), round(style.small_pt, 3)}
    undrawn = _undrawn_tick_labels(fig)
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in undrawn:
            continue
        extent = text.get_window_extent(renderer)
        assert (extent.x0 >= box.x0 - SLACK_PX and extent.y0 >= box.y0 - SLACK_PX
                and extent.x1 <= box.x1 + SLACK_PX and extent.y1 <= box.y1 + SLACK_PX), \
            f"text {text.get_text()!r} sticks out of the figure: {extent} vs {box}"
        assert round(text.get_fontsize(), 3) in sizes, f"text {text.get_text()!r} is {text.get_fontsize()} pt"
    main_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]:
        lbox = legend.get_window_extent(renderer)
        for ax in main_axes:
            abox = ax.get_window_extent(renderer)
            assert not lbox.overlaps(abox), f"the legend {lbox} overlaps the axes {abox}"


def _undrawn_tick_labels(fig) -> set[int]:
    """Tick labels matplotlib keeps but does not draw: those of ticks outside the axes' view (compared
    on the axis' own scale, so that 1e-39 lies outside a log axis from 1e-33)."""
    out = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            scale = axis.get_transform()
            low, high = sorted(scale.transform(np.asarray(axis.get_view_interval(), dtype=float)))
            span = high - low
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                at = None if loc is None else float(scale.transform(np.array([loc], dtype=float))[0])
                if at is None or not np.isfinite(at) or not low - 1e-9 * span <= at <= high + 1e-9 * span:
                    out.update({id(tick.label1), id(tick.label2)})
    return out


def check_page_width(paths: list[Path], style: PaperStyle, height_mm: float) -> None:
    """The PDF page and the SVG are ``style.width_mm`` wide and ``height_mm`` high (to 0.1 mm)."""
    to_mm = 25.4 / 72
    for path in paths:
        if path.suffix == ".pdf":
            box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", path.read_bytes())
            assert box, f"{path} has no MediaBox"
            width, height = float(box.group(1)) * to_mm, float(box.group(2)) * to_mm
        elif path.suffix == ".svg":
            head = path.read_text(encoding="utf-8")[:2000]
            w = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', head, re.S)
            h = re.search(r'<svg[^>]*\sheight="([\d.]+)pt"', head, re.S)
            assert w and h, f"{path} declares no size in pt"
            width, height = float(w.group(1)) * to_mm, float(h.group(1)) * to_mm
        else:
            continue
        assert abs(width - style.width_mm) < 0.1, f"{path.name} is {width:.2f} mm wide, not {style.width_mm}"
        assert abs(height - height_mm) < 0.1, f"{path.name} is {height:.2f} mm high, not {height_mm:.2f}"


def drawn_data(fig) -> dict:
    """What ``fig`` draws, comparable across processes: per axes, its artists' data and its texts."""
    out = []
    for ax in fig.axes:
        items = []
        for artist in ax.get_children():
            if not artist.get_visible():
                continue
            if isinstance(artist, Line2D):
                items.append(("line", np.asarray(artist.get_xydata(), dtype=float).tolist()))
            elif isinstance(artist, PathCollection):
                values = artist.get_array()
                items.append(("points", np.asarray(artist.get_offsets(), dtype=float).tolist(),
                              None if values is None else np.asarray(values, dtype=float).tolist()))
            elif isinstance(artist, QuadMesh):
                items.append(("mesh", np.asarray(artist.get_array(), dtype=float).ravel().tolist()))
            elif isinstance(artist, PolyCollection):
                items.append(("band", [np.asarray(p.vertices, dtype=float).tolist() for p in artist.get_paths()]))
            elif isinstance(artist, StepPatch):
                values, edges, _ = artist.get_data()
                items.append(("stairs", np.asarray(values, dtype=float).tolist(),
                              np.asarray(edges, dtype=float).tolist()))
        texts = [t.get_text() for t in ax.texts] + [ax.get_title()]
        out.append({"items": items, "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                    "xscale": ax.get_xscale(), "yscale": ax.get_yscale(), "texts": texts})
    legends = [[t.get_text() for t in legend.get_texts()] for legend in fig.legends]
    return {"axes": out, "legends": legends}


_REDRAW = textwrap.dedent("""
    import json, runpy, sys
    import matplotlib
    matplotlib.use("Agg")
    sys.path.insert(0, sys.argv[2])
    from figure_checks import drawn_data
    namespace = runpy.run_path(sys.argv[1], run_name="redraw")
    fig = namespace["draw"]()
    fig.canvas.draw()
    print(json.dumps(drawn_data(fig), allow_nan=True))
""")


def _same(a, b, where: str) -> None:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        if a and all(isinstance(v, (int, float)) for v in a) and all(isinstance(v, (int, float)) for v in b):
            np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), err_msg=where)
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == b or (np.isnan(a) and np.isnan(b)), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def check_redraw(plot: Plot, style: PaperStyle, out_dir: Path) -> list[Path]:
    """Write ``plot``, run its script in a clean interpreter, and compare what both draw. Returns the files."""
    paths = write_figure(plot, out_dir, style)
    fig = draw(plot, style)
    fig.canvas.draw()
    expected = json.loads(json.dumps(drawn_data(fig), allow_nan=True))
    script = out_dir / f"{plot.name}.py"
    done = subprocess.run([sys.executable, "-I", "-c", _REDRAW, str(script), str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _same(json.loads(done.stdout), expected, plot.name)
    return paths


def check_figure(plot: Plot, out_dir: Path, style: PaperStyle | None = None) -> list[Path]:
    """Every check above, for ``plot`` in ``style`` (one column, 8 pt, by default)."""
    style = style or PaperStyle()
    check_layout(draw(plot, style), style)
    paths = check_redraw(plot, style, out_dir)
    width, height = style.size_inches(plot.aspect)
    check_page_width(paths, style, height * 25.4)
    return paths
