"""Slice figures of the samples: the loss drawn, checked against an independent numpy loss on the stored
closest saddle's line and plane, for print; round-off said so; a minimum at infinity's window; and why a
run has none."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure
from numpy_reference import loss_grad_hessian

from lsexplorer.core.analyses import closest_saddle
from lsexplorer.figures import FigureUnavailable, plot
from lsexplorer.figures import slices as figure
from lsexplorer.figures.plot import Heatmap, Line, Scatter

RUN = 1  # a local minimum of the toy sample with a converged closest saddle
CHANNEL_RUN = 4  # a minimum at infinity whose closest saddle sits at μ* ≈ 3477


def toy_loss(session, theta) -> float:
    return loss_grad_hessian(theta, session.x, session.y, session.spec.widths[1])[0]


def layer(p, kind, series=None):
    return next(x for x in p.axes[0].layers if isinstance(x, kind) and (series is None or x.series == series))


@pytest.fixture
def small_planes(monkeypatch):
    """Coarser planes, so that the tests stay quick (the figure's grid is the same code at any size)."""
    monkeypatch.setattr(figure, "RESOLUTION", 15)
    monkeypatch.setattr(figure, "LEAST_RESOLUTION", 11)


def test_saddle_to_minimum_is_the_loss_on_the_segment(sample_session, tmp_path):
    s = sample_session
    c = closest_saddle.read(s, RUN)
    p = plot("slices_saddle_to_minimum", s, RUN)
    line = layer(p, Line)
    a, b = c.saddle, s.runs.theta[RUN]
    for k in (0, 50, 150, 250, 300):
        assert line.y[k] == pytest.approx(toy_loss(s, a + line.x[k] * (b - a)), rel=1e-10)
    assert line.x[0] == -0.25 and line.x[-1] == 1.25
    point = layer(p, Scatter, "run 1 (local minimum)")
    assert (point.x[0], point.y[0]) == (pytest.approx(1.0), pytest.approx(s.runs.loss[RUN], rel=1e-10))
    saddle = layer(p, Scatter, "closest saddle θ(μ*)")
    assert saddle.x[0] == pytest.approx(0.0) and saddle.y[0] == pytest.approx(toy_loss(s, a), rel=1e-10)
    assert p.axes[0].yscale == "log"
    check_figure(p, tmp_path)


def test_the_deep_samples_segment_is_round_off_and_said_so(deep_sample_session, tmp_path):
    p = plot("slices_saddle_to_minimum", deep_sample_session, 0)
    assert "round-off" in p.axes[0].note and not p.axes[0].layers
    check_figure(p, tmp_path)


def test_plane_is_the_loss_on_the_plane_of_the_saddle_line_and_the_point(sample_session, tmp_path, small_planes):
    s = sample_session
    c = closest_saddle.read(s, RUN)
    p = plot("slices_plane", s, RUN)
    heat = layer(p, Heatmap)
    assert heat.log and heat.colorbar == "loss"
    # the plane, rebuilt here: through the line θ(μ) = origin + μ·direction and the run's point
    o, d, t = c.line_origin, c.line_direction, s.runs.theta[RUN]
    e1 = d / np.linalg.norm(d)
    mu_star = (t - o) @ d / (d @ d)
    foot = o + mu_star * d
    e2 = (t - foot) / np.linalg.norm(t - foot)
    for r, col in ((0, 0), (7, 3), (14, 14), (10, 5)):
        point = foot + heat.x[col] * e1 + heat.y[r] * e2
        assert heat.z[r, col] == pytest.approx(toy_loss(s, point), rel=1e-9)
    minimum = layer(p, Scatter, "run 1 (local minimum)")
    assert minimum.y[0] == pytest.approx(np.linalg.norm(t - foot), rel=1e-9) and minimum.x[0] == 0.0
    # the saddle θ(μ*) at the origin: μ* of the stored analysis, u = (μ* − μ_foot)·‖direction‖
    saddle = layer(p, Scatter, "closest saddle θ(μ*)")
    assert (saddle.x[0], saddle.y[0]) == (0.0, 0.0)
    # the projected trajectory ends at the refined point
    trajectory = layer(p, Line, "trajectory (projected)")
    assert trajectory.x[-1] == pytest.approx(0.0, abs=1e-9) and trajectory.y[-1] == pytest.approx(minimum.y[0])
    # the panel's range: μ from min(0, μ*) − 0.5 to max(1, μ*) + 0.5
    speed = np.linalg.norm(d)
    assert heat.x[0] == pytest.approx((min(0, c.mu) - 0.5 - mu_star) * speed)
    assert heat.x[-1] == pytest.approx((max(1, c.mu) + 0.5 - mu_star) * speed)
    check_figure(p, tmp_path)


def test_a_minimum_at_infinity_is_shown_in_the_window_around_it(sample_session, tmp_path, small_planes):
    s = sample_session
    c = closest_saddle.read(s, CHANNEL_RUN)
    assert s.runs.kind[CHANNEL_RUN] == "channel" and c.mu > 1000
    p = plot("slices_plane", s, CHANNEL_RUN)
    heat = layer(p, Heatmap)
    minimum = layer(p, Scatter, "run 4 (minimum at infinity)")
    # both points inside, and not a pixel apart: the point is a third of the height above the saddle
    height = heat.y[-1] - heat.y[0]
    assert heat.y[0] < 0.0 < minimum.y[0] < heat.y[-1] and minimum.y[0] > height / 4
    assert heat.x[0] < 0.0 < heat.x[-1]
    assert "far out on the saddle line" in p.caption
    # the loss there spans less than a decade: drawn as its excess over the run's, on a log scale
    assert heat.log and heat.colorbar == "loss − L(run 4)"
    c_mid = heat.x.size // 2
    r = int(np.argmin(np.abs(heat.y - minimum.y[0] / 2)))
    assert heat.z[r, c_mid] > heat.z.min()
    check_figure(p, tmp_path)


def test_a_minimum_at_infinity_with_a_near_saddle_is_windowed_too(sample_session, small_planes):
    run = 10  # μ* ≈ 1, but the channel's huge outgoing weights stretch the line: u would span ~1200
    assert sample_session.runs.kind[run] == "channel"
    p = plot("slices_plane", sample_session, run)
    heat, minimum = layer(p, Heatmap), layer(p, Scatter, "run 10 (minimum at infinity)")
    assert heat.y[-1] == pytest.approx(1.6 * minimum.y[0]) and heat.x[-1] == pytest.approx(1.5 * heat.y[-1])
    assert "the run is a minimum at infinity, so the line is long" in p.caption
    assert "not a line of critical points" in p.caption  # its narrower point did not converge


def test_plane_of_the_deep_sample(deep_sample_session, tmp_path, small_planes):
    p = plot("slices_plane", deep_sample_session, 0)
    heat = layer(p, Heatmap)
    assert heat.z.shape == (15, 15) and np.isfinite(heat.z).all()
    assert "run 0 (strict saddle)" in [x.series for x in p.axes[0].layers]
    check_figure(p, tmp_path)


def test_a_large_net_on_much_data_gets_a_coarser_plane(sample_session, deep_sample_session):
    assert figure.resolution(sample_session) == figure.RESOLUTION
    assert figure.LEAST_RESOLUTION < figure.resolution(deep_sample_session) < figure.RESOLUTION


@pytest.mark.parametrize("name", ["slices_saddle_to_minimum", "slices_plane"])
def test_runs_without_a_closest_saddle_have_no_slices(sample_session, name):
    with pytest.raises(FigureUnavailable, match="run 0 is a global minimum: it has no closest saddle"):
        plot(name, sample_session, 0)
    bare = dataclasses.replace(sample_session, analyses={})
    with pytest.raises(FigureUnavailable, match=r"no closest-saddle analysis; run `lsexplorer analyze SESSION "
                                                r"--runs 1 --closest-saddle`"):
        plot(name, bare, RUN)
