"""Keep freed heap memory in the process for the next allocation, instead of handing it back to the kernel.

The analyses allocate and free arrays of a few hundred kilobytes to a few megabytes thousands of
times per run (a chunk of Hessians, the activations of a batch of points or directions). glibc's
``malloc`` serves such sizes from fresh ``mmap`` mappings above its mmap threshold, and returns the
top of the heap to the kernel once more than its trim threshold lies free there; either way the next
array of that size comes back as new, zeroed pages, one page fault per 4 KiB, and on virtual
machines those faults can cost more than the arithmetic on the array. :func:`retain_freed_memory`
raises both thresholds, so freed arrays are reused in place. The cost is memory: the process keeps
its peak heap (up to :data:`TRIM_THRESHOLD` beyond what it uses) rather than shrinking after it.

The processes that compute set it when they start: the command line (every command, the app
included) and the analyses' worker processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``mallopt`` parameter numbers (glibc ``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Free memory at the top of the heap beyond this is returned to the kernel.
TRIM_THRESHOLD = 512 * 2**20
#: Allocations from this size on get their own mapping, returned to the kernel when freed (glibc's
#: largest allowed value on 64-bit systems): only arrays this large pay page faults on every allocation.
MMAP_THRESHOLD = 32 * 2**20

_applied = False


def retain_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process (module docstring).

    Returns whether they are in effect: False where the C library is not glibc (macOS, Windows,
    musl), where nothing changes. Idempotent.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied


__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "retain_freed_memory"]
