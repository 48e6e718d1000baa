"""The paths figures draw a stored minimum-energy path: the loss along the band and the straight line,
the band on its plane over the loss there, and the spectrum at its highest point; checked against numpy.

The path is computed once, with the fastest settings the panel accepts, into a copy of the sample."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure
from numpy_reference import loss_grad_hessian

from lsexplorer.core.analyses import paths as stored_paths
from lsexplorer.core.paths.minimum_energy import PathConfig, path_analysis
from lsexplorer.core.paths.neb import NEBConfig
from lsexplorer.core.paths.saddle_search import SaddleConfig
from lsexplorer.figures import FigureUnavailable, plot
from lsexplorer.figures.paths import PLANE_GRID
from lsexplorer.figures.plot import Heatmap, Line, Scatter

RUN = 8  # a local minimum of the sample; its nearest global minimum is run 58


def loss(theta, x, y, m=5):
    """The two-layer sigmoid net's mean squared error at ``theta (K, P)``, in numpy."""
    theta = np.atleast_2d(theta)
    d = x.shape[1]
    w, a = theta[:, :m * d].reshape(-1, m, d), theta[:, m * d:]
    out = np.einsum("km,knm->kn", a, 1 / (1 + np.exp(-np.einsum("nd,kmd->knm", x, w))))
    return np.mean((out - y[:, 0]) ** 2, axis=1)


def with_path(session, result):
    """A copy of ``session`` (its analyses only: nothing else is written) with ``result`` stored."""
    copy = dataclasses.replace(session, analyses={k: v for k, v in session.analyses.items() if k != "paths"})
    stored_paths.write(copy, result)
    return copy


@pytest.fixture(scope="module")
def path_result(sample_session):
    config = PathConfig(neb=NEBConfig(images=4, max_steps=300), tighten=False,
                        saddle=SaddleConfig(follow_steps=5, newton_steps=5, lm_steps=5, channel_steps=5))
    work = path_analysis(sample_session, RUN, "global", config)
    try:
        while True:
            next(work)
    except StopIteration as done:
        return done.value


@pytest.fixture(scope="module")
def session(sample_session, path_result):
    return with_path(sample_session, path_result)


def layer(p, kind, series):
    return next(ly for ly in p.axes[0].layers if isinstance(ly, kind) and ly.series == series)


def test_loss_along_path_draws_the_stored_band_and_straight_line(session, tmp_path):
    s = session
    r = stored_paths.to_global(s, RUN)
    assert r.run_to == 58 and r.to_global and r.stop_reason.startswith("converged")
    p = plot("paths_loss_along_path", s, RUN)
    band = layer(p, Line, "NEB band")
    np.testing.assert_allclose(band.x, r.arc / r.arc[-1])
    a, b = s.runs.theta[RUN], r.alignment.theta
    # the target is a global minimum (loss ~1e-30): the log axis ends two decades below the source's loss
    floor = 1e-2 * loss(a, s.x, s.y)[0]
    assert loss(b, s.x, s.y)[0] < floor and f"Losses below {floor:.1e} are drawn at it." in p.caption
    np.testing.assert_allclose(band.y, np.maximum(loss(r.images, s.x, s.y), floor), rtol=1e-10)
    straight = layer(p, Line, "straight line")
    t = straight.x
    expected = loss((1 - t)[:, None] * a + t[:, None] * b, s.x, s.y)
    np.testing.assert_allclose(straight.y, np.maximum(expected, floor), rtol=1e-10)
    assert expected.max() - expected[0] == pytest.approx(r.straight_barrier)
    assert np.linalg.norm(b - a) <= np.linalg.norm(s.runs.theta[58] - a)  # aligned: no further than as stored
    star = layer(p, Scatter, "refined highest image")  # the fast settings certify nothing
    top = r.climbing if r.climbing > 0 else int(np.argmax(r.values[1:-1])) + 1
    assert star.x[0] == band.x[top] and star.y[0] == pytest.approx(loss(r.saddle.theta, s.x, s.y)[0], rel=1e-10)
    assert p.axes[0].yscale == "log"
    check_figure(p, tmp_path)


def test_band_plane_draws_the_band_over_the_loss_on_its_plane(session, tmp_path):
    s = session
    r = stored_paths.to_global(s, RUN)
    p = plot("paths_band_plane", s, RUN)
    a, b = s.runs.theta[RUN], r.alignment.theta
    e1 = (b - a) / np.linalg.norm(b - a)
    band = layer(p, Line, "NEB band")
    np.testing.assert_allclose(band.x, (r.images - a) @ e1, atol=1e-12)
    ends = layer(p, Scatter, f"ends: run {RUN}, run 58")
    np.testing.assert_allclose(ends.x, [0.0, np.linalg.norm(b - a)])
    np.testing.assert_allclose(ends.y, [0.0, 0.0], atol=1e-12)
    heat = next(ly for ly in p.axes[0].layers if isinstance(ly, Heatmap))
    assert heat.z.shape == (PLANE_GRID, PLANE_GRID) and heat.colorbar == "loss"
    e2 = r.plane.basis[1]
    assert abs(e1 @ e2) < 1e-12
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, PLANE_GRID, size=(5, 2)):
        at = a + heat.x[j] * e1 + heat.y[i] * e2
        assert heat.z[i, j] == pytest.approx(loss(at, s.x, s.y)[0], rel=1e-9)
    check_figure(p, tmp_path)


def test_saddle_spectrum_is_the_hessian_at_the_refined_highest_image(session, tmp_path):
    s = session
    r = stored_paths.to_global(s, RUN)
    p = plot("paths_saddle_spectrum", s, RUN)
    scatters = [ly for ly in p.axes[0].layers if isinstance(ly, Scatter)]
    drawn = np.zeros(s.spec.n_params)
    for ly in scatters:
        drawn[ly.x.astype(int) - 1] = ly.y
    eig = np.linalg.eigvalsh(loss_grad_hessian(r.saddle.theta, s.x, s.y, 5)[2])
    np.testing.assert_allclose(drawn, np.abs(eig), rtol=1e-6, atol=1e-12 * np.abs(eig).max())
    negative = next(ly for ly in scatters if ly.series.startswith("λ < 0"))
    assert negative.series == f"λ < 0 ({r.saddle.n_negative})" and negative.x.size == (eig < 0).sum()
    assert p.axes[0].yscale == "log" and "refined highest image" in p.caption
    check_figure(p, tmp_path)


def test_a_certified_highest_point_is_the_one_drawn(sample_session, path_result):
    limit = np.array([-2e-3, 1e-5, 3e-2, 1.0])
    outcome = dataclasses.replace(path_result.outcome, outcome="channel", index=1, n_zero=0, loss=1.5e-4,
                                  eigvals=limit, route="channel 1+3")
    s = with_path(sample_session, dataclasses.replace(path_result, outcome=outcome))
    spectrum = plot("paths_saddle_spectrum", s, RUN)
    drawn = {ly.series: ly.y for ly in spectrum.axes[0].layers if isinstance(ly, Scatter)}
    assert drawn.keys() == {"λ < 0 (1)", "λ > 0 (3)"}
    np.testing.assert_allclose(drawn["λ < 0 (1)"], [2e-3])
    assert "limit model of the saddle at infinity" in spectrum.caption
    along = plot("paths_loss_along_path", s, RUN)
    assert layer(along, Scatter, "saddle at infinity (limit)").y[0] == 1.5e-4


def test_a_loss_along_the_path_at_round_off_is_a_note(sample_session, path_result, tmp_path):
    # a path between two zero-loss points along which the loss stays round-off of 0
    noise = np.random.default_rng(1)
    flat = dataclasses.replace(path_result, values=1e-32 * noise.random(path_result.values.size),
                               straight_values=1e-32 * noise.random(path_result.straight_values.size))
    p = plot("paths_loss_along_path", with_path(sample_session, flat), RUN)
    assert not p.axes[0].layers and "round-off" in p.axes[0].note
    check_figure(p, tmp_path)


def test_paths_figures_say_how_to_compute_a_missing_path(sample_session, deep_sample_session, path_result):
    for name in ("paths_loss_along_path", "paths_band_plane", "paths_saddle_spectrum"):
        for s in (sample_session, deep_sample_session):
            with pytest.raises(FigureUnavailable) as missing:
                plot(name, s, 0)
            assert str(missing.value) == ("no path from run 0 to its nearest global minimum is stored; run "
                                          "`lsexplorer path SESSION --from 0 --to global` (or Compute path in the "
                                          "Paths panel, then save)")
    cancelled = with_path(sample_session, dataclasses.replace(path_result, saddle=None, search=None, outcome=None))
    with pytest.raises(FigureUnavailable, match=f"^the stored path from run {RUN} has no refined highest point"):
        plot("paths_saddle_spectrum", cancelled, RUN)
    p = plot("paths_loss_along_path", cancelled, RUN)
    assert not any(isinstance(ly, Scatter) for ly in p.axes[0].layers)  # no highest point to mark
