"""Slices, plane coordinates, projection and slice directions, checked against direct evaluation and geometry."""

import threading

import numpy as np
import pytest
import torch

from lsexplorer.core.data.datasets import toy_teacher
from lsexplorer.core.landscape.nets import MLPSpec, loss
from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.landscape.slices import (LineSlice, PCADirections, PlaneSlice, Projection, SaddlePlane, line_slice,
                                    pca_directions, plane_slice, project, random_directions, saddle_plane)
from lsexplorer.core.store.session import _read_analyses, _write_analyses
from lsexplorer.core.symmetry.operations import duplicate_neuron, incoming_vectors


def direct_loss(spec, theta, x, y):
    with torch.no_grad():
        return float(loss(spec, torch.from_numpy(np.asarray(theta, dtype=np.float64)), torch.from_numpy(x),
                          torch.from_numpy(y)))


def _through_a_session_file(result, tmp_path):
    """``result`` written as a session's ``/analyses`` item and read back into its class."""
    import h5py

    path = tmp_path / "round_trip.h5"
    with h5py.File(path, "w") as f:
        _write_analyses(f.create_group("analyses"), {"item": result.to_dict()})
    with h5py.File(path, "r") as f:
        return type(result).from_dict(_read_analyses(f["analyses"])["item"])


def test_line_slice_is_the_loss_on_the_line(toy):
    spec, teacher = toy_teacher()
    other = teacher + np.random.default_rng(0).normal(size=teacher.size) * 0.3
    ts = np.linspace(-0.5, 1.5, 9)
    s = line_slice(spec, teacher, other, toy.x, toy.y, ts)
    expected = [direct_loss(spec, teacher + t * (other - teacher), toy.x, toy.y) for t in ts]
    # The teacher's loss is zero up to rounding, which differs between BLAS builds: an absolute floor.
    np.testing.assert_allclose(s.loss, expected, rtol=1e-12, atol=1e-14 * max(expected))
    assert s.loss[2] == pytest.approx(0.0, abs=1e-30)  # t = 0 is the teacher: zero loss
    back = LineSlice.from_dict(s.to_dict())
    np.testing.assert_array_equal(back.loss, s.loss)


def test_plane_slice_rows_and_points_match_direct_evaluation(toy):
    spec, teacher = toy_teacher()
    e1, e2 = random_directions(spec, teacher, seed=3)
    us, vs = np.linspace(-1, 1, 7), np.linspace(-0.5, 0.5, 4)
    rows = []
    result = run_generator(plane_slice(spec, teacher, e1, e2, toy.x, toy.y, us, vs), rows.append)
    assert result.complete and result.loss.shape == (4, 7)
    assert [r.row for r in rows] == [0, 1, 2, 3]
    for r in rows:
        np.testing.assert_array_equal(r.loss, result.loss[r.row])
    for r, c in [(0, 0), (1, 3), (3, 6), (2, 5)]:
        expected = direct_loss(spec, teacher + us[c] * e1 + vs[r] * e2, toy.x, toy.y)
        assert result.loss[r, c] == pytest.approx(expected, rel=1e-13)
    back = PlaneSlice.from_dict(result.to_dict())
    np.testing.assert_array_equal(back.loss, result.loss)


def test_plane_slice_stops_between_rows(toy):
    spec, teacher = toy_teacher()
    e1, e2 = random_directions(spec, teacher, seed=1)
    stop = threading.Event()
    result = run_generator(plane_slice(spec, teacher, e1, e2, toy.x, toy.y, np.zeros(3), np.arange(5.0), stop),
                           lambda row: stop.set() if row.row == 1 else None)
    assert not result.complete
    assert np.isfinite(result.loss[:2]).all() and np.isnan(result.loss[2:]).all()


def test_saddle_plane_basis_and_coordinates():
    rng = np.random.default_rng(5)
    spec = MLPSpec((2, 3, 1))
    narrow = rng.normal(size=spec.n_params)
    wide, origin = duplicate_neuron(spec, narrow, 1, 1, 0.0)
    direction = duplicate_neuron(spec, narrow, 1, 1, 1.0)[1] - origin
    offset = rng.normal(size=origin.size)
    offset -= (offset @ direction) / (direction @ direction) * direction  # orthogonal to the line
    mu0 = 0.35
    theta_min = origin + mu0 * direction + offset

    plane = saddle_plane(origin, direction, theta_min)
    np.testing.assert_allclose(plane.basis @ plane.basis.T, np.eye(2), atol=1e-15)
    assert plane.mu_star == pytest.approx(mu0, abs=1e-14)
    assert plane.distance == pytest.approx(np.linalg.norm(offset), rel=1e-14)
    np.testing.assert_allclose(plane.origin, origin + mu0 * direction, atol=1e-14)
    # The minimum, the origin and points of the line land where the plane says they are, exactly.
    mus = np.array([0.0, 1.0, -0.5, 2.0])
    line = origin + mus[:, None] * direction
    proj = project(np.vstack([theta_min, plane.origin, line]), plane.origin, plane.basis)
    np.testing.assert_allclose(proj.coords[0], plane.minimum, atol=1e-14)
    np.testing.assert_allclose(plane.minimum, [0.0, np.linalg.norm(offset)], atol=1e-14)
    np.testing.assert_allclose(proj.coords[1], [0, 0], atol=1e-14)
    np.testing.assert_allclose(proj.coords[2:], plane.line_coords(mus), atol=1e-13)
    np.testing.assert_allclose(proj.residual, 0, atol=1e-14)
    back = SaddlePlane.from_dict(plane.to_dict())
    np.testing.assert_array_equal(back.basis, plane.basis)

    on_line = origin + 0.3 * direction
    with pytest.raises(ValueError, match="lies on the saddle line"):
        saddle_plane(origin, direction, on_line)
    fallback = saddle_plane(origin, direction, on_line, fallback=offset + 2 * direction)
    np.testing.assert_allclose(fallback.basis @ fallback.basis.T, np.eye(2), atol=1e-15)
    np.testing.assert_allclose(fallback.basis[1], offset / np.linalg.norm(offset), atol=1e-14)
    assert fallback.mu_star == pytest.approx(0.3, abs=1e-14) and fallback.distance < 1e-14
    np.testing.assert_allclose(fallback.minimum, 0, atol=1e-14)
    with pytest.raises(ValueError, match="parallel"):
        saddle_plane(origin, direction, on_line, fallback=-3 * direction)
    with pytest.raises(ValueError, match="zero direction"):
        saddle_plane(origin, np.zeros_like(direction), theta_min)


def test_projection_is_exact_in_the_plane_and_measures_the_rest(tmp_path):
    rng = np.random.default_rng(2)
    p = 20
    origin = rng.normal(size=p)
    basis = rng.normal(size=(2, p))  # not orthonormal: least squares must still be exact
    coords = rng.normal(size=(30, 2))
    normal = rng.normal(size=p)
    normal -= np.linalg.lstsq(basis.T, normal, rcond=None)[0] @ basis
    normal /= np.linalg.norm(normal)
    heights = rng.uniform(0, 2, size=30)
    inside = origin + coords @ basis
    proj = project(inside, origin, basis)
    np.testing.assert_allclose(proj.coords, coords, atol=1e-12)
    np.testing.assert_allclose(proj.residual, 0, atol=1e-12)
    off = project(inside + heights[:, None] * normal, origin, basis)
    np.testing.assert_allclose(off.coords, coords, atol=1e-12)
    np.testing.assert_allclose(off.residual, heights, atol=1e-12)
    back = _through_a_session_file(off, tmp_path)
    assert isinstance(back, Projection)
    np.testing.assert_array_equal(back.coords, off.coords)
    np.testing.assert_array_equal(back.residual, off.residual)


@pytest.mark.parametrize("spec", [MLPSpec((2, 5, 1)), MLPSpec((3, 4, 3, 2), "tanh", True)],
                         ids=lambda s: s.describe())
def test_filter_normalised_directions_match_each_neurons_norm(spec):
    theta = np.random.default_rng(0).normal(size=spec.n_params) * 3
    dirs = random_directions(spec, theta, seed=11)
    assert dirs.shape == (2, spec.n_params)
    np.testing.assert_array_equal(dirs, random_directions(spec, theta, seed=11))
    for layer in range(1, len(spec.hidden_widths) + 1):
        want = np.linalg.norm(incoming_vectors(spec, theta, layer), axis=1)
        for d in dirs:
            np.testing.assert_allclose(np.linalg.norm(incoming_vectors(spec, d, layer), axis=1), want, rtol=1e-13)
    out = spec.layers[-1]
    for d in dirs:  # output-layer rows are filters too
        for k in range(out.n_out):
            part = list(range(out.w_start + k * out.n_in, out.w_start + (k + 1) * out.n_in))
            if out.b_start is not None:
                part.append(out.b_start + k)
            assert np.linalg.norm(d[part]) == pytest.approx(np.linalg.norm(theta[part]), rel=1e-13)
    layerwise = random_directions(spec, theta, seed=11, normalization="layer")
    for sl in spec.layers:
        part = slice(sl.w_start, sl.b_stop or sl.w_stop)
        assert np.linalg.norm(layerwise[0, part]) == pytest.approx(np.linalg.norm(theta[part]), rel=1e-13)
    with pytest.raises(ValueError, match="normalization"):
        random_directions(spec, theta, 0, "batch")


def test_pca_recovers_the_line_a_trajectory_moves_along(tmp_path):
    rng = np.random.default_rng(4)
    start, line = rng.normal(size=15), rng.normal(size=15)
    line /= np.linalg.norm(line)
    steps = np.cumsum(np.geomspace(1.0, 1e-3, 50))  # log-spaced snapshots slow down, as training does
    traj = start + steps[:, None] * line
    pca = pca_directions(traj)
    assert abs(pca.components[0] @ line) == pytest.approx(1.0, abs=1e-12)
    assert pca.explained_variance_ratio[0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(pca.mean, traj.mean(axis=0), atol=1e-14)
    # With a little sideways motion the second component finds it, with the matching variance share.
    side = rng.normal(size=15)
    side -= (side @ line) * line
    side /= np.linalg.norm(side)
    wiggle = 0.01 * np.sin(np.arange(50))
    centred = steps - steps.mean()
    wiggle -= wiggle.mean() + (wiggle @ centred) / (centred @ centred) * centred  # uncorrelated with the line
    pca2 = pca_directions(traj + wiggle[:, None] * side)
    assert abs(pca2.components[1] @ side) == pytest.approx(1.0, abs=1e-12)
    assert pca2.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-12)
    back = _through_a_session_file(pca2, tmp_path)
    assert isinstance(back, PCADirections)
    for field in ("mean", "components", "explained_variance", "explained_variance_ratio"):
        np.testing.assert_array_equal(getattr(back, field), getattr(pca2, field), err_msg=field)
        assert getattr(back, field).shape == getattr(pca2, field).shape
