"""How the mouse moves plots inside a panel: the wheel scrolls the panel, Ctrl+wheel or a drag zooms the plot.

pyqtgraph zooms on every wheel event, so scrolling a panel of plots with the wheel shrank whichever plot
passed under the pointer (the Channel panel's heat map down to a dot). :class:`QtPlotNavigation` sends a
plain wheel event to the panel's scroll area instead and lets Ctrl+wheel through to the plot. It also
remembers each plot's view before the mouse zooms or pans it, so the plot's right-click menu offers
**Back** (the view before the last zoom or pan) and **Reset view** (every axis fitted to the data again).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QWidget

#: Views remembered per plot for Back (older ones are dropped).
HISTORY = 20


def _view_boxes(view: pg.GraphicsView) -> list[pg.ViewBox]:
    """The plot areas of ``view`` (a colour bar's own box included: Reset view fits it too)."""
    return [item for item in view.scene().items() if isinstance(item, pg.ViewBox)]


class QtPlotNavigation(QObject):
    """Wheel and history handling for every pyqtgraph view under a widget (see the module docstring)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._history: dict[int, list[list[tuple[pg.ViewBox, list]]]] = {}
        self._views: dict[int, pg.GraphicsView] = {}

    def install(self, root: QWidget) -> None:
        """Handle the wheel of every pyqtgraph view under ``root`` and add Back / Reset view to its menu."""
        for view in root.findChildren(pg.GraphicsView):
            if id(view.viewport()) in self._views:
                continue
            self._views[id(view.viewport())] = view
            view.viewport().installEventFilter(self)
            scene = view.scene()
            back = QAction("Back (view before the last zoom)", scene)
            back.triggered.connect(lambda _=False, v=view: self.back(v))
            reset = QAction("Reset view", scene)
            reset.triggered.connect(lambda _=False, v=view: self.reset(v))
            scene.contextMenu = [back, reset] + list(getattr(scene, "contextMenu", []) or [])

    # ---------------------------------------------------------------- history
    def remember(self, view: pg.GraphicsView) -> None:
        """Push ``view``'s current ranges (called before the mouse changes them)."""
        state = [(box, box.viewRange()) for box in _view_boxes(view)]
        stack = self._history.setdefault(id(view), [])
        if not stack or [r for _, r in stack[-1]] != [r for _, r in state]:
            stack.append(state)
            del stack[:-HISTORY]

    def can_go_back(self, view: pg.GraphicsView) -> bool:
        return bool(self._history.get(id(view)))

    def back(self, view: pg.GraphicsView) -> None:
        """Restore the view before the last zoom or pan (nothing if there is none)."""
        stack = self._history.get(id(view), [])
        now = [box.viewRange() for box in _view_boxes(view)]
        while stack and [r for _, r in stack[-1]] == now:
            stack.pop()  # a click that moved nothing
        if not stack:
            return
        for box, (x, y) in stack.pop():
            box.setRange(xRange=x, yRange=y, padding=0)

    def reset(self, view: pg.GraphicsView) -> None:
        """Fit every axis of ``view`` to its data again (remembering the view before, for Back)."""
        self.remember(view)
        for box in _view_boxes(view):
            box.enableAutoRange()

    # ---------------------------------------------------------------- events
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        view = self._views.get(id(watched))
        if view is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.Wheel:
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.remember(view)
                return False  # pyqtgraph zooms
            area = _scroll_area_of(view)
            if area is not None:
                QApplication.sendEvent(area.verticalScrollBar(), event)
            return True  # never a zoom without Ctrl
        if kind == QEvent.Type.MouseButtonPress and event.button() in (Qt.MouseButton.LeftButton,
                                                                          Qt.MouseButton.RightButton):
            self.remember(view)  # a drag may pan or zoom from here
        return False


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    """The nearest enclosing scroll area that is not a pyqtgraph view itself."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and not isinstance(parent, pg.GraphicsView):
            return parent
        parent = parent.parentWidget()
    return None


__all__ = ["HISTORY", "QtPlotNavigation"]
