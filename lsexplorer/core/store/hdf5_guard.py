"""Checks that make opening an untrusted HDF5 file safe, done before any data is read.

A session may come from anyone. HDF5 lets a small file point outside itself (external links,
external raw-data files, virtual datasets) or declare arrays far larger than it stores (unallocated
datasets read back as fill values, so a 100 kB file can declare 16 GB; gzip-compressed zeros expand
about 1000-fold). Reading such a file copies other files' contents into the next saved session, or
exhausts memory before any shape check runs. What counts is what the datasets expand to when read.
:func:`check_regular_file` and :func:`check_hdf5_tree` refuse all of this from metadata alone, in
time proportional to the number of objects, never to the declared sizes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import h5py
import numpy as np

from ..base.user_files import file_type_name, format_bytes

#: gzip's best ratio is about 1030:1 (deflate's longest match per 2-bit code); a chunked dataset may
#: declare at most this many bytes per stored byte, plus a small allowance for tiny arrays.
MAX_RATIO = 1100
SMALL_BYTES = 1 << 20
#: All datasets together may expand to at most this many bytes per byte of the file, plus
#: EXPANSION_ALLOWANCE. Sessions lsexplorer writes expand to under 3 times their size (random initial
#: points and float results compress little); the most repetitive dataset seen, a trajectory whose
#: snapshots never change, reaches about 70 on its own.
MAX_EXPANSION = 100
EXPANSION_ALLOWANCE = 16 << 20
#: Reading a session holds its arrays about twice over (the file's values and the checked copies), so
#: the declared total must fit in memory this many times.
LOAD_COPIES = 2
#: No lsexplorer session nests deeper or holds more objects than this.
MAX_DEPTH = 64
MAX_OBJECTS = 1_000_000


class UnsafeFile(Exception):
    """A reason (one line, without the file name) an HDF5 file is refused."""


def check_regular_file(path: Path) -> int:
    """The size of ``path`` if it is a regular file (symlinks followed); raises :class:`UnsafeFile`.

    Only ``stat`` is used, so a FIFO or a device is refused without opening it (opening a FIFO
    blocks until a writer appears).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnsafeFile("no such file") from None
    except OSError as e:
        raise UnsafeFile(f"cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UnsafeFile("it is a folder, not a session file")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"it is {file_type_name(st.st_mode)}, not a regular file")
    return st.st_size


def _declared_bytes(shape: tuple | None, dtype: np.dtype) -> int:
    n = 1
    for dim in shape or ():
        n *= int(dim)
    return n * dtype.itemsize


def _check_dtype(name: str, dtype: np.dtype) -> None:
    if h5py.check_string_dtype(dtype) is not None:
        return
    if dtype.kind not in "biufcS" or dtype.fields is not None or dtype.subdtype is not None:
        raise UnsafeFile(f"{name} has the HDF5 type {dtype}, which a session never holds")


def _check_attributes(obj, where: str, n_attrs: int, file_size: int) -> None:
    for i in range(n_attrs):
        aid = h5py.h5a.open(obj, index=i)
        name = f"attribute {aid.name.decode('utf-8', 'replace')!r} of {where}"
        _check_dtype(name, aid.dtype)
        # Attribute values are always stored whole, so they cannot be larger than the file.
        if _declared_bytes(aid.shape, aid.dtype) > file_size + SMALL_BYTES:
            raise UnsafeFile(f"{name} declares {aid.shape} values, more than the file can hold")


def _check_dataset(dsid, name: str, file_size: int) -> int:
    dcpl = dsid.get_create_plist()
    if dcpl.get_external_count():
        raise UnsafeFile(f"{name} keeps its data in another file (HDF5 external storage); refused")
    layout = dcpl.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        raise UnsafeFile(f"{name} is a virtual dataset reading other files; refused")
    _check_dtype(name, dsid.dtype)
    declared = _declared_bytes(dsid.shape, dsid.dtype)
    stored = dsid.get_storage_size()
    # Contiguous and compact data are stored verbatim; chunks may be compressed, up to MAX_RATIO.
    limit = MAX_RATIO * stored + SMALL_BYTES if layout == h5py.h5d.CHUNKED else stored
    if declared > limit or stored > file_size:
        raise UnsafeFile(f"{name} declares shape {dsid.shape} ({declared:,} bytes) but the file stores "
                         f"{stored:,} bytes of it; refused")
    return declared


def check_hdf5_tree(f: h5py.File, file_size: int, memory_limit: int | None = None) -> int:
    """Walk every link, object and attribute of ``f``; return the bytes the datasets declare.

    Refuses external, soft and user-defined links, a second hard link to any object, external storage,
    virtual datasets, types a session never holds, declared sizes the file cannot hold, datasets that
    together expand to more than :data:`MAX_EXPANSION` times the file, and (when ``memory_limit`` is
    given) a total that would not fit in it :data:`LOAD_COPIES` times. Uses HDF5's own visitors, which
    never follow a link out of the file. Raises :class:`UnsafeFile`.
    """
    fid = f.id
    problem: list[str] = []
    count = 0

    def on_link(name: bytes, info) -> int | None:
        nonlocal count
        count += 1
        where = "/" + name.decode("utf-8", "replace")
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            problem.append(f"{where} is an external link to another file; refused")
        elif info.type == h5py.h5l.TYPE_SOFT:
            problem.append(f"{where} is a soft link; sessions hold no links")
        elif info.type != h5py.h5l.TYPE_HARD:
            problem.append(f"{where} is a user-defined link; refused")
        elif count > MAX_OBJECTS:
            problem.append(f"it holds more than {MAX_OBJECTS:,} objects")
        elif where.count("/") > MAX_DEPTH:
            problem.append(f"{where} nests deeper than {MAX_DEPTH} groups")
        return 1 if problem else None

    total = 0

    def on_object(name: bytes, info) -> int | None:
        nonlocal total
        where = "/" if name == b"." else "/" + name.decode("utf-8", "replace")
        # HDF5 visits an object once however many hard links name it; its link count tells.
        if info.rc > 1:
            problem.append(f"{where} is reached by {info.rc} hard links (the same object under another "
                           f"name); sessions hold no links")
            return 1
        try:
            obj = h5py.h5o.open(fid, name)
            _check_attributes(obj, where, info.num_attrs, file_size)
            if info.type == h5py.h5o.TYPE_DATASET:
                total += _check_dataset(obj, where, file_size)
            elif info.type != h5py.h5o.TYPE_GROUP:
                raise UnsafeFile(f"{where} is neither a group nor a dataset")
        except UnsafeFile as e:
            problem.append(str(e))
            return 1
        return None

    fid.links.visit(on_link, info=True)
    if not problem:
        # h5py's visitor skips the root group itself: its attributes and link count are checked here.
        on_object(b".", h5py.h5o.get_info(fid))
    if not problem:
        h5py.h5o.visit(fid, on_object, info=True)
    if problem:
        raise UnsafeFile(problem[0])
    check_expansion(total, file_size, memory_limit)
    return total


def check_expansion(declared: int, file_size: int, memory_limit: int | None = None) -> None:
    """Refuse ``declared`` bytes of datasets that a ``file_size``-byte file expands to when read, if
    that is more than a session's data compresses from, or more than ``memory_limit`` can hold
    :data:`LOAD_COPIES` times. Raises :class:`UnsafeFile`."""
    if declared > MAX_EXPANSION * file_size + EXPANSION_ALLOWANCE:
        raise UnsafeFile(f"its arrays expand to {format_bytes(declared)} when read, more than {MAX_EXPANSION} times "
                         f"the {format_bytes(file_size)} file (sessions compress far less); refused")
    if memory_limit is not None and LOAD_COPIES * declared > memory_limit:
        raise UnsafeFile(f"its arrays need {format_bytes(LOAD_COPIES * declared)} in memory to read, more than the "
                         f"{format_bytes(memory_limit)} available")


__all__ = [
    "MAX_EXPANSION",
    "MAX_RATIO",
    "UnsafeFile",
    "check_expansion",
    "check_hdf5_tree",
    "check_regular_file",
    "file_type_name",
]
