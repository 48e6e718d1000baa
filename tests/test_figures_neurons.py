"""The neurons figure of the samples: the stored weights, teacher and paths it draws, checked for print."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure

from lsexplorer.core.base.kinds import Kind
from lsexplorer.core.symmetry.operations import incoming_vectors, outgoing_weights
from lsexplorer.figures import FigureOptions, FigureUnavailable, plot
from lsexplorer.figures.plot import Line, Scatter


def layer(p, kind, series):
    return next(ly for ly in p.axes[0].layers if isinstance(ly, kind) and ly.series == series)


def series(p) -> list[str]:
    return [ly.series for ly in p.axes[0].layers if ly.legend]


def test_neurons_draws_the_runs_weights_the_teacher_and_the_stored_paths(sample_session, tmp_path):
    s, run = sample_session, int(np.flatnonzero(sample_session.runs.kind == Kind.LOCAL_MIN)[0])
    p = plot("neurons_neurons", s, run)
    spec, r = s.spec, s.runs
    student = layer(p, Scatter, "student neurons")
    np.testing.assert_array_equal(np.column_stack([student.x, student.y]), incoming_vectors(spec, r.theta[run], 1))
    np.testing.assert_array_equal(student.values, outgoing_weights(spec, r.theta[run], 1)[0])
    teacher = layer(p, Scatter, "teacher neurons")
    np.testing.assert_array_equal(np.column_stack([teacher.x, teacher.y]),
                                  incoming_vectors(s.teacher_spec, s.teacher_theta, 1))
    # One colour scale for the session: ±98th percentile of |a| over the runs at finite critical points and
    # the teacher, shared by students and teacher.
    finite = [i for i in range(r.n_runs) if str(r.kind[i]) in (Kind.GLOBAL_MIN, Kind.LOCAL_MIN)]
    every = np.concatenate([outgoing_weights(spec, r.theta[i], 1)[0] for i in finite]
                           + [outgoing_weights(s.teacher_spec, s.teacher_theta, 1)[0]])
    limit = np.percentile(np.abs(every), 98)
    assert student.limits == pytest.approx((-limit, limit)) and teacher.limits == student.limits
    assert student.cmap == "RdBu_r" and student.colorbar == "outgoing weight a" and teacher.colorbar is None
    # Paths: every stored snapshot (the first at epoch 0), then the refined point, one piece per neuron.
    assert r.trajectory.epochs[0] == 0
    snaps = [*r.trajectory.theta[run].astype(float), r.theta[run]]
    path = np.stack([incoming_vectors(spec, t, 1) for t in snaps])  # (K, m, 2)
    line = layer(p, Line, "training path")
    pieces = np.column_stack([line.x, line.y]).reshape(spec.widths[1], len(snaps) + 1, 2)
    np.testing.assert_allclose(pieces[:, :-1], path.transpose(1, 0, 2), rtol=1e-15)
    assert np.isnan(pieces[:, -1]).all()
    start = layer(p, Scatter, "initialisation")
    np.testing.assert_allclose(np.column_stack([start.x, start.y]), path[0], rtol=1e-15)
    # The legend shows each marker once in a neutral fill, not one neuron's colour.
    assert series(p) == ["training path", "initialisation", "student", "teacher"]
    assert p.axes[0].equal and p.axes[0].xlabel == "incoming weight w₁"
    assert "local minimum" in p.caption
    check_figure(p, tmp_path)


def test_a_run_in_a_channel_rings_its_group_and_saturates_the_colour_bar(sample_session):
    s = sample_session
    run = int(next(k for k in s.analyses["channels"]["points"]))
    p = plot("neurons_neurons", s, run)
    group = np.flatnonzero(np.asarray(s.analyses["channels"]["points"][str(run)]["group_of"])[:s.spec.widths[1]] != -1)
    ring = layer(p, Scatter, "group in a channel to ∞")
    np.testing.assert_array_equal(np.column_stack([ring.x, ring.y]),
                                  incoming_vectors(s.spec, s.runs.theta[run], 1)[group])
    student = layer(p, Scatter, "student neurons")
    a = outgoing_weights(s.spec, s.runs.theta[run], 1)[0]
    assert np.abs(a).max() > student.limits[1] and student.extend == "both"  # |a| in the hundreds saturate


def test_sign_flipped_neurons_are_drawn_on_the_teacher_neuron_they_represent(sample_session):
    s = sample_session
    run = int(np.flatnonzero(s.runs.kind == Kind.GLOBAL_MIN)[0])
    plain = plot("neurons_neurons", s, run)
    assert "sign-flipped (−w, −a)" not in series(plain)
    p = plot("neurons_neurons", s, run, FigureOptions(flip=True))
    flipped = layer(p, Scatter, "sign-flipped neurons")
    squares = np.column_stack([flipped.x, flipped.y])
    w = incoming_vectors(s.spec, s.runs.theta[run], 1)
    a = outgoing_weights(s.spec, s.runs.theta[run], 1)[0]
    rows = [int(np.argmin(np.linalg.norm(w + q, axis=1))) for q in squares]
    np.testing.assert_array_equal(squares, -w[rows])  # drawn at (−w, −a)
    np.testing.assert_array_equal(flipped.values, -a[rows])
    teacher = incoming_vectors(s.teacher_spec, s.teacher_theta, 1)
    # At a global minimum each flipped neuron represents a teacher neuron: its square sits on it.
    assert max(np.linalg.norm(teacher - q, axis=1).min() for q in squares) < 1e-6
    assert flipped.marker == "s" and "sign-flipped (−w, −a)" in series(p)
    assert [ly.series for ly in p.axes[0].layers].index("sign-flipped neurons") > \
        [ly.series for ly in p.axes[0].layers].index("teacher neurons")  # above the star it lands on


def test_the_deep_sample_is_seen_along_the_principal_directions_of_all_runs(deep_sample_session, tmp_path):
    s = deep_sample_session
    p = plot("neurons_neurons", s, 0)
    v = incoming_vectors(s.spec, s.runs.theta[0], 1)  # (10, 11): weights and bias
    every = np.concatenate([incoming_vectors(s.spec, t, 1) for t in s.runs.theta])
    _, _, vt = np.linalg.svd(every, full_matrices=False)
    student = layer(p, Scatter, "student neurons")
    np.testing.assert_allclose(np.abs(np.column_stack([student.x, student.y])), np.abs(v @ vt[:2].T), atol=1e-12)
    # Ten outputs per neuron: coloured by the norm of its outgoing column, on a scale from 0.
    np.testing.assert_allclose(student.values, np.linalg.norm(outgoing_weights(s.spec, s.runs.theta[0], 1), axis=0))
    assert student.colorbar == "‖outgoing weights‖" and student.limits[0] == 0.0
    assert p.axes[0].xlabel == "PC 1 of incoming weights"
    # The imported points have every neuron of a layer at one place and no training path: the legend says
    # so, nothing draws a path, and the axes do not zoom into the round-off around that place.
    assert series(p) == ["student (all 10 coincide)"]
    assert not any(isinstance(ly, Line) for ly in p.axes[0].layers)
    xlim, ylim = p.axes[0].xlim, p.axes[0].ylim
    assert xlim[1] - xlim[0] >= 1 and ylim[1] - ylim[0] >= 1
    assert xlim[0] < student.x.mean() < xlim[1] and ylim[0] < student.y.mean() < ylim[1]
    assert "no training path" in p.caption
    check_figure(p, tmp_path)


def test_neurons_unavailable_for_a_diverged_run_or_flips_without_a_teacher(sample_session, deep_sample_session):
    theta = sample_session.runs.theta.copy()
    theta[3, 0] = np.nan
    broken = dataclasses.replace(sample_session, runs=dataclasses.replace(sample_session.runs, theta=theta))
    with pytest.raises(FigureUnavailable, match="run 3 has no finite point"):
        plot("neurons_neurons", broken, 3)
    with pytest.raises(FigureUnavailable, match="sign-flipped representatives need a teacher"):
        plot("neurons_neurons", deep_sample_session, 0, FigureOptions(flip=True))
