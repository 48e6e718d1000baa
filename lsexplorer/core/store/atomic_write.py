"""Replace a file with new bytes so that a reader sees the old file or the whole new one, never less.

:func:`check_save_target` is the pre-check every save runs first (also before long work, so a bad
``-o`` is found in a second, not after hours): the target is a regular file or absent, its folder
exists and is writable. :func:`write_atomically` then needs the bytes already in memory (sessions
are built in memory with HDF5's core driver), checks that the folder's file system has room for
them and that ``RLIMIT_FSIZE`` allows them, writes them with plain ``os.write`` under a temporary
name, fsyncs, renames onto the target and fsyncs the folder. A full disk, an I/O error or a file
size limit then surface as one ``OSError`` from ``os.write`` (HDF5 writing straight to a full disk
has crashed the interpreter), and the temporary file is always removed, except by a process that is
killed: :func:`remove_stale_temporaries` clears those for the next writer that holds the file's lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from ..base.user_files import file_type_name

#: Room left free beyond the file itself (file system metadata, the folder entry).
HEADROOM = 256 * 1024


class SaveError(Exception):
    """One line saying why a file cannot be written (without the file's name)."""


def check_save_target(path: str | os.PathLike) -> Path:
    """The resolved path a save to ``path`` would replace; raises :class:`SaveError` if it cannot.

    Symlinks are followed, so a symlinked session is updated rather than replaced by a file.
    """
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.is_dir():
        raise SaveError(f"folder {folder} does not exist")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise SaveError(f"cannot inspect it ({e.strerror or e})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise SaveError(f"it is {file_type_name(st.st_mode)}; only a regular file is replaced")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SaveError(f"folder {folder} is not writable")
    return target


def _check_room(folder: Path, size: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < size + HEADROOM:
        raise SaveError(f"not enough space: the file needs {_mb(size)} and {_mb(HEADROOM)} are kept free, "
                        f"the file system has {_mb(free)} free")
    try:
        import resource  # Unix only: without it there is no file size limit to honour

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (ImportError, ValueError, OSError):
        return
    if soft != resource.RLIM_INFINITY and size > soft:
        raise SaveError(f"the file needs {_mb(size)}, more than this process may write ({_mb(soft)}, ulimit -f)")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.1f} kB"


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: The names :func:`write_atomically` gives its temporary files: ``.NAME.<8 hex digits>.tmp``.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{8}\.tmp")


def _temporary_name(target: Path) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"


def remove_stale_temporaries(folder: Path, names: set[str] | frozenset[str]) -> list[Path]:
    """Remove the temporary files that killed saves onto ``folder/NAME`` (NAME in ``names``) left.

    Call it only while no save onto those files can be running, i.e. holding their writer lock;
    a live save's temporary would otherwise vanish under it. Only regular files of this user named
    as :func:`write_atomically` names them are removed, never a link or another user's file. Returns
    what was removed; a folder or file that cannot be read or removed is left as it is.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or match["name"] not in names:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def write_atomically(target: Path, data: bytes | memoryview) -> None:
    """Replace the regular file ``target`` (from :func:`check_save_target`) by ``data``.

    Raises :class:`SaveError` for a target that cannot take it, ``OSError`` from the writes (full
    disk, I/O error, size limit); either way ``target`` is untouched and no temporary file is left.
    """
    check_save_target(target)
    view = memoryview(data).cast("B")
    _check_room(target.parent, len(view))
    tmp = _temporary_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        try:
            done = 0
            while done < len(view):
                done += os.write(fd, view[done:done + (64 << 20)])
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            _fsync_path(target.parent, os.O_RDONLY | os.O_DIRECTORY)


def files_kept(count: int) -> str:
    """What an error after ``count`` whole files of a batch says of them (they stay where they are)."""
    if count == 0:
        return "no other file was written"
    if count == 1:
        return "the file written before it is whole and kept"
    return f"the {count} files written before it are whole and kept"


__all__ = ["HEADROOM", "SaveError", "check_save_target", "files_kept", "remove_stale_temporaries",
           "write_atomically"]
