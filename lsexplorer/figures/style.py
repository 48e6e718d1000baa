"""Paper sizes and fonts of a figure: width in mm (one or two journal columns), fonts in pt, a user style.

A :class:`PaperStyle` fixes what a journal asks for: the width on paper (85 mm for one column, 175 mm
for two, or any), the height (given, or the figure's own aspect times the width), the font size of
axis labels in points (ticks, legends and notes one point smaller), the PNG resolution, and
optionally a matplotlib style sheet (a name from ``matplotlib.style.available`` or a ``.mplstyle``
file) applied on top of these defaults, so a user's sheet wins where it says something.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.style

from ..core.base.errors import InputError

#: One journal column and the full text width, mm.
ONE_COLUMN_MM = 85.0
TWO_COLUMNS_MM = 175.0
#: The widths and fonts a figure can be given; outside these it would not be a figure for a page.
WIDTH_RANGE_MM = (30.0, 400.0)
FONT_RANGE_PT = (4.0, 24.0)
DPI_RANGE = (50, 2400)
MM_PER_INCH = 25.4


@dataclasses.dataclass(frozen=True)
class PaperStyle:
    """How big a figure is on paper and how its text is set (see the module docstring)."""

    width_mm: float = ONE_COLUMN_MM
    height_mm: float | None = None
    font_pt: float = 8.0
    dpi: int = 300
    style: str | None = None

    def __post_init__(self) -> None:
        _check_range("width", self.width_mm, WIDTH_RANGE_MM, "mm")
        if self.height_mm is not None:
            _check_range("height", self.height_mm, WIDTH_RANGE_MM, "mm")
        _check_range("font size", self.font_pt, FONT_RANGE_PT, "pt")
        _check_range("dpi", self.dpi, DPI_RANGE, "")
        if self.style is not None:
            resolve_style(self.style)
        # One style, one file: 9 and 9.0 pt must write the same script.
        object.__setattr__(self, "width_mm", float(self.width_mm))
        object.__setattr__(self, "font_pt", float(self.font_pt))
        object.__setattr__(self, "dpi", int(self.dpi))
        if self.height_mm is not None:
            object.__setattr__(self, "height_mm", float(self.height_mm))

    @classmethod
    def for_columns(cls, columns: int, **kwargs) -> PaperStyle:
        """One (85 mm) or two (175 mm) journal columns wide."""
        if columns not in (1, 2):
            raise InputError(f"a figure is 1 or 2 columns wide, not {columns}")
        return cls(width_mm=ONE_COLUMN_MM if columns == 1 else TWO_COLUMNS_MM, **kwargs)

    def size_inches(self, aspect: float) -> tuple[float, float]:
        """``(width, height)`` in inches: the given height, else ``aspect`` (height / width) times the width."""
        height = self.height_mm if self.height_mm is not None else self.width_mm * aspect
        return self.width_mm / MM_PER_INCH, height / MM_PER_INCH

    @property
    def small_pt(self) -> float:
        """Ticks, legends and notes: one point below the labels."""
        return self.font_pt - 1.0

    def rc(self) -> dict:
        """The rcParams of this style before a user's sheet: sizes in pt, editable fonts in PDFs, no
        legend frame, reproducible files (no dates, fixed SVG ids)."""
        small = self.small_pt
        return {
            "font.size": self.font_pt, "axes.labelsize": self.font_pt, "axes.titlesize": self.font_pt,
            "xtick.labelsize": small, "ytick.labelsize": small, "legend.fontsize": small,
            "legend.title_fontsize": small, "figure.titlesize": self.font_pt,
            "axes.linewidth": 0.6, "lines.linewidth": 1.0, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
            "xtick.major.size": 2.5, "ytick.major.size": 2.5, "xtick.minor.size": 1.5, "ytick.minor.size": 1.5,
            "legend.frameon": False, "legend.handlelength": 1.5, "legend.borderaxespad": 0.3,
            "axes.formatter.limits": (-3, 4), "axes.formatter.use_mathtext": True,
            "figure.constrained_layout.h_pad": 0.02, "figure.constrained_layout.w_pad": 0.02,
            "pdf.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": "lsexplorer",
            "savefig.dpi": self.dpi, "image.cmap": "viridis",
        }

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Within: matplotlib draws and saves with this style (the user's sheet on top of :meth:`rc`)."""
        with matplotlib.rc_context(self.rc()):
            if self.style is None:
                yield
            else:
                with matplotlib.style.context(resolve_style(self.style)):
                    yield

    def describe(self) -> str:
        width = {ONE_COLUMN_MM: "one column (85 mm)", TWO_COLUMNS_MM: "two columns (175 mm)"}.get(
            self.width_mm, f"{self.width_mm:g} mm wide")
        height = "" if self.height_mm is None else f" × {self.height_mm:g} mm"
        sheet = "" if self.style is None else f", style {self.style}"
        return f"{width}{height}, {self.font_pt:g} pt{sheet}"


def resolve_style(style: str) -> str:
    """``style`` as matplotlib takes it: a style name it knows, or the path of an existing
    ``.mplstyle`` file; InputError in one line otherwise."""
    if style in matplotlib.style.available or style == "default":
        return style
    path = Path(style).expanduser()
    if path.suffix == ".mplstyle" or path.exists():
        if not path.is_file():
            raise InputError(f"style file {style} does not exist")
        try:
            matplotlib.rc_params_from_file(str(path), use_default_template=False)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"cannot read the style file {style}: {exc}") from None
        return str(path)
    names = ", ".join(sorted(s for s in matplotlib.style.available if not s.startswith("_")))
    raise InputError(f"unknown style {style!r}: give a .mplstyle file or one of: {names}")


def _check_range(what: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    try:
        ok = math.isfinite(float(value)) and bounds[0] <= float(value) <= bounds[1]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"the figure {what} must be a number from {bounds[0]:g} to {bounds[1]:g}{unit}, "
                         f"not {value!r}")


__all__ = ["ONE_COLUMN_MM", "TWO_COLUMNS_MM", "PaperStyle", "resolve_style"]
