"""An "expand a neuron" μ sweep is kept with the session (``/analyses/expanded_lines``): it survives a save and
an open unchanged, the figure draws the stored sweep, and a damaged entry is refused on open, naming it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from reliability_support import one_line_error, run_main, small_session

from lsexplorer.core.analyses import expanded_lines
from lsexplorer.core.analyses.opening import open_session
from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.saddles.inertia import mu_sweep
from lsexplorer.core.store.session import SessionError, save_session

MUS = np.array([-0.5, 0.0, 0.5, 1.0, 1.5])


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A four-run session whose run 1 keeps the sweep of neuron 2 of layer 1, saved; and the sweep."""
    s, _ = small_session()
    tol = Tolerances.from_dict(s.config.get("tolerances", {}))
    sweep = run_generator(mu_sweep(s.spec, s.runs.theta[1], s.x, s.y, 1, 2, MUS, tol))
    expanded_lines.write(s, 1, sweep)
    path = tmp_path_factory.mktemp("expanded") / "s.h5"
    save_session(s, path)
    return path, sweep


def test_a_stored_sweep_reads_back_unchanged(stored):
    path, sweep = stored
    again = open_session(path)
    assert expanded_lines.stored_keys(again) == [(1, 1, 2)]
    back = expanded_lines.read(again, 1, 1, 2)
    for name in ("mus", "loss", "grad_norm", "eigvals", "measured", "predicted", "y_eigvals"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sweep, name), err_msg=name)
    assert expanded_lines.read(again, 1, 1, 3) is None and expanded_lines.read(again, 0, 1, 2) is None


def test_the_figure_draws_the_stored_sweep_without_computing(stored, monkeypatch):
    import lsexplorer.core.saddles.inertia as inertia
    from lsexplorer.figures.saddle_line import expand_sweep

    path, sweep = stored
    monkeypatch.setattr(inertia, "mu_sweep", lambda *a, **k: pytest.fail("the stored sweep was recomputed"))
    np.testing.assert_array_equal(expand_sweep(open_session(path), 1, 1, 2).eigvals, sweep.eigvals)


def test_a_cancelled_sweep_is_not_stored(stored):
    _, sweep = stored
    s, _ = small_session()
    s.analyses.pop("expanded_lines", None)
    with pytest.raises(ValueError, match="cancelled"):
        expanded_lines.write(s, 1, type(sweep)(**{**sweep.__dict__, "stopped": True}))
    assert "expanded_lines" not in s.analyses


def _rename(old: str, new: str):
    def edit(path):
        with h5py.File(path, "r+") as f:
            f.move(f"analyses/expanded_lines/{old}", f"analyses/expanded_lines/{new}")
    return edit


def _bad_eigvals(path):
    with h5py.File(path, "r+") as f:
        g = f["analyses/expanded_lines/1_1_2"]
        del g["eigvals"]
        g["eigvals"] = np.zeros(3)


@pytest.mark.parametrize("edit, needle", [
    (_rename("1_1_2", "9_1_2"), "/analyses/expanded_lines/9_1_2 does not name a run"),
    (_rename("1_1_2", "1_2_2"), "/analyses/expanded_lines/1_2_2 does not name a run, a hidden layer"),
    (_rename("1_1_2", "1_1_4"), "/analyses/expanded_lines/1_1_4 holds the sweep of layer 1, neuron 2"),
    (_bad_eigvals, "/analyses/expanded_lines/1_1_2/eigvals has shape (3,)"),
])
def test_a_damaged_entry_is_refused_on_open_naming_it(stored, tmp_path, edit, needle):
    import shutil

    copy = tmp_path / "copy.h5"
    shutil.copy(stored[0], copy)
    edit(copy)
    with pytest.raises(SessionError) as refused:
        open_session(copy)
    assert needle in str(refused.value)
    if "does not name" in needle:  # a layout error: even `info`, which parses no results, refuses it in one line
        code, _, err = run_main("info", str(copy))
        assert code == 2
        one_line_error(err, needle)
