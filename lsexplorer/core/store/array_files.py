""".npy and .npz arrays from anyone, read header first.

numpy allocates the whole array a ``.npy`` header declares before reading its data, so a 100-byte
file declaring shape ``(1e12, 15)`` fails with a MemoryError, or, when the allocation succeeds,
fills gigabytes with what a tiny compressed ``.npz`` member expands to. Here every header is read
and checked before any data is: the declared bytes must be present in the file (for an ``.npz``
member: its uncompressed size), an ``.npz`` member may not expand more than a session may
(:data:`~lsexplorer.core.store.hdf5_guard.MAX_EXPANSION` times its compressed size), and a caller's
``check`` sees the shape and dtype first (the importer refuses a wrong parameter count there).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from ..base.errors import InputError
from ..base.user_files import format_bytes, open_regular
from .hdf5_guard import EXPANSION_ALLOWANCE, MAX_EXPANSION

#: ``check(member, shape, dtype)``: raises to refuse an array from its header alone.
HeaderCheck = Callable[[str, tuple, np.dtype], None]


class ArrayFileError(Exception):
    """Why an array file is not read: one line, without the file's name."""


def _header(fh: BinaryIO) -> tuple[tuple, np.dtype]:
    """Shape and dtype from the ``.npy`` header at ``fh``'s position; leaves ``fh`` at the data."""
    version = npy_format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = npy_format.read_array_header_2_0(fh)
    else:
        raise ArrayFileError(f".npy format version {version[0]}.{version[1]} is not read")
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _declared_bytes(shape: tuple, dtype: np.dtype) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n * dtype.itemsize


def _check_present(what: str, shape: tuple, dtype: np.dtype, present: int) -> None:
    declared = _declared_bytes(shape, dtype)
    if dtype.hasobject:
        raise ArrayFileError(f"{what} holds Python objects (dtype {dtype}), which are never unpickled")
    if declared > present:
        raise ArrayFileError(f"{what} declares shape {shape} ({declared:,} bytes) but holds {present:,} bytes")


def load_npy(path, check: HeaderCheck) -> np.ndarray:
    """The array in the ``.npy`` file ``path``, its header checked first; raises :class:`ArrayFileError`
    (or :class:`~lsexplorer.core.base.user_files.UnreadableFile`, or what ``check`` raises)."""
    with open_regular(path) as fh:
        size = _stat_size(fh)
        try:
            shape, dtype = _header(fh)
            _check_present("the array", shape, dtype, size - fh.tell())
            check("the array", shape, dtype)
            fh.seek(0)
            return npy_format.read_array(fh, allow_pickle=False)
        except (ArrayFileError, InputError):
            raise
        except (OSError, ValueError, EOFError) as exc:
            raise ArrayFileError(f"not a readable .npy array ({_first_line(exc)})") from None


def npz_names(zf: zipfile.ZipFile) -> list[str]:
    """The array names of an open ``.npz`` archive, as ``np.load(...).files`` gives them."""
    return [n.removesuffix(".npy") for n in zf.namelist()]


def load_npz(path, choose: Callable[[list[str]], list[str]], check: HeaderCheck) -> dict[str, np.ndarray]:
    """The arrays ``choose(names)`` picks from the ``.npz`` file ``path``, every header checked before
    any data is read; raises :class:`ArrayFileError` (or what ``choose`` and ``check`` raise)."""
    try:
        with open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
            members = {name: _member(zf, name) for name in choose(npz_names(zf))}
            for name, info in members.items():
                with zf.open(info) as m:
                    shape, dtype = _header(m)
                    _check_present(f"array {name!r}", shape, dtype, info.file_size - m.tell())
                _check_expansion(name, _declared_bytes(shape, dtype), info.compress_size)
                check(name, shape, dtype)
            out = {}
            for name, info in members.items():
                with zf.open(info) as m:
                    out[name] = npy_format.read_array(m, allow_pickle=False)
            return out
    except (ArrayFileError, InputError):
        raise
    # zipfile raises NotImplementedError for a compression method it does not support
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise ArrayFileError(f"not a readable .npz file ({_first_line(exc)})") from None


def _member(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(name + ".npy")
    except KeyError:
        raise ArrayFileError(f"{name!r} is not a .npy array inside the archive") from None


def _check_expansion(name: str, declared: int, compressed: int) -> None:
    if declared > MAX_EXPANSION * compressed + EXPANSION_ALLOWANCE:
        raise ArrayFileError(f"array {name!r} expands to {format_bytes(declared)} from {format_bytes(compressed)} "
                             f"compressed, more than {MAX_EXPANSION} times; refused")


def _stat_size(fh: BinaryIO) -> int:
    return os.fstat(fh.fileno()).st_size


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


__all__ = ["ArrayFileError", "HeaderCheck", "load_npy", "load_npz", "npz_names"]
