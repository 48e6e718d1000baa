"""`Record`: the one way a dataclass turns into a stored dict and back.

Results (stored under a session's ``/analyses``) and settings (stored with what they produced and
printed by ``info``) both derive from it, so every layer reads and writes them the same way: nested
records become sub-dicts, numpy arrays stay arrays, tuples come back as tuples, and fields an older
file did not store take their defaults. Keys a class does not know are refused in one line by
settings (``refuse_unknown``), where a typo must not pass unnoticed, and ignored by results, so that
a file a newer version wrote with more fields still opens.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import ClassVar

import numpy as np

#: Field metadata that stores a tuple field as a list (JSON-like settings) ...
AS_LIST = {"stored_as": "list"}
#: ... or as a float64 array (an HDF5 dataset).
AS_ARRAY = {"stored_as": "array"}


def _plain(value):
    """A numpy scalar as the Python scalar it holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _record_type(hint) -> type[Record] | None:
    """The `Record` class a field's type hint names (also inside ``X | None``), or None."""
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if isinstance(arg, type) and issubclass(arg, Record):
                return arg
    return None


def _is_tuple(hint) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


class Record:
    """Mixin for dataclasses: ``to_dict()`` gives nested dicts of numpy arrays and scalars, and
    ``from_dict`` reads them back.

    Fields must be numpy arrays (numbers, booleans or ``str``), Python scalars, tuples, ``None`` or
    another :class:`Record` (stored as a sub-dict). Class settings:

    ``tagged``
        Whether the dict names its class under ``"record"`` (results; settings are stored bare).
    ``refuse_unknown``
        Whether keys the class does not know are refused (settings) or ignored (results).
    ``what``
        The plural noun of the one-line error naming unknown keys (``unknown refine settings: x``).
    ``omit_none``
        Whether fields that are None are left out of the dict (they come back as their defaults).

    A field's metadata :data:`AS_LIST` / :data:`AS_ARRAY` stores a tuple as a list or an array.
    """

    tagged: ClassVar[bool] = True
    refuse_unknown: ClassVar[bool] = False
    what: ClassVar[str] = ""
    omit_none: ClassVar[bool] = False

    def to_dict(self) -> dict:
        out: dict = {"record": type(self).__name__} if self.tagged else {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and self.omit_none:
                continue
            if isinstance(value, Record):
                value = value.to_dict()
            elif f.metadata.get("stored_as") == "list":
                value = list(value)
            elif f.metadata.get("stored_as") == "array":
                value = np.asarray(value, dtype=np.float64)
            elif isinstance(value, (dict, list)):
                value = copy.deepcopy(value)
            else:
                value = _plain(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict):
        """The record ``d`` stores; ValueError (one line) naming missing fields, or unknown keys of settings."""
        what = cls.what or f"{cls.__name__} fields"
        d = dict(d)
        if cls.tagged:
            stored = d.pop("record", cls.__name__)
            if stored != cls.__name__:
                raise ValueError(f"a stored {stored} cannot be read as a {cls.__name__}")
        fields = dataclasses.fields(cls)
        unknown = set(d) - {f.name for f in fields}
        if unknown and cls.refuse_unknown:
            raise ValueError(f"unknown {what}: {', '.join(sorted(unknown))}")
        required = [f.name for f in fields if f.name not in d and f.init
                    and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if required:
            raise ValueError(f"stored {cls.__name__} lacks {', '.join(required)}")
        hints = typing.get_type_hints(cls)
        try:
            kwargs = {f.name: cls._field_from_stored(d[f.name], hints[f.name]) for f in fields if f.name in d}
            return cls(**kwargs)
        except TypeError as exc:  # e.g. a number where a tuple belongs
            raise ValueError(f"invalid {what}: {exc}") from exc

    @staticmethod
    def _field_from_stored(value, hint):
        record = _record_type(hint)
        if record is not None and isinstance(value, dict):
            return record.from_dict(value)
        if hint is np.ndarray:
            return np.asarray(value)
        if hint in (int, float, bool, str):
            return _plain(value)
        if _is_tuple(hint) and isinstance(value, (list, tuple, np.ndarray)):
            items = np.ravel(value) if isinstance(value, np.ndarray) else value
            return tuple(_plain(v) for v in items)
        return value


__all__ = ["AS_ARRAY", "AS_LIST", "Record"]
