"""The files the app ships — icon, desktop entry, default window layouts — read through the package.

They live in the repository's top-level ``resources/`` folder, which pyproject.toml installs as the
package ``lsexplorer.resources`` (``[tool.setuptools.package-dir]``): a wheel carries them inside the
package, and an editable install maps the package name to the folder. Either way they are read with
:mod:`importlib.resources`, whatever the current directory and wherever the package is installed. Only
a source checkout run without installing (``PYTHONPATH=.``) has no such package; then the folder is
read where the checkout keeps it, beside the ``lsexplorer`` package, as the sample session is
(:mod:`lsexplorer.core.store.samples`). Imports nothing heavy.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from .core.base.errors import InputError

#: The icon (scalable), its rendered sizes, the desktop entry and the default layout, by role.
ICON_SVG = "icons/lsexplorer.svg"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
DESKTOP_ENTRY = "lsexplorer.desktop"
LAYOUTS = "layouts"
DEFAULT_LAYOUT = "default"


class ResourceMissing(InputError):
    """A file the app ships is not there (a broken installation); the message names it."""


def resource_root() -> Traversable:
    """The ``resources`` folder: the installed package ``lsexplorer.resources``, else a checkout's."""
    try:
        return resources.files("lsexplorer.resources")
    except ModuleNotFoundError:  # a source checkout on sys.path, not installed
        return Path(str(resources.files("lsexplorer"))).parent / "resources"


def resource(name: str) -> Traversable:
    """The shipped file ``name`` (a ``/``-separated path inside ``resources/``); raises
    :class:`ResourceMissing` if it is not there."""
    item = resource_root()
    for part in name.split("/"):
        item = item / part
    if not item.is_file():
        raise ResourceMissing(f"lsexplorer's {name} is missing from {resource_root()}; reinstall lsexplorer")
    return item


def icon_png(size: int) -> bytes:
    """The app icon rendered at ``size`` × ``size`` pixels (one of :data:`ICON_SIZES`), as PNG bytes."""
    return resource(f"icons/lsexplorer-{size}.png").read_bytes()


def icon_svg() -> bytes:
    return resource(ICON_SVG).read_bytes()


def desktop_entry() -> str:
    """The freedesktop desktop entry (``lsexplorer.desktop``) as text."""
    return resource(DESKTOP_ENTRY).read_text(encoding="utf-8")


def layout_text(name: str = DEFAULT_LAYOUT) -> str:
    """The JSON text of the window layout ``name`` (``resources/layouts/<name>.json``)."""
    return resource(f"{LAYOUTS}/{name}.json").read_text(encoding="utf-8")


__all__ = ["DEFAULT_LAYOUT", "DESKTOP_ENTRY", "ICON_SIZES", "ICON_SVG", "ResourceMissing", "desktop_entry",
           "icon_png", "icon_svg", "layout_text", "resource", "resource_root"]
