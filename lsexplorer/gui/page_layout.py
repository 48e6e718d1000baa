"""A plot laid out again at its size on paper, with print fonts, for the length of one export.

Scaling a screen-sized rendering to 85 mm shrinks its text with it (a 600-px-wide plot's 9-pt ticks
become 5 pt), so pyqtgraph's exporters, which scale the rendering, cannot make a page-sized figure.
Matplotlib instead lays the figure out at its size in inches with fonts in points; this does the same
with the live pyqtgraph scene: :func:`laid_out_for_page` gives the view's central item the page's
size in scene units, sets every axis, title and legend font in points, lets the layouts settle
(pyqtgraph sizes an axis from the tick labels it last painted, so it paints into a throw-away image
until nothing moves), yields the scene rectangle to render, and puts everything back.

One scene unit is one logical pixel of the screen (1/96 inch at the usual 96 dpi): fonts given in
points convert through that resolution, and the exporters paint at it, so pens and markers drawn one
pixel wide come out 0.75 pt on paper. Nothing is painted on screen meanwhile: no event is processed
between the change and its undoing, apart from the posted layout requests.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QRectF
from PySide6.QtGui import QFont, QImage, QPainter
from PySide6.QtWidgets import QGraphicsWidget

from .page_size import MM_PER_INCH, PageSize

#: Most rounds of "lay out, paint, re-measure" before the layout is taken as settled.
SETTLE_ROUNDS = 6


@dataclass(frozen=True)
class PageGeometry:
    """Where the page-sized figure is: ``source`` in scene units, its size in mm, the scene's dpi."""

    source: QRectF
    width_mm: float
    height_mm: float
    scene_dpi: float


def page_geometry(view: pg.GraphicsView, page: PageSize) -> PageGeometry:
    """The page's rectangle in ``view``'s scene units (see the module docstring) and its size in mm;
    the height comes from the view's on-screen aspect unless the page gives one."""
    dpi = float(view.logicalDpiX())
    aspect = view.height() / max(1, view.width())
    width_mm, height_mm = page.width_mm, page.height_for(aspect)
    return PageGeometry(QRectF(0, 0, width_mm / MM_PER_INCH * dpi, height_mm / MM_PER_INCH * dpi),
                        width_mm, height_mm, dpi)


@contextlib.contextmanager
def laid_out_for_page(view: pg.GraphicsView, page: PageSize) -> Iterator[PageGeometry]:
    """``view``'s figure laid out at ``page``'s size with print fonts while the block runs.

    Yields the :class:`PageGeometry` whose ``source`` rectangle of the scene holds the figure.
    """
    central = view.centralWidget
    geometry = page_geometry(view, page)
    restore = _restyle(view.scene(), page)
    try:
        central.setGeometry(QRectF(central.pos(), geometry.source.size()))
        _settle(view, geometry.source)
        yield PageGeometry(central.mapRectToScene(central.rect()), geometry.width_mm, geometry.height_mm,
                           geometry.scene_dpi)
    finally:
        restore()
        central.setGeometry(view.range)  # what the view gives it on a resize
        _settle(view, view.range)
        view.viewport().update()


def _settle(view: pg.GraphicsView, source: QRectF) -> None:
    """Process layout requests and paint off-screen until no item moves or resizes any more."""
    scene = view.scene()
    previous = None
    for _ in range(SETTLE_ROUNDS):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        for item in scene.items():
            # pyqtgraph's PlotItem shadows the layout() method with a ``layout`` attribute.
            layout = QGraphicsWidget.layout(item) if isinstance(item, QGraphicsWidget) else None
            if layout is not None:
                layout.activate()
        image = QImage(max(1, round(source.width())), max(1, round(source.height())), QImage.Format.Format_ARGB32)
        image.setDotsPerMeterX(round(view.logicalDpiX() / 0.0254))
        image.setDotsPerMeterY(round(view.logicalDpiY() / 0.0254))
        painter = QPainter(image)
        try:
            scene.render(painter, QRectF(image.rect()), source)
        finally:
            painter.end()
        state = tuple((item.sceneBoundingRect().getRect(), item.isVisible()) for item in scene.items()
                      if isinstance(item, QGraphicsWidget))
        if state == previous:
            return
        previous = state


def _point_font(pt: float) -> QFont:
    font = QFont()
    font.setPointSizeF(pt)
    return font


def _restyle(scene, page: PageSize):
    """Set every axis, title and legend of ``scene`` in points for ``page``; returns the undo."""
    undo = []
    for item in scene.items():
        if isinstance(item, pg.AxisItem):
            undo.append(_restyle_axis(item, page))
    legend_labels = {id(label) for item in scene.items() if isinstance(item, pg.LegendItem)
                     for _, label in item.items}
    for item in scene.items():
        if isinstance(item, pg.LabelItem) and item.isVisible() and item.text.strip() and item.maximumHeight() > 0:
            size = page.tick_pt if id(item) in legend_labels else page.title_pt
            undo.append(_restyle_label(item, f"{size:g}pt"))
        elif isinstance(item, pg.TextItem):
            old_font = item.textItem.font()
            item.setFont(_point_font(page.tick_pt))
            undo.append(lambda item=item, old=old_font: item.setFont(old))

    def restore() -> None:
        for step in reversed(undo):
            step()
    return restore


def _restyle_axis(axis: pg.AxisItem, page: PageSize):
    old_font, old_style = axis.style["tickFont"], copy.copy(axis.labelStyle)
    old_text = (axis.textWidth, axis.textHeight)
    axis.setTickFont(_point_font(page.tick_pt))
    axis.labelStyle = {**old_style, "font-size": f"{page.font_pt:g}pt"}
    axis.textWidth = axis.textHeight = 0  # measured again from the print-size tick labels
    axis._updateLabel()
    axis.resizeEvent()

    def undo() -> None:
        axis.setTickFont(old_font)
        axis.labelStyle = old_style
        axis.textWidth, axis.textHeight = old_text
        axis._updateLabel()
        axis.resizeEvent()
    return undo


def _restyle_label(label: pg.LabelItem, size: str):
    had_size, old_size, text = "size" in label.opts, label.opts.get("size"), label.text
    label.setText(text, size=size)

    def undo() -> None:
        if had_size:
            label.setText(text, size=old_size)
        else:
            label.opts.pop("size", None)
            label.setText(text)
    return undo


__all__ = ["PageGeometry", "laid_out_for_page", "page_geometry"]
