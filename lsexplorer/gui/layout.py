"""Where the main window's docks go: one table of panels, and the arrangement for a screen.

The point being explored comes first: *focus* views (the selected run seen from different angles)
get most of the window, side by side in as many columns as the screen's width allows, extra views
tabbed into those columns. The *navigator* (the run table) and the *secondary* views (statistics
over all runs, counting, training) share a narrow left column, the secondary ones as tabs. Which
dock has which role, the tab groups for narrow, laptop and wide windows and the shares of the width
and height are data: ``resources/layouts/default.json``, read by :mod:`lsexplorer.gui.layout_file`.
The panels themselves are :data:`lsexplorer.gui.panels.PANELS`; adding one is a line there and its
title in that file.

Every panel sits in a scroll area inside its dock (napari wraps dock widgets the same way), so no
panel's controls can force the window wider than a laptop screen: below a panel's natural minimum
its dock scrolls instead of overlapping widgets.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QStyle,
    QWidget,
)

from .layout_file import DockLayout, Role, load_layout


def focus_columns(width: int, layout: DockLayout | None = None) -> int:
    """How many focus columns the layout (default: the shipped one) gives a window ``width`` pixels wide."""
    return len((layout or load_layout()).screen_for(width).focus_tabs)


def dock_role(title: str, layout: DockLayout | None = None) -> Role:
    """The role the layout gives dock ``title``; a dock it does not name is a focus view."""
    return (layout or load_layout()).role(title) or Role.FOCUS


class QtPanelScrollArea(QScrollArea):
    """A frameless scroll area that gives its panel the whole viewport, and scrolls only below the
    panel's minimum size.

    ``setWidgetResizable`` is not used: with a word-wrapped label in the panel it sizes the panel to
    its *preferred* height for the width, which for a column of plots is far taller than the dock.
    """

    def __init__(self, panel: QWidget) -> None:
        super().__init__()
        self.setObjectName(f"scroll_{type(panel).__name__}")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setWidget(panel)
        panel.installEventFilter(self)

    def fit_panel(self) -> None:
        panel = self.widget()
        least = panel.minimumSizeHint().expandedTo(panel.minimumSize())
        room = self.maximumViewportSize()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        width = room.width() - (bar if least.height() > room.height() else 0)
        height = room.height() - (bar if least.width() > room.width() else 0)
        size = QSize(max(width, least.width()), max(height, least.height()))
        if panel.size() != size:
            panel.resize(size)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_panel()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit_panel()  # the panel's minimum may have changed (another page, new controls)
        return super().eventFilter(watched, event)


def make_dock(window: QMainWindow, panel: QWidget) -> QDockWidget:
    """A dock titled after ``panel``, holding it in a :class:`QtPanelScrollArea`."""
    dock = QDockWidget(panel.title, window)
    dock.setObjectName(f"dock_{type(panel).__name__}")
    dock.setWidget(QtPanelScrollArea(panel))
    return dock


def fitted_size(wanted: QSize, available: QRect) -> QSize:
    """``wanted`` shrunk, never grown, to fit ``available``."""
    return QSize(min(wanted.width(), available.width()), min(wanted.height(), available.height()))


def new_window_size(available: QRect, layout: DockLayout | None = None) -> QSize:
    """A first window's size: most of the screen, leaving the desktop visible around it."""
    share = (layout or load_layout()).new_window_share
    return QSize(round(available.width() * share), round(available.height() * share))


def arrange_docks(window: QMainWindow, docks: dict[str, QDockWidget], layout: DockLayout | None = None) -> None:
    """Place ``docks`` (by title) as ``layout`` (default: the shipped one) says for ``window``'s current
    width, all docked and shown.

    Navigator over secondary tabs in the left column, focus views in the screen's columns to the
    right, each column a tab group whose first view is raised. A dock the layout does not name joins
    the last column's tabs.
    """
    layout = layout or load_layout()
    for dock in docks.values():
        dock.setFloating(False)  # docked first: removing a floating dock leaves a stale window behind
        window.removeDockWidget(dock)
    screen = layout.screen_for(window.width())
    columns = [[docks[t] for t in column if t in docks] for column in screen.focus_tabs]
    columns = [column for column in columns if column]
    unnamed = [dock for title, dock in docks.items() if title not in layout.titles()]
    if unnamed:
        columns = columns[:-1] + [(columns[-1] if columns else []) + unnamed]
    navigator = [docks[layout.navigator]] if layout.navigator in docks else []
    secondary = [docks[t] for t in layout.secondary_tabs if t in docks]
    left = navigator + secondary
    anchor = left[0] if left else columns[0][0]
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, anchor)
    # Splitting a dock that is already tabbed adds a tab, so every split comes before any tabifying.
    previous = anchor
    for column in columns:
        if column[0] is not anchor:
            window.splitDockWidget(previous, column[0], Qt.Orientation.Horizontal)
        previous = column[0]
    tops = navigator or secondary[:1]
    stacked = secondary if navigator else secondary[1:]
    if tops and stacked:
        window.splitDockWidget(tops[0], stacked[0], Qt.Orientation.Vertical)
    for group in columns + [stacked]:
        for extra in group[1:]:
            window.tabifyDockWidget(group[0], extra)
    for dock in docks.values():
        dock.show()
    for group in ([stacked[0]] if stacked else []) + [c[0] for c in columns]:
        group.raise_()
    width, height = window.width(), window.height()
    if left and columns:
        left_w = round(width * screen.left_share)
        focus_w = (width - left_w) // len(columns)
        window.resizeDocks([anchor] + [c[0] for c in columns], [left_w] + [focus_w] * len(columns),
                           Qt.Orientation.Horizontal)
    if tops and stacked:
        nav_h = round(height * layout.navigator_share)
        window.resizeDocks([tops[0], stacked[0]], [nav_h, height - nav_h], Qt.Orientation.Vertical)


__all__ = ["QtPanelScrollArea", "Role", "arrange_docks", "dock_role", "fitted_size",
           "focus_columns", "make_dock", "new_window_size"]
