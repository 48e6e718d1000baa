"""The CSV of exactly the data a figure draws, one row per drawn value, and reading it back.

Columns (:data:`~.plot.COLUMNS`): ``axes`` (0-based), ``series`` (the legend label), ``kind`` (the
layer: line, band, scatter, stairs, heatmap, reference), then ``x``, ``y``, ``z`` whose meaning each
layer documents (:mod:`.plot`). Numbers are written as Python's shortest round-trip repr, so reading
them back gives the very floats drawn; ``nan`` marks a break in a line or an unused value.
"""

from __future__ import annotations

import csv
import io
import math

from .plot import COLUMNS, Plot


def csv_text(plot: Plot) -> str:
    """The CSV of ``plot`` as text (header, then the rows of every layer of every axes in order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for index, axes in enumerate(plot.axes):
        for layer in axes.layers:
            for row in layer.rows():
                writer.writerow([index, layer.series, layer.kind, *(_number(v) for v in row)])
    return out.getvalue()


def _number(value: float) -> str:
    value = float(value)
    return "nan" if math.isnan(value) else repr(value)


def read_csv(text: str) -> dict[tuple[int, str, str], list[tuple[float, float, float]]]:
    """The rows of a figure's CSV by ``(axes, kind, series)``, as written by :func:`csv_text`."""
    rows = csv.DictReader(io.StringIO(text))
    out: dict[tuple[int, str, str], list[tuple[float, float, float]]] = {}
    for row in rows:
        key = (int(row["axes"]), row["kind"], row["series"])
        out.setdefault(key, []).append((float(row["x"]), float(row["y"]), float(row["z"])))
    return out


__all__ = ["csv_text", "read_csv"]
