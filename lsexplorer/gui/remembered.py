"""What the app remembers between sessions besides the window: dialogs' last values and folders.

One QSettings group per dialog (``new_experiment/…``) and one key per kind of folder
(``folders/export``, ``folders/new_experiment``), so a figure export opens where the last export
went, not next to whichever session happens to be open.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "lsexplorer"
APPLICATION = "lsexplorer"


def user_settings() -> QSettings:
    """The user's settings file (an INI file in the user's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def last_folder(settings: QSettings, kind: str) -> Path | None:
    """The folder last used for ``kind`` (e.g. ``"export"``), if it still exists."""
    value = settings.value(f"folders/{kind}")
    folder = Path(str(value)) if value else None
    return folder if folder is not None and folder.is_dir() else None


def remember_folder(settings: QSettings, kind: str, path: str | Path) -> None:
    """Remember the folder of the file ``path`` as the last one used for ``kind``."""
    settings.setValue(f"folders/{kind}", str(Path(path).expanduser().resolve().parent))
    settings.sync()


def saved_fields(settings: QSettings, group: str) -> dict[str, str]:
    """The field values last saved for dialog ``group``, as strings (empty when never saved)."""
    settings.beginGroup(group)
    try:
        return {key: str(settings.value(key)) for key in settings.childKeys()}
    finally:
        settings.endGroup()


def save_fields(settings: QSettings, group: str, values: dict[str, object]) -> None:
    """Remember dialog ``group``'s field values (stored as text)."""
    settings.beginGroup(group)
    try:
        for key, value in values.items():
            settings.setValue(key, str(value))
    finally:
        settings.endGroup()
    settings.sync()


__all__ = ["last_folder", "remember_folder", "save_fields", "saved_fields", "user_settings"]
