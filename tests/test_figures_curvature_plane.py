"""The curvature-plane figures: the loss along and on the plane of the two softest Hessian directions,
checked against the numpy reference Hessian and loss, and a flat plane said to be round-off."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure
from numpy_reference import loss_grad_hessian

from lsexplorer.figures import FigureUnavailable, plot
from lsexplorer.figures.curvature_plane import HALF_WIDTH, RESOLUTION, plane_resolution, zero_loss
from lsexplorer.figures.plot import Heatmap, Line


def loss(theta, x, y, m=5):
    """The two-layer sigmoid net's mean squared error at ``theta (K, P)``, in numpy."""
    theta = np.atleast_2d(theta)
    d = x.shape[1]
    w, a = theta[:, :m * d].reshape(-1, m, d), theta[:, m * d:]
    out = np.einsum("km,knm->kn", a, 1 / (1 + np.exp(-np.einsum("nd,kmd->knm", x, w))))
    return np.mean((out - y[:, 0]) ** 2, axis=1)


def softest(session, run):
    _, _, hess = loss_grad_hessian(session.runs.theta[run], session.x, session.y, 5)
    lam, q = np.linalg.eigh(hess)
    return lam[:2], q[:, :2].T


def test_softest_lines_are_the_loss_along_the_two_softest_eigenvectors(sample_session, tmp_path):
    s, run = sample_session, 1  # a local minimum with λ₁ = 2e-8, λ₂ = 4e-6: both directions well defined
    lam, basis = softest(s, run)
    p = plot("curvature_plane_softest_lines", s, run)
    lines = [ly for ly in p.axes[0].layers if isinstance(ly, Line)]
    assert [ly.series for ly in lines] == [f"e₁, λ₁ = {lam[0]:.2e}".replace("-", "−"),
                                           f"e₂, λ₂ = {lam[1]:.2e}".replace("-", "−")]
    theta = s.runs.theta[run]
    for line, e in zip(lines, basis):
        np.testing.assert_allclose(line.x, np.linspace(-HALF_WIDTH, HALF_WIDTH, RESOLUTION))
        expected = loss(theta + line.x[:, None] * e, s.x, s.y)
        if not np.allclose(line.y, expected, rtol=1e-8):  # an eigenvector's sign is arbitrary
            expected = expected[::-1]
        np.testing.assert_allclose(line.y, expected, rtol=1e-8)
    assert p.axes[0].yscale == "linear" and not p.axes[0].note  # 7e-5 to 5e-4: less than a decade
    check_figure(p, tmp_path)


def test_softest_lines_of_a_global_minimum_end_at_the_zero_loss_tolerance(sample_session):
    s = sample_session
    p = plot("curvature_plane_softest_lines", s, 0)  # its loss is ~1e-32: round-off of 0
    floor = zero_loss(s)
    assert all(ly.y.min() == floor for ly in p.axes[0].layers)
    assert all("≈ 0" in ly.series for ly in p.axes[0].layers)  # its softest eigenvalues are round-off of 0
    assert p.axes[0].yscale == "log"
    assert "drawn at it" in p.caption


def test_softest_lines_of_the_deep_sample(deep_sample_session, tmp_path):
    s, run = deep_sample_session, 0  # a strict saddle: e₁ descends
    p = plot("curvature_plane_softest_lines", s, run)
    stored = s.runs.hessian_eigvals[run]
    lines = p.axes[0].layers
    assert [ly.series for ly in lines] == [f"e₁, λ₁ = {stored[0]:.2e}".replace("-", "−"),
                                           f"e₂, λ₂ = {stored[1]:.2e}".replace("-", "−")]
    assert p.axes[0].yscale == "linear"  # the loss changes by 2 % here: a log axis would show nothing more
    middle = RESOLUTION // 2
    for line in lines:
        assert line.y[middle] == pytest.approx(s.runs.loss[run], rel=1e-9)
    assert lines[0].y.min() < s.runs.loss[run]  # down the negative curvature
    check_figure(p, tmp_path)


def test_softest_plane_is_the_loss_on_the_plane_of_the_softest_eigenvectors(sample_session, tmp_path):
    s, run = sample_session, 1
    _, basis = softest(s, run)
    p = plot("curvature_plane_softest_plane", s, run)
    heat = next(ly for ly in p.axes[0].layers if isinstance(ly, Heatmap))
    assert heat.z.shape == (RESOLUTION, RESOLUTION) and heat.log and heat.colorbar == "loss"
    centre = RESOLUTION // 2
    assert heat.z[centre, centre] == pytest.approx(s.runs.loss[run], rel=1e-12)
    # the corners, as a set: each eigenvector's sign only permutes them
    theta = s.runs.theta[run]
    ends = (-HALF_WIDTH, HALF_WIDTH)
    corners = [theta + u * basis[0] + v * basis[1] for u in ends for v in ends]
    drawn = heat.z[[0, 0, -1, -1], [0, -1, 0, -1]]
    np.testing.assert_allclose(np.sort(drawn), np.sort(loss(np.array(corners), s.x, s.y)), rtol=1e-9)
    trajectory = next(ly for ly in p.axes[0].layers if isinstance(ly, Line))
    assert (trajectory.x[-1], trajectory.y[-1]) == (0.0, 0.0)  # it ends at the point
    check_figure(p, tmp_path)


def test_softest_plane_of_the_deep_sample_is_on_a_coarser_grid(sample_session, deep_sample_session, tmp_path):
    assert plane_resolution(sample_session) == RESOLUTION
    s, run = deep_sample_session, 0
    side = plane_resolution(s)
    assert 21 <= side < RESOLUTION and side % 2 == 1  # odd: the point stays the centre
    p = plot("curvature_plane_softest_plane", s, run)
    heat = p.axes[0].layers[0]
    assert heat.z.shape == (side, side) and not heat.log  # 2 % of change: linear colours
    assert heat.z[side // 2, side // 2] == pytest.approx(s.runs.loss[run], rel=1e-9)
    assert heat.z.max() == heat.z[side // 2, side // 2]  # a strict saddle whose two softest directions descend
    check_figure(p, tmp_path)


def silent_neurons(session):
    """The sample with constant targets 0.5 and run 0 at a point that fits them exactly: four neurons of
    zero outgoing weight, and a fifth of zero incoming weight whose output σ(0)·1 is the constant. Along
    the four silent neurons' incoming weights the network does not change at all, and their Hessian
    block is exactly 0: the softest directions lie there."""
    theta = session.runs.theta.copy()
    theta[0] = np.concatenate([session.teacher_theta[:8], [0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    return dataclasses.replace(session, y=np.full_like(session.y, 0.5),
                               runs=dataclasses.replace(session.runs, theta=theta))


def test_a_plane_flat_to_round_off_is_a_note(sample_session, tmp_path):
    flat = silent_neurons(sample_session)
    lines = plot("curvature_plane_softest_lines", flat, 0)
    assert not lines.axes[0].layers and "round-off" in lines.axes[0].note
    plane = plot("curvature_plane_softest_plane", flat, 0)
    assert not plane.axes[0].layers and "round-off" in plane.axes[0].note
    check_figure(plane, tmp_path / "plane")


def test_a_run_without_a_finite_point_has_no_plane(sample_session):
    s = sample_session
    theta = s.runs.theta.copy()
    theta[3, 0] = np.inf
    broken = dataclasses.replace(s, runs=dataclasses.replace(s.runs, theta=theta))
    for name in ("curvature_plane_softest_lines", "curvature_plane_softest_plane"):
        with pytest.raises(FigureUnavailable, match="^run 3 has no finite point: there is no plane around it$"):
            plot(name, broken, 3)
