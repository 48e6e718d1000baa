"""One writer per session file: an advisory lock that other lsexplorer processes respect.

A writer (``lsexplorer analyze``, ``train -o``, a save from the app, a sweep) holds an exclusive
``flock`` on ``.NAME.lock`` beside the file it writes from before it reads the file until its save
has landed, so two read-modify-write cycles cannot interleave and silently drop each other's results.
A second writer is refused at once, told the holder's pid; the lock is released when its holder ends
for any reason, ``kill -9`` included (the kernel drops ``flock`` locks with the last descriptor), so
a crash never leaves a session locked. A lock file whose lock can be taken is held by nobody: one
left by a killed writer is simply taken over. The lock file is removed on release; a writer that
raced with the removal notices that its lock file is no longer the one at the path and takes the
lock again.

The lock path is in a folder others may write, so it is never trusted: it is opened without
following a symbolic link, and used only when it is a regular file of this user with no other name
(hard link). Anything else (a link planted to make the writer overwrite another file with its pid, a
FIFO, another user's file) is refused with one line and left as it is. A lock whose pid cannot be
written (full disk, I/O error) is refused too and removed: a folder that cannot take a few bytes
cannot take the save either, and refusing now loses no work.

Holding the lock, the writer removes the temporary files that earlier writers of the same file left
when they were killed mid-save: no live lsexplorer can be in the middle of that save.

Locks are reentrant within a process (the app and tests open and save one session repeatedly).
Readers take no lock: saves are atomic renames, so a reader always sees a whole file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from ..base.user_files import file_type_name
from .atomic_write import remove_stale_temporaries


class LockHeld(Exception):
    """Another process writes this session; the message says which."""


class LockFailed(Exception):
    """The lock file could not be made or used (a read-only folder, a planted link, a full disk);
    the message says why."""


try:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except ImportError:  # Windows: a byte-range lock, also dropped by the system when the process ends
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


#: How a lock file is opened: never through a final symbolic link, never blocking on a FIFO.
_OPEN_FLAGS = (os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_NONBLOCK", 0))

_held: dict[str, list] = {}  # lock path -> [fd, depth]
_guard = threading.Lock()


def lock_path(target: Path) -> Path:
    """The lock file of the session ``target`` (an absolute, resolved path)."""
    return target.parent / f".{target.name}.lock"


def _holder(fd: int) -> str:
    """The pid the holder wrote into the lock file, read through our own descriptor (never the path)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", errors="replace").strip()
    except OSError:
        return "pid unknown"
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _unusable(st: os.stat_result) -> str | None:
    """Why a lock file with status ``st`` must not be written, or None when it is a plain lock file of ours."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return f"is {file_type_name(st.st_mode)}"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_nlink > 1:
        return f"is a hard link (one file with {st.st_nlink} names)"
    return None


def _refuse(path: Path, why: str) -> LockFailed:
    return LockFailed(f"the lock file {path} {why}; lsexplorer does not use it "
                      "(remove it if no lsexplorer is writing this file)")


def _open_lock_file(path: Path) -> int | None:
    """A descriptor of the lock file at ``path``, made if absent; None when it vanished meanwhile.

    An existing path is checked before it is opened (so a device or FIFO is never opened) and the
    opened file again (so a path swapped in between is caught).
    """
    try:
        return os.open(path, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, 0o644)  # O_EXCL: a link is never followed
    except FileExistsError:
        pass
    except OSError as e:
        raise LockFailed(f"cannot create the lock file {path} ({e.strerror or e})") from None
    try:
        why = _unusable(os.lstat(path))
        if why is not None:
            raise _refuse(path, why)
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a link swapped in after lstat
            raise _refuse(path, "is a symbolic link") from None
        raise LockFailed(f"cannot open the lock file {path} ({e.strerror or e})") from None
    why = _unusable(os.fstat(fd))
    if why is not None:
        os.close(fd)
        raise _refuse(path, why)
    return fd


def _is_at(path: Path, fd: int) -> bool:
    """Whether the file open as ``fd`` is (still) the one named ``path``."""
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except OSError:
        return False


def _remove(path: Path, fd: int) -> None:
    """Remove the lock file ``fd`` while still locked (nobody can be between open and flock on it),
    unless something else has taken its name."""
    if _is_at(path, fd):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _write_pid(fd: int) -> None:
    """Replace the lock file's content by our pid, for the message a refused writer shows."""
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    data = str(os.getpid()).encode()
    if os.write(fd, data) != len(data):  # a short write is a full disk too
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _acquire(path: Path, shown: str) -> int:
    while True:
        fd = _open_lock_file(path)
        if fd is None:
            continue  # removed between our two opens by a holder releasing it
        try:
            _lock(fd)
        except OSError as e:
            holder = _holder(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeld(f"{shown} is being written by another lsexplorer ({holder}); "
                               "try again when it has finished") from None
            raise LockFailed(f"cannot lock {path} ({e.strerror or e})") from None
        if not _is_at(path, fd):
            os.close(fd)  # the holder before us removed the file after we opened it: lock the new one
            continue
        try:
            _write_pid(fd)
        except OSError as e:
            _remove(path, fd)
            os.close(fd)
            raise LockFailed(f"cannot write the lock file {path} ({e.strerror or e})") from None
        return fd


@contextlib.contextmanager
def writer_lock(target: Path, shown: str | None = None) -> Iterator[None]:
    """Hold the writer lock of the file at ``target`` (resolved path) for the ``with`` block.

    Taking it removes what killed writers of ``target`` left (see the module). Raises
    :class:`LockHeld` when another process holds it, :class:`LockFailed` when the lock file cannot
    be made, written or trusted.
    """
    path = lock_path(target)
    key = os.fspath(path)
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
        else:
            _held[key] = [_acquire(path, shown or os.fspath(target)), 1]
            remove_stale_temporaries(target.parent, {target.name})  # first holder in this process too
    try:
        yield
    finally:
        with _guard:
            entry = _held[key]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                _remove(path, entry[0])
                os.close(entry[0])


__all__ = ["LockHeld", "LockFailed", "lock_path", "writer_lock"]
