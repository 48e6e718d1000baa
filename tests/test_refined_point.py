"""One result type for every refiner: the stop reasons it renders are the strings sessions stored
before it existed (refine with and without polishing, trust-region Newton, Levenberg–Marquardt,
a channel's limit model, certification), and its message table covers every status."""

import re
import threading

import numpy as np
import pytest
import torch

from lsexplorer.core.base.progress import run_generator
from lsexplorer.core.base.refined import MESSAGES, RefinedPoint, Stage, StageEnd, Status
from lsexplorer.core.channels.limit_model import (
    LimitParams,
    LimitStructure,
    pack,
    refine_limit,
)
from lsexplorer.core.critical.certify import certify
from lsexplorer.core.critical.critical_lm import critical_point_lm
from lsexplorer.core.critical.refine import RefineConfig, refine
from lsexplorer.core.critical.trust_newton import trust_newton
from lsexplorer.core.data.datasets import gaussian_teacher_dataset, toy_teacher
from lsexplorer.core.landscape.hessian import float64_problem
from lsexplorer.core.landscape.muller_brown import (
    SADDLES,
    muller_brown,
    muller_brown_landscape,
)
from lsexplorer.core.landscape.nets import MLPSpec, xavier_init
from lsexplorer.core.paths.saddle_search import SaddleConfig, SaddleSearch, find_saddle
from lsexplorer.core.population.descent import certify_population, newton_polish
from lsexplorer.core.population.relu_gaussian import ReluGaussian
from lsexplorer.core.symmetry.operations import duplicate_neuron, sign_flip

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def test_every_status_has_one_message_and_renders_as_its_stored_word():
    assert set(MESSAGES) == set(Status) and all(MESSAGES.values())
    assert f"{Status.XTOL_REACHED}" == "XTOL_REACHED" and str(Status.GRAD_CONVERGED) == "grad_converged"
    assert str(StageEnd(Stage.TRUST_NEWTON, Status.GRAD_SMALL, "21")) == "trust_newton:grad_small:21"
    assert str(StageEnd(Stage.POLISH, Status.ACCEPTED, "L1:merged1+dropped0:accepted")) == "polish:L1:merged1+dropped0:accepted"
    point = RefinedPoint(np.zeros(2), 0.0, 0.0, 3, Status.STALLED, Stage.LM)
    assert point.stop_reason == "stalled" and point.message == MESSAGES[Status.STALLED]


# (stop reason, SLSQP evaluations, stage-3 Hessians), recorded with the refiners' own result types
# before they shared this one.
# Stop reasons as stored, with the stage ends that depend on rounding (whether Gauss-Newton's last
# steps stalled or stopped halving at a loss of ~1e-32) left open, and an upper bound on the objective
# evaluations, whose exact count depends on the BLAS build's rounding.
GN_END = "gauss_newton:loss_(converged|stalled)"


@pytest.mark.parametrize("case, expected", [
    ("teacher", (rf"slsqp:XTOL_REACHED\+{GN_END}\+newton:grad_converged", 150, 1)),
    ("split", (rf"slsqp:FTOL_REACHED\+{GN_END}\+newton:grad_converged\+polish:L1:merged1\+dropped0:accepted",
               250, 2)),
    ("flipped", (rf"slsqp:FTOL_REACHED\+{GN_END}\+newton:grad_converged"
                 r"\+polish:L1:merged1\+dropped0\+flipped2:accepted", 300, 2)),
    ("nan", (r"nonfinite: the start point has NaN/inf entries", 0, 0)),
    ("cancelled", ("cancelled", 1, 0)),
    ("limits", (r"slsqp:MAXEVAL_REACHED\+newton:max_iter", 3, 1)),
])
def test_refine_stop_reasons_are_the_stored_strings(toy, case, expected):
    spec, teacher = toy_teacher()
    config, stop = None, None
    if case == "teacher":
        start = teacher + 1e-3 * np.random.default_rng(0).normal(size=teacher.size)
    elif case == "split":
        spec, wide = duplicate_neuron(spec, teacher, 1, 2, 1.5)
        start = wide + 1e-3 * np.random.default_rng(1).normal(size=wide.shape)
    elif case == "flipped":
        spec, wide = duplicate_neuron(spec, teacher, 1, 1, 2.0)
        wide = sign_flip(spec, wide, 1, [4, 3])
        start = wide + 1e-3 * np.random.default_rng(1).standard_normal(wide.shape)
    elif case == "nan":
        start = np.full(spec.n_params, np.nan)
    elif case == "cancelled":
        start, stop = teacher, threading.Event()
        stop.set()
    else:
        start, config = teacher + 0.01, RefineConfig(slsqp_maxeval=3, newton_max_iter=1)
    res = refine(spec, start, toy.x, toy.y, config, stop)
    pattern, max_evaluations, iterations = expected
    assert re.fullmatch(pattern, res.stop_reason), res.stop_reason
    assert (res.evaluations == max_evaluations if case in ("nan", "cancelled", "limits")
            else 0 < res.evaluations <= max_evaluations)
    assert res.iterations == iterations
    assert res.status is {"nan": Status.NONFINITE, "cancelled": Status.CANCELLED, "split": Status.ACCEPTED,
                          "flipped": Status.ACCEPTED, "limits": Status.MAX_ITER}.get(case, Status.GRAD_CONVERGED)
    assert res.stage is {"nan": None, "split": Stage.POLISH, "flipped": Stage.POLISH}.get(case, Stage.NEWTON)


SPEC = MLPSpec((2, 2, 2, 1), "tanh", bias=True)
TEACHER = np.array([1.2, -0.7, 0.4, 0.9, 0.3, -0.2, 0.8, -1.1, 0.5, 1.3, 0.1, -0.4, 1.5, -0.9, 0.2])[:SPEC.n_params]


def test_trust_newton_stop_reasons_are_the_stored_strings():
    data = gaussian_teacher_dataset(120, SPEC, seed=3, teacher_theta=TEACHER)
    start = TEACHER + 0.4 * np.random.default_rng(0).normal(size=SPEC.n_params)
    res = refine(SPEC, start, data.x, data.y, RefineConfig(minimizer="trust_newton"))
    assert res.stop_reason == "trust_newton:grad_small:21+gauss_newton:loss_stalled+newton:grad_converged"
    t, xt, yt = float64_problem(SPEC, start, data.x, data.y)
    alone = trust_newton(SPEC, t.numpy(), xt, yt, gtol=1e-11, max_iter=200, maxtime=120.0)
    assert (alone.stop_reason, alone.iterations, alone.stage) == ("grad_small", 22, Stage.TRUST_NEWTON)
    assert alone.grad_norm == float(np.linalg.norm(alone.grad))


def _planted(t: torch.Tensor) -> torch.Tensor:
    return muller_brown(t[:2]) + (t[2] ** 2 + t[3] ** 2 - 1.0) ** 2


def _vgh(theta: np.ndarray):
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    value = _planted(t)
    return float(value.detach()), torch.autograd.grad(value, t)[0].numpy(), torch.autograd.functional.hessian(
        _planted, t.detach()).numpy()


@pytest.mark.parametrize("max_steps, expected", [(100, ("grad_converged", 9)), (3, ("max_steps", 3))])
def test_levenberg_marquardt_stop_reasons_are_the_stored_strings(max_steps, expected):
    x, y, _ = SADDLES[0]
    res = critical_point_lm(_vgh, np.array([x + 0.02, y - 0.03, 0.9, 0.5]), max_steps)
    assert (res.stop_reason, res.iterations) == expected and res.stage is Stage.LM
    assert res.moved > 0 and res.grad_floor > 0


@pytest.mark.parametrize("max_iter, expected", [(2000, "trust:stopped+newton:grad_converged"),
                                                (5, "trust:stopped+newton:max_iter")])
def test_limit_model_stop_reasons_are_the_stored_strings(toy, max_iter, expected):
    structure = LimitStructure(d=2, activation="sigmoid", n_finite=3, n_glu=1, constant=False, linear=False)
    start = LimitParams(w=np.array([[0.8, 0.6], [-1.0, 1.1], [0.9, -1.6]]), a=np.array([0.5, -0.5, 0.4]),
                        u=np.array([[-1.4, 1.0]]), c=np.array([-0.3]), v=np.array([[0.4, -0.2]]), b=0.0,
                        l=np.zeros(2))
    res = refine_limit(structure, pack(structure, start), toy.x, toy.y, max_iter=max_iter)
    assert res.stop_reason == expected and res.eigvals.shape == res.theta.shape


def test_certified_stop_reasons_are_the_stored_strings(toy):
    spec = MLPSpec((2, 3, 1))
    gen = certify(spec, xavier_init(spec, [0, 1, 2]), toy.x, toy.y)
    with pytest.raises(StopIteration) as done:
        while True:
            next(gen)
    points = done.value.value
    assert points.stop_reason.tolist() == ["slsqp:FTOL_REACHED+newton:grad_converged"] * 3
    assert points.kind.tolist() == ["local_min"] * 3


def test_runs_take_a_certification_whole_as_the_hand_copy_did(toy):
    from lsexplorer.core.store.session import CERTIFIED_FIELDS, Runs

    spec = MLPSpec((2, 3, 1))
    start = xavier_init(spec, [0, 1])
    gen = certify(spec, start, toy.x, toy.y, RefineConfig(slsqp_maxeval=50))
    with pytest.raises(StopIteration) as done:
        while True:
            next(gen)
    p = done.value.value
    rest = dict(seed=np.array([0, 1]), theta_init=start, train_loss=np.array([0.1, 0.2]), theta_trained=start)
    by_hand = Runs(theta=p.theta, loss=p.loss, grad_norm=p.grad_norm, hessian_eigvals=p.hessian_eigvals, kind=p.kind,
                   degeneracy=p.degeneracy, lambda_min=p.lambda_min, stop_reason=p.stop_reason,
                   symmetry_induced=np.zeros(2, dtype=bool), **rest)
    runs = Runs.from_certified(p, **rest)
    for name in (*CERTIFIED_FIELDS, "seed", "theta_init", "train_loss", "theta_trained", "symmetry_induced"):
        a, b = getattr(runs, name), getattr(by_hand, name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name


# The saddle search's stored records (under /analyses/paths), recorded before it held a RefinedPoint.
MB_SEARCHES = [
    (None, False, {"follow_steps": 3, "newton_steps": 1, "stop_reason": "grad_converged"}),
    ({"newton_steps": 1}, False, {"follow_steps": 3, "newton_steps": 1, "stop_reason": "newton_steps"}),
    ({"follow_steps": 0}, False, {"follow_steps": 0, "newton_steps": 4, "stop_reason": "grad_converged"}),
    (None, True, {"follow_steps": 0, "newton_steps": 0, "moved": 0.0, "stop_reason": "cancelled"}),
    ({"follow_steps": 0, "newton_steps": 0}, False,
     {"follow_steps": 0, "newton_steps": 0, "stop_reason": "newton_steps"}),
]


@pytest.mark.parametrize("config, cancel, expected", MB_SEARCHES)
def test_saddle_search_records_are_the_stored_ones(config, cancel, expected):
    x, y, _ = SADDLES[0]
    stop = threading.Event()
    if cancel:
        stop.set()
    found = find_saddle(muller_brown_landscape(), np.array([x + 0.02, y - 0.03]), np.array([1.0, 0.0]),
                        SaddleConfig(**(config or {})), stop)
    stored = found.to_dict()
    assert list(stored) == ["record", "theta", "value", "grad_norm", "grad_floor", "follow_steps", "newton_steps",
                            "moved", "stop_reason"]
    assert stored["record"] == "SaddleSearch" and {k: stored[k] for k in expected} == expected
    assert all(type(stored[k]) is float for k in ("value", "grad_norm", "grad_floor", "moved"))
    assert all(type(stored[k]) is int for k in ("follow_steps", "newton_steps"))
    assert type(stored["stop_reason"]) is str and isinstance(stored["theta"], np.ndarray)
    again = SaddleSearch.from_dict(stored).to_dict()
    assert list(again) == list(stored) and all(np.array_equal(again[k], stored[k]) for k in stored)
    assert all(type(again[k]) is type(stored[k]) for k in stored)


class _BlowsUp:
    """A population problem whose gradient is no longer finite after the first Newton step."""

    k = 1

    def __init__(self):
        self.calls = 0

    def loss_and_grad(self, theta):
        self.calls += 1
        g = torch.tensor(theta if self.calls == 1 else np.full_like(theta, np.inf))[None]
        return torch.tensor([float(theta @ theta) / 2]), g

    def hessian(self, theta):
        return torch.eye(theta.size, dtype=torch.float64)[None]


# The population Newton's stop reasons (stored in /runs/stop_reason of relu-gaussian sessions),
# recorded when newton_polish returned a string.
@pytest.mark.parametrize("start, iterations, expected", [
    ("near", 30, "newton: converged after 1 iterations"),
    ("random", 2, "newton: max iterations (2)"),
    ("random", 30, "newton: converged after 7 iterations"),
    ("blows_up", 30, "newton: non-finite gradient"),
])
def test_population_newton_stop_reasons_are_the_stored_strings(start, iterations, expected):
    problem = ReluGaussian(np.eye(2), 2)
    teacher = problem.teacher.ravel()
    theta = {"near": 1.1 * teacher, "random": np.random.default_rng(0).normal(size=teacher.size),
             "blows_up": np.ones(4)}[start]
    point = newton_polish(_BlowsUp() if start == "blows_up" else problem, theta, iterations)
    assert point.stop_reason == expected and point.stage is Stage.NEWTON
    assert point.grad_norm == pytest.approx(float(np.linalg.norm(problem.loss_and_grad(point.theta)[1])), abs=1e-300) \
        if start != "blows_up" else point.grad_norm == 2.0


def test_certified_population_stop_reasons_are_the_stored_strings():
    problem = ReluGaussian(np.eye(2), 2)
    t = problem.teacher.ravel()
    thetas = np.stack([1.1 * t, t + 0.3, np.full_like(t, np.nan), 1e6 * t])
    points = run_generator(certify_population(problem, thetas))
    assert points.stop_reason.tolist() == ["newton: converged after 1 iterations", "newton: converged after 4 iterations",
                                           "non-finite end of descent", "newton: converged after 2 iterations"]
    assert points.kind.tolist() == ["global_min", "global_min", "not_converged", "global_min"]


def test_a_stored_stop_reason_of_no_known_status_is_read_back_and_written_again_verbatim():
    stored = {"record": "SaddleSearch", "theta": np.array([0.5, 1.0]), "value": np.float64(-1.5),
              "grad_norm": np.float64(1e-14), "grad_floor": np.float64(2e-14), "follow_steps": np.int64(4),
              "newton_steps": np.int64(2), "moved": np.float64(0.25), "stop_reason": "switched"}
    search = SaddleSearch.from_dict(stored)
    assert search.point.status is Status.RESTORED and search.stop_reason == "switched"
    again = search.to_dict()
    assert again == {**stored, "theta": again["theta"]} and np.array_equal(again["theta"], stored["theta"])
    assert type(again["value"]) is float and type(again["newton_steps"]) is int
    known = SaddleSearch.from_dict({**stored, "stop_reason": "stalled"})
    assert known.point.status is Status.STALLED and known.stop_reason == "stalled"
