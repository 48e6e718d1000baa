"""Render the app icon's PNG sizes from its SVG: resources/icons/lsexplorer.svg -> lsexplorer-<N>.png.

    python scripts/render_icons.py

Run after editing the SVG. The app's window icon is built from the PNGs (no SVG plugin needed), and
``lsexplorer desktop-entry --install`` copies the SVG and every PNG size into the user's icon theme.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
#: Sizes desktops ask for (hicolor theme sizes up to 256).
SIZES = (16, 24, 32, 48, 64, 128, 256)


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(QByteArray((ICONS / "lsexplorer.svg").read_bytes()))
    if not renderer.isValid():
        print("render_icons: the SVG does not parse", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(ICONS / f"lsexplorer-{size}.png"), "PNG")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
