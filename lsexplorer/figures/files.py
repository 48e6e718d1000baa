"""A figure written to files: PDF, SVG and PNG, the CSV of its data and the script that redraws it.

Every file is rendered into memory first and written whole or not at all
(:func:`~lsexplorer.core.store.atomic_write.write_atomically`): a full disk leaves no cut-off figure
under a real name. Files carry no date, so the same figure of the same run is the same bytes from
the app and from the CLI.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from matplotlib.figure import Figure

from .._version import __version__
from ..core.base.errors import InputError
from ..core.store.atomic_write import SaveError, write_atomically
from .data_file import csv_text
from .plot import Plot
from .render import draw
from .script import script_text
from .style import PaperStyle

#: The image formats a figure can be written in.
IMAGE_FORMATS = ("pdf", "svg", "png")
_METADATA = {
    "pdf": {"Creator": f"lsexplorer {__version__}", "Producer": "matplotlib", "CreationDate": None},
    "svg": {"Creator": f"lsexplorer {__version__}", "Date": None},
    "png": {"Software": f"lsexplorer {__version__}"},
}


class FigureWriteError(InputError):
    """A figure's file could not be written; the message names the file and why, in one line.
    ``written``: the files of the same figure written whole before it."""

    def __init__(self, message: str, written: list[Path] | None = None) -> None:
        super().__init__(message)
        self.written = list(written or [])


def parse_formats(text: str) -> tuple[str, ...]:
    """``"pdf,png"`` as ``("pdf", "png")``; InputError naming the choices for anything else."""
    formats = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in IMAGE_FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown figure format {', '.join(unknown) or repr(text)}; choose from "
                         f"{', '.join(IMAGE_FORMATS)}")
    return formats


def figure_bytes(fig: Figure, fmt: str, style: PaperStyle) -> bytes:
    """``fig`` encoded as ``fmt`` (pdf, svg, png at the style's dpi), without a date."""
    buffer = io.BytesIO()
    with style.applied():
        fig.savefig(buffer, format=fmt, dpi=style.dpi, metadata=_METADATA[fmt])
    return buffer.getvalue()


def write_figure(plot: Plot, out_dir: str | Path, style: PaperStyle | None = None,
                 formats: Iterable[str] = IMAGE_FORMATS, name: str | None = None) -> list[Path]:
    """Write ``plot`` into ``out_dir`` (created) as ``NAME.<format>`` for each of ``formats``, ``NAME.csv`` (the data
    drawn) and ``NAME.py`` (the script that redraws it from the CSV); ``NAME`` is ``name`` or the plot's.

    Returns the paths written, in that order. Raises :class:`FigureWriteError` for a file that cannot
    be written (the ones before it stay, whole).
    """
    style = style or PaperStyle()
    name = name or plot.name
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FigureWriteError(f"cannot create {out}: {exc.strerror or exc}") from None
    fig = draw(plot, style)
    contents: list[tuple[str, bytes]] = [(f"{name}.{fmt}", figure_bytes(fig, fmt, style)) for fmt in formats]
    contents.append((f"{name}.csv", csv_text(plot).encode("utf-8")))
    contents.append((f"{name}.py", script_text(plot, name, style).encode("utf-8")))
    written = []
    for filename, data in contents:
        path = out / filename
        try:
            write_atomically(path, data)
        except (OSError, SaveError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise FigureWriteError(f"cannot write {path}: {reason}; no partial file was left", written) from None
        written.append(path)
    return written


__all__ = ["IMAGE_FORMATS", "FigureWriteError", "figure_bytes", "parse_formats", "write_figure"]
