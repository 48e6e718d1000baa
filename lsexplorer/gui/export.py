"""Export of any plot to PNG, SVG or PDF, and of its data to CSV.

pyqtgraph 0.14's own SVGExporter fails on Qt >= 6.11 (it parses Qt's SVG path output and trips over
the closepath syntax), so figures are rendered with Qt's own paint devices instead: the plot's
``QGraphicsScene`` is painted onto a ``QImage`` (PNG), a ``QSvgGenerator`` (SVG, vector) or a
``QPdfWriter`` (PDF, vector). Before painting, every pyqtgraph item is switched to export mode, so
scatter symbols are drawn as shapes rather than copied from the on-screen pixmap cache (which would
make them bitmaps in a vector file, and tiny in a high-resolution PNG).

:func:`register_pyqtgraph_exporters` also puts the SVG and PDF paths into pyqtgraph's right-click
"Export..." dialog, in place of the broken SVG exporter.

Given a :class:`~lsexplorer.gui.page_size.PageSize`, a plot is exported sized for a page instead of
as it sits on screen: laid out again at its width in millimetres with fonts in points
(:mod:`lsexplorer.gui.page_layout`); the SVG declares its size in mm, the PDF page is that size, and
the PNG is ``round(mm / 25.4 * dpi)`` pixels wide and records its dpi.

Every file is written whole or not at all: a figure is rendered into memory (Qt's paint devices
report no write error, so a figure drawn straight onto a full disk came out cut off), then
:func:`write_whole` hands the bytes to :func:`~lsexplorer.core.store.atomic_write.write_atomically` (room
check, temporary name, fsync, rename). The exporters of pyqtgraph's dialog go the same way.

Export a plot only after it was shown and laid out (DESIGN.md): a never-shown widget has no size.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # pyqtgraph does not import its exporters sub-package itself
from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QImage, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsView, QMessageBox, QWidget

from ..core.base.errors import InputError
from ..core.store.atomic_write import SaveError, check_save_target, write_atomically
from .page_layout import PageGeometry, laid_out_for_page
from .page_size import PageSize

log = logging.getLogger(__name__)

#: Formats :func:`export_figure` writes, by file suffix.
FIGURE_FORMATS = {".png": "PNG image", ".svg": "SVG vector graphics", ".pdf": "PDF document"}


class ExportError(InputError):
    """A figure or table could not be written; the message says why, in one line."""


class _RenderFailed(Exception):
    """Qt could not draw or encode a figure in memory (the message says why, without the file)."""


def export_figure(view: QWidget, path: str | Path, scale: float = 2.0, title: str | None = None,
                  page: PageSize | None = None) -> Path:
    """Write the figure shown by ``view`` to ``path``; the suffix (.png, .svg, .pdf) picks the format.

    ``view`` is a pyqtgraph ``GraphicsView`` (``PlotWidget``, ``GraphicsLayoutWidget``) or any widget.
    With ``page`` (pyqtgraph views only) the figure is laid out at the page's size with its fonts;
    without, it is drawn as on screen, PNGs at ``scale`` times the on-screen size. Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ExportError(f"cannot export a figure as {suffix or 'a file without suffix'}; "
                          f"use one of {', '.join(FIGURE_FORMATS)}")
    size = view.size()
    if size.width() < 2 or size.height() < 2:
        raise ExportError("the figure has no size yet; show it before exporting")
    if page is not None and not isinstance(view, pg.GraphicsView):
        raise ExportError("only plots can be sized for a page; export this figure without a page size")
    _check_target(path)
    try:
        if page is not None:
            with laid_out_for_page(view, page) as geometry:
                data = _page_bytes(view, suffix, geometry, page, title)
            if geometry.scale < 0.99:
                _warn_once(path.with_suffix("").name, page, geometry.scale)
        elif suffix == ".png":
            data = _image_bytes(figure_image(view, scale))
        elif suffix == ".svg":
            data = _svg_bytes(view, title)
        else:
            data = _pdf_bytes(view, title)
    except _RenderFailed as exc:
        raise ExportError(f"cannot write {path}: {exc}; no file was written") from None
    return write_whole(path, data)


def write_whole(path: str | Path, data: bytes | memoryview) -> Path:
    """Replace ``path`` by ``data``, whole or not at all (see the module docstring); returns the path.

    Raises :class:`ExportError` naming the file and saying that no partial file was left: an older
    file at ``path`` is untouched and no temporary file remains.
    """
    path = Path(path)
    target = _check_target(path)
    if len(memoryview(data)) == 0:
        raise ExportError(f"cannot write {path}: Qt rendered nothing; no file was written")
    try:
        write_atomically(target, data)
    except SaveError as exc:
        raise ExportError(f"cannot write {path}: {exc}; no partial file was left") from None
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}; no partial file was left") from None
    return path


def _check_target(path: Path) -> Path:
    """The file ``path`` names, resolved and checked before anything is rendered for it."""
    try:
        return check_save_target(path)
    except SaveError as exc:
        raise ExportError(f"cannot write {path}: {exc}; no file was written") from None


_warned: set[tuple[str, PageSize]] = set()


def _warn_once(figure: str, page: PageSize, scale: float) -> None:
    """Say, once per figure and page size (not for each of its formats), that it was scaled down."""
    if (figure, page) not in _warned:
        _warned.add((figure, page))
        log.warning("%s does not fit %g mm with %g pt labels: drawn at %.0f %% of its size (labels %.1f pt); "
                    "a wider figure or smaller labels keep the sizes", figure, page.width_mm, page.font_pt,
                    100 * scale, page.font_pt * scale)


def _rendered(paint: Callable[[QBuffer], None]) -> bytes:
    """The bytes ``paint`` writes into an in-memory device."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    try:
        paint(buffer)
    finally:
        buffer.close()
    return bytes(buffer.data())


def figure_image(view: QWidget, scale: float = 1.0) -> QImage:
    """The figure as an ARGB image of ``scale`` times the on-screen size, on a white background.

    The scale is a device pixel ratio, not a painter transform: pyqtgraph draws legends and
    pixel-sized symbols ignoring transforms, so a scaled painter would leave them screen-sized.
    """
    size = view.size()
    image = QImage(QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale))),
                   QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    # Logical DPI of the screen, so that pyqtgraph's recorded axis pictures replay at their size.
    image.setDotsPerMeterX(round(view.logicalDpiX() / 0.0254))
    image.setDotsPerMeterY(round(view.logicalDpiY() / 0.0254))
    image.fill(_background(view))
    painter = QPainter(image)
    try:
        _paint(view, painter, QRectF(0, 0, size.width(), size.height()))
    finally:
        painter.end()
    return image


def _image_bytes(image: QImage, fmt: str = "PNG") -> bytes:
    """``image`` encoded as ``fmt`` (a format QImageWriter knows) in memory."""
    saved: list[bool] = []
    data = _rendered(lambda buffer: saved.append(image.save(buffer, fmt)))
    if not saved[0]:
        raise _RenderFailed(f"Qt cannot encode an image as {fmt}")
    return data


def _svg_bytes(view: QWidget, title: str | None, source: QRectF | None = None) -> bytes:
    return _rendered(lambda buffer: _paint_svg(view, buffer, title, source))


def _paint_svg(view: QWidget, device: QBuffer, title: str | None, source: QRectF | None) -> None:
    size = _size(view, source)
    generator = QSvgGenerator()
    generator.setOutputDevice(device)
    generator.setSize(size)
    if source is None:
        generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    else:
        generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
    generator.setTitle(title or "lsexplorer figure")
    generator.setDescription("Exported by lsexplorer")
    # The screen's resolution: pyqtgraph's axes replay QPictures, which Qt rescales by the ratio of
    # the recording and the target device's DPI (the default 72 would shrink every axis by 3/4).
    generator.setResolution(view.logicalDpiX())
    painter = QPainter(generator)
    try:
        page = QRectF(0, 0, size.width(), size.height()) if source is None else \
            QRectF(0, 0, source.width(), source.height())
        painter.fillRect(page, _background(view))
        _paint(view, painter, page, source)
    finally:
        painter.end()


def _pdf_bytes(view: QWidget, title: str | None, source: QRectF | None = None,
               size_mm: tuple[float, float] | None = None) -> bytes:
    """One page exactly the figure's size (``size_mm``, else its pixels at the screen's resolution)."""
    return _rendered(lambda buffer: _paint_pdf(view, buffer, title, source, size_mm))


def _paint_pdf(view: QWidget, device: QBuffer, title: str | None, source: QRectF | None,
               size_mm: tuple[float, float] | None) -> None:
    size = _size(view, source)
    writer = QPdfWriter(device)
    writer.setTitle(title or "lsexplorer figure")
    writer.setCreator("lsexplorer")
    # The screen's resolution (see _paint_svg for why that one).
    dpi = view.logicalDpiX()
    writer.setResolution(dpi)
    if size_mm is None:
        page_size = QPageSize(QSizeF(size.width() * 72 / dpi, size.height() * 72 / dpi), QPageSize.Unit.Point)
    else:
        page_size = QPageSize(QSizeF(*size_mm), QPageSize.Unit.Millimeter, "",
                              QPageSize.SizeMatchPolicy.ExactMatch)
    writer.setPageSize(page_size)
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    painter = QPainter()
    if not painter.begin(writer):
        raise _RenderFailed("Qt could not start a PDF")
    try:
        page = QRectF(0, 0, writer.width(), writer.height()) if size_mm is None else \
            QRectF(0, 0, size_mm[0] / 25.4 * dpi, size_mm[1] / 25.4 * dpi)
        painter.fillRect(page, _background(view))
        _paint(view, painter, page, source)
    finally:
        painter.end()


def _page_bytes(view: pg.GraphicsView, suffix: str, geometry: PageGeometry, page: PageSize,
                title: str | None) -> bytes:
    """The scene rectangle ``geometry.source`` (laid out for ``page``) as a page-sized figure file."""
    source = geometry.source
    if suffix == ".png":
        width, height = page.pixels(geometry.width_mm), page.pixels(geometry.height_mm)
        image = QImage(QSize(width, height), QImage.Format.Format_ARGB32)
        ratio = min(width / source.width(), height / source.height())
        image.setDevicePixelRatio(ratio)
        image.setDotsPerMeterX(round(view.logicalDpiX() / 0.0254))  # see figure_image
        image.setDotsPerMeterY(round(view.logicalDpiY() / 0.0254))
        image.fill(_background(view))
        painter = QPainter(image)
        try:
            _paint(view, painter, QRectF(0, 0, width / ratio, height / ratio), source)
        finally:
            painter.end()
        image.setDotsPerMeterX(round(page.dpi / 0.0254))  # the PNG's pHYs: placed at its size in mm
        image.setDotsPerMeterY(round(page.dpi / 0.0254))
        return _image_bytes(image)
    if suffix == ".svg":
        return _declare_svg_size(_svg_bytes(view, title, source), geometry.width_mm, geometry.height_mm)
    return _pdf_bytes(view, title, source, (geometry.width_mm, geometry.height_mm))


_SVG_SIZE = re.compile(r'(<svg\b[^>]*?)\swidth="[^"]*"\s+height="[^"]*"', re.DOTALL)


def _declare_svg_size(svg: bytes, width_mm: float, height_mm: float) -> bytes:
    """Give the SVG root the exact size in mm (Qt writes it rounded through whole pixels); the viewBox,
    in scene units, keeps the drawing's coordinates."""
    text = svg.decode("utf-8")
    text, found = _SVG_SIZE.subn(rf'\1 width="{width_mm:.6g}mm" height="{height_mm:.6g}mm"', text, count=1)
    if not found:
        raise _RenderFailed("Qt's SVG has no width and height to set")
    return text.encode("utf-8")


def _size(view: QWidget, source: QRectF | None) -> QSize:
    return view.size() if source is None else source.size().toSize()


def _background(view: QWidget) -> QColor:
    if isinstance(view, QGraphicsView):
        brush = view.backgroundBrush()
        if brush.style() != Qt.BrushStyle.NoBrush:
            return brush.color()
    return QColor("white")


def _paint(view: QWidget, painter: QPainter, target: QRectF, source: QRectF | None = None) -> None:
    """Paint what ``view`` shows (or the scene rectangle ``source``) into ``target`` of ``painter``'s device."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    if isinstance(view, QGraphicsView) and view.scene() is not None:
        if source is None:
            source = view.mapToScene(view.viewport().rect()).boundingRect()
        _render_scene(view.scene(), painter, target, source)
    else:
        painter.save()
        painter.scale(target.width() / max(1, view.width()), target.height() / max(1, view.height()))
        view.render(painter)
        painter.restore()


def _render_scene(scene: QGraphicsScene, painter: QPainter, target: QRectF, source: QRectF) -> None:
    items = [item for item in scene.items() if hasattr(item, "setExportMode")]
    opts = {"antialias": True, "background": QColor("white"), "painter": painter}
    # Items cached as pixmaps on screen (the axes) would land in a vector file as bitmaps.
    cached = [(item, item.cacheMode()) for item in scene.items()
              if item.cacheMode() != QGraphicsItem.CacheMode.NoCache]
    for item, _ in cached:
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    for item in items:
        item.setExportMode(True, opts)
    try:
        scene.render(painter, target, source)
    finally:
        for item in items:
            item.setExportMode(False)
        for item, mode in cached:
            item.setCacheMode(mode)


# --------------------------------------------------------------------------- data

def write_csv(path: str | Path, columns: Sequence[str], rows) -> Path:
    """Write a table: a header line ``columns`` and one line per row of ``rows`` ``(n, len(columns))``.

    Floats are written with ``repr`` precision (17 significant digits), so the CSV holds exactly the
    numbers plotted; NaN/inf are written as ``nan``/``inf``.
    """
    path = Path(path)
    _check_target(path)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return write_whole(path, text.getvalue().encode("utf-8"))


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return str(value)


# --------------------------------------------------------------------------- pyqtgraph's dialog

class _WholeFileExporter:
    """Mixin of the exporters in pyqtgraph's dialog: files are written through :func:`write_whole`, and
    a failed export chosen in the dialog is shown in a message box instead of escaping into Qt."""

    def fileSaveFinished(self, fileName):
        try:
            super().fileSaveFinished(fileName)
        except ExportError as exc:
            box = QMessageBox(QMessageBox.Icon.Warning, "Cannot export", str(exc),
                              parent=self.getScene().getViewWidget())
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()


class _QtPaintExporter(_WholeFileExporter, pg.exporters.Exporter):
    """Base of the Qt-painted SVG and PDF exporters shown in pyqtgraph's right-click "Export..." dialog."""

    suffix = ""

    def parameters(self):
        return None

    def export(self, fileName=None, toBytes=False, copy=False):
        if fileName is None:
            self.fileSaveDialog(filter=f"{FIGURE_FORMATS[self.suffix]} (*{self.suffix})")
            return
        scene = self.getScene()
        view = scene.getViewWidget()
        path = Path(fileName)
        if path.suffix.lower() != self.suffix:
            path = path.with_name(path.name + self.suffix)
        if self.item is scene:
            export_figure(view, path)
            return
        # a single item (e.g. one plot of a layout): its bounding rectangle only
        _check_target(path)
        render = _svg_bytes if self.suffix == ".svg" else _pdf_bytes
        try:
            data = render(view, None, self.getSourceRect())
        except _RenderFailed as exc:
            raise ExportError(f"cannot write {path}: {exc}; no file was written") from None
        write_whole(path, data)


class QtSvgExporter(_QtPaintExporter):
    Name = "SVG vector graphics (Qt)"
    suffix = ".svg"


class QtPdfExporter(_QtPaintExporter):
    Name = "PDF document (Qt)"
    suffix = ".pdf"


class WholeImageExporter(_WholeFileExporter, pg.exporters.ImageExporter):
    """pyqtgraph's image exporter, encoding in memory (its own ``QImage.save`` onto a path reports
    nothing when the disk fills) and writing through :func:`write_whole`."""

    def export(self, fileName=None, toBytes=False, copy=False):
        if fileName is None or toBytes or copy:
            return super().export(fileName, toBytes=toBytes, copy=copy)
        path = Path(fileName)
        _check_target(path)
        fmt = path.suffix.lstrip(".").upper() or "PNG"
        try:
            data = _image_bytes(super().export(toBytes=True), fmt)
        except _RenderFailed as exc:
            raise ExportError(f"cannot write {path}: {exc}; no file was written") from None
        write_whole(path, data)
        return True


class WholeCSVExporter(_WholeFileExporter, pg.exporters.CSVExporter):
    """pyqtgraph's CSV exporter, writing a temporary file beside the target that :func:`write_whole`
    then puts in place whole (pyqtgraph opens the path itself)."""

    def export(self, fileName=None):
        if fileName is None:
            return super().export()
        path = Path(fileName)
        target = _check_target(path)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            super().export(str(tmp))
            data = tmp.read_bytes()
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc.strerror or exc}; no partial file was left") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        write_whole(path, data)


#: pyqtgraph exporters replaced in its dialog: by ours, or dropped (the HDF5 exporter appends to an
#: existing file in place, which could be a session, without its lock; its SVG exporter fails on Qt 6.11).
_REPLACED = {"ImageExporter": WholeImageExporter, "CSVExporter": WholeCSVExporter,
             "HDF5Exporter": None, "SVGExporter": None}


def register_pyqtgraph_exporters() -> None:
    """Offer only exporters that write whole files in pyqtgraph's dialog: the Qt-painted SVG/PDF ones,
    and its own image and CSV exporters routed through :func:`write_whole`."""
    registry = pg.exporters.Exporter.Exporters
    registry[:] = [_REPLACED.get(e.__name__, e) for e in registry if _REPLACED.get(e.__name__, e) is not None]
    for exporter in (QtSvgExporter, QtPdfExporter, WholeImageExporter, WholeCSVExporter):
        if exporter not in registry:
            exporter.register()


__all__ = [
    "FIGURE_FORMATS",
    "ExportError",
    "PageSize",
    "QtPdfExporter",
    "QtSvgExporter",
    "export_figure",
    "figure_image",
    "WholeCSVExporter",
    "WholeImageExporter",
    "register_pyqtgraph_exporters",
    "write_csv",
    "write_whole",
]
