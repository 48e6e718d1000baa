"""Work around a reference-count bug of PySide6 6.12 on CPython < 3.12: its wrappers return
``None`` and ``True`` without taking a reference, as if they were immortal (they are from 3.12 on).

Measured here (PySide6 6.12.0 abi3 wheel, CPython 3.11.7): every call of a ``void`` Qt method from
Python (``painter.drawLine``, ``obj.setObjectName``, ...) lowers ``sys.getrefcount(None)`` by one,
and every ``signal.emit(...)`` lowers ``sys.getrefcount(True)`` by one. A bare interpreter holds
~5k references to ``None``: 5,400 ``setObjectName`` calls in a loop abort CPython with "Fatal Python
error: none_dealloc: deallocating None"; a pyqtgraph window gets there within minutes of use, and
the GUI test suite at interpreter exit ("bool_dealloc: deallocating True or False").

:func:`guard_singleton_refcounts` measures whether the running PySide drops references to ``None``,
``True`` or ``False`` and, only for those that it does, does what CPython 3.12 does for them:
gives them so many references (2**48) that no session can use them up. Nothing else changes, and
nothing at all where the bug is absent (fixed PySide, CPython >= 3.12).
"""

from __future__ import annotations

import ctypes
import sys

#: References added to a leaking singleton: 2.8e14, years of calls at any realistic rate.
_HEADROOM = 1 << 48
_applied: dict[str, bool] = {}


def _dropped_references() -> dict[str, int]:
    """References to None, True and False that 64 signal emissions and 64 void calls drop."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        sig = Signal(int)

    probe = _Probe()
    singletons = {"None": None, "True": True, "False": False}
    before = {name: sys.getrefcount(obj) for name, obj in singletons.items()}
    for k in range(64):
        probe.sig.emit(k)
        probe.setObjectName("probe")
    return {name: before[name] - sys.getrefcount(obj) for name, obj in singletons.items()}


def _add_references(obj: object, count: int) -> bool:
    """Raise ``obj``'s reference count by ``count`` in place; False if the layout is not the expected one."""
    cell = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field of a release-build object
    seen = sys.getrefcount(obj) - 1  # minus the argument's own reference
    if abs(cell.value - seen) > 16:  # not a plain ob_refcnt (e.g. a Py_TRACE_REFS build): leave it
        return False
    cell.value += count
    return True


def guard_singleton_refcounts() -> dict[str, bool]:
    """Protect None/True/False from PySide's dropped references where it drops them.

    Returns, per singleton, whether references were added (idempotent: a second call does nothing).
    """
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return dict(_applied)
    dropped = _dropped_references()
    singletons = {"None": None, "True": True, "False": False}
    for name, obj in singletons.items():
        # Other code creates and frees references meanwhile; a steady leak drops ~64 of them.
        _applied[name] = dropped[name] >= 32 and _add_references(obj, _HEADROOM)
    return dict(_applied)


__all__ = ["guard_singleton_refcounts"]
