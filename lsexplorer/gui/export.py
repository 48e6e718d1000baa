"""Export of a panel's table (the data behind a plot, a run list) to CSV, whole or not at all.

Figures are exported as paper figures by :mod:`lsexplorer.gui.figure_export` through
:mod:`lsexplorer.figures`; this module writes tables. The text is built in memory and handed to
:func:`~lsexplorer.core.store.atomic_write.write_atomically` (room check, temporary name, fsync,
rename), so a full disk leaves no cut-off file under a real name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.base.errors import InputError
from ..core.store.atomic_write import SaveError, check_save_target, write_atomically


class ExportError(InputError):
    """A table could not be written; the message says why, in one line."""


def write_whole(path: str | Path, data: bytes | memoryview) -> Path:
    """Replace ``path`` by ``data``, whole or not at all ; returns the path.

    Raises :class:`ExportError` naming the file and saying that no partial file was left: an older
    file at ``path`` is untouched and no temporary file remains.
    """
    path = Path(path)
    target = _check_target(path)
    if len(memoryview(data)) == 0:
        raise ExportError(f"cannot write {path}: nothing to write; no file was written")
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


__all__ = ["ExportError", "write_csv", "write_whole"]
