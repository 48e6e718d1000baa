"""The app's icon as a QIcon, from the PNG sizes shipped in ``resources/icons/``.

Built from PNG bytes read through the package (:mod:`lsexplorer.app_resources`), so it needs neither
a file path (a zipped install has none) nor Qt's SVG icon plugin.
"""

from __future__ import annotations

from PySide6.QtGui import QIcon, QPixmap

from ..app_resources import ICON_SIZES, icon_png


def app_icon() -> QIcon:
    """lsexplorer's icon at every shipped size (Qt picks the nearest for each use)."""
    icon = QIcon()
    for size in ICON_SIZES:
        pixmap = QPixmap()
        if pixmap.loadFromData(icon_png(size), "PNG"):
            icon.addPixmap(pixmap)
    return icon


__all__ = ["app_icon"]
