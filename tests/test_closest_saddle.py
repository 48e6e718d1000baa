"""The closest-saddle heuristic (thesis 6.2.5) and the symmetry-induced decision, on planted toy cases.

A width-3 toy student (it cannot fit the 4-neuron teacher) is trained briefly and refined to a strict
local minimum ``theta3``; duplicating one of its neurons at ``mu0`` and shuffling the neurons gives a
width-4 point on a known saddle line, which the pipeline must find again.
"""

import dataclasses
import itertools
import threading

import numpy as np
import pytest
import torch

from lsexplorer.core.base.classify import Tolerances, classify, loss_scale
from lsexplorer.core.saddles.closest_saddle import (ClosestSaddle, SymmetryInduced, closest_saddle, closest_saddle_all,
                                            corollary_verdict, nearest_neuron_distances, si_tolerance,
                                            symmetry_induced)
from lsexplorer.core.analyses.closest_saddle import store as store_closest_saddle
from lsexplorer.core.data.datasets import gaussian_teacher_dataset, toy_teacher
from lsexplorer.core.landscape.hessian import loss_grad_hessian, spectrum
from lsexplorer.core.landscape.nets import MLPSpec, loss, xavier_init
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.critical.refine import refine
from lsexplorer.core.store.session import Runs, Session, load_session, save_session
from lsexplorer.core.symmetry.operations import duplicate_neuron, incoming_vectors, merge_neurons, permute_neurons

W3 = MLPSpec((2, 3, 1))


@pytest.fixture(scope="module")
def theta3(toy):
    """A strict local minimum of the 2-3-1 sigmoid student: a few hundred Adam steps, then refinement."""
    theta = torch.tensor(xavier_init(W3, [0])[0], requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.05)
    x, y = torch.from_numpy(toy.x), torch.from_numpy(toy.y)
    for _ in range(300):
        opt.zero_grad()
        loss(W3, theta, x, y).backward()
        opt.step()
    refined = refine(W3, theta.detach().numpy(), toy.x, toy.y)
    value, g, h = loss_grad_hessian(W3, refined.theta, toy.x, toy.y)
    c = classify(value, float(np.linalg.norm(g)), spectrum(h)[0], loss_scale(toy.y))
    assert c.kind == "local_min" and c.n_zero == 0, "the planted width-3 point must be a strict local minimum"
    return refined.theta


def planted(theta3, j, mu0, seed):
    """``theta3``'s neuron ``j`` duplicated at ``mu0``, neurons shuffled: (spec, point, (p, q), mu at p)."""
    spec4, on_line = duplicate_neuron(W3, theta3, 1, j, mu0)
    perm = np.random.default_rng(seed).permutation(4)
    point = permute_neurons(spec4, on_line, 1, perm)
    p, q = list(perm).index(j), list(perm).index(3)  # where the neuron and its copy went
    return spec4, point, (min(p, q), max(p, q)), (mu0 if p < q else 1 - mu0)


@pytest.mark.parametrize("j, mu0, seed", [(0, 0.3, 1), (2, 0.8, 2), (1, -0.4, 3), (0, 1.5, 4)])
def test_recovers_a_planted_saddle_line_from_a_perturbed_point(toy, theta3, j, mu0, seed):
    spec4, on_line, positions, mu_p = planted(theta3, j, mu0, seed)
    eps = np.random.default_rng(seed).normal(size=on_line.size)
    eps *= 1e-4 / np.linalg.norm(eps)
    res = closest_saddle(spec4, on_line + eps, toy.x, toy.y)

    assert res.pair == positions and res.positions == positions
    # The narrower point is theta3 (in the order the merge leaves), refined to machine precision.
    expected = merge_neurons(spec4, on_line, 1, *positions)[1]
    np.testing.assert_allclose(res.narrower.theta, expected, atol=1e-10)
    assert res.narrower.kind == "local_min" and res.narrower.grad_norm <= 1e-14
    assert res.mu == pytest.approx(mu_p, abs=1e-3)
    # The line is recovered exactly, so the distance is the part of eps orthogonal to it.
    e = res.line_direction / np.linalg.norm(res.line_direction)
    assert res.distance == pytest.approx(np.linalg.norm(eps - (eps @ e) * e), rel=1e-6)
    assert 0.5e-4 < res.distance <= 1e-4
    np.testing.assert_allclose(res.saddle, on_line + (res.mu - mu_p) * res.line_direction, atol=1e-10)
    # theta(mu*) is critical, and the line direction is flat: a zero among the smallest eigenvalues.
    assert res.saddle_grad_norm <= 1e-14
    assert res.saddle_eigvals.shape == (3,) and np.abs(res.saddle_eigvals).min() <= 1e-12
    assert res.merge.distance_after < 1e-6 < res.merge.distance_before
    # 1e-4 off the line: within a tolerance stated for unrefined points, not "on it to rounding".
    assert symmetry_induced(res, distance_tol=2e-4).is_si
    assert not symmetry_induced(res).is_si


def test_distance_is_the_minimum_over_all_neuron_orders(toy):
    """Brute force over the 4! orders of the saddle line's neurons agrees with the assignment search."""
    spec, teacher = toy_teacher()
    res = closest_saddle(spec, teacher, toy.x, toy.y)
    n = res.narrower
    origin = duplicate_neuron(n.spec, n.theta, 1, res.neuron, 0.0)[1]
    direction = duplicate_neuron(n.spec, n.theta, 1, res.neuron, 1.0)[1] - origin
    best = np.inf
    for perm in itertools.permutations(range(4)):
        o = permute_neurons(spec, origin, 1, perm)
        d = permute_neurons(spec, origin + direction, 1, perm) - o
        mu = (teacher - o) @ d / (d @ d)
        best = min(best, np.linalg.norm(o + mu * d - teacher))
    assert res.distance == pytest.approx(best, rel=1e-12)
    assert np.linalg.norm(res.saddle - teacher) == pytest.approx(res.distance, rel=1e-12)
    # The teacher is a generic width-4 point: far from every saddle line, not symmetry-induced.
    assert res.distance > 0.5 and not symmetry_induced(res).is_si
    assert res.narrower.kind != "not_converged"


def test_refined_point_on_a_line_is_symmetry_induced_with_the_formal_verdict(toy, theta3):
    # Neuron 0 of this minimum has Y > 0: for mu in (0, 1) its line is made of degenerate local minima,
    # so refinement from nearby returns to the line.
    spec4, on_line, _, _ = planted(theta3, 0, 0.3, 5)
    eps = np.random.default_rng(5).normal(size=on_line.size) * 1e-3
    point = refine(spec4, on_line + eps, toy.x, toy.y).theta
    res = closest_saddle(spec4, point, toy.x, toy.y)
    assert res.distance < 1e-10
    decision = symmetry_induced(res)
    assert decision.is_si and decision.tolerance == si_tolerance(np.linalg.norm(point))
    # Polishing puts the refined point exactly on the line (distance 0); a tolerance below a distance flips it.
    assert not symmetry_induced(dataclasses.replace(res, distance=1e-9), distance_tol=5e-10).is_si
    verdict = corollary_verdict(res, toy.x, toy.y)
    assert verdict["verdict"] == "degenerate_local_min" and verdict["neuron"] == res.neuron


def test_closest_saddle_all_stores_and_round_trips(toy, theta3, tmp_path):
    spec4, on_line, _, _ = planted(theta3, 0, 0.3, 6)
    _, teacher = toy_teacher()
    thetas = np.stack([on_line, teacher, teacher])
    s = len(thetas)
    runs = Runs(seed=np.arange(s), theta_init=thetas, theta=thetas, loss=np.zeros(s), grad_norm=np.zeros(s),
                hessian_eigvals=np.zeros((s, spec4.n_params)), kind=np.array(["local_min", "local_min", "global_min"]),
                degeneracy=np.zeros(s), lambda_min=np.zeros(s), stop_reason=np.full(s, ""), train_loss=np.zeros(s),
                theta_trained=thetas)
    session = Session({"network": spec4.to_dict(), "teacher": None, "tolerances": Tolerances().to_dict()},
                      toy.x, toy.y, None, runs)
    records = []
    analysis = run_generator(closest_saddle_all(session), records.append)
    # Every certified kind is analysed by default, the global minimum (row 2) included.
    assert [r.run for r in records] == [0, 1, 2] and records[-1].done == records[-1].total == 3
    store_closest_saddle(session, analysis)
    path = tmp_path / "s.h5"
    save_session(session, path)
    back = load_session(path)

    np.testing.assert_array_equal(back.runs.symmetry_induced, [True, False, False])
    summary = back.analyses["closest_saddle"]["summary"]
    np.testing.assert_array_equal(summary["run"], [0, 1, 2])
    np.testing.assert_array_equal(summary["symmetry_induced"], [True, False, False])
    assert summary["saddle_eigvals"].shape == (3, 3) and summary["narrower_kind"].dtype.kind == "U"
    assert summary["distance"][0] < 1e-12 and (summary["distance"][1:] > 0.5).all()
    point = back.analyses["closest_saddle"]["points"]["0"]
    decision = SymmetryInduced.from_dict(point["symmetry_induced"])
    assert decision.is_si and decision.corollary["verdict"] == "degenerate_local_min"
    assert decision.mu == pytest.approx(point["mu"]) and decision.neuron == point["neuron"]
    np.testing.assert_array_equal(summary["corollary_verdict"], ["degenerate_local_min", "", ""])
    assert "corollary" not in back.analyses["closest_saddle"]["points"]["1"]["symmetry_induced"]
    for row in ("0", "1"):
        stored = ClosestSaddle.from_dict(back.analyses["closest_saddle"]["points"][row])
        fresh = ClosestSaddle.from_dict(analysis["points"][row])
        assert stored.narrower.spec == fresh.narrower.spec == W3
        assert stored.pair == fresh.pair and stored.mu == fresh.mu and stored.distance == fresh.distance
        np.testing.assert_array_equal(stored.saddle, fresh.saddle)
        np.testing.assert_array_equal(stored.narrower.eigvals, fresh.narrower.eigvals)


def test_closest_saddle_all_stops_before_starting(toy):
    spec, teacher = toy_teacher()
    runs = Runs(seed=[0], theta_init=[teacher], theta=[teacher], loss=[0.0], grad_norm=[0.0],
                hessian_eigvals=np.zeros((1, spec.n_params)), kind=["local_min"], degeneracy=[0], lambda_min=[0.0],
                stop_reason=[""], train_loss=[0.0], theta_trained=[teacher])
    session = Session({"network": spec.to_dict(), "teacher": None, "tolerances": {}}, toy.x, toy.y, None, runs)
    stop = threading.Event()
    stop.set()
    assert run_generator(closest_saddle_all(session, stop=stop))["points"] == {}


def test_nearest_neuron_distances():
    spec = MLPSpec((3, 4, 2), "tanh", True)
    thetas = np.random.default_rng(0).normal(size=(5, spec.n_params))
    thetas[3, 0] = np.nan
    got = nearest_neuron_distances((spec, thetas))
    for k in (0, 1, 2, 4):
        v = incoming_vectors(spec, thetas[k], 1)
        want = min(np.linalg.norm(v[a] - v[b]) for a, b in itertools.combinations(range(4), 2))
        assert got[k] == pytest.approx(want, rel=1e-14)
    assert np.isnan(got[3])


@pytest.mark.parametrize("layer", [1, 2])
def test_deep_net_with_biases_and_two_outputs(layer):
    """Any hidden layer of any MLP: biases move with their neuron, outgoing weights are columns."""
    data = gaussian_teacher_dataset(200, MLPSpec((3, 4, 3, 2), "tanh", True), seed=1, teacher_std=0.7)
    spec = MLPSpec((3, 3, 3, 2), "tanh", True)
    narrow = refine(spec, np.random.default_rng(0).normal(size=spec.n_params) * 0.3, data.x, data.y).theta
    wide, on_line = duplicate_neuron(spec, narrow, layer, 1, 0.3)
    perm = np.random.default_rng(layer).permutation(4)
    on_line = permute_neurons(wide, on_line, layer, perm)
    p, q = sorted((list(perm).index(1), list(perm).index(3)))
    eps = np.random.default_rng(9).normal(size=on_line.size)
    eps *= 1e-5 / np.linalg.norm(eps)
    res = closest_saddle(wide, on_line + eps, data.x, data.y, layer=layer)
    assert res.layer == layer and res.pair == (p, q)
    np.testing.assert_allclose(res.narrower.theta, merge_neurons(wide, on_line, layer, p, q)[1], atol=1e-10)
    assert res.mu == pytest.approx(0.3 if perm[p] == 1 else 0.7, abs=1e-4)
    assert res.distance <= 1e-5 and res.saddle_grad_norm <= 1e-12


@pytest.mark.parametrize("cancel, stop_reason", [
    (False, "slsqp:FTOL_REACHED+newton:grad_converged"), (True, "cancelled")])
def test_the_narrower_point_stores_what_it_stored_before_it_held_a_refined_point(toy, theta3, cancel, stop_reason):
    spec4, on_line, _, _ = planted(theta3, 0, 0.3, 1)
    stop = threading.Event()
    if cancel:
        stop.set()
    res = closest_saddle(spec4, on_line, toy.x, toy.y, stop=stop)
    stored = res.narrower.to_dict()
    assert list(stored) == ["spec", "theta", "loss", "grad_norm", "eigvals", "kind", "stop_reason"]
    assert stored["stop_reason"] == stop_reason and type(stored["stop_reason"]) is str
    assert [type(stored[k]).__name__ for k in ("loss", "grad_norm", "kind")] == ["float", "float", "str"]
    assert stored["theta"].shape == (W3.n_params,) and stored["eigvals"].shape == (W3.n_params,)
    assert list(stored["spec"]) == ["widths", "activation", "bias"] and stored["spec"]["widths"].tolist() == [2, 3, 1]
    again = type(res.narrower).from_dict(stored).to_dict()
    assert list(again) == list(stored) and again["spec"]["widths"].dtype == np.int64
    assert all(np.array_equal(again[k], stored[k]) and type(again[k]) is type(stored[k])
               for k in stored if k != "spec")
