"""The colours every figure and panel share: one per kind of point, the teacher's, the diverging map.

One table, so a local minimum is the same orange in the app's run table, its scatter plots and in
every exported figure. Colour-blind safe (Okabe–Ito).
"""

from __future__ import annotations

from ..core.base.kinds import Kind


class _KindColors(dict):
    """Colours by stored kind name; a kind without its own colour is drawn grey."""

    def __missing__(self, kind: str) -> str:
        return UNKNOWN_KIND_COLOR


UNKNOWN_KIND_COLOR = "#999999"
#: Colours per kind (names and labels: :class:`lsexplorer.core.base.kinds.Kind`).
KIND_COLORS = _KindColors({
    Kind.GLOBAL_MIN: "#009E73",
    Kind.LOCAL_MIN: "#E69F00",
    Kind.STRICT_SADDLE: "#0072B2",
    Kind.NONSTRICT_SADDLE: "#CC79A7",
    Kind.CHANNEL: "#56B4E9",
    Kind.CHANNEL_SADDLE: "#F0E442",
    Kind.NOT_CONVERGED: UNKNOWN_KIND_COLOR,
})
TEACHER_COLOR = "#000000"
#: Matplotlib's diverging map for signed quantities (outgoing weights): blue negative, white 0, red positive.
DIVERGING_CMAP = "RdBu_r"

__all__ = ["DIVERGING_CMAP", "KIND_COLORS", "TEACHER_COLOR", "UNKNOWN_KIND_COLOR"]
