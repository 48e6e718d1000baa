"""Theorems 1 and 2 (thesis section 6.2.5): derivatives, closed-form bounds and verdicts."""

import dataclasses
import math
import threading

import numpy as np
import pytest
import torch

from lsexplorer.core.landscape.surface import Landscape, network_landscape
from lsexplorer.core.landscape.hessian import directional_derivative
from lsexplorer.core.landscape.nets import MLPSpec, loss, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.refine import refine
from lsexplorer.core.store.session import load_session, save_session
from lsexplorer.core.symmetry.operations import duplicate_neuron
from lsexplorer.core.saddles.theorems import (TheoremReport, directional_derivatives, saddle_theorem_report,
                                      third_derivative, theorem_report)

from test_session import make_session

#: Small search settings: the tests check the mathematics, not the search's reach.
QUICK = dict(n_random_starts=2, maxeval=150, n_points=6, n_random_directions=4, max_eigvecs=4)


@pytest.fixture(scope="module")
def toy_saddle(toy):
    """Neuron 0 of a refined width-3 local minimum duplicated at mu = 1.5: a saddle on a saddle line."""
    spec = MLPSpec((2, 3, 1))
    theta = refine(spec, xavier_init(spec, [1])[0], toy.x, toy.y).theta
    return duplicate_neuron(spec, theta, 1, 0, 1.5)


def polynomial(a: float, b: float, c: float, n: int = 4, flat: bool = False) -> Landscape:
    """``f = -a x1^2 + b x1^3 + c ||x||^4 + sum_{i>=2} x_i^2`` (without ``x2^2`` if ``flat``): at 0,
    ``lambda_min = -2a``, ``T(u) = 6 b u1^3`` and ``D^4 f(xi)(u) = 24 c`` for every ``xi`` and unit ``u``."""
    def f(x):
        rest = x[2:] if flat else x[1:]
        return -a * x[0] ** 2 + b * x[0] ** 3 + c * (x @ x) ** 2 + (rest ** 2).sum()
    return Landscape(f, n)


def test_directional_derivatives_match_finite_differences(toy):
    spec = MLPSpec((2, 5, 1))
    rng = np.random.default_rng(0)
    theta, u = xavier_init(spec, [3])[0], rng.normal(size=spec.n_params)
    u /= np.linalg.norm(u)
    land = network_landscape(spec, toy.x, toy.y)
    line = lambda t: float(loss(spec, torch.from_numpy(theta + t * u), torch.from_numpy(toy.x),
                                torch.from_numpy(toy.y)))
    # Taylor coefficients of t -> L(theta + t u) by a least-squares fit of degree 8 on [-h, h]
    h = 0.05
    ts = np.linspace(-h, h, 41)
    coef = np.polynomial.polynomial.polyfit(ts / h, [line(t) for t in ts], 8)
    for order in (3, 4):
        got = directional_derivatives(land, theta[None], u[None], order)[0]
        fd = coef[order] * math.factorial(order) / h ** order
        assert got == pytest.approx(fd, rel=1e-4)
        assert got == pytest.approx(directional_derivative(spec, theta, toy.x, toy.y, u, order), rel=1e-10)
    value, gradient = third_derivative(land, theta)(u)
    assert value == pytest.approx(directional_derivatives(land, theta[None], u[None], 3)[0], rel=1e-12)
    e = rng.normal(size=spec.n_params)
    step = 1e-4
    third = third_derivative(land, theta)
    central = (third(u + step * e)[0] - third(u - step * e)[0]) / (2 * step)
    assert gradient @ e == pytest.approx(central, rel=1e-6)


def test_polynomial_derivatives_are_exact():
    land = polynomial(0.5, 1.0, 2.0)
    u = np.array([0.6, 0.0, 0.8, 0.0])
    assert third_derivative(land, np.zeros(4))(u)[0] == pytest.approx(6 * 0.6 ** 3, rel=1e-14)
    xi = np.random.default_rng(1).normal(size=(5, 4))
    dirs = xi[::-1] / np.linalg.norm(xi[::-1], axis=1, keepdims=True)
    np.testing.assert_allclose(directional_derivatives(polynomial(0.5, 1.0, 2.0, flat=True), xi, dirs, 4), 48,
                               rtol=1e-13)


@pytest.mark.parametrize("radius", [1.0, 0.85, 0.5])
def test_polynomial_bounds_and_verdicts_equal_closed_form(radius):
    a, b, c = 0.5, 1.0, 2.0
    rep = run_generator(theorem_report(polynomial(a, b, c), np.zeros(4), radius, **QUICK))
    b1, b2, delta = 6 * b * (1 + a) ** -1.5, -6 * b, 24 * c  # B1 on the cone u1^2 >= 1 / (1 + a)
    d1 = -3 * (-2 * a) / b1
    r = 2 / delta * (math.sqrt(b2 ** 2 - 3 * (-2 * a) * delta) - b2)
    assert (rep.n_negative, rep.n_zero, rep.n_positive) == (1, 0, 3) and rep.lambda_min == pytest.approx(-2 * a)
    assert rep.third.b1 == pytest.approx(b1, rel=1e-9) and rep.third.b2 == pytest.approx(b2, rel=1e-9)
    assert third_derivative(polynomial(a, b, c), np.zeros(4))(rep.third.b1_direction)[0] == pytest.approx(rep.third.b1)
    assert rep.fourth.delta == pytest.approx(delta, rel=1e-12) and rep.fourth.fraction_negative == 0
    assert rep.theorem1.assumptions_hold and rep.theorem1.distance == pytest.approx(d1, rel=1e-9)
    assert rep.theorem2.assumptions_hold and rep.theorem2.r == pytest.approx(r, rel=1e-9)
    assert rep.theorem1.holds == (d1 <= radius) and rep.theorem2.holds == (r <= radius)  # d1 0.919, r 0.809
    assert rep.stop_reason == "completed"


def test_zero_eigenvalue_makes_theorem1_b_vanish():
    """With a zero eigenvalue the cone joins u and -u, so T changes sign on it and B1 = 0."""
    rep = run_generator(theorem_report(polynomial(0.5, 1.0, 2.0, flat=True), np.zeros(4), 1.0, **QUICK))
    assert (rep.n_negative, rep.n_zero) == (1, 1)
    assert abs(rep.third.b1) <= 1e-9 and not rep.theorem1.b_positive and not rep.theorem1.holds
    assert "not index 1" in rep.theorem1.reason
    assert rep.theorem2.holds  # Theorem 2 allows any index; delta = 48 everywhere


def test_no_fourth_derivative_margin_means_no_theorem2():
    rep = run_generator(theorem_report(polynomial(0.5, 1.0, 0.0), np.zeros(4), 1.0, **QUICK))
    assert not rep.theorem2.delta_positive and not rep.theorem2.holds and math.isinf(rep.theorem2.r)


def test_toy_saddle_reports_consistent_numbers(toy, toy_saddle):
    spec, theta = toy_saddle
    rep = run_generator(saddle_theorem_report(spec, theta, toy.x, toy.y, radius=0.5, **QUICK))
    assert rep.grad_norm < 1e-12 and rep.n_negative >= 1 and rep.n_zero >= 1  # the saddle line is flat
    # B2 and the fourth-derivative minimum are attained where the report says
    u2 = rep.third.b2_direction
    assert np.linalg.norm(u2) == pytest.approx(1) and rep.third.b2 < 0
    assert directional_derivative(spec, theta, toy.x, toy.y, u2, 3) == pytest.approx(rep.third.b2, rel=1e-9)
    at = directional_derivative(spec, theta + rep.fourth.argmin_offset, toy.x, toy.y, rep.fourth.argmin_direction, 4)
    assert at == pytest.approx(rep.fourth.minimum, rel=1e-9)
    assert np.linalg.norm(rep.fourth.argmin_offset) <= 0.5 and rep.fourth.n_points == 6
    # verdicts follow from the numbers
    assert abs(rep.third.b1) <= 1e-6 * abs(rep.third.b2) and not rep.theorem1.b_positive
    assert not rep.theorem1.holds and rep.theorem1.fourth_nonnegative == (rep.fourth.minimum >= 0)
    assert rep.theorem2.delta_positive == (rep.fourth.minimum > 0)
    if rep.theorem2.delta_positive:
        r = 2 / rep.fourth.delta * (math.sqrt(rep.third.b2 ** 2 - 3 * rep.lambda_min * rep.fourth.delta)
                                     - rep.third.b2)
        assert rep.theorem2.r == pytest.approx(r) and rep.theorem2.holds == (r <= 0.5)
    else:
        assert not rep.theorem2.holds
    assert rep.fourth.minimum_at_center < 0  # as in the thesis: D^4 f(x*) is already negative


def test_report_stops_and_times_out(toy, toy_saddle):
    spec, theta = toy_saddle
    stop = threading.Event()
    gen = saddle_theorem_report(spec, theta, toy.x, toy.y, radius=0.5, stop=stop)
    next(gen)
    stop.set()
    rep = run_generator(gen)
    assert rep.stop_reason == "cancelled" and not rep.theorem1.holds and not rep.theorem2.holds
    assert rep.elapsed < 5 and rep.theorem2.reason == "search incomplete"
    rep = run_generator(saddle_theorem_report(spec, theta, toy.x, toy.y, radius=0.5, max_seconds=0.05))
    assert rep.stop_reason == "max_seconds" and rep.elapsed < 5


def test_report_round_trips_through_a_session(tmp_path):
    rep = run_generator(theorem_report(polynomial(0.5, 1.0, 2.0), np.zeros(4), 1.0, **QUICK))
    session = make_session()
    session.analyses = {"theorems": {"run_3": rep.to_dict()}}
    save_session(session, tmp_path / "s.h5")
    back = TheoremReport.from_dict(load_session(tmp_path / "s.h5").analyses["theorems"]["run_3"])

    def same(x, y):
        for f in dataclasses.fields(x):
            a, b = getattr(x, f.name), getattr(y, f.name)
            if dataclasses.is_dataclass(a):
                same(a, b)
            else:
                np.testing.assert_array_equal(b, a)
                assert type(b) is type(a)

    same(rep, back)
