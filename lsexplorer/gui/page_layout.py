"""A plot laid out again at its size on paper, with print fonts, for the length of one export.

Scaling a screen-sized rendering to 85 mm shrinks its text with it (a 600-px-wide plot's 9-pt ticks
become 5 pt), so pyqtgraph's exporters, which scale the rendering, cannot make a page-sized figure.
Matplotlib instead lays the figure out at its size in inches with fonts in points; this does the same
with the live pyqtgraph scene: :func:`laid_out_for_page` gives the view's central item the page's
size in scene units, sets every axis, title and legend font in points, lets the layouts settle
(pyqtgraph sizes an axis from the tick labels it last painted, so it paints into a throw-away image
until nothing moves), yields the scene rectangle to render, and puts everything back.

One scene unit is one logical pixel of the screen (1/96 inch at the usual 96 dpi): fonts given in
points convert through that resolution, and the exporters paint at it, so a pen one pixel wide comes
out 0.75 pt on paper. Markers shrink or grow with the text: by the ratio of the page's tick-label
size to the screen font's (7 pt to 9 pt by default), so a 10-pixel marker becomes about 5.8 pt. Nothing is painted on screen meanwhile: no event is processed
between the change and its undoing, apart from the posted layout requests.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QFontInfo, QImage, QPainter
from PySide6.QtWidgets import QGraphicsWidget

from .page_size import ASPECT_RANGE, MM_PER_INCH, PageSize

#: Blank margin (scene units) between the page's edges and the plots, so no glyph touches an edge.
PAGE_PADDING = 3.0
#: Titles wider than this share of the page's width are wrapped onto more lines.
TITLE_SHARE = 0.6
#: Least width and height (mm) of a plot's data area; a page too small for it gets a scaled figure.
MIN_DATA_MM = 12.0
#: Most rounds of "lay out, paint, re-measure" before the layout is taken as settled.
SETTLE_ROUNDS = 6


@dataclass(frozen=True)
class PageGeometry:
    """Where the page-sized figure is: ``source`` in scene units, its size in mm, the scene's dpi."""

    source: QRectF
    width_mm: float
    height_mm: float
    scene_dpi: float

    @property
    def scale(self) -> float:
        """How much the export shrinks the figure to fit the page: 1 when it was laid out at the
        page's size, less when it could not become that small (its fonts shrink by as much)."""
        return min(1.0, self.width_mm / MM_PER_INCH * self.scene_dpi / self.source.width(),
                   self.height_mm / MM_PER_INCH * self.scene_dpi / self.source.height())


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

    Yields the :class:`PageGeometry` whose ``source`` rectangle of the scene holds the figure: the
    page, with the plots :data:`PAGE_PADDING` inside its edges. A figure too tall for a height taken
    from the screen's aspect first gets a taller page (up to the tallest aspect of
    :data:`ASPECT_RANGE`); one that still cannot shrink to the page, even with its titles and labels
    wrapped and its legends narrowed, gets a larger rectangle, which the export scales down to the page.
    """
    central = view.centralWidget
    geometry = page_geometry(view, page)
    ranges = [(box, box.viewRange(), box.autoRangeEnabled()) for box in view.scene().items()
              if isinstance(box, pg.ViewBox)]
    corner = view.range.topLeft()
    page_rect = QRectF(corner, geometry.source.size())
    content = page_rect.adjusted(PAGE_PADDING, PAGE_PADDING, -PAGE_PADDING, -PAGE_PADDING)
    restore = _restyle(view.scene(), page, TITLE_SHARE * content.width())
    try:
        _settle(view, content)
        restore = _fewer_legend_columns(view, content, restore)
        restore = _wrap_long_axis_labels(view, content, restore)
        content = _room_for_data(view, content, MIN_DATA_MM / MM_PER_INCH * geometry.scene_dpi)
        restore = _keep_axis_labels_inside(view, content, restore)
        laid_out = central.mapRectToScene(central.rect())
        if page.height_mm is None and laid_out.height() > page_rect.height() - 2 * PAGE_PADDING + 0.5:
            # A height taken from the screen's aspect may grow (up to the tallest aspect) before fonts shrink.
            tallest = page_rect.width() * ASPECT_RANGE[1]
            page_rect.setHeight(min(tallest, laid_out.height() + 2 * PAGE_PADDING))
            geometry = PageGeometry(QRectF(0, 0, page_rect.width(), page_rect.height()), geometry.width_mm,
                                    page_rect.height() / geometry.scene_dpi * MM_PER_INCH, geometry.scene_dpi)
        fits = laid_out.width() <= page_rect.width() - 2 * PAGE_PADDING + 0.5 and \
            laid_out.height() <= page_rect.height() - 2 * PAGE_PADDING + 0.5
        source = page_rect if fits else laid_out.adjusted(-PAGE_PADDING, -PAGE_PADDING, PAGE_PADDING, PAGE_PADDING)
        yield PageGeometry(source, geometry.width_mm, geometry.height_mm, geometry.scene_dpi)
    finally:
        restore()
        _settle(view, view.range)  # what the view gives its central item on a resize
        for box, (x_range, y_range), auto in ranges:  # an aspect-locked plot re-ranges as it resizes
            box.setRange(xRange=x_range, yRange=y_range, padding=0)
            box.enableAutoRange(x=auto[0], y=auto[1])
        view.viewport().update()


def _fewer_legend_columns(view: pg.GraphicsView, source: QRectF, restore):
    """While the figure is wider than the page, take a column off the widest multi-column legend;
    returns ``restore`` extended by putting the columns back."""
    central, changed = view.centralWidget, []
    while central.geometry().width() > source.width() + 0.5:
        legends = [item for item in view.scene().items()
                   if isinstance(item, pg.LegendItem) and item.isVisible() and item.columnCount > 1]
        if not legends:
            break
        legend = max(legends, key=lambda item: item.geometry().width())
        changed.append((legend, legend.columnCount))
        legend.setColumnCount(legend.columnCount - 1)
        _settle(view, source)

    def undo() -> None:
        for legend, columns in reversed(changed):
            legend.setColumnCount(columns)
        restore()
    return undo


def _wrap_long_axis_labels(view: pg.GraphicsView, source: QRectF, restore):
    """Wrap every axis label longer than its axis onto two lines at most (centred), so that it stays
    inside the figure; returns ``restore`` extended by unwrapping them.

    More lines would make a vertical label's axis wider than the page and leave a column of words.
    """
    wrapped = []
    for _ in range(3):  # wrapping one label can shorten another plot's axis
        changed = False
        for axis in view.scene().items():
            if not (isinstance(axis, pg.AxisItem) and axis.isVisible() and axis.label.isVisible()):
                continue
            length = axis.size().width() if axis.orientation in ("top", "bottom") else axis.size().height()
            label = axis.label
            natural = label.boundingRect().width()
            if length > 20 and natural > length + 0.5 and label.textWidth() < 0:
                wrapped.append(axis)
                label.setTextWidth(max(length, natural / 2 + 1))
                _align(label, Qt.AlignmentFlag.AlignHCenter)
                axis._adjustSize()
                axis.resizeEvent()
                changed = True
        if not changed:
            break
        _settle(view, source)

    def undo() -> None:
        for axis in wrapped:
            axis.label.setTextWidth(-1)
            _align(axis.label, Qt.AlignmentFlag.AlignLeft)
            axis._adjustSize()
            axis.resizeEvent()
        restore()
    return undo


def _room_for_data(view: pg.GraphicsView, content: QRectF, least: float) -> QRectF:
    """``content`` grown until every plot's data area is at least ``least`` scene units each way
    (on a tiny page, legends and colour bars would otherwise squeeze it to nothing); the export then
    scales the larger figure down to the page. Returns the rectangle the figure is laid out in."""
    for _ in range(6):  # each round the layout shares the growth among its columns and rows
        boxes = [item for item in view.scene().items() if isinstance(item, pg.ViewBox) and item.isVisible()
                 and not isinstance(item.parentItem(), pg.ColorBarItem)]  # a colour bar is narrow by design
        grow_x = max((least - box.width() for box in boxes), default=0.0)
        grow_y = max((least - box.height() for box in boxes), default=0.0)
        if grow_x <= 0.5 and grow_y <= 0.5:
            break
        content = content.adjusted(0, 0, max(0.0, grow_x), max(0.0, grow_y))
        _settle(view, content)
    return content


def _keep_axis_labels_inside(view: pg.GraphicsView, figure: QRectF, restore):
    """Shift any axis label that still sticks out of ``figure`` (a short axis at its edge, a label
    centred on it) back inside; returns ``restore`` extended by putting them back."""
    moved = []
    for axis in view.scene().items():
        if not (isinstance(axis, pg.AxisItem) and axis.isVisible() and axis.label.isVisible()):
            continue
        margin = axis.label.document().documentMargin()
        text = axis.label.mapRectToScene(axis.label.boundingRect().adjusted(margin, margin, -margin, -margin))
        dx = max(0.0, figure.left() - text.left()) - max(0.0, text.right() - figure.right())
        dy = max(0.0, figure.top() - text.top()) - max(0.0, text.bottom() - figure.bottom())
        if dx or dy:
            axis.label.setPos(axis.label.pos() + QPointF(dx, dy))
            moved.append(axis)

    def undo() -> None:
        for axis in moved:
            axis.resizeEvent()
        restore()
    return undo


def _settle(view: pg.GraphicsView, source: QRectF) -> None:
    """Give the view's central item the scene rectangle ``source``, process layout requests and paint
    off-screen until no item moves or resizes any more.

    The geometry is set again each round: Qt bounds it by the minimum size the layout had then,
    which shrinks once titles wrap and axes measure their smaller tick labels.
    """
    scene = view.scene()
    previous = None
    for _ in range(SETTLE_ROUNDS):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        view.centralWidget.setGeometry(source)
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


def _align(text_item, alignment: Qt.AlignmentFlag) -> None:
    """Align the lines of a (wrapped) text item."""
    option = text_item.document().defaultTextOption()
    option.setAlignment(alignment)
    text_item.document().setDefaultTextOption(option)


def print_family() -> str:
    """The family the app's font resolves to (e.g. "DejaVu Sans", not the alias "Sans Serif"): named
    in the exported files, so other programs draw them with the same font, or one like it."""
    return QFontInfo(QFont()).family()


def _point_font(pt: float) -> QFont:
    font = QFont(print_family())
    font.setPointSizeF(pt)
    return font


def _restyle(scene, page: PageSize, title_width: float):
    """Set every axis, title and legend of ``scene`` in points for ``page``, titles wrapped at
    ``title_width`` scene units; returns the undo."""
    undo = []
    for item in scene.items():
        if isinstance(item, pg.AxisItem):
            undo.append(_restyle_axis(item, page))
    legend_labels = {id(label) for item in scene.items() if isinstance(item, pg.LegendItem)
                     for _, label in item.items}
    for item in scene.items():
        if isinstance(item, pg.LabelItem) and item.isVisible() and item.text.strip() and item.maximumHeight() > 0:
            legend = id(item) in legend_labels
            undo.append(_restyle_label(item, f"{page.tick_pt if legend else page.title_pt:g}pt",
                                       None if legend else title_width))
        elif isinstance(item, pg.TextItem):
            old_font = item.textItem.font()
            item.setFont(_point_font(page.tick_pt))
            undo.append(lambda item=item, old=old_font: item.setFont(old))
        elif isinstance(item, pg.ScatterPlotItem) and item.opts.get("pxMode", True) and len(item.data):
            undo.append(_rescale_markers(item, page.tick_pt / QFontInfo(QFont()).pointSizeF()))

    def restore() -> None:
        for step in reversed(undo):
            step()
    return restore


def _rescale_markers(scatter: pg.ScatterPlotItem, scale: float):
    """Markers (sized in pixels) scaled with the text, as the tick labels are from the screen's font
    to the page's; returns the undo."""
    sizes = scatter.data["size"].copy()  # -1: the item's default size
    scatter.setSize(np.where(sizes < 0, scatter.opts["size"], sizes) * scale)
    return lambda: scatter.setSize(sizes)


def _restyle_axis(axis: pg.AxisItem, page: PageSize):
    old_font, old_style = axis.style["tickFont"], copy.copy(axis.labelStyle)
    old_text = (axis.textWidth, axis.textHeight)
    axis.setTickFont(_point_font(page.tick_pt))
    axis.labelStyle = {**old_style, "font-family": print_family(), "font-size": f"{page.font_pt:g}pt"}
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


def _restyle_label(label: pg.LabelItem, size: str, wrap_width: float | None):
    """``label`` in ``size``, and wrapped onto more lines where it is wider than ``wrap_width``."""
    old_opts, text = dict(label.opts), label.text
    label.setText(text, size=size, family=print_family())
    if wrap_width is not None and label.item.boundingRect().width() > wrap_width:
        label.item.setTextWidth(wrap_width)
        _align(label.item, Qt.AlignmentFlag.AlignHCenter)
        label.updateMin()
        label.resizeEvent(None)

    def undo() -> None:
        label.item.setTextWidth(-1)
        _align(label.item, Qt.AlignmentFlag.AlignLeft)
        label.opts = old_opts
        label.setText(text)
    return undo


__all__ = ["PageGeometry", "laid_out_for_page", "page_geometry", "print_family"]
