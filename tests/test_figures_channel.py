"""The channel figures of the sample's minima at infinity: the stored approach, the limit unit and its
match with the group, the limit model's spectrum; checked against the stored analysis and numpy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure

from lsexplorer.core.analyses.channels import read as channel_result
from lsexplorer.core.channels.limit_model import AT_ZERO, unpack
from lsexplorer.figures import FigureUnavailable, plot
from lsexplorer.figures.available import ROUNDOFF
from lsexplorer.figures.plot import Heatmap, Line, Scatter


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def layer(p, kind, series=None):
    """The layer of ``kind`` (and ``series``, or the only one of that kind) of the first axes of ``p``."""
    found = [ly for ly in p.axes[0].layers if isinstance(ly, kind) and (series is None or ly.series == series)]
    assert len(found) == 1, [ly.series for ly in p.axes[0].layers]
    return found[0]


def realised_outgoing_norm(result, amplitude):
    """‖a‖ of the network built at ``amplitude`` towards the limit: finite a's, then c/2 ± A per unit and
    b/(2σ(0)) ± A for a free affine part (the construction of the thesis' channel, written out)."""
    s = result.limit_structure
    p = unpack(s, result.phi)
    a = [*p.a]
    for c in p.c:
        a += [c / 2 + amplitude, c / 2 - amplitude]
    if s.constant or s.linear:
        half = p.b / (2 * AT_ZERO[s.activation][0]) if s.constant else 0.0
        a += [half + amplitude, half - amplitude]
    return float(np.linalg.norm(a))


def test_channel_approach_draws_the_stored_approach_to_the_limit(sample_session, tmp_path):
    s, run = sample_session, 4
    result = channel_result(s, run)
    p = plot("channel_approach", s, run)
    path = layer(p, Line)
    excess = result.approach_loss - result.loss_limit
    assert (excess > ROUNDOFF * result.loss_limit).all()  # nothing of the sample's path is round-off
    np.testing.assert_allclose(path.y, excess, rtol=1e-15)
    np.testing.assert_allclose(path.x, [realised_outgoing_norm(result, A) for A in result.approach_amplitude],
                               rtol=1e-12)
    assert f"slope −{result.approach_exponent:.2f}" in path.series  # the stored fit: L − L∞ ∝ ‖a‖^−2
    assert abs(result.approach_exponent - 2.0) < 0.1
    m, d = 5, 2
    traj = s.runs.trajectory
    snaps = layer(p, Scatter, "training snapshots")
    keep = traj.loss[run] - result.loss_limit > ROUNDOFF * result.loss_limit
    np.testing.assert_allclose(snaps.x, np.linalg.norm(traj.theta[run][keep, m * d:].astype(float), axis=1))
    np.testing.assert_allclose(snaps.y, traj.loss[run][keep] - result.loss_limit)
    refined = layer(p, Scatter, "refined point")
    theta = s.runs.theta[run]
    np.testing.assert_allclose(refined.x, [np.linalg.norm(theta[m * d:])], rtol=1e-12)
    w, a = theta[:m * d].reshape(m, d), theta[m * d:]
    loss = np.mean((sigmoid(s.x @ w.T) @ a - s.y[:, 0]) ** 2)
    np.testing.assert_allclose(refined.y, [loss - result.loss_limit], rtol=1e-4)
    assert p.axes[0].xscale == p.axes[0].yscale == "log" and not p.axes[0].note
    check_figure(p, tmp_path)


def test_channel_unit_is_the_gated_linear_unit_over_the_input_plane(sample_session, tmp_path):
    s, run = sample_session, 4
    result = channel_result(s, run)
    p = plot("channel_unit", s, run)
    heat = layer(p, Heatmap)
    q = unpack(result.limit_structure, result.phi)
    u, c, v = q.u[0], q.c[0], q.v[0]
    gx, gy = np.meshgrid(heat.x, heat.y)  # rows along x₂
    points = np.stack([gx, gy], axis=-1)
    z = points @ u
    expected = c * sigmoid(z) + (points @ v) * sigmoid(z) * (1 - sigmoid(z))
    np.testing.assert_allclose(heat.z, expected, rtol=1e-12, atol=1e-15)
    assert heat.x.size == heat.y.size == 101
    assert (heat.x[0], heat.x[-1]) == (s.x[:, 0].min(), s.x[:, 0].max())
    top = np.abs(expected).max()
    assert heat.limits == pytest.approx((-top, top)) and heat.colorbar  # 0 is white on the diverging map
    gate = layer(p, Line)
    np.testing.assert_allclose(np.column_stack([gate.x, gate.y]) @ u, 0.0, atol=1e-12)  # u·x = 0
    check_figure(p, tmp_path)


def test_channel_match_puts_the_group_output_on_its_limit_unit(sample_session, tmp_path):
    s, run = sample_session, 10  # a unit of two sign-flipped neurons (and an affine neuron, not drawn)
    result = channel_result(s, run)
    p = plot("channel_match", s, run)
    points = layer(p, Scatter)
    members = result.groups()[0]
    m, d = 5, 2
    theta = s.runs.theta[run]
    w, a = theta[:m * d].reshape(m, d), theta[m * d:]
    flipped = members[result.sign[members] < 0]
    group = sigmoid(s.x @ w[members].T) @ a[members] - a[flipped].sum()  # σ(−z) = 1 − σ(z): a constant out
    np.testing.assert_allclose(points.y, group, rtol=1e-9, atol=1e-12)
    q = unpack(result.limit_structure, result.phi)
    z = s.x @ q.u[0]
    np.testing.assert_allclose(points.x, q.c[0] * sigmoid(z) + (s.x @ q.v[0]) * sigmoid(z) * (1 - sigmoid(z)),
                               rtol=1e-12, atol=1e-15)
    assert np.abs(points.y - points.x).max() < 1e-5 * np.abs(points.x).max()  # the group is the unit
    assert "neurons 2+3" in points.series
    check_figure(p, tmp_path)


def test_channel_spectrum_draws_the_stored_limit_spectrum_by_sign(sample_session, tmp_path):
    s, run = sample_session, 99  # its limit model has one eigenvalue at round-off of 0
    eig = channel_result(s, run).eigvals
    p = plot("channel_spectrum", s, run)
    zero, positive = layer(p, Scatter, "λ ≈ 0 (1)"), layer(p, Scatter, "λ > 0 (13)")
    np.testing.assert_array_equal(zero.x, [1.0])
    np.testing.assert_allclose(zero.y, np.abs(eig[:1]))
    np.testing.assert_array_equal(positive.x, np.arange(2, 15))
    np.testing.assert_allclose(positive.y, eig[1:])
    assert p.axes[0].yscale == "log"
    check_figure(p, tmp_path)


def test_a_limit_spectrum_of_zeros_is_a_roundoff_note(sample_session, tmp_path):
    s, run = sample_session, 4
    channels = dict(s.analyses["channels"])
    points = dict(channels["points"])
    points[str(run)] = dict(points[str(run)], eigvals=1e-19 * np.random.default_rng(0).standard_normal(14))
    channels["points"] = points
    p = plot("channel_spectrum", dataclasses.replace(s, analyses={**s.analyses, "channels": channels}), run)
    assert not p.axes[0].layers and "round-off" in p.axes[0].note
    check_figure(p, tmp_path)


@pytest.mark.parametrize("name", ["channel_approach", "channel_unit", "channel_match", "channel_spectrum"])
def test_channel_figures_say_why_a_run_has_none(sample_session, deep_sample_session, name):
    s = sample_session
    with pytest.raises(FigureUnavailable, match=r"^run 0 is a global minimum, a finite critical point: it has no "
                                                r"channel to infinity$"):
        plot(name, s, 0)
    with pytest.raises(FigureUnavailable, match="^run 62 is not in a flat channel: the network's loss"):
        plot(name, s, 62)
    bare = dataclasses.replace(s, analyses={k: v for k, v in s.analyses.items() if k != "channels"})
    with pytest.raises(FigureUnavailable) as missing:
        plot(name, bare, 4)
    assert str(missing.value) == "no channel analysis; run `lsexplorer analyze SESSION --runs 4 --channels`"
    assert missing.value.needs == ("channels",)
    with pytest.raises(FigureUnavailable, match="^run 0 is a strict saddle"):
        plot(name, deep_sample_session, 0)
