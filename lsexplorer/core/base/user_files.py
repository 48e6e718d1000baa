"""Opening a file a user names (a config, points to import, MNIST files): regular files only, of a
bounded size.

A name can denote a FIFO (opening it for reading blocks until a writer comes, reading it never
ends), a device such as ``/dev/zero`` (endless bytes) or a folder; and a regular file can be far
larger than anything lsexplorer reads whole. :func:`open_regular` refuses all of these from the
file's metadata before a byte is read, so a reader cannot hang or exhaust memory on them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class UnreadableFile(Exception):
    """Why a user-named file is not read: one line, without the file's name."""


class NoSuchFile(UnreadableFile):
    """The name denotes nothing."""


_KIND_NAMES = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
               stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def file_type_name(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words."""
    return _KIND_NAMES.get(stat.S_IFMT(mode), "not a regular file")


def format_bytes(n: int) -> str:
    """A byte count in words: ``4.0 GiB``, ``7.3 MiB``, ``512 kiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1024:.0f} kiB"


def _check_mode(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise UnreadableFile(f"it is {file_type_name(mode)}, not a regular file")


def open_regular(path: str | os.PathLike, max_bytes: int | None = None, what: str = "the file") -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file (symlinks followed) of at most
    ``max_bytes``; raises :class:`UnreadableFile`.

    The type is checked by ``stat`` before opening (opening a device can have effects of its own),
    and again on the open descriptor, which is opened non-blocking so that a FIFO put in its place
    meanwhile cannot block. ``what`` names the kind of file in the size message.
    """
    try:
        _check_mode(os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise NoSuchFile("no such file") from None
    except OSError as e:
        raise UnreadableFile(f"cannot read it ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        _check_mode(st.st_mode)
        if max_bytes is not None and st.st_size > max_bytes:
            raise UnreadableFile(f"it holds {format_bytes(st.st_size)}, more than the {format_bytes(max_bytes)} "
                                 f"{what} may have")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, max_bytes: int, what: str = "the file") -> bytes:
    """The whole content of the regular file ``path``, refused (:class:`UnreadableFile`) when it has
    more than ``max_bytes``, also when it grows while being read."""
    try:
        with open_regular(path, max_bytes, what) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as e:
        raise UnreadableFile(f"cannot read it ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise UnreadableFile(f"it holds more than the {format_bytes(max_bytes)} {what} may have")
    return data


def regular_file_size(path: str | os.PathLike) -> int:
    """The size of ``path`` if it is a regular file (by ``stat`` alone); raises :class:`UnreadableFile`."""
    try:
        st = os.stat(Path(path))
    except FileNotFoundError:
        raise NoSuchFile("no such file") from None
    except OSError as e:
        raise UnreadableFile(f"cannot read it ({e.strerror or e})") from None
    _check_mode(st.st_mode)
    return st.st_size


__all__ = ["NoSuchFile", "UnreadableFile", "file_type_name", "format_bytes", "open_regular", "read_regular", "regular_file_size"]
