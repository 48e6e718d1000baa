"""Export of any plot to PNG, SVG or PDF, and of its data to CSV.

pyqtgraph 0.14's own SVGExporter fails on Qt >= 6.11 (it parses Qt's SVG path output and trips over
the closepath syntax), so figures are rendered with Qt's own paint devices instead: the plot's
``QGraphicsScene`` is painted onto a ``QImage`` (PNG), a ``QSvgGenerator`` (SVG, vector) or a
``QPdfWriter`` (PDF, vector). Before painting, every pyqtgraph item is switched to export mode, so
scatter symbols are drawn as shapes rather than copied from the on-screen pixmap cache (which would
make them bitmaps in a vector file, and tiny in a high-resolution PNG).

:func:`register_pyqtgraph_exporters` also puts the SVG and PDF paths into pyqtgraph's right-click
"Export..." dialog, in place of the broken SVG exporter.

Export a plot only after it was shown and laid out (DESIGN.md): a never-shown widget has no size.
"""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # pyqtgraph does not import its exporters sub-package itself
from PySide6.QtCore import QMarginsF, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QImage, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsView, QWidget

from ..core.errors import InputError

#: Formats :func:`export_figure` writes, by file suffix.
FIGURE_FORMATS = {".png": "PNG image", ".svg": "SVG vector graphics", ".pdf": "PDF document"}


class ExportError(InputError):
    """A figure or table could not be written; the message says why, in one line."""


def export_figure(view: QWidget, path: str | Path, scale: float = 2.0, title: str | None = None) -> Path:
    """Write the figure shown by ``view`` to ``path``; the suffix (.png, .svg, .pdf) picks the format.

    ``view`` is a pyqtgraph ``GraphicsView`` (``PlotWidget``, ``GraphicsLayoutWidget``) or any widget.
    PNGs are rendered at ``scale`` times the on-screen size. Returns the path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise ExportError(f"cannot export a figure as {suffix or 'a file without suffix'}; "
                          f"use one of {', '.join(FIGURE_FORMATS)}")
    size = view.size()
    if size.width() < 2 or size.height() < 2:
        raise ExportError("the figure has no size yet; show it before exporting")
    try:
        with _replacing(path) as tmp:
            if suffix == ".png":
                _write_png(view, tmp, scale)
            elif suffix == ".svg":
                _write_svg(view, tmp, title)
            else:
                _write_pdf(view, tmp, title)
            if not tmp.exists() or tmp.stat().st_size == 0:
                raise ExportError(f"cannot write {path}: nothing was written (is the folder writable?)")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` that becomes ``path`` only when the block completes.

    An interrupted or failed export leaves no half-written figure and keeps an older file intact.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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


def _write_png(view: QWidget, path: Path, scale: float) -> None:
    if not figure_image(view, scale).save(str(path), "PNG"):
        raise ExportError(f"cannot write {path}: Qt could not save the PNG (is the folder writable?)")


def _write_svg(view: QWidget, path: Path, title: str | None, source: QRectF | None = None) -> None:
    size = _size(view, source)
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(title or "lsexplorer figure")
    generator.setDescription("Exported by lsexplorer")
    # The screen's resolution: pyqtgraph's axes replay QPictures, which Qt rescales by the ratio of
    # the recording and the target device's DPI (the default 72 would shrink every axis by 3/4).
    generator.setResolution(view.logicalDpiX())
    painter = QPainter(generator)
    try:
        page = QRectF(0, 0, size.width(), size.height())
        painter.fillRect(page, _background(view))
        _paint(view, painter, page, source)
    finally:
        painter.end()


def _write_pdf(view: QWidget, path: Path, title: str | None, source: QRectF | None = None) -> None:
    size = _size(view, source)
    writer = QPdfWriter(str(path))
    writer.setTitle(title or "lsexplorer figure")
    writer.setCreator("lsexplorer")
    # One page exactly the figure's size at the screen's resolution (see _write_svg for why that one).
    dpi = view.logicalDpiX()
    writer.setResolution(dpi)
    writer.setPageSize(QPageSize(QSizeF(size.width() * 72 / dpi, size.height() * 72 / dpi), QPageSize.Unit.Point))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    painter = QPainter()
    if not painter.begin(writer):
        raise ExportError(f"cannot write {path}: Qt could not open the PDF for writing")
    try:
        page = QRectF(0, 0, writer.width(), writer.height())
        painter.fillRect(page, _background(view))
        _paint(view, painter, page, source)
    finally:
        painter.end()


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
    try:
        with _replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(columns))
            for row in rows:
                writer.writerow([_cell(v) for v in row])
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return str(value)


# --------------------------------------------------------------------------- a whole session, headless

#: Panel titles and the slug that starts their export file names.
PANEL_SLUGS = {"Runs": "runs", "Neurons": "neurons", "Statistics": "statistics", "Training": "training",
               "Counting": "counting", "Saddle line": "saddle_line", "Slices": "slices", "Escape": "escape"}


def showcase_row(session) -> int:
    """The run the export (and the screenshots) show: the first local minimum whose closest saddle's
    narrower point converged and that has a μ sweep and an escape scan; else the first local minimum
    with any closest saddle; else the first local minimum; else run 0."""
    from .analysis import closest_saddle_of

    kinds = np.asarray(session.runs.kind).astype(str)
    local = [int(r) for r in np.flatnonzero(kinds == "local_min")]
    a = session.analyses
    for row in local:
        c = closest_saddle_of(session, row)
        if (c is not None and c.narrower.kind != "not_converged" and str(row) in a.get("mu_sweep", {}).get("points", {})
                and str(row) in a.get("escape", {}).get("points", {})):
            return row
    for row in local:
        if closest_saddle_of(session, row) is not None:
            return row
    return local[0] if local else 0


def export_session_figures(session_path: str | Path, out_dir: str | Path, size: tuple[int, int] = (1600, 1000)
                           ) -> list[Path]:
    """Write every figure of a session as PNG, SVG and PDF, and its data as CSV, without a display.

    Opens ``session_path`` in an offscreen main window of ``size`` (creating a QApplication with the
    ``offscreen`` platform if none exists), selects :func:`showcase_row` (the first local minimum with
    a converged closest saddle, its μ sweep and escape scan), shows every panel in turn, waits for its
    background work (the live spectrum, the 2D slice) and writes into ``out_dir`` (created):

    ``<panel>_<figure>.png`` / ``.svg`` / ``.pdf`` for every figure, ``<panel>_<table>.csv`` for every
    table, where ``<panel>`` is one of ``runs``, ``neurons``, ``statistics``, ``training``,
    ``counting``, ``saddle_line``, ``slices``, ``escape``. With the bundled sample session that is:

    - ``neurons_neurons`` — incoming weights, teacher, trajectories (Fig 6.4)
    - ``statistics_lambda_min_vs_loss`` (Fig 6.3), ``statistics_nearest_neuron_distance`` (Fig 6.7),
      ``statistics_saddle_distance`` (Fig 6.9), ``statistics_outcomes.csv`` (Table 6.1)
    - ``training_training_loss``; ``counting_counting_ratio`` (Fig 4.4); ``runs_runs.csv``
    - ``saddle_line_eigenvalues_vs_mu`` (Fig 6.17), ``saddle_line_spectrum_at_mu``,
      ``saddle_line_y_eigenvalues``, ``saddle_line_loss_along_mu``
    - ``slices_saddle_to_minimum``, ``slices_plane`` (Fig 6.10), ``slices_plane_trajectory.csv``
    - ``escape_escape`` (Fig 6.6)

    A panel whose analysis is missing for the chosen run (e.g. a session never analysed) writes no
    figure; nothing is computed. Returns the paths written, in order. Raises ExportError when the
    session cannot be opened.
    """
    import os
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([])
    from .app import MainWindow, leave_a_core_for_the_gui

    leave_a_core_for_the_gui()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(settings=QSettings(str(Path(tmp) / "export.ini"), QSettings.Format.IniFormat))
        errors: list[str] = []
        window.show_error = lambda title, text: errors.append(f"{title}: {text}")
        try:
            window.resize(*size)
            window.show()
            app.processEvents()
            worker = window.open_session(session_path)
            worker.wait(120_000)
            if not window.model.has_session:
                raise ExportError(errors[0] if errors else f"cannot open {session_path}")
            window.model.select(showcase_row(window.model.session))
            for panel in window.panels:
                dock = window.docks[panel.title]
                dock.show()
                dock.raise_()
                for _ in range(3):
                    app.processEvents()
                if hasattr(panel, "wait_live"):
                    panel.wait_live()
                if hasattr(panel, "wait_done"):
                    panel.wait_done()
                for _ in range(3):
                    app.processEvents()
                slug = PANEL_SLUGS.get(panel.title, panel.title.lower().replace(" ", "_"))
                for name, view in panel.figures().items():
                    if not view.isVisible() or view.width() < 2:
                        continue  # its analysis is missing: the panel shows a message instead
                    for suffix in FIGURE_FORMATS:
                        written.append(export_figure(view, out / f"{slug}_{name}{suffix}",
                                                     title=f"lsexplorer — {panel.title}: {name}"))
                for name, table in panel.tables().items():
                    written.append(write_csv(out / f"{slug}_{name}.csv", table.columns, table.rows))
        finally:
            window.model.tasks.cancel_all()
            window.model.tasks.wait_all(30_000)
            window.saddle_line.stop()
            window.model.set_modified(False)
            window.close()
            window.deleteLater()
            app.processEvents()
    return written


# --------------------------------------------------------------------------- pyqtgraph's dialog

class _QtPaintExporter(pg.exporters.Exporter):
    """Base of the exporters shown in pyqtgraph's right-click "Export..." dialog."""

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
        else:  # a single item (e.g. one plot of a layout): its bounding rectangle only
            write = _write_svg if self.suffix == ".svg" else _write_pdf
            write(view, path, None, self.getSourceRect())


class QtSvgExporter(_QtPaintExporter):
    Name = "SVG vector graphics (Qt)"
    suffix = ".svg"


class QtPdfExporter(_QtPaintExporter):
    Name = "PDF document (Qt)"
    suffix = ".pdf"


def register_pyqtgraph_exporters() -> None:
    """Offer the Qt-painted SVG/PDF exporters in pyqtgraph's dialog and drop its broken SVG exporter."""
    registry = pg.exporters.Exporter.Exporters
    registry[:] = [e for e in registry if e.__name__ != "SVGExporter"]
    for exporter in (QtSvgExporter, QtPdfExporter):
        if exporter not in registry:
            exporter.register()


__all__ = [
    "FIGURE_FORMATS",
    "PANEL_SLUGS",
    "ExportError",
    "QtPdfExporter",
    "QtSvgExporter",
    "export_figure",
    "export_session_figures",
    "figure_image",
    "register_pyqtgraph_exporters",
    "showcase_row",
    "write_csv",
]
