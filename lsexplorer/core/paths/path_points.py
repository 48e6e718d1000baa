"""A path's certified highest point as a session of its own, so every point view can show it.

The app's views (neurons, saddle line, slices, statistics) look at the runs of a session. Rather
than adding a row to ``/runs`` (which holds what training and refinement produced, and which the
outcome counts summarise), :func:`saddle_session` builds a one-run session over the same data,
teacher, configuration and tolerances whose run is the path's saddle, with its exact loss, gradient
norm, spectrum and kind:

* a finite certified saddle (direct, Levenberg–Marquardt or through the narrower net): the point
  itself, ``strict_saddle`` (``local_min`` if it has no negative eigenvalue), symmetry-induced when
  it came from the narrower net;
* a saddle at infinity: the network realised on the channel towards the certified limit model
  (:func:`channel_model.realise`) at the largest checked amplitude, corrected so that its gradient
  vanishes (:mod:`..channels.channel_polish`), kind ``channel_saddle``
  (``channel`` for an index-0 limit), as the channel analysis classifies diverged points; the
  stop reason carries the limit's certificate.

``theta_init`` is the path's source run and ``theta_trained`` the band's climbing image, so "where
it came from" stays visible.
"""

from __future__ import annotations

import json

import numpy as np

from ..base.classify import Tolerances, classify, loss_scale
from ..channels.channel_polish import polish_on_channel
from ..channels.limit_model import LimitStructure, realise
from ..landscape.hessian import loss_grad_hessian, spectrum
from ..store.session import Runs, Session
from .minimum_energy import PathResult
from .path_saddle import APPROACH_AMPLITUDES, outcome_label


def saddle_point(result: PathResult, x=None, y=None) -> np.ndarray | None:
    """The network point that stands for ``result``'s certified highest point, None if there is none; with the
    data ``x (N, d)``, ``y (N, 1)`` a channel's point is the corrected one whose gradient vanishes
    (:func:`..channels.channel_polish.polish_on_channel`), not the plain realisation's."""
    o = result.outcome
    if o is None or not o.certified:
        return None
    if o.outcome != "channel":
        return np.array(o.theta, dtype=np.float64)
    structure = LimitStructure.from_dict(json.loads(o.limit_structure))
    amplitude = APPROACH_AMPLITUDES[-1]
    if x is not None and y is not None:
        return polish_on_channel(realise, structure, o.limit_phi, amplitude, x, y).theta
    return realise(structure, o.limit_phi, amplitude)


def saddle_session(session: Session, result: PathResult) -> Session:
    """A one-run :class:`Session` holding ``result``'s certified highest point (module docstring).

    Raises ``ValueError`` when the path's highest point is not certified.
    """
    theta = saddle_point(result, session.x, session.y)
    if theta is None:
        raise ValueError(f"the highest point of path {result.key} is not certified: "
                         f"{outcome_label(result.outcome)}")
    o = result.outcome
    spec = session.spec
    if theta.size != spec.n_params:
        raise ValueError(f"the realised channel has {theta.size} parameters, the session's network {spec.n_params}")
    tolerances = Tolerances.from_dict(session.config.get("tolerances", {}))
    value, g, h = loss_grad_hessian(spec, theta, session.x, session.y)
    eig = spectrum(h)[0]
    c = classify(value, float(np.linalg.norm(g)), eig, loss_scale(session.y.reshape(len(session.y), -1)), tolerances)
    if o.outcome == "channel":
        kind = "channel_saddle" if o.index > 0 else "channel"
        why = (f"path {result.key}: saddle at infinity, index {o.index}; realised at A = {APPROACH_AMPLITUDES[-1]:g}; "
               f"{o.reason}")
    else:
        kind = "strict_saddle" if o.index > 0 else "local_min"
        why = f"path {result.key}: {outcome_label(o)}, |grad| {o.grad_norm:.1e}"
    source = session.runs.theta[result.run_from] if 0 <= result.run_from < session.runs.n_runs else theta
    climbing = result.images[result.climbing if result.climbing > 0 else int(np.argmax(result.values))]
    seed = int(session.runs.seed[result.run_from]) if 0 <= result.run_from < session.runs.n_runs else -1
    runs = Runs(seed=np.array([seed]), theta_init=source[None], theta=theta[None], loss=np.array([value]),
                grad_norm=np.array([np.linalg.norm(g)]), hessian_eigvals=eig[None], kind=np.array([kind]),
                degeneracy=np.array([c.n_zero]), lambda_min=np.array([eig[0]]), stop_reason=np.array([why]),
                train_loss=np.array([float(np.max(result.values))]), theta_trained=climbing[None],
                symmetry_induced=np.array([o.outcome == "symmetry_induced"]))
    config = dict(session.config)
    config["origin"] = {"path": result.key, "run": int(result.run_from), "outcome": o.outcome,
                        "label": outcome_label(o)}
    return Session(config, session.x.copy(), session.y.copy(), session.teacher_theta, runs,
                   distribution=session.distribution)


__all__ = ["saddle_point", "saddle_session"]
