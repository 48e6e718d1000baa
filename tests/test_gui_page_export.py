"""Figures exported for a page: physical size in the SVG, PDF and PNG, print fonts in points, no axis label
outside the figure at one column, the window unchanged afterwards, the dialog's values remembered."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from lsexplorer.core.base.errors import InputError
from lsexplorer.gui._testsupport import *
from lsexplorer.gui.export import figure_image
from lsexplorer.gui.page_layout import laid_out_for_page, page_geometry, print_family
from lsexplorer.gui.page_size import ASPECT_RANGE, PageSize

SVG = "{http://www.w3.org/2000/svg}"


def _px(pt: float, dpi: float) -> float:
    """A font size in points as SVG user units (scene pixels at the screen's dpi)."""
    return pt * dpi / 72


@pytest.mark.parametrize("kwargs, message", [
    ({"width_mm": 5}, "the figure width must be between 30 and 500 mm, not 5"),
    ({"width_mm": "wide"}, "the figure width must be a number, not 'wide'"),
    ({"width_mm": float("nan")}, "the figure width must be a finite number"),
    ({"height_mm": 1000}, "the figure height must be between 20 and 500 mm, not 1000"),
    ({"dpi": 72.5}, "the DPI must be a whole number, not 72.5"),
    ({"dpi": 10}, "the DPI must be between 50 and 2400, not 10"),
    ({"font_pt": 40}, "the font size must be between 5 and 16 pt, not 40"),
])
def test_bad_page_sizes_are_refused_in_one_line(kwargs, message):
    with pytest.raises(InputError) as exc:
        PageSize(**kwargs)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
    with pytest.raises(InputError, match="1 or 2 columns"):
        PageSize.for_columns(3)


def test_page_size_arithmetic():
    page = PageSize.for_columns(2, dpi=600)
    assert page.width_mm == 175 and page.pixels(175) == round(175 / 25.4 * 600) == 4134
    assert PageSize().width_mm == 85 and PageSize().pixels(85) == 1004  # 300 dpi
    assert PageSize().height_for(0.7) == pytest.approx(59.5)
    assert PageSize().height_for(0.1) == pytest.approx(85 * ASPECT_RANGE[0])  # a thin strip gets room
    assert PageSize().height_for(5.0) == pytest.approx(85 * ASPECT_RANGE[1])
    assert PageSize(height_mm=40).height_for(0.1) == 40


def test_svg_declares_its_size_in_mm_and_fonts_in_points(figures, tmp_path):
    w = figures
    view = w.neurons.plot_widget
    page = PageSize(width_mm=85, font_pt=8)
    path = w.export_figure(w.neurons, "neurons", tmp_path / "n.svg", page)
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    height_mm = page.height_for(view.height() / view.width())
    assert root.get("width") == "85mm" and float(root.get("height").removesuffix("mm")) == \
        pytest.approx(height_mm, abs=1e-4)
    dpi = view.logicalDpiX()
    box = [float(v) for v in root.get("viewBox").split()]
    assert box[2:] == pytest.approx([85 / 25.4 * dpi, height_mm / 25.4 * dpi], rel=1e-5)
    sizes, families = {}, set()
    for text in root.iter(f"{SVG}text"):
        if (text.text or "").strip():
            sizes[text.text.strip()] = float(text.get("font-size"))
            families.add(text.get("font-family"))
    assert families == {print_family()} and "Sans Serif" not in families  # a real font, not Qt's alias
    assert sizes["w1 (incoming)"] == pytest.approx(_px(8, dpi), abs=0.01)  # axis label: 8 pt
    assert sizes["outgoing weight a"] == pytest.approx(_px(8, dpi), abs=0.01)  # colour bar's label
    assert sizes["0"] == pytest.approx(_px(7, dpi), abs=0.01)  # tick labels: 7 pt
    assert max(sizes.values()) <= _px(8, dpi) + 0.01 and min(sizes.values()) >= _px(7, dpi) - 0.01


def test_png_and_pdf_have_the_page_size(figures, tmp_path):
    w = figures
    view = w.statistics.scatter_widget
    page = PageSize.for_columns(2, dpi=150, height_mm=90)
    png = QImage(str(w.export_figure(w.statistics, "lambda_min_vs_loss", tmp_path / "s.png", page)))
    assert (png.width(), png.height()) == (round(175 / 25.4 * 150), round(90 / 25.4 * 150))
    assert png.dotsPerMeterX() == round(150 / 0.0254)  # pHYs: a layout program places it at 175 mm
    data = w.export_figure(w.statistics, "lambda_min_vs_loss", tmp_path / "s.pdf", page).read_bytes()
    box = [float(v) for v in re.search(rb"/MediaBox\s*\[([^\]]+)\]", data).group(1).split()]
    assert box[2:] == pytest.approx([175 / 25.4 * 72, 90 / 25.4 * 72], abs=0.5)
    assert view.isVisible() and view.width() > 2


def _axis_labels_outside(view: pg.GraphicsView, bounds) -> list[str]:
    """Visible axis labels (their text, without the document's blank margin) not inside ``bounds``."""
    bad = []
    for item in view.scene().items():
        if isinstance(item, pg.AxisItem) and item.isVisible() and item.label.isVisible() and item.labelText:
            margin = item.label.document().documentMargin()
            text = item.label.boundingRect().adjusted(margin, margin, -margin, -margin)
            rect = item.label.mapRectToScene(text)
            if not bounds.adjusted(-0.5, -0.5, 0.5, 0.5).contains(rect):
                bad.append(f"'{item.labelText}' at {rect.getRect()} outside {bounds.getRect()}")
    return bad


def test_at_one_column_every_axis_label_lies_inside_the_figure(figures):
    w = figures
    checked, problems, fitted, scaled = 0, [], 0, []
    for panel in w.panels:
        w.show_dock(panel.title)
        for _ in range(3):
            QApplication.processEvents()
        for name, view in panel.figures().items():
            if not (view.isVisible() and isinstance(view, pg.GraphicsView)):
                continue
            with laid_out_for_page(view, PageSize()) as geometry:
                # Laid out at the page's size, or (a dense composite) a little larger, scaled to it.
                wanted = page_geometry(view, PageSize()).source
                if (geometry.source.width(), geometry.source.height()) == \
                        pytest.approx((wanted.width(), wanted.height()), abs=0.5):
                    fitted += 1
                else:
                    scaled.append(f"{panel.title}/{name} at {geometry.scale:.2f}")
                    assert geometry.scale > 0.85, scaled[-1]
                labels = [a for a in view.scene().items() if isinstance(a, pg.AxisItem) and a.isVisible()
                          and a.label.isVisible() and a.labelText]
                checked += len(labels)
                problems += [f"{panel.title}/{name}: {p}" for p in _axis_labels_outside(view, geometry.source)]
    assert checked >= 10 and fitted >= 8 and len(scaled) <= 1, scaled
    assert not problems, "\n".join(problems)


def test_the_window_shows_the_same_figure_after_an_export(figures, tmp_path):
    w = figures
    view = w.neurons.plot_widget
    before = figure_image(view)
    for page in (PageSize(width_mm=60), PageSize(width_mm=30, height_mm=20)):  # the second one cannot fit
        w.export_figure(w.neurons, "neurons", tmp_path / "n.png", page)
    QApplication.processEvents()
    after = figure_image(view)
    assert after.size() == before.size()
    a, b = (np.frombuffer(i.convertToFormat(QImage.Format.Format_Grayscale8).constBits(), np.uint8)
            for i in (before, after))
    assert np.mean(np.abs(a.astype(int) - b.astype(int)) > 32) < 0.001


def test_export_dialog_remembers_the_page_size_across_a_restart(figures, gui_settings, tmp_path):
    from lsexplorer.gui.figure_export_dialog import PRESETS, QtFigureExportDialog

    w = figures
    box = w.export_figure_dialog(w.neurons, "neurons")
    assert box.width_mm.value() == 85 and box.auto_height.isChecked() and box.dpi.value() == 300
    box.preset.setCurrentIndex(1)
    assert box.width_mm.value() == 175
    box.auto_height.setChecked(False)
    box.height_mm.setValue(100)
    box.dpi.setValue(120)
    box.path_edit.setText(str(tmp_path / "neurons.png"))
    box.accept()
    image = QImage(str(tmp_path / "neurons.png"))
    assert (image.width(), image.height()) == (round(175 / 25.4 * 120), round(100 / 25.4 * 120))

    restarted = QtFigureExportDialog(None, tmp_path / "x.svg", QSettings(gui_settings.fileName(),
                                                                           QSettings.Format.IniFormat))
    assert (restarted.width_mm.value(), restarted.height_mm.value(), restarted.dpi.value()) == (175, 100, 120)
    assert not restarted.auto_height.isChecked() and restarted.preset.currentIndex() == 1
    restarted.width_mm.setValue(120)
    assert restarted.preset.currentText() == PRESETS[-1][0]  # a typed width is a custom one
    restarted.path_edit.setText(str(tmp_path / "missing" / "x.svg"))
    assert not restarted.validate() and "does not exist" in restarted.problem.text()
    restarted.path_edit.setText(str(tmp_path / "x.gif"))
    assert not restarted.validate() and ".svg" in restarted.problem.text()
    restarted.deleteLater()


def test_a_figure_too_big_for_the_page_is_shrunk_to_it_and_says_so(figures, tmp_path, caplog):
    w = figures
    page = PageSize(width_mm=30, height_mm=20)  # the neurons plot, its colour bar and legend: no room
    with caplog.at_level("WARNING", logger="lsexplorer.gui.export"):
        png = QImage(str(w.export_figure(w.neurons, "neurons", tmp_path / "tiny.png", page)))
        w.export_figure(w.neurons, "neurons", tmp_path / "tiny.svg", page)
    assert (png.width(), png.height()) == (page.pixels(30), page.pixels(20))  # still the page's size
    assert "tiny does not fit 30 mm with 8 pt labels: drawn at" in caplog.text
    assert caplog.text.count("does not fit") == 1  # once for the figure, not for each format


def test_markers_scale_with_the_text_and_come_back(figures):
    from PySide6.QtGui import QFont, QFontInfo

    view = figures.neurons.plot_widget
    scatters = [s for s in view.scene().items() if isinstance(s, pg.ScatterPlotItem) and len(s.data)]
    before = [np.where(s.data["size"] < 0, s.opts["size"], s.data["size"]) for s in scatters]
    assert scatters
    with laid_out_for_page(view, PageSize(font_pt=8)):
        ratio = 7 / QFontInfo(QFont()).pointSizeF()  # tick labels 7 pt, from the screen's font
        for scatter, size in zip(scatters, before):
            np.testing.assert_allclose(scatter.data["size"], size * ratio)
    for scatter, size in zip(scatters, before):
        np.testing.assert_allclose(np.where(scatter.data["size"] < 0, scatter.opts["size"], scatter.data["size"]), size)
