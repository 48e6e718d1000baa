"""Figures export to non-blank PNG, SVG and PDF (checked by their pixels and content), data to exact CSV."""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from PySide6.QtCore import QByteArray
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from lsexplorer.core.symmetry.operations import incoming_vectors
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.export import ExportError, export_figure, figure_image, register_pyqtgraph_exporters, write_csv


def ink_fraction(image: QImage) -> float:
    """Share of pixels that are not (near) white."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    ptr = image.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8, count=image.sizeInBytes()).reshape(image.height(), -1)[:, :image.width() * 4]
    rgb = arr.reshape(image.height(), image.width(), 4)[..., :3].astype(int)
    return float(np.mean(rgb.sum(axis=-1) < 3 * 235))


def colours_present(image: QImage, colour: str, tol: int = 40) -> int:
    c = QColor(colour)
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    px = arr.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, :image.width(), :3].astype(int)
    target = np.array([c.blue(), c.green(), c.red()])  # RGB32 is BGRA in memory on little-endian
    return int(np.count_nonzero(np.abs(px - target).sum(axis=-1) < tol))


def gray(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    arr = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return arr.reshape(image.height(), image.bytesPerLine())[:, :image.width()].astype(float)


def pdf_drawing_operators(data: bytes) -> int:
    """Count path-construction operators in the PDF's (deflated) content streams."""
    count = 0
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        raw = match.group(1)
        try:  # a stream may end in a byte the pattern above takes for the line end: decompress leniently
            raw = zlib.decompressobj().decompress(raw)
        except zlib.error:
            pass
        count += len(re.findall(rb"[\d.]+ [\d.]+ [ml]\b", raw))
    return count


def test_png_export_has_the_plot_in_it(figures, tmp_path):
    w = figures
    path = w.export_figure(w.statistics, "lambda_min_vs_loss", tmp_path / "scatter.png")
    image = QImage(str(path))
    view = w.statistics.scatter_widget
    assert (image.width(), image.height()) == (2 * view.width(), 2 * view.height())
    assert 0.02 < ink_fraction(image) < 0.6
    assert colours_present(image, "#E69F00") > 50  # local minima markers
    assert colours_present(image, "#009E73") > 50  # global minima markers


def test_svg_export_is_vector_and_renders(figures, tmp_path):
    w = figures
    path = w.export_figure(w.neurons, "neurons", tmp_path / "neurons.svg")
    text = path.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}path")) + len(root.findall(f".//{ns}polyline")) > 20
    assert "w1 (incoming)" in text and "outgoing weight a" in text  # axis and colour-bar labels as text
    renderer = QSvgRenderer(QByteArray(text.encode()))
    assert renderer.isValid()
    view = w.neurons.plot_widget
    assert renderer.viewBox().size() == view.size()
    image = QImage(view.size(), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    assert ink_fraction(image) > 0.02
    assert colours_present(image, "#000000", tol=60) > 100  # stars' outlines, axes, text
    # The vector file draws what the screen shows: same size, and pixel for pixel close to the
    # raster rendering (a DPI mix-up once drew the axes at 3/4 scale, which this catches).
    difference = np.abs(gray(image) - gray(figure_image(view)))
    assert difference.mean() < 2 and np.mean(difference > 64) < 0.01  # 0.9 and 0.3 % measured


def test_pdf_export_draws_on_one_page(figures, tmp_path):
    w = figures
    path = w.export_figure(w.training, "training_loss", tmp_path / "loss.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    assert pdf_drawing_operators(data) > 50
    # One page of the figure's on-screen size (pixels at the screen's DPI, in points).
    view = w.training.plot_widget
    box = [float(v) for v in re.search(rb"/MediaBox\s*\[([^\]]+)\]", data).group(1).split()]
    dpi = view.logicalDpiX()
    assert box[2:] == pytest.approx([view.width() * 72 / dpi, view.height() * 72 / dpi], abs=1)


def test_every_figure_of_every_panel_exports(figures, tmp_path):
    w = figures
    for panel in w.panels:
        for name in panel.figures():
            for suffix in (".png", ".svg", ".pdf"):
                path = w.export_figure(panel, name, tmp_path / f"{name}{suffix}")
                assert path is not None and path.stat().st_size > 1000, (name, suffix)
    assert ink_fraction(figure_image(w.counting.plot_widget)) > 0.01


def test_export_refuses_unknown_formats_and_unwritable_places(figures, tmp_path):
    w = figures
    with pytest.raises(ExportError, match="use one of"):
        export_figure(w.neurons.plot_widget, tmp_path / "x.gif")
    with pytest.raises(ExportError, match="cannot write"):
        export_figure(w.neurons.plot_widget, tmp_path / "missing-dir" / "x.svg")
    assert w.export_figure(w.neurons, "neurons", tmp_path / "missing-dir" / "x.png") is None
    assert w.error_box.windowTitle() == "Cannot export the figure" and "missing-dir" in w.error_box.text()
    w.error_box.close()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_csv_holds_exactly_the_plotted_numbers(figures, tmp_path):
    w = figures
    s = w.model.session
    r = s.runs
    # λ_min vs loss: every run, full precision.
    table = w.statistics.tables()["lambda_min_vs_loss"]
    header, rows = read_csv(write_csv(tmp_path / "scatter.csv", table.columns, table.rows))
    assert header == ["seed", "kind", "loss", "lambda_min"]
    np.testing.assert_array_equal([int(x[0]) for x in rows], r.seed)
    np.testing.assert_array_equal(np.array([float(x[2]) for x in rows]), r.loss)  # NaN == NaN here
    np.testing.assert_array_equal(np.array([float(x[3]) for x in rows]), r.lambda_min)
    # Histogram bins and counts.
    table = w.statistics.tables()["nearest_neuron_distance"]
    header, rows = read_csv(write_csv(tmp_path / "hist.csv", table.columns, table.rows))
    counts, edges = w.statistics.histogram
    np.testing.assert_array_equal([int(x[2]) for x in rows], counts)
    np.testing.assert_array_equal([float(x[0]) for x in rows], edges[:-1])
    # Neurons: the selected run's incoming vectors and the teacher's.
    i = w.model.current
    table = w.neurons.tables()["neurons"]
    header, rows = read_csv(write_csv(tmp_path / "neurons.csv", table.columns, table.rows))
    student = np.array([[float(x[2]), float(x[3])] for x in rows if x[0] == "student"])
    np.testing.assert_array_equal(student, incoming_vectors(s.spec, r.theta[i], 1))
    assert sum(x[0] == "teacher" for x in rows) == 4
    # Run table through the File menu path, with the dialog answered.
    target = tmp_path / "runs.csv"
    w.ask_save_path = lambda *a: str(target)
    w.export_data_dialog(w.run_table, "runs")
    header, rows = read_csv(target)
    assert header[:3] == ["seed", "kind", "loss"] and len(rows) == r.n_runs
    np.testing.assert_array_equal([float(x[3]) for x in rows], r.grad_norm)


def test_export_menus_list_every_figure_and_table(figures):
    w = figures
    w._fill_export_menu(w.export_figure_menu, True)
    names = [a.text() for a in w.export_figure_menu.actions()]
    assert "Neurons: neurons" in names and "Statistics: lambda min vs loss" in names
    assert "Counting: counting ratio" in names and "Training: training loss" in names
    w._fill_export_menu(w.export_data_menu, False)
    assert "Runs: runs" in [a.text() for a in w.export_data_menu.actions()]


def test_pyqtgraph_dialog_gets_working_svg_and_pdf_exporters(figures, tmp_path):
    import pyqtgraph.exporters as pge

    register_pyqtgraph_exporters()
    names = [e.Name for e in pge.listExporters()]
    assert "SVG vector graphics (Qt)" in names and "PDF document (Qt)" in names
    assert not any(e.__name__ == "SVGExporter" for e in pge.listExporters())
    plot = figures.statistics.scatter_plot
    exporter = next(e for e in pge.listExporters() if e.Name.startswith("SVG vector"))(plot)
    exporter.export(str(tmp_path / "item.svg"))
    assert ET.fromstring((tmp_path / "item.svg").read_text()).tag.endswith("svg")
    scene_exporter = next(e for e in pge.listExporters() if e.Name.startswith("PDF"))(plot.scene())
    scene_exporter.export(str(tmp_path / "scene.pdf"))
    assert pdf_drawing_operators((tmp_path / "scene.pdf").read_bytes()) > 20
