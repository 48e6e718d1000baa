"""Minimum-energy paths: NEB and AutoNEB on the Mueller-Brown potential against its published minima
and saddles, saddle refinement against an independent root finder, symmetry alignment against
planted permutations and sign flips, and a path on the toy sample stored and read back."""

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.optimize import minimize, root

from lsexplorer.core.symmetry.alignment import align_to
from lsexplorer.core.landscape.muller_brown import MINIMA, SADDLES, muller_brown_landscape
from lsexplorer.core.paths.neb import NEBConfig, auto_neb, improved_tangents, neb, neb_forces
from lsexplorer.core.landscape.nets import MLPSpec, flatten, unflatten
from lsexplorer.core.analyses import paths as stored_paths
from lsexplorer.core.paths.minimum_energy import PathConfig, path_analysis, path_summary, read_path, write_path
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.paths.saddle_search import SaddleConfig, find_saddle
from lsexplorer.core.landscape.slices import batched_loss
from lsexplorer.core.symmetry.operations import flip_neuron_pair, permute_neurons, sign_flip

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "toy_width5.h5"


@pytest.fixture(scope="module")
def mb():
    """The landscape and its three minima, each refined by BFGS from the published coordinates."""
    land = muller_brown_landscape()
    value = lambda p: float(land.values_and_grads(p)[0][0])
    grad = lambda p: land.values_and_grads(p)[1][0]
    minima = [minimize(value, np.array(m[:2]), jac=grad, method="BFGS", options={"gtol": 1e-10}).x for m in MINIMA]
    return land, minima, grad


def test_muller_brown_minima_match_the_published_energies(mb):
    land, minima, _ = mb
    values = land.values_and_grads(np.array(minima))[0]
    np.testing.assert_allclose(values, [m[2] for m in MINIMA], atol=1e-2)


@pytest.mark.parametrize("a, b, saddle", [(0, 2, 0), (2, 1, 1)])
def test_climbing_image_finds_each_saddle_and_refines_it_to_1e8(mb, a, b, saddle):
    land, minima, grad = mb
    band = run_generator(neb(land, minima[a], minima[b], NEBConfig(images=10)))
    assert band.converged and band.climbing > 0
    assert abs(band.values[band.climbing] - SADDLES[saddle][2]) < 1e-2
    found = find_saddle(land, band.images[band.climbing], band.tangents[band.climbing])
    # independent: a root of grad V from the published (3-decimal) coordinates
    exact = root(grad, np.array(SADDLES[saddle][:2]), jac=lambda p: land.hessians(p)[0], tol=1e-14).x
    np.testing.assert_allclose(found.theta, exact, atol=1e-8, rtol=0)
    assert found.grad_norm < 1e-8
    eig = np.linalg.eigvalsh(land.hessians(found.theta)[0])
    assert eig[0] < 0 < eig[1]
    assert abs(found.value - SADDLES[saddle][2]) < 1e-2


def test_autoneb_across_the_middle_minimum_climbs_the_higher_saddle(mb):
    land, minima, _ = mb
    config = NEBConfig(auto_start_images=3, auto_max_images=12)
    band = run_generator(auto_neb(land, minima[0], minima[1], config))
    assert band.cycles >= 2 and len(band.images) > 3 + 2  # images were inserted
    assert band.converged
    assert abs(band.values[band.climbing] - SADDLES[0][2]) < 1e-2
    # the band passes the middle minimum: an interior image near it and a second, lower maximum
    assert np.min(np.linalg.norm(band.images - minima[2], axis=1)) < 0.15


def test_improved_tangent_points_uphill_and_climbing_force_inverts_the_parallel_part():
    images = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 1.0], [3.0, 1.0]])
    values = np.array([0.0, 1.0, 2.0, 1.5])
    tau = improved_tangents(images, values)
    np.testing.assert_allclose(tau[0], [1 / np.sqrt(2), 1 / np.sqrt(2)])   # monotone: bond to the higher neighbour
    grads = np.array([[0.3, -0.2], [0.5, 0.4]])
    force, tau = neb_forces(images, values, grads, spring=2.0, climbing=2)
    g, t = grads[1], tau[1]
    np.testing.assert_allclose(force[1], -g + 2 * (g @ t) * t)
    # a plain image: perpendicular true force plus the spring along the tangent
    lengths = np.linalg.norm(np.diff(images, axis=0), axis=1)
    expected = -(grads[0] - (grads[0] @ tau[0]) * tau[0]) + 2.0 * (lengths[1] - lengths[0]) * tau[0]
    np.testing.assert_allclose(force[0], expected)


@pytest.mark.parametrize("spec", [MLPSpec((3, 5, 2), "tanh", False), MLPSpec((3, 4, 5, 2), "tanh", True),
                                  MLPSpec((3, 4, 3, 2), "sigmoid", True), MLPSpec((3, 4, 2), "softplus", True)])
def test_a_permuted_and_flipped_copy_aligns_back_to_distance_zero(spec):
    rng = np.random.default_rng(7)
    theta = rng.normal(size=spec.n_params)
    copy = theta
    for layer, m in enumerate(spec.hidden_widths, 1):
        copy = permute_neurons(spec, copy, layer, rng.permutation(m))
        if spec.activation == "tanh" or spec.bias and spec.activation == "sigmoid":
            copy = sign_flip(spec, copy, layer, [0, m - 1])
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    al = align_to(spec, theta, copy)
    assert al.distance_before > 1.0
    assert al.distance_after < 1e-12
    assert al.saved == pytest.approx(al.distance_before)
    np.testing.assert_allclose(batched_loss(spec, al.theta[None], x, y), batched_loss(spec, copy[None], x, y), rtol=1e-12)


def test_sigmoid_without_biases_aligns_through_a_function_preserving_pair_flip():
    spec = MLPSpec((2, 5, 1), "sigmoid", False)
    rng = np.random.default_rng(3)
    (w1, _), (w2, _) = unflatten(spec, rng.normal(size=spec.n_params))
    w2[0, 1] = -w2[0, 3]                           # a_1 = -a_3: the pair flip of thesis section 6.2.2
    theta = flatten(spec, [(w1, None), (w2, None)])
    copy = permute_neurons(spec, flip_neuron_pair(spec, theta, 1, 1, 3), 1, [4, 2, 0, 3, 1])
    al = align_to(spec, theta, copy)
    assert al.distance_after < 1e-12
    assert al.flipped.sum() == 2
    # no other flip is allowed: a random point aligns by permutation alone
    other = rng.normal(size=spec.n_params)
    assert not align_to(spec, other, permute_neurons(spec, other, 1, [1, 0, 2, 3, 4])).flipped.any()


def test_toy_path_from_a_local_minimum_beats_the_straight_line_and_is_stored(tmp_path):
    from lsexplorer.core.store.session import load_session, save_session

    session = load_session(SAMPLE)
    row = int(np.flatnonzero(session.runs.kind == "local_min")[0])
    config = PathConfig(neb=NEBConfig(images=8), saddle=SaddleConfig(follow_steps=10, newton_steps=10))
    result = run_generator(path_analysis(session, row, "global", config))
    stored_paths.write(session, result)
    assert session.runs.kind[result.run_to] == "global_min" and result.to_global
    assert result.alignment.distance_after <= result.alignment.distance_before
    assert result.converged
    assert result.barrier <= result.straight_barrier
    np.testing.assert_allclose(result.values[[0, -1]], session.runs.loss[[row, result.run_to]], rtol=1e-9, atol=1e-20)
    # the certificate is measured, not assumed: recompute the gradient norm independently
    s = result.saddle
    g = np.linalg.norm(_numpy_grad(session, s.theta))
    assert s.grad_norm == pytest.approx(g, rel=1e-6, abs=1e-15)
    assert s.n_negative + s.n_zero + s.n_positive == session.spec.n_params
    # stored in the session, saved and read back, and through the h5 pair
    out = tmp_path / "s.h5"
    save_session(session, out)
    back = stored_paths.read_all(load_session(out))[result.key]
    assert result.key == stored_paths.key(result.run_from, result.run_to)
    np.testing.assert_array_equal(back.images, result.images)
    assert back.saddle.n_negative == s.n_negative and back.alignment.saved == result.alignment.saved
    with h5py.File(tmp_path / "one.h5", "w") as f:
        write_path(f.create_group("p"), result)
    with h5py.File(tmp_path / "one.h5", "r") as f:
        again = read_path(f["p"])
    assert path_summary(again) == path_summary(result)


def _numpy_grad(session, theta):
    """Gradient of the 2-m-1 sigmoid loss in plain numpy (independent of the torch code)."""
    spec = session.spec
    (w1, _), (w2, _) = unflatten(spec, theta)
    x, y = session.x, session.y
    h = 1 / (1 + np.exp(-x @ w1.T))
    r = h @ w2.T - y
    n = len(x)
    g2 = 2 / n * r.T @ h
    g1 = 2 / n * ((r @ w2) * h * (1 - h)).T @ x
    return np.concatenate([g1.ravel(), g2.ravel()])


def test_path_rejects_bad_runs():
    from lsexplorer.core.store.session import load_session

    session = load_session(SAMPLE)
    with pytest.raises(ValueError, match="run must be an index"):
        run_generator(path_analysis(session, 10_000, "global"))
    with pytest.raises(ValueError, match="two different runs"):
        run_generator(path_analysis(session, 3, 3))
    with pytest.raises(ValueError, match="'global'"):
        run_generator(path_analysis(session, 3, "nearest"))


def test_cli_path_reports_bad_input_in_one_line(tmp_path, capsys):
    from lsexplorer.cli.commands import main

    assert main(["path", str(SAMPLE), "--from", "1", "--to", "nearest"]) == 2
    assert "--to must be a run index or 'global'" in capsys.readouterr().err
    assert main(["path", str(SAMPLE), "--from", "500", "--to", "global"]) == 2
    err = capsys.readouterr().err
    assert "source run must be an index in 0..99" in err and err.count("\n") == 1
    assert main(["path", str(tmp_path / "missing.h5"), "--from", "1", "--to", "2"]) == 2


def test_a_point_split_off_a_saddle_line_is_certified_through_the_narrower_net():
    from lsexplorer.core.paths.path_saddle import symmetry_reduced_saddle
    from lsexplorer.core.store.session import load_session
    from lsexplorer.core.symmetry.operations import incoming_vectors, nearest_neuron_pair

    session = load_session(SAMPLE)
    spec, x, y = session.spec, session.x, session.y
    # a global minimum with a duplicated neuron: it lies on a line of critical points
    row = next(int(r) for r in np.flatnonzero(session.runs.kind == "global_min")
               if nearest_neuron_pair(spec, session.runs.theta[r], 1)[2] < 1e-6)
    theta = session.runs.theta[row]
    i, j, _ = nearest_neuron_pair(spec, theta, 1)
    split = theta.copy()
    split[2 * i:2 * i + 2] += [1e-3, -2e-3]    # pull the pair apart: off the line, not critical
    split[2 * j:2 * j + 2] -= [1e-3, -2e-3]
    assert np.linalg.norm(_numpy_grad(session, split)) > 1e-9
    cert = symmetry_reduced_saddle(spec, x, y, split, SaddleConfig())
    assert cert is not None and cert.certified and cert.route == f"merged 1:{i},{j}"
    assert cert.grad_norm <= 1e-12 and cert.loss < 1e-20 and cert.n_negative == 0
    v = incoming_vectors(spec, cert.theta, 1)
    np.testing.assert_allclose(v[i], v[j], atol=1e-9)                 # back on the line, in the run's order
    np.testing.assert_allclose(cert.theta, theta, atol=1e-6)          # with the split it had


@pytest.mark.parametrize("optimizer", ["fire", "lbfgs"])
def test_a_band_stopped_by_max_steps_reports_the_values_and_forces_of_its_images(mb, optimizer):
    land, minima, _ = mb
    band = run_generator(neb(land, minima[0], minima[2], NEBConfig(images=8, max_steps=7, optimizer=optimizer)))
    assert band.stop_reason == "max_steps" and not band.converged
    values, grads = land.values_and_grads(band.images)
    np.testing.assert_allclose(band.values, values, rtol=1e-13, atol=1e-13)
    force, _ = neb_forces(band.images, values, grads[1:-1], band.spring, band.climbing if band.climbing > 0 else -1)
    np.testing.assert_allclose(band.forces[1:-1], np.linalg.norm(force, axis=1), rtol=1e-12)
