"""Planted degenerate points of the toy problem, built here in numpy and fed through the command line.

Width-5 points come from duplicating each neuron of the 4-neuron teacher and of a strict width-4
local minimum with outgoing split ``mu`` in {0.3, 0.5, 1.5}: 24 exact critical points (12 global
minima; the others local minima or saddles, depending on ``mu``, Theorem 3). The teacher copies,
perturbed by Gaussian noise (sigma = 1e-3) and refined, must come back to the teacher to machine
precision; every exact point must be flagged symmetry-induced, whatever its kind.
"""

import json

import numpy as np
from numpy_reference import loss_grad_hessian

from lsexplorer.cli.commands import main
from lsexplorer.core.store.session import load_session

GRID = np.arange(-20, 21) / 4.0
X = np.stack(np.meshgrid(GRID, GRID, indexing="ij"), axis=-1).reshape(-1, 2)
TEACHER_W = np.array([[0.6, 0.5], [-0.5, 0.5], [-0.2, -0.6], [0.1, -0.6]])
TEACHER_A = np.array([1.0, -1.0, 1.0, -1.0])
Y = 1 / (1 + np.exp(-X @ TEACHER_W.T)) @ TEACHER_A
#: A width-4 local minimum of the toy problem (a refined narrower point of the bundled sample); the
#: first test re-checks in closed form that it is a strict local minimum.
LOCAL4 = np.array([0.9814681102161884, 0.6580154194657754, -0.734548629924577, 0.8039594605092808,
                   0.3195520798627341, -0.03992384467820556, 0.6661511271285367, -1.0126555738872796,
                   0.3953114306007602, -0.6707084306623554, 0.6155369504981364, -0.34013755632397286])
MUS = (0.3, 0.5, 1.5)


def duplicate(theta4: np.ndarray, j: int, mu: float) -> np.ndarray:
    """Width 4 -> 5: neuron j copied last, outgoing weight split (mu a_j, (1 - mu) a_j)."""
    w, a = theta4[:8].reshape(4, 2), theta4[8:]
    w5 = np.vstack([w, w[j]])
    a5 = np.append(a, (1 - mu) * a[j])
    a5[j] = mu * a[j]
    return np.concatenate([w5.ravel(), a5])


def planted(theta4: np.ndarray) -> np.ndarray:
    return np.array([duplicate(theta4, j, mu) for j in range(4) for mu in MUS])


def teacher_residual(theta5: np.ndarray) -> float:
    """Distance to the teacher up to permutation and splitting: each teacher neuron's incoming vector
    against its nearest student neurons', their summed outgoing weights against the teacher's, and
    every other student neuron's outgoing weight against 0."""
    w, a = theta5[:10].reshape(5, 2), theta5[10:]
    used = np.zeros(5, dtype=bool)
    sq = 0.0
    for wt, at in zip(TEACHER_W, TEACHER_A):
        d = np.linalg.norm(w - wt, axis=1)
        group = d < 1e-3
        if not group.any():
            return float("inf")
        used |= group
        sq += float(np.sum(d[group] ** 2)) + (a[group].sum() - at) ** 2
    return float(np.sqrt(sq + np.sum(a[~used] ** 2)))


def test_the_width4_point_is_a_strict_local_minimum():
    loss, grad, hess = loss_grad_hessian(LOCAL4, X, Y, m=4)
    eig = np.linalg.eigvalsh(hess)
    assert np.linalg.norm(grad) < 1e-12 and loss > 1e-5
    assert eig[0] > 1e-6 * eig[-1]


def test_perturbed_teacher_copies_refine_to_the_teacher(tmp_path, capsys):
    start = planted(np.concatenate([TEACHER_W.ravel(), TEACHER_A]))
    start += 1e-3 * np.random.default_rng(0).standard_normal(start.shape)
    np.savez(tmp_path / "perturbed.npz", theta=start)
    out = tmp_path / "refined.h5"
    assert main(["import", str(tmp_path / "perturbed.npz"), "--preset", "toy", "--refine", "-q", "-o", str(out)]) == 0
    session = load_session(out)
    assert (session.runs.kind == "global_min").all()
    for theta in session.runs.theta:
        loss, grad, _ = loss_grad_hessian(theta, X, Y, m=5)
        assert loss < 1e-28 and np.linalg.norm(grad) < 1e-14
        assert teacher_residual(theta) < 1e-6
    assert main(["analyze", str(out), "--symmetry", "-q", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["analyses"]["teacher_match"] == {"runs": 12, "matched": 12}
    assert load_session(out).analyses["teacher_match"]["summary"]["residual"].max() < 1e-6


def test_every_exact_planted_point_is_symmetry_induced_whatever_its_kind(tmp_path, capsys):
    exact = np.vstack([planted(np.concatenate([TEACHER_W.ravel(), TEACHER_A])), planted(LOCAL4)])
    np.savez(tmp_path / "exact.npz", theta=exact)
    path = tmp_path / "exact.h5"
    assert main(["import", str(tmp_path / "exact.npz"), "--preset", "toy", "-q", "-o", str(path)]) == 0
    assert main(["analyze", str(path), "--symmetry", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(path), "--json", "--runs"]) == 0
    info = json.loads(capsys.readouterr().out)
    kinds = {r["kind"] for r in info["per_run"]}
    assert [r["kind"] for r in info["per_run"][:12]] == ["global_min"] * 12
    assert len(kinds) >= 2 and "not_converged" not in kinds
    assert all(r["symmetry_induced"] for r in info["per_run"])
    assert info["symmetry_induced"] == 24
    assert main(["info", str(path), "--runs"]) == 0
    table = capsys.readouterr().out
    assert "sym.-ind." in table and table.count(" yes ") == 24
