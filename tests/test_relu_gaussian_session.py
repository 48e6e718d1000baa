"""The relu-gaussian preset end to end: config, session file, CLI, analyses and the app on its sessions."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lsexplorer.cli.commands import main
from lsexplorer.core.analyses.analyze import analyze_session
from lsexplorer.core.experiment.experiment import ConfigError, build_config, run_experiment
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.population.relu_gaussian_session import (
    is_population,
    population_problem,
    session_landscape,
)
from lsexplorer.core.store.session import load_session, save_session
from lsexplorer.core.landscape.slices import batched_loss, landscape_values


@pytest.fixture(scope="module")
def population_file(tmp_path_factory):
    """k = n = 7 over seeds 0..5: seed 5 ends in Safran & Shamir's spurious minimum."""
    path = tmp_path_factory.mktemp("relu") / "rg.h5"
    assert main(["train", "--preset", "relu-gaussian", "--teacher-width", "7", "--width", "7", "--seeds", "6",
                 "-q", "-o", str(path)]) == 0
    return path


def test_config_resolves_the_paper_protocol_and_refuses_what_does_not_apply():
    config = build_config("relu-gaussian", overrides={"data": {"teacher_width": 4}, "network": {"width": 5}})
    assert config["network"] == {"widths": [4, 5, 1], "activation": "relu", "bias": False, "fixed_output": True}
    assert config["teacher"]["widths"] == [4, 4, 1]
    assert config["train"]["lr"] == pytest.approx(2.5 / 4)
    with pytest.raises(ConfigError, match="gradient descent"):
        build_config("relu-gaussian", overrides={"train": {"optimizer": "adam"}})
    with pytest.raises(ConfigError, match="1 <= k <= d"):
        build_config("relu-gaussian", overrides={"data": {"teacher_width": 4, "d_in": 3}})


def test_session_file_round_trip_keeps_the_distribution(population_file, tmp_path):
    s = load_session(population_file)
    assert is_population(s) and s.distribution["kind"] == "standard-normal" and s.distribution["d"] == 7
    with h5py.File(population_file, "r") as f:
        assert "distribution" in f["data"].attrs
    assert s.spec.n_params == 49 and s.runs.theta.shape == (6, 49)
    assert list(s.runs.kind) == ["global_min"] * 5 + ["local_min"]
    problem = population_problem(s)
    np.testing.assert_allclose(s.runs.loss, problem.loss(s.runs.theta).numpy(), rtol=1e-12, atol=1e-13)
    assert s.runs.trajectory.epochs[-1] == s.config["run"]["epochs_done"]
    save_session(s, tmp_path / "again.h5")
    assert load_session(tmp_path / "again.h5").distribution == s.distribution


def test_landscape_is_the_population_loss_or_the_sample_loss(population_file):
    from lsexplorer.gui._testsupport import make_gui_session

    gui_session = make_gui_session()
    s = load_session(population_file)
    pts = s.runs.theta[:3]
    np.testing.assert_allclose(landscape_values(session_landscape(s), pts),
                               population_problem(s).loss(pts).numpy(), rtol=1e-14, atol=1e-15)
    assert gui_session.distribution is None and not is_population(gui_session)
    sample_pts = gui_session.runs.theta[:3]
    np.testing.assert_allclose(landscape_values(session_landscape(gui_session), sample_pts),
                               batched_loss(gui_session.spec, sample_pts, gui_session.x, gui_session.y), rtol=1e-12)


def test_info_and_analyze_on_a_population_session(population_file, tmp_path, capsys):
    assert main(["info", str(population_file)]) == 0
    assert "expectation over x ~ standard-normal" in capsys.readouterr().out
    assert main(["analyze", str(population_file), "--symmetry", "-o", str(tmp_path / "a.h5")]) == 2
    assert "does not apply" in capsys.readouterr().err
    s = load_session(population_file)
    summary = run_generator(analyze_session(s, [5], ["escape"]))
    assert summary["escape"]["runs"] == 1
    assert s.runs.kind[5] == "local_min"                     # positive definite: nothing lower nearby


def test_a_cancelled_descent_still_gives_a_valid_session():
    import threading

    stop = threading.Event()
    stop.set()
    config = build_config("relu-gaussian", overrides={"seeds": 2, "data": {"teacher_width": 3}, "network": {"width": 3}})
    session = run_generator(run_experiment(config, stop))
    assert session.config["run"]["stopped"] and set(session.runs.kind) == {"not_converged"}


def test_app_panels_on_a_population_session(qtbot, population_file):
    from lsexplorer.gui.model import SessionModel
    from lsexplorer.gui.panels import (
        QtCurvaturePlanePanel,
        QtNeuronPanel,
        QtSlicesPanel,
    )

    model = SessionModel()
    neurons, slices, plane = QtNeuronPanel(model), QtSlicesPanel(model), QtCurvaturePlanePanel(model)
    for panel in (neurons, slices, plane):
        qtbot.addWidget(panel)
    s = load_session(population_file)
    model.set_session(s)
    model.select(5)
    assert plane.setup is None and not plane.job.busy     # hidden: nothing computed
    plane.show()
    qtbot.waitExposed(plane)
    qtbot.waitUntil(lambda: plane.job.busy or plane.complete, timeout=10_000)   # starts when painted
    assert plane.job.wait(60_000) and plane.complete
    assert plane.setup.eigvals[0] == pytest.approx(s.runs.lambda_min[5], rel=1e-8)
    values = plane.plane_values
    centre = values[values.shape[0] // 2, values.shape[1] // 2]
    assert centre == pytest.approx(s.runs.loss[5], rel=1e-10)
    assert np.nanmin(values) >= s.runs.loss[5] * (1 - 1e-12)   # a local minimum is the lowest point around
    assert "fixed to 1" in slices.missing.label.text()
    model.tasks.wait_all(10_000)
    from lsexplorer.gui._testsupport import running_threads

    qtbot.waitUntil(lambda: not running_threads(), timeout=10_000)  # no worker thread outlives the test
