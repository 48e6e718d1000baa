"""The size a figure is exported at on paper: a width in millimetres, a height, a raster DPI, a font size.

A figure for a paper is sized for the page, not for the window it happened to sit in: one column of
a two-column journal page is about 85 mm wide, the full text width about 175 mm (Nature, PRL, the
NeurIPS/ICML templates all sit within a few mm of these). Fonts are given in points, so a tick label
is the same height on paper at either width, as in matplotlib's ``figsize`` (inches) plus font sizes
in points. This module holds only the numbers and their checks; it imports no Qt, so the CLI can
refuse a bad value before it starts an offscreen window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.base.errors import InputError

#: Width of one column and of two columns (the full text width) of a journal page, in mm.
ONE_COLUMN_MM = 85.0
TWO_COLUMNS_MM = 175.0
COLUMN_WIDTHS_MM = {1: ONE_COLUMN_MM, 2: TWO_COLUMNS_MM}
#: Accepted widths and heights (mm): from a narrow inset to a poster panel.
WIDTH_RANGE_MM = (30.0, 500.0)
HEIGHT_RANGE_MM = (20.0, 500.0)
#: Raster resolution of PNG exports (dots per inch): default, and accepted range.
DEFAULT_DPI = 300
DPI_RANGE = (50, 2400)
#: Axis-label size in points; tick labels and legends are one point smaller, titles the same.
DEFAULT_FONT_PT = 8.0
FONT_RANGE_PT = (5.0, 16.0)
#: A height taken from the on-screen view's aspect (height / width) is kept within these, so a
#: long thin strip on screen does not become a 20 mm high figure with no room for its data.
ASPECT_RANGE = (0.62, 1.2)
MM_PER_INCH = 25.4


def _number(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{what} must be a finite number, not {value!r}")
    return number


def _within(value, what: str, bounds: tuple[float, float], unit: str) -> float:
    number = _number(value, what)
    lo, hi = bounds
    if not lo <= number <= hi:
        raise InputError(f"{what} must be between {lo:g} and {hi:g}{unit}, not {number:g}")
    return number


@dataclass(frozen=True)
class PageSize:
    """A figure's size on paper.

    ``width_mm`` wide; ``height_mm`` high, or ``None`` for the on-screen view's aspect (kept within
    :data:`ASPECT_RANGE`); PNGs rendered at ``dpi``; axis labels and titles ``font_pt`` points, tick
    labels and legend text one point less. Values outside the accepted ranges raise
    :class:`~lsexplorer.core.base.errors.InputError` with a one-line reason.
    """

    width_mm: float = ONE_COLUMN_MM
    height_mm: float | None = None
    dpi: int = DEFAULT_DPI
    font_pt: float = DEFAULT_FONT_PT

    def __post_init__(self) -> None:
        object.__setattr__(self, "width_mm", _within(self.width_mm, "the figure width", WIDTH_RANGE_MM, " mm"))
        if self.height_mm is not None:
            object.__setattr__(self, "height_mm",
                               _within(self.height_mm, "the figure height", HEIGHT_RANGE_MM, " mm"))
        dpi = _within(self.dpi, "the DPI", DPI_RANGE, "")
        if dpi != int(dpi):
            raise InputError(f"the DPI must be a whole number, not {dpi:g}")
        object.__setattr__(self, "dpi", int(dpi))
        object.__setattr__(self, "font_pt", _within(self.font_pt, "the font size", FONT_RANGE_PT, " pt"))

    @classmethod
    def for_columns(cls, columns: int, **kwargs) -> PageSize:
        """One or two journal columns wide (:data:`COLUMN_WIDTHS_MM`)."""
        if columns not in COLUMN_WIDTHS_MM:
            raise InputError(f"a figure spans 1 or 2 columns, not {columns}")
        return cls(width_mm=COLUMN_WIDTHS_MM[columns], **kwargs)

    def height_for(self, aspect: float) -> float:
        """The height in mm: ``height_mm`` if set, else ``width_mm`` times the view's ``aspect``
        (height / width) clipped to :data:`ASPECT_RANGE`, itself clipped to :data:`HEIGHT_RANGE_MM`."""
        if self.height_mm is not None:
            return self.height_mm
        lo, hi = ASPECT_RANGE
        aspect = min(max(aspect, lo), hi) if math.isfinite(aspect) and aspect > 0 else lo
        return min(max(self.width_mm * aspect, HEIGHT_RANGE_MM[0]), HEIGHT_RANGE_MM[1])

    def pixels(self, mm: float) -> int:
        """How many PNG pixels ``mm`` millimetres take at ``dpi``."""
        return max(1, round(mm / MM_PER_INCH * self.dpi))

    @property
    def tick_pt(self) -> float:
        return self.font_pt - 1.0

    @property
    def title_pt(self) -> float:
        return self.font_pt

    def describe(self) -> str:
        height = f"{self.height_mm:g} mm" if self.height_mm is not None else "the view's aspect"
        return f"{self.width_mm:g} mm wide, height {height}, {self.font_pt:g} pt labels, PNG at {self.dpi} dpi"


__all__ = ["COLUMN_WIDTHS_MM", "DEFAULT_DPI", "DEFAULT_FONT_PT", "ONE_COLUMN_MM", "TWO_COLUMNS_MM", "PageSize"]
