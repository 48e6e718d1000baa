"""Saddle-line figures of the samples: what they draw, checked against the stored sweep and an independent
numpy Hessian, for print; and why a run has none."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from figure_checks import check_figure, check_layout
from numpy_reference import loss_grad_hessian

from lsexplorer.core.analyses import closest_saddle, mu_sweep
from lsexplorer.core.base.errors import InputError
from lsexplorer.figures import FigureOptions, FigureUnavailable, PaperStyle, draw, plot
from lsexplorer.figures import saddle_line as figure
from lsexplorer.figures.plot import Line, Reference, Scatter

#: A local minimum of the toy sample with a converged closest saddle and a stored μ sweep.
RUN = 1


def wide_theta(theta, m: int, d: int, j: int, mu: float) -> np.ndarray:
    """Two-layer ``theta`` (w_1..w_m, a_1..a_m) with neuron ``j`` copied last and its outgoing weight split
    ``mu : 1 - mu`` (the other order gives the same spectrum: it swaps two neurons of equal input weights)."""
    w, a = theta[: m * d].reshape(m, d), theta[m * d:]
    a2 = np.append(a, (1 - mu) * a[j])
    a2[j] = mu * a[j]
    return np.concatenate([np.vstack([w, w[j]]).ravel(), a2])


def lines(p, axes=0):
    return [layer for layer in p.axes[axes].layers if isinstance(layer, Line)]


def without(session, group: str):
    """``session`` without the stored analysis ``group`` (the fixture itself is never changed)."""
    return dataclasses.replace(session, analyses={k: v for k, v in session.analyses.items() if k != group})


def test_eigenvalues_vs_mu_draws_the_six_smallest_of_the_stored_sweep(sample_session, tmp_path):
    p = plot("saddle_line_eigenvalues_vs_mu", sample_session, RUN)
    sw = mu_sweep.read(sample_session, RUN)
    drawn = lines(p)
    assert [line.series for line in drawn] == ["λ₁", "λ₂", "λ₃", "λ₄", "λ₅", "λ₆"]
    for i, line in enumerate(drawn):
        np.testing.assert_array_equal(line.x, sw.mus)
        np.testing.assert_array_equal(line.y, sw.eigvals[:, i])
    # no μ cursor: the only reference is λ = 0, and nothing is drawn at one μ
    refs = [layer for layer in p.axes[0].layers if isinstance(layer, Reference)]
    assert [(r.axis, r.value) for r in refs] == [("y", 0.0)]
    assert p.axes[0].yscale == "linear" and p.legend_columns == 6
    check_figure(p, tmp_path)
    check_figure(p, tmp_path / "two", PaperStyle.for_columns(2, font_pt=9))


def test_many_eigenvalues_are_coloured_by_index_on_a_symmetric_log_axis(sample_session, tmp_path):
    p = plot("saddle_line_eigenvalues_vs_mu", sample_session, RUN, FigureOptions(eigs=(1, 12)))
    sw = mu_sweep.read(sample_session, RUN)
    drawn = lines(p)
    assert len(drawn) == 12 and not any(line.legend for line in drawn)
    np.testing.assert_array_equal(drawn[11].y, sw.eigvals[:, 11])
    bar = next(layer for layer in p.axes[0].layers if isinstance(layer, Scatter))
    assert bar.colorbar and set(bar.values) == set(range(1, 13))
    assert p.axes[0].yscale == "symlog"
    check_figure(p, tmp_path)


def test_eigs_chooses_which_eigenvalues(sample_session):
    p = plot("saddle_line_eigenvalues_vs_mu", sample_session, RUN, FigureOptions(eigs=(3, 2)))
    sw = mu_sweep.read(sample_session, RUN)
    assert [line.series for line in lines(p)] == ["λ₃", "λ₄"]
    np.testing.assert_array_equal(lines(p)[1].y, sw.eigvals[:, 3])
    # six two-digit names still fit one row of the legend at one column
    wide = plot("saddle_line_eigenvalues_vs_mu", sample_session, RUN, FigureOptions(eigs=(10, 6)))
    assert [line.series for line in lines(wide)][-1] == "λ₁₅"
    check_layout(draw(wide), PaperStyle())
    with pytest.raises(InputError, match="1-based"):
        plot("saddle_line_eigenvalues_vs_mu", sample_session, RUN, FigureOptions(eigs=(0, 2)))


def test_drawn_indices_stay_within_the_spectrum():
    assert figure.drawn_indices(1, 6, 15).tolist() == [0, 1, 2, 3, 4, 5]
    assert figure.drawn_indices(14, 6, 15).tolist() == [13, 14]
    assert figure.drawn_indices(40, 2, 15).tolist() == [14]


def test_spectrum_at_mu_is_the_exact_spectrum_with_theorem_3s_inertia(sample_session, tmp_path):
    s = sample_session
    c = closest_saddle.read(s, RUN)
    p = plot("saddle_line_spectrum_at_mu", s, RUN)
    n = c.narrower
    m, d = n.spec.widths[1], n.spec.widths[0]
    expected = np.linalg.eigvalsh(loss_grad_hessian(wide_theta(n.theta, m, d, c.neuron, c.mu), s.x, s.y, m + 1)[2])
    points = [layer for layer in p.axes[0].layers if isinstance(layer, Scatter)]
    index = np.concatenate([pt.x for pt in points]).astype(int) - 1
    drawn = np.concatenate([pt.y for pt in points])
    big = np.abs(expected[index]) > 1e-8
    np.testing.assert_allclose(drawn[big], np.abs(expected[index][big]), rtol=1e-7)
    # the legend counts agree with the stored sweep's measured and predicted inertia at μ*
    sw = mu_sweep.read(s, RUN)
    k = int(np.flatnonzero(sw.mus == c.mu)[0])
    labels = {pt.series.split(":")[0]: pt.series for pt in points}
    for name, measured, predicted in zip(("negative", "zero", "positive"), sw.measured[k], sw.predicted[k]):
        assert labels[name] == f"{name}: {measured} (Thm 3: {predicted})"
    assert p.axes[0].title == f"μ = {c.mu:.4g}".replace("-", "−")
    check_figure(p, tmp_path)


def test_spectrum_at_a_chosen_mu(sample_session):
    s = sample_session
    c = closest_saddle.read(s, RUN)
    n = c.narrower
    m, d = n.spec.widths[1], n.spec.widths[0]
    p = plot("saddle_line_spectrum_at_mu", s, RUN, FigureOptions(mu=0.5))
    expected = np.linalg.eigvalsh(loss_grad_hessian(wide_theta(n.theta, m, d, c.neuron, 0.5), s.x, s.y, m + 1)[2])
    negative = next(layer for layer in p.axes[0].layers if layer.series.startswith("negative"))
    np.testing.assert_allclose(negative.y, np.abs(expected[expected < -1e-8]), rtol=1e-7)
    assert p.axes[0].title == "μ = 0.5"


def test_spectrum_at_mu_of_the_deep_sample(deep_sample_session, tmp_path):
    s = deep_sample_session
    p = plot("saddle_line_spectrum_at_mu", s, 0)
    c = closest_saddle.read(s, 0)
    points = [layer for layer in p.axes[0].layers if isinstance(layer, Scatter)]
    # one point per eigenvalue of the wider net, one parameter block (incoming, bias, outgoing) more
    assert sum(pt.x.size for pt in points) == c.narrower.spec.with_hidden_width(
        c.layer, c.narrower.spec.widths[c.layer] + 1).n_params
    negative = next(pt for pt in points if pt.series.startswith("negative"))
    assert negative.series == f"negative: {negative.x.size} (Thm 3: {negative.x.size})"
    check_figure(p, tmp_path)


def test_y_eigenvalues_are_the_stored_ones(sample_session, tmp_path):
    p = plot("saddle_line_y_eigenvalues", sample_session, RUN)
    y = mu_sweep.read(sample_session, RUN).y_eigvals
    points = {layer.series.split(":")[0]: layer for layer in p.axes[0].layers if isinstance(layer, Scatter)}
    np.testing.assert_array_equal(points["positive"].y, y[y > 0])
    np.testing.assert_array_equal(points["negative"].y, y[y < 0])
    np.testing.assert_array_equal(points["negative"].x, np.flatnonzero(y < 0) + 1.0)
    assert not p.axes[0].note
    check_figure(p, tmp_path)


def test_y_of_a_duplicated_neuron_of_a_global_minimum_is_round_off(sample_session, tmp_path, monkeypatch):
    run = 0  # a zero-loss global minimum: its residuals, and with them Y, vanish
    assert sample_session.runs.kind[run] == "global_min"
    p = plot("saddle_line_y_eigenvalues", sample_session, run, FigureOptions(expand=(1, 0)))
    assert "round-off" in p.axes[0].note
    assert not any(isinstance(layer, Scatter) for layer in p.axes[0].layers)
    check_figure(p, tmp_path)
    # a loss of 1e-32 that varies by 1e-32 is round-off too (of residuals of the targets' size)
    monkeypatch.setattr(figure, "EXPAND_MUS", np.array([-0.5, 0.5, 1.5]))
    loss = plot("saddle_line_loss_along_mu", sample_session, run, FigureOptions(expand=(1, 0)))
    assert sample_session.runs.loss[run] < 1e-30 and "round-off" in loss.axes[0].note


def test_loss_along_a_line_of_critical_points_is_round_off_and_said_so(sample_session, tmp_path):
    p = plot("saddle_line_loss_along_mu", sample_session, RUN)
    sw = mu_sweep.read(sample_session, RUN)
    diff = sw.loss - closest_saddle.read(sample_session, RUN).narrower.loss
    assert np.ptp(diff) < 1e-18  # the stored sweep: flat to round-off
    assert "round-off" in p.axes[0].note and f"{np.ptp(diff):.1e}" in p.axes[0].note
    assert not lines(p)
    check_figure(p, tmp_path)


def test_expand_draws_the_line_of_any_neuron_of_any_run(sample_session, tmp_path, monkeypatch):
    monkeypatch.setattr(figure, "EXPAND_MUS", np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5]))
    s, run = sample_session, 4  # a minimum at infinity: no stored sweep, any neuron expands
    assert s.runs.kind[run] == "channel"
    options = FigureOptions(expand=(1, 2), eigs=(1, 3))
    p = plot("saddle_line_eigenvalues_vs_mu", s, run, options)
    theta, m, d = s.runs.theta[run], s.spec.widths[1], s.spec.widths[0]
    for k, mu in enumerate(figure.EXPAND_MUS):
        expected = np.linalg.eigvalsh(loss_grad_hessian(wide_theta(theta, m, d, 2, mu), s.x, s.y, m + 1)[2])
        drawn = np.array([line.y[k] for line in lines(p)])
        np.testing.assert_allclose(drawn, expected[:3], atol=1e-10 * np.abs(expected).max())
    assert "neuron 2 of hidden layer 1" in p.caption
    check_figure(p, tmp_path)
    # duplicating a neuron keeps the network's function, so the loss along the line is the run's to round-off
    loss = plot("saddle_line_loss_along_mu", s, run, options)
    assert "round-off" in loss.axes[0].note and not lines(loss)


def test_expand_checks_the_neuron(sample_session):
    with pytest.raises(InputError, match="layer must be in 1..1"):
        plot("saddle_line_spectrum_at_mu", sample_session, RUN, FigureOptions(expand=(2, 0)))
    with pytest.raises(InputError, match="neuron must be in 0..4"):
        plot("saddle_line_spectrum_at_mu", sample_session, RUN, FigureOptions(expand=(1, 5)))


@pytest.mark.parametrize("name", [spec.name for spec in figure.FIGURES])
def test_a_global_minimum_has_no_saddle_line(sample_session, name):
    assert sample_session.runs.kind[0] == "global_min"
    with pytest.raises(FigureUnavailable, match="run 0 is a global minimum: it has no closest saddle"):
        plot(name, sample_session, 0)


def test_what_is_missing_is_named_with_the_command_that_computes_it(sample_session, deep_sample_session):
    with pytest.raises(FigureUnavailable, match=r"no closest-saddle analysis; run `lsexplorer analyze SESSION "
                                                r"--runs 1 --closest-saddle`") as caught:
        plot("saddle_line_spectrum_at_mu", without(sample_session, "closest_saddle"), RUN)
    assert caught.value.needs == ("closest_saddle",)
    with pytest.raises(FigureUnavailable, match=r"no μ-sweep analysis; run `lsexplorer analyze SESSION --runs 1 "
                                                r"--mu-sweep`"):
        plot("saddle_line_loss_along_mu", without(sample_session, "mu_sweep"), RUN)
    with pytest.raises(FigureUnavailable, match="run 0 is a strict saddle: μ sweeps are stored for local minima only"):
        plot("saddle_line_eigenvalues_vs_mu", deep_sample_session, 0)
    unconverged = 23  # a local minimum whose closest saddle's narrower point did not converge
    assert closest_saddle.read(sample_session, unconverged).narrower.kind == "not_converged"
    with pytest.raises(FigureUnavailable, match="did not converge"):
        plot("saddle_line_spectrum_at_mu", sample_session, unconverged)
