"""Fixtures and synthetic sessions for the GUI tests (napari's ``_testsupport`` pattern).

Test modules import what they use: ``from lsexplorer.gui._testsupport import *`` brings the
fixtures, including the autouse :func:`no_leaked_qthreads`, which fails a test that leaves a worker
thread running. Sessions are built directly from arrays (fast, and independent of training).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from ..core.base.classify import Tolerances
from ..core.base.progress import Progress
from ..core.data.datasets import toy_dataset, toy_teacher
from ..core.landscape.nets import MLPSpec, xavier_init
from ..core.store.session import LossCurve, Runs, Session, Trajectory
from .workers import running_threads, stop_all_workers

TOLERANCES = Tolerances().to_dict()

#: Kinds of the runs of :func:`make_gui_session`, cycled: every kind appears, local minima most.
KIND_CYCLE = ("global_min", "local_min", "strict_saddle", "local_min", "global_min", "nonstrict_saddle",
              "local_min", "not_converged")


def make_gui_session(S: int = 24, K: int = 9, L: int = 30, d_in: int = 2, width: int = 5, bias: bool = False,
                     seed: int = 0) -> Session:
    """A session shaped like a trained toy experiment, with every kind and field present.

    ``d_in = 2`` without biases uses the thesis' toy data and teacher; otherwise a random teacher
    of width 4 and Gaussian inputs. Losses and spectra are plausible by kind: global minima ~1e-32,
    local minima ~1e-4, strict saddles have a negative ``lambda_min``; one ``not_converged`` row in
    eight carries NaN, as the format allows.
    """
    rng = np.random.default_rng(seed)
    spec = MLPSpec((d_in, width, 1), "sigmoid", bias)
    P = spec.n_params
    if d_in == 2 and not bias:
        ds = toy_dataset()
        x, y = ds.x, ds.y
        tspec, tth = toy_teacher()
    else:
        tspec = MLPSpec((d_in, 4, 1), "sigmoid", bias)
        tth = rng.normal(size=tspec.n_params)
        x = rng.normal(size=(50, d_in))
        y = rng.normal(size=(50, 1))
    seeds = np.arange(S, dtype=np.int64) * 3 + 1
    theta_init = xavier_init(spec, seeds)
    theta = theta_init + rng.normal(scale=0.8, size=(S, P))
    kind = np.array([KIND_CYCLE[i % len(KIND_CYCLE)] for i in range(S)])
    loss = np.where(kind == "global_min", 10.0 ** rng.uniform(-33, -31, S),
                    np.where(kind == "local_min", 10.0 ** rng.uniform(-4.3, -3.8, S), 10.0 ** rng.uniform(-3, -2, S)))
    eig = np.sort(rng.normal(scale=0.3, size=(S, P)) ** 2, axis=1)
    eig[:, 0] = np.where(kind == "strict_saddle", -10.0 ** rng.uniform(-4, -2, S), 10.0 ** rng.uniform(-18, -6, S))
    eig = np.sort(eig, axis=1)
    grad = 10.0 ** rng.uniform(-17, -14, S)
    bad = kind == "not_converged"
    theta_trained = theta + rng.normal(scale=0.05, size=(S, P))
    t = np.linspace(0, 1, K)[None, :, None]
    snaps = (theta_init[:, None, :] * (1 - t) + theta_trained[:, None, :] * t).astype(np.float32)
    epochs = np.unique(np.rint(np.geomspace(1, 10_001, K)).astype(np.int64) - 1)
    curve_epochs = np.unique(np.rint(np.geomspace(1, 10_001, L)).astype(np.int64) - 1)
    curve = np.exp(-np.linspace(0, 1, len(curve_epochs))[None, :] * rng.uniform(2, 8, (S, 1))) * 0.1
    loss[bad], eig[bad], grad[bad] = np.nan, np.nan, np.nan
    runs = Runs(seed=seeds, theta_init=theta_init, theta=theta, loss=loss, grad_norm=grad, hessian_eigvals=eig,
                kind=kind, degeneracy=rng.integers(0, 4, S), lambda_min=eig[:, 0],
                stop_reason=np.array(["slsqp:XTOL_REACHED+newton:grad_converged"] * S), train_loss=curve[:, -1],
                theta_trained=theta_trained, symmetry_induced=(kind == "local_min") & (np.arange(S) % 3 == 0),
                trajectory=Trajectory(epochs, snaps[:, :len(epochs)], rng.uniform(0, 1, (S, len(epochs)))),
                loss_curve=LossCurve(curve_epochs, curve))
    config = {"preset": "toy", "data": {"kind": "toy" if d_in == 2 and not bias else "gaussian"},
              "network": spec.to_dict(), "teacher": tspec.to_dict(), "seeds": seeds.tolist(),
              "train": {"epochs": 10_000, "lr": 0.01}, "refine": {}, "tolerances": TOLERANCES}
    return Session(config=config, x=x, y=y, teacher_theta=tth, runs=runs, analyses={})


def make_deep_gui_session(S: int = 3, d_in: int = 10, hidden: tuple[int, ...] = (4, 4, 4), N: int = 40,
                          seed: int = 0) -> Session:
    """A small deep session as ``train --preset digits-pca10`` writes it: ``d_in`` inputs, several
    hidden sigmoid layers with biases, no teacher, labels ±1, and every run ``not_converged``.

    Losses, gradients and Hessian spectra are the exact ones of each row's point.
    """
    from ..core.landscape.hessian import loss_grad_hessian

    rng = np.random.default_rng(seed)
    spec = MLPSpec((d_in, *hidden, 1), "sigmoid", True)
    P = spec.n_params
    x = rng.normal(size=(N, d_in))
    y = np.where(rng.random((N, 1)) < 0.5, -1.0, 1.0)
    seeds = np.arange(S, dtype=np.int64)
    theta_init = xavier_init(spec, seeds)
    theta = theta_init + rng.normal(scale=0.3, size=(S, P))
    theta_trained = theta + rng.normal(scale=1e-3, size=(S, P))
    loss, grad, eig = np.empty(S), np.empty(S), np.empty((S, P))
    for i in range(S):
        value, g, h = loss_grad_hessian(spec, theta[i], x, y)
        loss[i], grad[i], eig[i] = float(value), float(np.linalg.norm(g)), np.linalg.eigvalsh(h)
    K, L = 5, 12
    t = np.linspace(0, 1, K)[None, :, None]
    snaps = (theta_init[:, None, :] * (1 - t) + theta_trained[:, None, :] * t).astype(np.float32)
    epochs = np.unique(np.rint(np.geomspace(1, 301, K)).astype(np.int64) - 1)
    curve_epochs = np.unique(np.rint(np.geomspace(1, 301, L)).astype(np.int64) - 1)
    curve = loss[:, None] * (1 + np.exp(-np.linspace(0, 4, len(curve_epochs))))[None, :]
    runs = Runs(seed=seeds, theta_init=theta_init, theta=theta, loss=loss, grad_norm=grad, hessian_eigvals=eig,
                kind=np.array(["not_converged"] * S), degeneracy=np.zeros(S, dtype=np.int64), lambda_min=eig[:, 0],
                stop_reason=np.array(["epoch_cap"] * S), train_loss=curve[:, -1], theta_trained=theta_trained,
                trajectory=Trajectory(epochs, snaps[:, :len(epochs)], rng.uniform(0, 1, (S, len(epochs)))),
                loss_curve=LossCurve(curve_epochs, curve))
    config = {"preset": "digits-pca10", "data": {"kind": "digits-pca10"}, "network": spec.to_dict(),
              "teacher": None, "seeds": seeds.tolist(), "train": {"epochs": 300, "lr": 1e-4}, "refine": {},
              "tolerances": Tolerances().to_dict()}
    return Session(config=config, x=x, y=y, teacher_theta=None, runs=runs, analyses={})


#: The record the fake experiment yields (the core's one progress type).
FakeProgress = Progress


def fake_experiment(session: Session, period: float = 0.02, epochs_per_record: int = 100):
    """A ``run_experiment`` stand-in: yields training progress every ``period`` s until ``stop`` is set,
    then two certification records, and returns ``session``. Never ends on its own.
    """
    def runner(config: dict, stop: threading.Event):
        S = len(config["seeds"])
        total = int(config["train"]["epochs"])
        done, started = 0, time.perf_counter()
        while not stop.is_set() and done < total:
            time.sleep(period)
            done = min(total, done + epochs_per_record)
            yield FakeProgress("train", done, total, time.perf_counter() - started,
                               loss=np.full(S, 1.0 / (1 + done)), epochs_per_s=epochs_per_record / period)
        for k in (1, 2):
            yield FakeProgress("certify", k, 2, time.perf_counter() - started)
        return session
    return runner


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def no_leaked_qthreads(qapp):
    """Fail a test that leaves a worker QThread running (after stopping it, so others are unaffected)."""
    yield
    leaked = running_threads()
    if leaked:
        names = [t.objectName() for t in leaked]
        stop_all_workers()
        pytest.fail(f"test left QThread(s) running: {names}")


@pytest.fixture
def gui_settings(tmp_path):
    """A private QSettings file; the default user-scope location is redirected into tmp_path too."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "user-settings"))
    return QSettings(str(tmp_path / "lsexplorer-test.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def gui_session() -> Session:
    return make_gui_session()


@pytest.fixture
def session_model(qapp, gui_session):
    """A SessionModel holding :func:`make_gui_session`."""
    from .model import SessionModel

    model = SessionModel()
    model.set_session(gui_session)
    return model


@pytest.fixture
def main_window(qtbot, gui_settings, gui_session):
    """A shown MainWindow on :func:`make_gui_session` whose prompts never block.

    ``window.answers`` lists what ``ask_question`` returns, in order (default: Yes/Discard);
    ``window.asked`` records the questions.
    """
    from .app import MainWindow

    window = MainWindow(settings=gui_settings)
    window.answers, window.asked = [], []

    def ask_question(title, text, buttons, default):
        window.asked.append(title)
        if window.answers:
            return window.answers.pop(0)
        return QMessageBox.StandardButton.Yes if buttons & QMessageBox.StandardButton.Yes else \
            QMessageBox.StandardButton.Discard

    window.ask_question = ask_question
    window.ask_save_path = lambda *a: None
    window.ask_open_path = lambda *a: None
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    # Window shortcuts need the active window; a bare X server (no window manager) activates only
    # on request.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.model.set_session(gui_session)
    yield window
    window.model.tasks.cancel_all()
    window.model.tasks.wait_all(10_000)


@pytest.fixture
def figures(main_window, qtbot):
    """:func:`main_window` with its first local minimum selected, so every panel draws its figures."""
    main_window.model.select(int(np.flatnonzero(main_window.model.session.runs.kind == "local_min")[0]))
    qtbot.wait(50)
    return main_window


__all__ = [
    "KIND_CYCLE",
    "FakeProgress",
    "fake_experiment",
    "figures",
    "gui_session",
    "gui_settings",
    "main_window",
    "make_deep_gui_session",
    "make_gui_session",
    "no_leaked_qthreads",
    "session_model",
]
