"""Escape searches (thesis Algorithms 1 and 2) against functions whose answer is known in closed form."""

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from lsexplorer.core.data.datasets import toy_teacher
from lsexplorer.core.saddles.escape import (EscapeScan, FlatSearch, direction_scan, escape_verdict, flat_direction_search,
                                    flat_search, smallest_direction_scan)
from lsexplorer.core.landscape.surface import Landscape, network_landscape
from lsexplorer.core.landscape.hessian import hessian, loss_grad_hessian, spectrum
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.refine import refine
from lsexplorer.core.store.session import load_session, save_session
from lsexplorer.core.symmetry.operations import duplicate_neuron

from test_session import make_session


@pytest.fixture(scope="module")
def width3_min(toy):
    """A strict local minimum of a width-3 student (it cannot fit the 4-neuron teacher)."""
    spec = MLPSpec((2, 3, 1))
    theta = refine(spec, xavier_init(spec, [1])[0], toy.x, toy.y).theta
    lam = spectrum(hessian(spec, theta, toy.x, toy.y))[0]
    assert lam[0] > 1e-6, "the planted point must be a strict local minimum"
    return spec, theta


# A critical point at 0 with H = diag(0, 2, 2) and L = eps^3 along e_0: lower on the negative side.
CUBIC = Landscape(lambda x: x[0] ** 3 + (x[1:] ** 2).sum(), 3)


def plateau(x):
    """Exactly flat (value and gradient 0) on the (x0, x1) plane except in the corner x0, x1 > 0.05."""
    corner = torch.relu(x[0] - 0.05) ** 3 * torch.relu(x[1] - 0.05) ** 3
    return -1e4 * corner + x[2] ** 2


PLATEAU = Landscape(plateau, 3)
PLANE = Landscape(lambda x: x[2] ** 2, 3)  # a flat plane of critical points with nothing lower


def test_scan_curves_on_a_cubic_match_closed_form():
    scan = run_generator(direction_scan(CUBIC, np.zeros(3), step=0.01, curvature_every=7))
    np.testing.assert_allclose(scan.direction, [1, 0, 0])
    np.testing.assert_allclose(scan.eps, np.linspace(-8, 8, 1601), atol=1e-12)
    np.testing.assert_allclose(scan.loss, scan.eps ** 3, rtol=1e-13, atol=1e-18)
    np.testing.assert_allclose(scan.grad_norm, 3 * scan.eps ** 2, rtol=1e-13, atol=1e-18)
    np.testing.assert_allclose(scan.curvature_eps, scan.eps[::7])
    np.testing.assert_allclose(scan.lambda_min, np.minimum(6 * scan.curvature_eps, 2), rtol=1e-12, atol=1e-14)
    assert scan.found_lower and scan.escape and scan.stop_reason == "completed"
    assert scan.escape_eps == pytest.approx(-0.01) and scan.best_eps == pytest.approx(-8)


def test_flat_search_finds_the_cubic_escape_at_once():
    """The lower neighbour has gradient 3e-4 >> grad_threshold: the thesis' node-only test misses it."""
    res = run_generator(flat_search(CUBIC, np.zeros(3)))
    assert res.found_lower and res.escape and res.stop_reason == "found_lower"
    np.testing.assert_allclose(res.lower_point, [-0.01, 0, 0], atol=1e-15)
    assert res.lower_loss == pytest.approx(-1e-6) and res.nodes_expanded == 1
    np.testing.assert_allclose(res.path, [[0, 0, 0], [-0.01, 0, 0]], atol=1e-15)


def test_flat_search_walks_a_plateau_that_the_straight_scan_misses():
    scan = run_generator(direction_scan(PLATEAU, np.zeros(3), compute_curvature=False))
    assert not scan.found_lower and not scan.escape  # zero along both axes of the plateau
    res = run_generator(flat_search(PLATEAU, np.zeros(3)))
    assert res.found_lower and res.escape
    assert (res.lower_point[:2] > 0.05).all() and res.lower_loss < -1e-9
    steps = np.linalg.norm(np.diff(res.path, axis=0), axis=1)
    np.testing.assert_allclose(steps, 0.01, rtol=1e-9)
    dist = np.linalg.norm(res.path - res.path[0], axis=1)
    assert (np.diff(dist) > 0).all(), "every step moves farther from the start"
    assert (res.path_loss[:-1] == 0).all() and res.nodes_expanded < 400


def test_flat_search_is_bounded_and_deduplicated():
    res = run_generator(flat_search(PLANE, np.zeros(3), max_nodes=300))
    assert not res.found_lower and res.stop_reason == "max_nodes" and res.nodes_expanded == 300
    assert res.lower_point.shape == (0,) and np.isnan(res.lower_loss)
    # breadth first over a plane: the frontier is a disc, not a tree of all step orders
    assert res.max_distance < 0.2 and res.max_depth <= res.max_distance / 0.01 + 1
    res = run_generator(flat_search(PLANE, np.zeros(3), max_seconds=0.2, max_nodes=10**9))
    assert res.stop_reason == "max_seconds" and res.elapsed < 2


@pytest.mark.parametrize("search", ["scan", "flat"])
def test_stop_event_ends_searches_promptly(search, toy):
    spec, theta = duplicate_neuron(*toy_teacher(), 1, 0, 0.3)
    stop = threading.Event()
    gen = (smallest_direction_scan(spec, theta, toy.x, toy.y, stop=stop) if search == "scan"
           else flat_search(PLANE, np.zeros(3), max_nodes=10**9, stop=stop))
    next(gen)
    stop.set()
    t0 = time.perf_counter()
    res = run_generator(gen)
    assert time.perf_counter() - t0 < 1.0 and res.stop_reason == "cancelled"
    assert not res.found_lower


def test_scan_matches_direct_evaluation(toy, width3_min):
    spec, theta = width3_min
    scan = run_generator(smallest_direction_scan(spec, theta, toy.x, toy.y, eps_min=-2, eps_max=2, step=0.05,
                                                 curvature_every=10))
    lam, vecs = spectrum(hessian(spec, theta, toy.x, toy.y))
    assert abs(scan.direction @ vecs[:, 0]) == pytest.approx(1, abs=1e-12)
    for k in (0, 17, 40, 63, 80):
        point = theta + scan.eps[k] * scan.direction
        value, g, _ = loss_grad_hessian(spec, point, toy.x, toy.y)
        assert scan.loss[k] == pytest.approx(value, rel=1e-12)
        assert scan.grad_norm[k] == pytest.approx(np.linalg.norm(g), rel=1e-9, abs=1e-15)
    for k, e in enumerate(scan.curvature_eps):
        direct = spectrum(hessian(spec, theta + e * scan.direction, toy.x, toy.y))[0][0]
        assert scan.lambda_min[k] == pytest.approx(direct, rel=1e-9, abs=1e-14)
    assert scan.lambda_min0 == pytest.approx(lam[0], rel=1e-9)


@pytest.mark.parametrize("spec", [MLPSpec((2, 5, 1)), MLPSpec((3, 4, 2), "tanh", True),
                                  MLPSpec((2, 4, 1), "sigmoid", True), MLPSpec((2, 3, 3), "softplus", True)],
                         ids=lambda s: s.describe())
def test_closed_form_two_layer_hessians_match_autograd(spec):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, spec.d_in)), rng.normal(size=(40, spec.d_out))
    points = rng.normal(size=(3, spec.n_params))
    got = network_landscape(spec, x, y).hessians(points)
    for p, h in zip(points, got):
        np.testing.assert_allclose(h, hessian(spec, p, x, y), rtol=1e-12, atol=1e-13 * np.abs(h).max())


def test_strict_minima_have_no_escape(toy, width3_min):
    for spec, theta in (width3_min, toy_teacher()):
        scan = run_generator(smallest_direction_scan(spec, theta, toy.x, toy.y, curvature_every=50))
        flat = run_generator(flat_direction_search(spec, theta, toy.x, toy.y))
        assert not scan.escape and not flat.found_lower
        assert flat.stop_reason == "exhausted" and flat.nodes_expanded == 1  # no eigenvalue below 1e-10
        kind = "global_min" if spec.widths[1] == 4 else "local_min"
        assert escape_verdict(kind, scan, flat) == kind
    assert not scan.found_lower  # the teacher: loss 0, nothing is lower


def test_saddle_line_local_min_escapes_along_the_line(toy, width3_min):
    """Duplicating a neuron of a width-3 minimum at mu = 1/2 can give a (non-strict) local minimum on a
    straight line of critical points; past mu = 1 (or 0) the line turns into saddles. Algorithm 1 along
    the line sees constant loss; Algorithm 2 walks the line and finds the way down."""
    spec3, theta3 = width3_min
    for j in range(3):
        spec, theta = duplicate_neuron(spec3, theta3, 1, j, 0.5)
        lam = spectrum(hessian(spec, theta, toy.x, toy.y))[0]
        if lam[0] > -1e-12 and lam[1] > 1e-8:
            break
    else:
        pytest.fail("no neuron of the planted minimum gives a local-minimum segment at mu = 1/2")
    scan = run_generator(smallest_direction_scan(spec, theta, toy.x, toy.y, eps_min=-1, eps_max=1,
                                                 curvature_every=20))
    assert not scan.found_lower and np.nanmax(np.abs(scan.loss - scan.loss0)) < 1e-15
    assert scan.lambda_min.min() < -1e-5  # the curvature turns negative along the line (Fig 6.6)
    flat = run_generator(flat_direction_search(spec, theta, toy.x, toy.y, max_nodes=500))
    assert flat.found_lower and flat.escape and flat.loss0 - flat.lower_loss > flat.tolerance
    a_j = abs(theta3[spec3.layers[1].w_start + j])
    boundary = 0.5 * a_j * np.sqrt(2)  # |mu - 1/2| = 1/2 along (a_j, a_copy) moves by this much
    reached = np.linalg.norm(flat.path[-2] - theta)
    assert boundary - 0.02 < reached < boundary + 0.03
    assert escape_verdict("local_min", scan, flat) == "nonstrict_saddle"
    assert escape_verdict("local_min", scan) == "local_min"


def test_verdict_needs_a_barrier_free_escape():
    barrier = Landscape(lambda x: x[0] ** 2 - x[0] ** 4 / 4 + (x[1:] ** 2).sum(), 2)  # lower beyond |x0| = 2
    scan = run_generator(direction_scan(barrier, np.zeros(2), direction=[1.0, 0.0], compute_curvature=False))
    assert scan.found_lower and not scan.escape and np.isnan(scan.escape_eps)
    assert escape_verdict("local_min", scan) == "local_min"
    assert escape_verdict("local_min", scan, require_escape=False) == "nonstrict_saddle"
    with pytest.raises(ValueError, match="unknown kind"):
        escape_verdict("minimum", scan)


def test_results_round_trip_through_a_session(tmp_path):
    scan = run_generator(direction_scan(CUBIC, np.zeros(3), eps_min=-1, eps_max=1, curvature_every=10))
    flat = run_generator(flat_search(PLANE, np.zeros(3), max_nodes=5))
    session = make_session()
    session.analyses = {"escape": {"run_0": {"scan": scan.to_dict(), "flat": flat.to_dict()}}}
    save_session(session, tmp_path / "s.h5")
    stored = load_session(tmp_path / "s.h5").analyses["escape"]["run_0"]
    for name, cls, original in (("scan", EscapeScan, scan), ("flat", FlatSearch, flat)):
        back = cls.from_dict(stored[name])
        for f in dataclasses.fields(cls):
            a, b = getattr(original, f.name), getattr(back, f.name)
            np.testing.assert_array_equal(b, a)
            assert isinstance(b, np.ndarray) == isinstance(a, np.ndarray)
    with pytest.raises(ValueError, match="cannot be read as"):
        FlatSearch.from_dict(scan.to_dict())
