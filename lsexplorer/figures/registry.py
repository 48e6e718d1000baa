"""Every figure by name (:data:`FIGURES`), gathered from the modules that draw them."""

from __future__ import annotations

from . import channel, counting, curvature_plane, escape, neurons, paths, saddle_line, slices, statistics, training
from .catalog import FigureSpec

#: Every figure, by its name, in the order of the app's panels.
FIGURES: dict[str, FigureSpec] = {spec.name: spec for spec in (
    *neurons.FIGURES,
    *statistics.FIGURES,
    *training.FIGURES,
    *counting.FIGURES,
    *saddle_line.FIGURES,
    *slices.FIGURES,
    *escape.FIGURES,
    *channel.FIGURES,
    *paths.FIGURES,
    *curvature_plane.FIGURES,
)}


def get(name: str) -> FigureSpec:
    """The figure called ``name``; ValueError naming the choices otherwise."""
    try:
        return FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}") from None


__all__ = ["FIGURES", "get"]
