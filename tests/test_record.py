"""`Record`, the one way records and settings become stored dicts and back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lsexplorer.core.base.record import AS_ARRAY, AS_LIST, Record


@dataclasses.dataclass
class Inner(Record):
    values: np.ndarray
    label: str = "x"


@dataclasses.dataclass
class Outer(Record):
    inner: Inner
    pair: tuple[int, int]
    maybe: Inner | None = None
    scale: float = 1.0


@dataclasses.dataclass
class Knobs(Record):
    tagged = False
    what = "knob settings"
    refuse_unknown = True
    omit_none = True

    steps: int = 3
    limit: float | None = None
    betas: tuple[float, float] = dataclasses.field(default=(0.9, 0.99), metadata=AS_LIST)
    grid: tuple = dataclasses.field(default=(1.0, 2.0), metadata=AS_ARRAY)

    def __post_init__(self) -> None:
        range(self.steps)  # a TypeError for a step count that is no integer


def test_nested_records_arrays_and_tuples_round_trip():
    rec = Outer(Inner(np.arange(3.0)), (1, 2), Inner(np.ones((2, 2)), "y"), np.float64(2.0))
    d = rec.to_dict()
    assert d["record"] == "Outer" and d["inner"]["record"] == "Inner"
    assert type(d["scale"]) is float
    back = Outer.from_dict(d)
    assert back.pair == (1, 2) and isinstance(back.pair, tuple)
    np.testing.assert_array_equal(back.maybe.values, np.ones((2, 2)))
    assert back.inner.label == "x" and back.maybe.label == "y"


def test_tuples_read_back_from_stored_arrays_as_python_numbers():
    back = Outer.from_dict({"inner": {"values": [1.0]}, "pair": np.array([3, 4])})
    assert back.pair == (3, 4) and all(type(k) is int for k in back.pair)
    assert isinstance(back.inner.values, np.ndarray)


def test_fields_an_older_dict_lacks_take_their_defaults():
    back = Outer.from_dict({"record": "Outer", "inner": {"values": [1.0]}, "pair": [0, 1]})
    assert back.maybe is None and back.scale == 1.0 and back.inner.label == "x"
    assert Knobs.from_dict({}) == Knobs()


def test_a_field_without_default_must_be_stored():
    with pytest.raises(ValueError, match="stored Outer lacks pair"):
        Outer.from_dict({"inner": {"values": [1.0]}})


def test_settings_refuse_unknown_keys_in_one_line_naming_them():
    with pytest.raises(ValueError) as err:
        Knobs.from_dict({"steps": 1, "zeta": 2, "alpha": 3})
    assert str(err.value) == "unknown knob settings: alpha, zeta"


def test_a_result_a_newer_version_stored_with_more_fields_still_reads():
    back = Outer.from_dict({"inner": {"values": [1.0]}, "pair": [0, 1], "extra": 1})
    assert back.pair == (0, 1) and not hasattr(back, "extra")


def test_a_stored_record_of_another_class_is_refused():
    with pytest.raises(ValueError, match="a stored Inner cannot be read as a Outer"):
        Outer.from_dict({"record": "Inner", "values": [1.0]})


def test_settings_layout_untagged_lists_arrays_and_no_nones():
    d = Knobs().to_dict()
    assert list(d) == ["steps", "betas", "grid"]
    assert d["betas"] == [0.9, 0.99] and d["grid"].dtype == np.float64
    back = Knobs.from_dict({**d, "limit": 2.0})
    assert back.betas == (0.9, 0.99) and back.grid == (1.0, 2.0) and back.limit == 2.0


def test_a_wrong_type_is_a_value_error():
    with pytest.raises(ValueError, match="invalid knob settings"):
        Knobs.from_dict({"steps": "3"})


def test_the_sample_sessions_limit_structures_read_back_as_stored():
    """Every channel's ``structure`` in the shipped toy session reads as a `LimitStructure` and writes
    back the same values as Python ints, strings and booleans (as the hand-written reader did)."""
    from pathlib import Path

    from lsexplorer.core.analyses import channels
    from lsexplorer.core.analyses.opening import open_session
    from lsexplorer.core.channels.limit_model import LimitStructure

    session = open_session(Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5")
    stored = [channels.read(session, row) for row in range(len(session.runs.kind))]
    structures = [r.structure for r in stored if r is not None and r.structure]
    assert structures, "the toy sample stores channels with a limit model"
    for structure in structures:
        back = LimitStructure.from_dict(structure).to_dict()
        second = ["second_order"] if "second_order" in structure else []  # a group of three closing in (run 37)
        assert list(back) == ["d", "activation", "n_finite", "n_glu", "constant", "linear", *second]
        assert [type(v) for v in back.values()] == [int, str, int, int, bool, bool] + [str] * len(second)
        assert back == {k: structure[k] for k in back}
    assert sum("second_order" in s for s in structures) == 1


def test_the_sample_sessions_mu_sweeps_round_trip():
    """Each stored μ sweep of the shipped toy session reads back and writes the same keys, values
    and scalar types, its inertia column order included."""
    from pathlib import Path

    from lsexplorer.core.analyses import mu_sweep
    from lsexplorer.core.analyses.base import group_of
    from lsexplorer.core.analyses.opening import open_session
    from lsexplorer.core.saddles.inertia import MuSweep

    session = open_session(Path(__file__).resolve().parents[1] / "sample_data" / "toy_width5.h5")
    points = group_of(session, mu_sweep.GROUP)["points"]
    assert points, "the toy sample stores μ sweeps"
    for stored in points.values():
        back = MuSweep.from_dict(stored).to_dict()
        assert set(back) == set(stored) and back["inertia_columns"] == "neg,zero,pos"
        assert [type(back[k]) for k in ("layer", "neuron", "predicted_crossings", "stopped")] == [int, int, int, bool]
        for key, value in stored.items():
            np.testing.assert_array_equal(back[key], value)
    with pytest.raises(ValueError, match="unexpected inertia column order"):
        MuSweep.from_dict({**next(iter(points.values())), "inertia_columns": "pos,zero,neg"})


def test_an_inertia_is_stored_as_python_ints():
    from lsexplorer.core.saddles.inertia import Inertia

    d = Inertia(np.int64(1), 2, np.int32(3)).to_dict()
    assert d == {"neg": 1, "zero": 2, "pos": 3} and all(type(v) is int for v in d.values())
    assert Inertia.from_dict(d) == Inertia(1, 2, 3)
