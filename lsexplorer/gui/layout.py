"""Where the main window's docks go: one table of panels and their roles, and the arrangement for a screen.

The point being explored comes first: *focus* views (the selected run seen from different angles)
get most of the window, side by side in as many columns as the screen's width allows, extra views
tabbed into those columns. The *navigator* (the run table) and the *secondary* views (statistics
over all runs, counting, training) share a narrow left column, the secondary ones as tabs. Adding a
panel to the window is one line in :data:`DOCKS`.

Every panel sits in a scroll area inside its dock (napari wraps dock widgets the same way), so no
panel's controls can force the window wider than a laptop screen: below a panel's natural minimum
its dock scrolls instead of overlapping widgets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QStyle,
    QWidget,
)

from .panels import (
    QtChannelPanel,
    QtCountingPanel,
    QtCurvaturePlanePanel,
    QtEscapePanel,
    QtNeuronPanel,
    QtPathsPanel,
    QtRunTable,
    QtSaddleLinePanel,
    QtSlicesPanel,
    QtStatisticsPanel,
    QtTrainingPanel,
)


class Role(enum.Enum):
    """What a dock is for, which decides where the default layout puts it."""

    NAVIGATOR = "navigator"  # picks the point explored: left column, top
    FOCUS = "focus"  # shows the selected point: large, side by side
    SECONDARY = "secondary"  # about the whole session: tabs under the navigator


@dataclass(frozen=True)
class DockSpec:
    """One panel of the main window: the ``MainWindow`` attribute that holds it, its class, its role."""

    attribute: str
    panel_class: type
    role: Role


#: Every panel of the main window, in menu and export order. Focus views fill columns in this order.
DOCKS: tuple[DockSpec, ...] = (
    DockSpec("run_table", QtRunTable, Role.NAVIGATOR),
    DockSpec("neurons", QtNeuronPanel, Role.FOCUS),
    DockSpec("statistics", QtStatisticsPanel, Role.SECONDARY),
    DockSpec("training", QtTrainingPanel, Role.SECONDARY),
    DockSpec("counting", QtCountingPanel, Role.SECONDARY),
    DockSpec("saddle_line", QtSaddleLinePanel, Role.FOCUS),
    DockSpec("slices", QtSlicesPanel, Role.FOCUS),
    DockSpec("escape", QtEscapePanel, Role.FOCUS),
    DockSpec("channel", QtChannelPanel, Role.FOCUS),
    DockSpec("paths", QtPathsPanel, Role.FOCUS),
    DockSpec("curvature_plane", QtCurvaturePlanePanel, Role.FOCUS),
)

#: Screen widths (logical px) from which the focus views get a second and a third column.
TWO_COLUMNS_FROM = 900
THREE_COLUMNS_FROM = 1700
#: Share of the window's width and height the left column and the navigator take.
LEFT_SHARE = 0.28
NAVIGATOR_SHARE = 0.45
#: Size of a new window as a share of the screen's available area.
NEW_WINDOW_SHARE = 0.9


def focus_columns(width: int) -> int:
    """How many focus columns fit side by side in a window ``width`` logical pixels wide."""
    return 3 if width >= THREE_COLUMNS_FROM else 2 if width >= TWO_COLUMNS_FROM else 1


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


def new_window_size(available: QRect) -> QSize:
    """A first window's size: most of the screen, leaving the desktop visible around it."""
    return QSize(round(available.width() * NEW_WINDOW_SHARE), round(available.height() * NEW_WINDOW_SHARE))


def arrange_docks(window: QMainWindow, docks: dict[str, QDockWidget], roles: dict[str, Role]) -> None:
    """Place ``docks`` (by title, each with a role) for ``window``'s current size, all docked and shown.

    Navigator over secondary tabs in the left column, focus views in ``focus_columns`` columns to the
    right, each column a tab group whose first view is raised.
    """
    for dock in docks.values():
        dock.setFloating(False)  # docked first: removing a floating dock leaves a stale window behind
        window.removeDockWidget(dock)
    by_role = {role: [docks[t] for t, r in roles.items() if r is role] for role in Role}
    left = by_role[Role.NAVIGATOR] + by_role[Role.SECONDARY]
    focus = by_role[Role.FOCUS]
    n_columns = max(1, min(len(focus), focus_columns(window.width())))
    columns = [focus[i::n_columns] for i in range(n_columns)] if focus else []
    anchor = left[0] if left else columns[0][0]
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, anchor)
    # Splitting a dock that is already tabbed adds a tab, so every split comes before any tabifying.
    previous = anchor
    for column in columns:
        if column[0] is not anchor:
            window.splitDockWidget(previous, column[0], Qt.Orientation.Horizontal)
        previous = column[0]
    navigator, secondary = by_role[Role.NAVIGATOR][:1], by_role[Role.SECONDARY]
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
        left_w = round(width * LEFT_SHARE)
        focus_w = (width - left_w) // len(columns)
        window.resizeDocks([anchor] + [c[0] for c in columns], [left_w] + [focus_w] * len(columns),
                           Qt.Orientation.Horizontal)
    if tops and stacked:
        nav_h = round(height * NAVIGATOR_SHARE)
        window.resizeDocks([tops[0], stacked[0]], [nav_h, height - nav_h], Qt.Orientation.Vertical)


__all__ = ["DOCKS", "DockSpec", "QtPanelScrollArea", "Role", "arrange_docks", "fitted_size", "focus_columns", "make_dock",
           "new_window_size"]
