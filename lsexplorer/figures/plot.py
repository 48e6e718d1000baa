"""A figure as data: axes holding layers (lines, scatters, histograms, heat maps, reference lines).

A :class:`Plot` is what a figure shows and nothing else: the arrays drawn, their labels and how they
are styled. From it come the matplotlib figure (:mod:`.render`), the CSV of exactly the data drawn
(:mod:`.data_file`) and the standalone script that redraws the figure from that CSV (:mod:`.script`).
Each layer knows both how to draw itself on an ``Axes`` and the source line that does the same in the
script, side by side, so the two cannot drift apart unnoticed (the tests compare what each draws).

Colours are matplotlib colour strings (``"C0"`` … of the style's cycle, or hex), so a user style sheet
that changes the cycle restyles both the figure and the script.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm

#: Columns of a figure's CSV, in order: the axes (0-based), the series (its legend label), the layer
#: kind, then the values (``z``: heat-map value or scatter colour; blank where unused).
COLUMNS = ("axes", "series", "kind", "x", "y", "z")


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float).ravel()


@dataclasses.dataclass(frozen=True)
class Line:
    """A curve ``y(x)``; NaN breaks it (one series can hold several curves)."""

    series: str
    x: np.ndarray
    y: np.ndarray
    color: str = "C0"
    style: str = "-"
    width: float = 1.0
    marker: str = ""
    marker_size: float = 3.0
    legend: bool = True

    kind = "line"

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _floats(self.x))
        object.__setattr__(self, "y", _floats(self.y))
        if self.x.shape != self.y.shape:
            raise ValueError(f"line {self.series!r}: x and y differ in length")

    def rows(self) -> list[tuple[float, float, float]]:
        return [(x, y, np.nan) for x, y in zip(self.x, self.y)]

    def _kw(self) -> dict:
        return {"color": self.color, "ls": self.style, "lw": self.width, "marker": self.marker or "None",
                "ms": self.marker_size, "label": self.series if self.legend else "_nolegend_"}

    def draw(self, ax, fig) -> Any:
        return ax.plot(self.x, self.y, **self._kw())[0]

    def code(self, ax: str, index: int) -> list[str]:
        return [f"x, y, _ = data({index}, {self.kind!r}, {self.series!r})",
                f"{ax}.plot(x, y, {_kwargs(self._kw())})"]


@dataclasses.dataclass(frozen=True)
class Band:
    """A filled band between ``low(x)`` and ``high(x)`` (CSV: ``y`` low, ``z`` high)."""

    series: str
    x: np.ndarray
    low: np.ndarray
    high: np.ndarray
    color: str = "C0"
    alpha: float = 0.25
    legend: bool = True

    kind = "band"

    def __post_init__(self) -> None:
        for name in ("x", "low", "high"):
            object.__setattr__(self, name, _floats(getattr(self, name)))

    def rows(self) -> list[tuple[float, float, float]]:
        return list(zip(self.x, self.low, self.high))

    def _kw(self) -> dict:
        return {"color": self.color, "alpha": self.alpha, "lw": 0,
                "label": self.series if self.legend else "_nolegend_"}

    def draw(self, ax, fig) -> Any:
        return ax.fill_between(self.x, self.low, self.high, **self._kw())

    def code(self, ax: str, index: int) -> list[str]:
        return [f"x, low, high = data({index}, {self.kind!r}, {self.series!r})",
                f"{ax}.fill_between(x, low, high, {_kwargs(self._kw())})"]


@dataclasses.dataclass(frozen=True)
class Scatter:
    """Points; with ``values`` they are coloured by them through ``cmap`` (with a labelled colour bar).

    ``limits``: the values at the ends of the colour map (several layers share one scale by giving the
    same limits); values beyond saturate and the colour bar says so with a pointed end (``extend``:
    which ends, when other layers on the same scale saturate too; by default from this layer's values).
    ``edgecolor``: an outline (a marker filled with the map's near-white middle stays visible).
    ``alpha``: opacity.
    """

    series: str
    x: np.ndarray
    y: np.ndarray
    color: str = "C0"
    marker: str = "o"
    size: float = 9.0
    values: np.ndarray | None = None
    cmap: str = "viridis"
    colorbar: str | None = None
    filled: bool = True
    legend: bool = True
    limits: tuple[float, float] | None = None
    edgecolor: str | None = None
    alpha: float = 1.0
    extend: str | None = None

    kind = "scatter"

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _floats(self.x))
        object.__setattr__(self, "y", _floats(self.y))
        if self.values is not None:
            object.__setattr__(self, "values", _floats(self.values))

    def rows(self) -> list[tuple[float, float, float]]:
        z = self.values if self.values is not None else np.full(self.x.size, np.nan)
        return list(zip(self.x, self.y, z))

    def _kw(self) -> dict:
        kw: dict = {"marker": self.marker, "s": self.size, "lw": 0.6,
                    "label": self.series if self.legend else "_nolegend_"}
        if self.values is not None:
            kw["cmap"] = self.cmap
            if self.limits is not None:
                kw["vmin"], kw["vmax"] = (float(v) for v in self.limits)
        elif self.filled:
            kw["color"] = self.color
        else:
            kw["facecolors"] = "none"
            kw["edgecolors"] = self.color
        if self.edgecolor is not None:
            kw["edgecolors"] = self.edgecolor
        if self.alpha != 1.0:
            kw["alpha"] = self.alpha
        return kw

    def _colorbar_kw(self) -> dict:
        kw: dict = {"label": self.colorbar}
        if self.extend is not None:
            if self.extend != "neither":
                kw["extend"] = self.extend
            return kw
        v = self.values[np.isfinite(self.values)] if self.values is not None else np.zeros(0)
        if self.limits is not None and v.size:
            low, high = bool(v.min() < self.limits[0]), bool(v.max() > self.limits[1])
            if low or high:
                kw["extend"] = "both" if low and high else ("min" if low else "max")
        return kw

    def draw(self, ax, fig) -> Any:
        artist = ax.scatter(self.x, self.y, c=self.values, **self._kw())
        if self.values is not None and self.colorbar:
            fig.colorbar(artist, ax=ax, **self._colorbar_kw())
        return artist

    def code(self, ax: str, index: int) -> list[str]:
        c = "c=z, " if self.values is not None else ""
        lines = [f"x, y, z = data({index}, {self.kind!r}, {self.series!r})",
                 f"points = {ax}.scatter(x, y, {c}{_kwargs(self._kw())})"]
        if self.values is not None and self.colorbar:
            lines.append(f"fig.colorbar(points, ax={ax}, {_kwargs(self._colorbar_kw())})")
        return lines


@dataclasses.dataclass(frozen=True)
class Stairs:
    """A histogram: ``counts[i]`` over ``[edges[i], edges[i + 1])`` (CSV: ``x`` the edges, ``y`` the
    count of the bin that starts there, blank after the last edge)."""

    series: str
    edges: np.ndarray
    counts: np.ndarray
    color: str = "C0"
    fill: bool = True
    legend: bool = True

    kind = "stairs"

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", _floats(self.edges))
        object.__setattr__(self, "counts", _floats(self.counts))
        if self.edges.size != self.counts.size + 1:
            raise ValueError(f"histogram {self.series!r}: need one edge more than counts")

    def rows(self) -> list[tuple[float, float, float]]:
        return [(e, c, np.nan) for e, c in zip(self.edges, np.append(self.counts, np.nan))]

    def _kw(self) -> dict:
        kw: dict = {"fill": self.fill, "label": self.series if self.legend else "_nolegend_"}
        if self.fill:
            kw.update(facecolor=self.color, edgecolor=self.color, alpha=0.6)
        else:
            kw.update(edgecolor=self.color, lw=1.0)
        return kw

    def draw(self, ax, fig) -> Any:
        return ax.stairs(self.counts, self.edges, **self._kw())

    def code(self, ax: str, index: int) -> list[str]:
        return [f"edges, counts, _ = data({index}, {self.kind!r}, {self.series!r})",
                f"{ax}.stairs(counts[:-1], edges, {_kwargs(self._kw())})"]


@dataclasses.dataclass(frozen=True)
class Heatmap:
    """Values ``z[i, j]`` at ``(x[j], y[i])`` on a grid, with a labelled colour bar (CSV: one row per
    cell, ``y`` outer, ``x`` inner). ``levels``: contour lines drawn over it, if any. ``limits``: the
    values at the ends of the colour bar (e.g. symmetric about 0 for a diverging map); the data's
    range when None."""

    series: str
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    colorbar: str
    cmap: str = "viridis"
    levels: int = 0
    log: bool = False
    limits: tuple[float, float] | None = None

    kind = "heatmap"
    legend = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", _floats(self.x))
        object.__setattr__(self, "y", _floats(self.y))
        z = np.asarray(self.z, dtype=float)
        if z.shape != (self.y.size, self.x.size):
            raise ValueError(f"heat map {self.series!r}: z must be (len(y), len(x))")
        object.__setattr__(self, "z", z)

    def rows(self) -> list[tuple[float, float, float]]:
        return [(x, y, self.z[i, j]) for i, y in enumerate(self.y) for j, x in enumerate(self.x)]

    def _kw(self) -> dict:
        kw: dict = {"cmap": self.cmap, "shading": "nearest", "rasterized": True}
        if self.limits is not None and not self.log:  # a log map takes its limits in its norm
            kw["vmin"], kw["vmax"] = (float(v) for v in self.limits)
        return kw

    def _norm_args(self) -> str:
        return "" if self.limits is None else ", ".join(repr(float(v)) for v in self.limits)

    def draw(self, ax, fig) -> Any:
        norm = LogNorm(*(() if self.limits is None else self.limits)) if self.log else None
        mesh = ax.pcolormesh(self.x, self.y, self.z, norm=norm, **self._kw())
        if self.levels:
            ax.contour(self.x, self.y, self.z, levels=self.levels, colors="white", linewidths=0.4, alpha=0.6)
        fig.colorbar(mesh, ax=ax, label=self.colorbar)
        return mesh

    def code(self, ax: str, index: int) -> list[str]:
        norm = f"norm=LogNorm({self._norm_args()}), " if self.log else ""
        lines = [f"x, y, z = data({index}, {self.kind!r}, {self.series!r})",
                 "nx = int(np.sum(y == y[0]))",
                 "x, y, z = x[:nx], y[::nx], z.reshape(-1, nx)",
                 f"mesh = {ax}.pcolormesh(x, y, z, {norm}{_kwargs(self._kw())})"]
        if self.levels:
            lines.append(f"{ax}.contour(x, y, z, levels={self.levels}, colors='white', linewidths=0.4, alpha=0.6)")
        lines.append(f"fig.colorbar(mesh, ax={ax}, label={self.colorbar!r})")
        return lines


@dataclasses.dataclass(frozen=True)
class Reference:
    """A horizontal (``axis="y"``) or vertical (``axis="x"``) reference line at ``value``."""

    series: str
    value: float
    axis: str = "y"
    color: str = "0.4"
    style: str = "--"
    width: float = 0.8
    legend: bool = True

    kind = "reference"

    def __post_init__(self) -> None:
        if self.axis not in ("x", "y"):
            raise ValueError("a reference line is at an x or a y value")
        object.__setattr__(self, "value", float(self.value))

    def rows(self) -> list[tuple[float, float, float]]:
        return [(self.value, np.nan, np.nan)] if self.axis == "x" else [(np.nan, self.value, np.nan)]

    def _kw(self) -> dict:
        return {"color": self.color, "ls": self.style, "lw": self.width,
                "label": self.series if self.legend else "_nolegend_"}

    def draw(self, ax, fig) -> Any:
        if self.axis == "x":
            return ax.axvline(self.value, **self._kw())
        return ax.axhline(self.value, **self._kw())

    def code(self, ax: str, index: int) -> list[str]:
        if self.axis == "x":
            return [f"x, _, _ = data({index}, {self.kind!r}, {self.series!r})",
                    f"{ax}.axvline(x[0], {_kwargs(self._kw())})"]
        return [f"_, y, _ = data({index}, {self.kind!r}, {self.series!r})",
                f"{ax}.axhline(y[0], {_kwargs(self._kw())})"]


Layer = Line | Band | Scatter | Stairs | Heatmap | Reference


@dataclasses.dataclass(frozen=True)
class Axes:
    """One plot: its layers, labels and scales. ``note``: a sentence drawn in the middle of the axes
    (why nothing is drawn, e.g. values that are round-off), in place of or beside the layers.

    ``xscale``/``yscale``: ``"linear"``, ``"log"`` or ``"symlog"`` (with ``linthresh`` for y).
    ``equal``: one unit is as long on x as on y (weight space). ``xticks``: the x ticks, when only some
    values mean something (widths). ``integer_x``: x ticks at whole numbers only (an index axis).
    """

    layers: tuple[Layer, ...] = ()
    xlabel: str = ""
    ylabel: str = ""
    xscale: str = "linear"
    yscale: str = "linear"
    linthresh: float = 1e-6
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    equal: bool = False
    title: str = ""
    note: str = ""
    xticks: tuple[float, ...] | None = None
    integer_x: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.xticks is not None:
            object.__setattr__(self, "xticks", tuple(float(t) for t in self.xticks))
        names = [(layer.kind, layer.series) for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"axes {self.title or self.ylabel!r}: two layers of one kind share a series name")


@dataclasses.dataclass(frozen=True)
class Plot:
    """A whole figure: its axes side by side, its file stem ``name`` and what it shows (``caption``,
    for the gallery and the script's docstring, never drawn). ``aspect`` is height over width, used
    when the style gives no height. ``legend_columns``: columns of the legend below the axes."""

    name: str
    caption: str
    axes: tuple[Axes, ...]
    aspect: float = 0.7
    legend_columns: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", tuple(self.axes))
        if not self.axes:
            raise ValueError("a figure needs at least one axes")

    def has_legend(self) -> bool:
        return any(layer.legend for ax in self.axes for layer in ax.layers)


def _kwargs(kw: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kw.items())


__all__ = ["COLUMNS", "Axes", "Band", "Heatmap", "Layer", "Line", "Plot", "Reference", "Scatter", "Stairs"]
