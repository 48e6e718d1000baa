"""One writer per session file: an advisory lock that other lsexplorer processes respect.

A writer (``lsexplorer analyze``, ``train -o``, a save from the app) holds an exclusive ``flock``
on ``.NAME.lock`` beside the session from before it reads the file until its save has landed, so two
read-modify-write cycles cannot interleave and silently drop each other's results. A second writer
is refused at once, told the holder's pid; the lock is released when its holder ends for any reason,
``kill -9`` included (the kernel drops ``flock`` locks with the last descriptor), so a crash
never leaves a session locked. The lock file is removed on release; a writer that raced with the
removal notices that its lock file is no longer the one at the path and takes the lock again.

Locks are reentrant within a process (the app and tests open and save one session repeatedly).
Readers take no lock: saves are atomic renames, so a reader always sees a whole file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path


class LockHeld(Exception):
    """Another process writes this session; the message says which."""


class LockFailed(Exception):
    """The lock file could not be created (e.g. a read-only folder); the message says why."""


try:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except ImportError:  # Windows: a byte-range lock, also dropped by the system when the process ends
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


_held: dict[str, list] = {}  # lock path -> [fd, depth]
_guard = threading.Lock()


def lock_path(target: Path) -> Path:
    """The lock file of the session ``target`` (an absolute, resolved path)."""
    return target.parent / f".{target.name}.lock"


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return "pid unknown"
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _acquire(path: Path, shown: str) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            raise LockFailed(f"cannot create the lock file {path} ({e.strerror or e})") from None
        try:
            _lock(fd)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeld(f"{shown} is being written by another lsexplorer ({_holder(path)}); "
                               "try again when it has finished") from None
            raise LockFailed(f"cannot lock {path} ({e.strerror or e})") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)  # the holder before us removed the file after we opened it: lock the new one


@contextlib.contextmanager
def writer_lock(target: Path, shown: str | None = None) -> Iterator[None]:
    """Hold the writer lock of the session at ``target`` (resolved path) for the ``with`` block.

    Raises :class:`LockHeld` when another process holds it, :class:`LockFailed` when the lock
    file cannot be made.
    """
    path = lock_path(target)
    key = os.fspath(path)
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
        else:
            _held[key] = [_acquire(path, shown or os.fspath(target)), 1]
    try:
        yield
    finally:
        with _guard:
            entry = _held[key]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                with contextlib.suppress(OSError):
                    os.unlink(path)  # still locked here, so nobody can be between open and flock on it
                os.close(entry[0])


__all__ = ["LockHeld", "LockFailed", "lock_path", "writer_lock"]
