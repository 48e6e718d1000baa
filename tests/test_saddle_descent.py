"""Thesis §6.3.2 on a small problem: the saddle line of a width-1 toy minimum is a strict saddle for
every mu (Y has one eigenvalue of each sign), so perturbed points must descend below it; outcomes are
classified, summarised, stored, and the computation stops on request."""

from __future__ import annotations

import json
import threading

import h5py
import numpy as np
import pytest

from lsexplorer.cli.commands import main
from lsexplorer.core.analyses.analyze import saddle_descent_analysis
from lsexplorer.core.saddles.inertia import theorem3
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.saddles.saddle_descent import OUTCOMES, DescentConfig, SaddleDescent, perturbed_starts, saddle_descent
from lsexplorer.core.store.session import load_session, save_session
from lsexplorer.core.symmetry.operations import duplicate_neuron


@pytest.fixture(scope="module")
def width1(tmp_path_factory):
    """A refined width-1 toy student: a local minimum with loss 0.0776 whose Y is indefinite."""
    path = tmp_path_factory.mktemp("descent") / "w1.h5"
    assert main(["train", "--preset", "toy", "--width", "1", "--seeds", "1", "--epochs", "3000", "--lr", "0.02",
                 "--device", "cpu", "-q", "-o", str(path)]) == 0
    session = load_session(path)
    assert session.runs.kind[0] == "local_min"
    return path, session


FAST = dict(n_perturbations=2, lr=1e-2, epochs=1500)


def test_perturbed_points_of_a_strict_saddle_line_descend(width1):
    _, session = width1
    spec, theta, x, y = session.spec, session.runs.theta[0], session.x, session.y
    y_eig = theorem3(spec, theta, x, y, 1, 0).y_eigvals
    assert y_eig[0] < 0 < y_eig[-1]   # Corollary 3.2: an index-1 saddle inside (0, 1) and outside [0, 1]
    result = run_generator(saddle_descent(spec, theta, x, y, 1, 0, DescentConfig(mus=(0.5,), **FAST)))
    assert result.line_loss == pytest.approx(session.runs.loss[0], rel=1e-12)
    assert result.line_index.tolist() == [1]
    assert result.lower.all() and (result.loss_end < result.line_loss * (1 - 1e-4)).all()
    assert set(result.kind) <= {"local_min", "global_min"} and (result.grad_norm <= 1e-12).all()
    assert (result.split > 1e-3).all()   # the two copies separated: the runs left the line
    assert not result.stopped


def test_starts_share_noise_across_mu_and_table_adds_up(width1):
    _, session = width1
    spec, theta = session.spec, session.runs.theta[0]
    config = DescentConfig(mus=(-0.5, 0.5), sigma=0.01, n_perturbations=3, seed=7)
    wide_spec, points, starts = perturbed_starts(spec, theta, 1, 0, config)
    np.testing.assert_array_equal(points[1], duplicate_neuron(spec, theta, 1, 0, 0.5)[1])
    noise = (starts.reshape(2, 3, -1) - points[:, None, :]) / 0.01
    np.testing.assert_allclose(noise[0], noise[1], atol=1e-12)
    assert 0.5 < noise.std() < 2.0
    result = run_generator(saddle_descent(spec, theta, session.x, session.y, 1, 0,
                                          DescentConfig(mus=(-0.5, 0.5), **FAST)))
    rows = result.table()
    assert [r["mu"] for r in rows] == [-0.5, 0.5]
    for r in rows:
        assert sum(r[o] for o in OUTCOMES) == r["runs"] == 2 and r["line_index"] == 1
    assert "lower" in result.format_table()


def test_cyclical_schedule_is_a_triangle():
    config = DescentConfig(schedule="cyclical", lr=1e-2, lr_min=1e-4, cycle_epochs=100)
    assert config.learning_rate(1) == pytest.approx(1e-4)
    assert config.learning_rate(51) == pytest.approx(1e-2)
    assert config.learning_rate(26) == pytest.approx((1e-4 + 1e-2) / 2)
    assert config.learning_rate(101) == pytest.approx(1e-4)
    assert DescentConfig(lr=3e-3).learning_rate(12345) == 3e-3
    with pytest.raises(ValueError, match="schedule"):
        DescentConfig(schedule="cosine")
    with pytest.raises(ValueError, match="mus"):
        DescentConfig(mus=(float("nan"),))


def test_stored_result_round_trips_through_a_session(width1, tmp_path):
    _, session = width1
    config = DescentConfig(mus=(0.5,), schedule="cyclical", lr_min=1e-4, cycle_epochs=300, **FAST)
    result = run_generator(saddle_descent_analysis(session, 0, 1, 0, config))
    path = tmp_path / "stored.h5"
    save_session(session, path)
    stored = SaddleDescent.from_dict(load_session(path).analyses["saddle_descent"]["0"]["layer1_neuron0"])
    assert stored.config == result.config and stored.format_table() == result.format_table()
    np.testing.assert_array_equal(stored.theta_end, result.theta_end)
    assert stored.kind.tolist() == result.kind.tolist()


def test_stop_ends_quickly_and_is_not_stored(width1):
    _, session = width1
    stop = threading.Event()
    stop.set()
    stored = lambda: session.analyses.get("saddle_descent", {}).get("0", {}).get("layer1_neuron0")  # noqa: E731
    before = stored()
    runner = saddle_descent_analysis(session, 0, 1, 0, DescentConfig(mus=(0.5,), n_perturbations=2, epochs=10**7),
                                     stop)
    result = run_generator(runner)
    assert result.stopped and (result.kind == "not_converged").all()
    assert result.epochs_run.max() < 10**7
    assert stored() is before


def test_cli_saddle_descent(width1, tmp_path, capsys):
    path, _ = width1
    out = tmp_path / "out.h5"
    assert main(["analyze", str(path), "--runs", "0", "--saddle-descent", "--expand-neuron", "0", "--mu", "0.5",
                 "--perturbations", "2", "--descent-epochs", "1500", "--descent-lr", "0.01", "-o", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layer"] == 1 and report["neuron"] == 0 and report["table"][0]["lower"] == 2
    with h5py.File(out, "r") as f:
        assert f["analyses/saddle_descent/0/layer1_neuron0/loss_end"].shape == (2,)
    assert main(["analyze", str(path), "--runs", "0", "--saddle-descent"]) == 2
    assert "needs --expand-neuron" in capsys.readouterr().err
    assert main(["analyze", str(path), "--runs", "0", "--sigma", "0.1"]) == 2
    assert "go with --saddle-descent" in capsys.readouterr().err
