"""The default window layout as data: ``resources/layouts/<name>.json``, read and checked.

The file names docks by their titles and says where each goes: the navigator (the run table) at the
top of a narrow left column, the session-wide (*secondary*) views tabbed under it, and for each range
of window widths ("narrow", "laptop", "wide") the columns of *focus* views, each column a tab group
whose first view is raised, with the share of the width the left column takes. Changing the default
arrangement is an edit of that file, not of code; :mod:`lsexplorer.gui.layout` applies it.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from functools import lru_cache

from ..app_resources import DEFAULT_LAYOUT, layout_text
from ..core.base.errors import InputError

LAYOUT_FORMAT = "lsexplorer.layout"
LAYOUT_VERSION = 1


class Role(enum.Enum):
    """What a dock is for, which decides where the default layout puts it."""

    NAVIGATOR = "navigator"  # picks the point explored: left column, top
    FOCUS = "focus"  # shows the selected point: large, side by side
    SECONDARY = "secondary"  # about the whole session: tabs under the navigator


class LayoutFileError(InputError):
    """A layout file that cannot be used; the message says which and why, in one line."""


@dataclass(frozen=True)
class ScreenLayout:
    """The focus columns for windows at least ``from_width`` logical pixels wide."""

    name: str
    from_width: int
    left_share: float
    focus_tabs: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class DockLayout:
    """A default arrangement of the docks, by title (see the module docstring)."""

    navigator: str
    secondary_tabs: tuple[str, ...]
    navigator_share: float
    new_window_share: float
    screens: tuple[ScreenLayout, ...]  # by ascending from_width, the first from 0

    def screen_for(self, width: int) -> ScreenLayout:
        """The arrangement for a window ``width`` logical pixels wide."""
        return [s for s in self.screens if width >= s.from_width][-1]

    def focus_titles(self) -> tuple[str, ...]:
        return tuple(t for column in self.screens[0].focus_tabs for t in column)

    def titles(self) -> tuple[str, ...]:
        """Every dock the layout places."""
        return (self.navigator, *self.secondary_tabs, *self.focus_titles())

    def role(self, title: str) -> Role | None:
        if title == self.navigator:
            return Role.NAVIGATOR
        if title in self.secondary_tabs:
            return Role.SECONDARY
        return Role.FOCUS if title in self.focus_titles() else None


def _share(value, what: str, name: str) -> float:
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise LayoutFileError(f"layout {name}: {what} must be a number between 0 and 1, not {value!r}")
    return float(value)


def parse_layout(text: str, name: str = "layout") -> DockLayout:
    """The :class:`DockLayout` in the JSON ``text``; raises :class:`LayoutFileError` when it is not one.

    Every screen must place the same focus views, each once, and no dock may have two roles.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LayoutFileError(f"layout {name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != LAYOUT_FORMAT:
        raise LayoutFileError(f"layout {name} is not an lsexplorer layout (format {LAYOUT_FORMAT!r})")
    if data.get("version") != LAYOUT_VERSION:
        raise LayoutFileError(f"layout {name} has version {data.get('version')!r}; this lsexplorer reads "
                              f"version {LAYOUT_VERSION}")
    try:
        screens = tuple(ScreenLayout(str(s["name"]), int(s["from_width"]),
                                     _share(s["left_share"], "left_share", name),
                                     tuple(tuple(str(t) for t in column) for column in s["focus_tabs"]))
                        for s in sorted(data["screens"], key=lambda s: s["from_width"]))
        layout = DockLayout(str(data["navigator"]), tuple(str(t) for t in data["secondary_tabs"]),
                            _share(data["navigator_share"], "navigator_share", name),
                            _share(data["new_window_share"], "new_window_share", name), screens)
    except (KeyError, TypeError, ValueError) as exc:
        raise LayoutFileError(f"layout {name} lacks or mistypes {exc}") from None
    if not screens or screens[0].from_width != 0:
        raise LayoutFileError(f"layout {name} needs a screen from width 0")
    focus = sorted(layout.focus_titles())
    for screen in screens:
        placed = [t for column in screen.focus_tabs for t in column]
        if sorted(placed) != focus or not all(screen.focus_tabs):
            raise LayoutFileError(f"layout {name}: screen {screen.name!r} does not place each focus view once, "
                                  f"in non-empty columns")
    titles = layout.titles()
    if len(set(titles)) != len(titles):
        raise LayoutFileError(f"layout {name} places a dock twice")
    return layout


@lru_cache(maxsize=None)
def load_layout(name: str = DEFAULT_LAYOUT) -> DockLayout:
    """The shipped layout ``name`` (``resources/layouts/<name>.json``), read once."""
    return parse_layout(layout_text(name), name)


__all__ = ["DockLayout", "LayoutFileError", "Role", "ScreenLayout", "load_layout", "parse_layout"]
