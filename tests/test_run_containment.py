"""One run's numerical failure stays that run's: another LAPACK driver where one gives up, otherwise
``not_converged`` with the reason, and every other run of the batch completes and is saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsexplorer.core.landscape import symmetric_eigen
from lsexplorer.core.base.numerical_failure import failure_reason, is_numerical_failure

DATA = Path(__file__).resolve().parent / "data"


def _check_decomposition(h, values, vectors):
    scale = float(np.abs(h).max())
    assert np.all(np.diff(values) >= -1e-13 * scale)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(len(h)), atol=1e-12)
    np.testing.assert_allclose(h @ vectors, vectors * values, atol=1e-12 * scale)


def test_the_clustered_hessian_that_stopped_syevd_is_decomposed():
    """The 121 x 121 Hessian of a ReLU population minimum (eigenvalues in 6 clusters of up to 55
    copies) on which numpy's eigh said "Eigenvalues did not converge" under OpenBLAS 0.3.31."""
    h = np.load(DATA / "clustered_hessian.npz")["h"]
    values, vectors = symmetric_eigen.eigh(h)
    _check_decomposition(h, values, vectors)
    np.testing.assert_allclose(symmetric_eigen.eigvalsh(h), values, atol=1e-12 * np.abs(h).max())
    assert np.unique(np.round(values, 6)).size == 6  # the clusters, independently of the driver


def _failing_first(monkeypatch, name):
    """numpy's ``name`` fails on any matrix whose (0, 0) entry is exactly 7, as syevd does on unlucky ones."""
    original = getattr(np.linalg, name)

    def flaky(a, *args, **kw):
        a = np.asarray(a)
        if (a[..., 0, 0] == 7.0).any():
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return original(a, *args, **kw)

    monkeypatch.setattr(np.linalg, name, flaky)


@pytest.mark.parametrize("name", ["eigh", "eigvalsh"])
def test_a_driver_failure_falls_back_per_matrix(monkeypatch, name):
    rng = np.random.default_rng(0)
    m = rng.normal(size=(3, 5, 5))
    stack = m + m.transpose(0, 2, 1)
    stack[1, 0, 0] = 7.0  # only the middle matrix of the stack "fails"
    _failing_first(monkeypatch, name)
    got = getattr(symmetric_eigen, name)(stack)
    for i, h in enumerate(stack):
        values = got[0][i] if name == "eigh" else got[i]
        exact = np.sort(np.linalg.eigvals(h).real)
        np.testing.assert_allclose(values, exact, atol=1e-12)
        if name == "eigh":
            _check_decomposition(h, values, got[1][i])


def test_a_non_finite_matrix_keeps_numpys_error(monkeypatch):
    _failing_first(monkeypatch, "eigh")
    with pytest.raises(np.linalg.LinAlgError, match="did not converge"):
        symmetric_eigen.eigh(np.array([[7.0, np.nan], [np.nan, 1.0]]))


def test_numerical_failures_are_told_from_bugs_and_stops():
    assert is_numerical_failure(np.linalg.LinAlgError("Eigenvalues did not converge"))
    assert is_numerical_failure(RuntimeError("nlopt failure"))
    assert not is_numerical_failure(RuntimeError("shape mismatch"))
    assert not is_numerical_failure(KeyError("kind"))
    assert not is_numerical_failure(KeyboardInterrupt())
    assert failure_reason(np.linalg.LinAlgError("Eigenvalues did not converge\nmore")) == \
        "failed: LinAlgError: Eigenvalues did not converge"


def test_one_failing_refinement_leaves_the_other_points_certified(toy, monkeypatch):
    """A LinAlgError in one point's refinement makes that point ``not_converged`` with the reason."""
    from lsexplorer.core.critical import certify as certify_module
    from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
    from lsexplorer.core.base.progress import run_generator

    spec = MLPSpec((2, 3, 1))
    thetas = xavier_init(spec, [1, 2, 3])
    real = certify_module.refine

    def refine(spec, theta, *args, **kw):
        if np.array_equal(theta, thetas[1]):
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return real(spec, theta, *args, **kw)

    monkeypatch.setattr(certify_module, "refine", refine)
    out = run_generator(certify_module.certify(spec, thetas, toy.x, toy.y))
    assert out.kind[1] == "not_converged"
    assert out.stop_reason[1] == "failed: LinAlgError: Eigenvalues did not converge"
    assert np.isfinite(out.loss[1])  # measured where it stood
    for row in (0, 2):
        assert out.kind[row] != "not_converged" and out.grad_norm[row] < 1e-9, out.stop_reason[row]


def test_a_failing_population_polish_loses_only_its_seed(monkeypatch):
    from lsexplorer.core.population import descent as rgd
    from lsexplorer.core.base.progress import run_generator
    from lsexplorer.core.population.relu_gaussian import ReluGaussian

    problem = ReluGaussian(np.eye(2), 2)
    thetas = np.stack([problem.teacher.ravel() * f for f in (1.0, 1.1, 1.0)])
    real = rgd.newton_polish

    def polish(problem, theta0, *args, **kw):
        if np.allclose(theta0, thetas[1]):
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return real(problem, theta0, *args, **kw)

    monkeypatch.setattr(rgd, "newton_polish", polish)
    points = run_generator(rgd.certify_population(problem, thetas))
    assert list(points.kind) == ["global_min", "not_converged", "global_min"]
    assert points.stop_reason[1].startswith("failed: LinAlgError")


def test_an_analysis_failing_on_one_run_stores_the_others(monkeypatch):
    from lsexplorer.core.analyses import analyze as analyze_module
    from lsexplorer.core.analyses import REGISTRY
    from lsexplorer.core.base.progress import run_generator
    from lsexplorer.core.store.session import load_session

    session = load_session(DATA.parent.parent / "sample_data" / "toy_width5.h5")
    session.analyses.pop("teacher_match", None)
    analysis = REGISTRY["symmetry"] if "symmetry" in REGISTRY else next(iter(REGISTRY.values()))
    real = analysis.compute

    def compute(ctx, row):
        if row == 3:
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return (yield from real(ctx, row))

    monkeypatch.setitem(REGISTRY, analysis.name, type(analysis)(**{**analysis.__dict__, "compute": compute}))
    summary = run_generator(analyze_module.analyze_session(session, [2, 3, 4], [analysis.name]))
    assert summary[analyze_module.FAILED] == {analysis.name: {3: "failed: LinAlgError: Eigenvalues did not converge"}}
    stored = REGISTRY[analysis.name]
    assert stored.read(session, 2) is not None and stored.read(session, 4) is not None


def test_a_run_relabelled_in_place_keeps_its_whole_kind():
    """Kinds read from a file with short names only must still take the longest kind's name."""
    from lsexplorer.core.store.session import Runs

    n, p = 2, 3
    runs = Runs(seed=np.arange(n), theta_init=np.zeros((n, p)), theta=np.zeros((n, p)), loss=np.zeros(n),
                grad_norm=np.zeros(n), hessian_eigvals=np.zeros((n, p)), kind=np.array(["local_min", "channel"]),
                degeneracy=np.zeros(n, dtype=int), lambda_min=np.zeros(n), stop_reason=np.array(["a", "b"]),
                train_loss=np.zeros(n), theta_trained=np.zeros((n, p)))
    runs.kind[0] = "nonstrict_saddle"
    assert runs.kind[0] == "nonstrict_saddle"
    runs.kind = np.array(["local_min", "global_min"])  # a whole new column, as the app's workers assign
    runs.kind[1] = "not_converged"
    assert list(runs.kind) == ["local_min", "not_converged"]


def test_an_imported_local_minimum_found_to_escape_is_stored_as_nonstrict_saddle(toy, tmp_path, capsys):
    """Imported points whose kinds are all short names; the escape search relabels one of them
    ``nonstrict_saddle`` and the save keeps it whole (it was cut to ``nonstrict_`` and refused)."""
    from lsexplorer.cli.commands import main
    from lsexplorer.core.landscape.hessian import hessian, spectrum
    from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
    from lsexplorer.core.critical.refine import refine
    from lsexplorer.core.store.session import load_session
    from lsexplorer.core.symmetry.operations import duplicate_neuron

    spec3 = MLPSpec((2, 3, 1))
    theta3 = refine(spec3, xavier_init(spec3, [1])[0], toy.x, toy.y).theta
    for j in range(3):  # a neuron whose duplicate at mu = 1/2 lies on a segment of local minima
        spec, theta = duplicate_neuron(spec3, theta3, 1, j, 0.5)
        lam = spectrum(hessian(spec, theta, toy.x, toy.y))[0]
        if lam[0] > -1e-12 and lam[1] > 1e-8:
            break
    np.savez(tmp_path / "planted.npz", theta=theta[None])
    out = tmp_path / "planted.h5"
    assert main(["import", str(tmp_path / "planted.npz"), "--preset", "toy", "--width", "4", "-q", "-o", str(out)]) == 0
    assert load_session(out).runs.kind.tolist() == ["local_min"]
    capsys.readouterr()
    assert main(["analyze", str(out), "--escape", "-q"]) == 0, capsys.readouterr().err
    session = load_session(out)
    assert session.runs.kind.tolist() == ["nonstrict_saddle"]
    assert session.analyses["escape"]["summary"]["kind_after"].tolist() == ["nonstrict_saddle"]
