"""The app in the desktop's menus: the shipped desktop entry and icon, installed for the user.

``lsexplorer desktop-entry`` prints the freedesktop entry; ``--install`` writes it to
``$XDG_DATA_HOME/applications/lsexplorer.desktop`` (default ``~/.local/share``) and the icon into the
user's hicolor icon theme, where GNOME, KDE and other freedesktop desktops find them. The entry runs
the ``lsexplorer`` launcher of the environment this command runs in (an absolute path), so an app
installed in a virtual environment starts from the menu without that environment being activated.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from .app_resources import DESKTOP_ENTRY, ICON_SIZES, desktop_entry, icon_png, icon_svg
from .core.store.atomic_write import SaveError, files_kept, write_atomically

#: Characters that make a desktop entry's Exec argument need quoting (Desktop Entry spec, "Exec key").
_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`]""")


def launcher() -> str:
    """The ``lsexplorer`` command of this environment: beside this Python, else on ``PATH``, else the
    bare name (the desktop then looks it up on its own ``PATH``)."""
    beside = Path(sys.executable).with_name("lsexplorer")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("lsexplorer") or "lsexplorer"


def _quoted(argument: str) -> str:
    if not _RESERVED.search(argument):
        return argument
    return '"' + re.sub(r'(["`$\\])', r"\\\1", argument) + '"'


def entry_text(command: str | None = None) -> str:
    """The shipped desktop entry with ``Exec`` and ``TryExec`` naming ``command`` (default :func:`launcher`)."""
    command = command or launcher()
    text = desktop_entry()
    text = re.sub(r"(?m)^Exec=lsexplorer\b", lambda _: f"Exec={_quoted(command)}", text)
    return re.sub(r"(?m)^TryExec=.*$", lambda _: f"TryExec={command}", text)


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset or not absolute (as the spec says)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local" / "share"


def install(root: Path | None = None, command: str | None = None) -> list[Path]:
    """Write the entry and the icons under ``root`` (default :func:`data_home`); returns the paths written.

    Files are replaced whole (an older installed entry is overwritten, never left half-written). A file
    that cannot be written raises SaveError naming it; the files written before it are whole and stay.
    """
    root = Path(root) if root is not None else data_home()
    files = {root / "applications" / DESKTOP_ENTRY: entry_text(command).encode(),
             root / "icons" / "hicolor" / "scalable" / "apps" / "lsexplorer.svg": icon_svg()}
    for size in ICON_SIZES:
        files[root / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "lsexplorer.png"] = icon_png(size)
    written: list[Path] = []
    for path, data in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        except (OSError, SaveError) as exc:
            raise SaveError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}; "
                            f"no partial file was left ({files_kept(len(written))})") from None
        written.append(path)
    return written


__all__ = ["data_home", "entry_text", "install", "launcher"]
