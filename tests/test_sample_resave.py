"""Sessions written by earlier versions open through the one opener and save back unchanged in content:
every dataset and attribute the same, values and types, except the record of the save itself."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from lsexplorer.core.analyses.opening import open_session
from lsexplorer.core.store.session import save_session

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"
#: Root attributes that describe the save, not the experiment.
SAVE_RECORD = {"lsexplorer_version", "saved", "modified", "created"}


def _tree(f: h5py.File) -> dict:
    """Every object path with its attributes and, for datasets, dtype kind, shape and values."""
    out = {}

    def visit(name, obj):
        attrs = {k: v for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            value = obj.asstr()[()] if h5py.check_string_dtype(obj.dtype) else obj[()]
            out[name] = ("dataset", obj.dtype.kind if not h5py.check_string_dtype(obj.dtype) else "str",
                         obj.shape, value, attrs)
        else:
            out[name] = ("group", attrs)

    f.visititems(visit)
    out["/"] = ("group", {k: v for k, v in f.attrs.items() if k not in SAVE_RECORD})
    return out


def _same(a, b, where):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _same(a[k], b[k], f"{where}@{k}")
    elif isinstance(a, tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.dtype.kind == y.dtype.kind or {x.dtype.kind, y.dtype.kind} <= {"U", "O", "S"}, where
        assert x.shape == y.shape, where
        if x.dtype.kind in "fc":
            np.testing.assert_array_equal(x, y, err_msg=where)  # NaN == NaN, exact otherwise
        else:
            assert np.array_equal(x.astype(str) if x.dtype.kind in "OSU" else x,
                                  y.astype(str) if y.dtype.kind in "OSU" else y), where


@pytest.mark.parametrize("name", ["toy_width5.h5", "mnist5k_deep.h5"])
def test_a_shipped_session_reopens_and_resaves_unchanged(name, tmp_path):
    original = SAMPLES / name
    session = open_session(original)
    copy = tmp_path / name
    save_session(session, copy)
    with h5py.File(original, "r") as a, h5py.File(copy, "r") as b:
        _same(_tree(a), _tree(b), name)
    again = open_session(copy)
    assert again.runs.kind.tolist() == session.runs.kind.tolist()
