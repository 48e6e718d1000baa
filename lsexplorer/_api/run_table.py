"""A session's runs and outcomes as pandas tables.

:func:`run_columns` gathers one entry per run from ``/runs`` and the stored analyses: what
``lsexplorer info --runs --json`` lists, plus the index, the symmetry type and the limit loss of a
channel. What is not known for a run is missing, never 0: NaN in float columns (pandas' NA for
floats), ``<NA>`` in the integer and boolean ones, a missing value in the text ones.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.base.classify import Tolerances
from ..core.base.kinds import Kind

if TYPE_CHECKING:
    import pandas

    from ..core.store.session import Session

#: Every column of :func:`runs_frame`, in order, with what it holds.
COLUMNS: dict[str, str] = {
    "run": "the run's row in the session (0-based)",
    "seed": "the seed it was trained (or imported) with",
    "kind": "global_min, local_min, strict_saddle, nonstrict_saddle, channel, channel_saddle or not_converged",
    "loss": "L(θ) at the refined point",
    "grad_norm": "‖∇L(θ)‖ at the refined point",
    "lambda_min": "the smallest Hessian eigenvalue there",
    "index": "negative Hessian eigenvalues (of the limit model for channel kinds); NA when not converged",
    "degeneracy": "Hessian eigenvalues counted as zero; NA where the spectrum is not finite",
    "symmetry_induced": "embeds a certified narrower critical point: on a saddle line, or reduced under a symmetry "
                        "(the closest-saddle analysis); NA when not analysed",
    "symmetry_type": "how the point reduces to a narrower network: duplicate, flipped_duplicate, zero_outgoing, "
                     "zero_incoming joined by +, or irreducible (the stored analysis where there is one, else "
                     "read off the point); NA when it is not a finite critical point",
    "loss_limit": "the loss L∞ a channel approaches (channel kinds with a stored limit); NaN otherwise",
    "train_loss": "the loss where training ended",
    "stop_reason": "why refinement stopped",
}
#: Kinds that are finite critical points (whose spectrum and structure mean something).
FINITE_CRITICAL = (Kind.GLOBAL_MIN, Kind.LOCAL_MIN, Kind.STRICT_SADDLE, Kind.NONSTRICT_SADDLE)
#: Kinds at the end of a flat channel.
AT_INFINITY = (Kind.CHANNEL, Kind.CHANNEL_SADDLE)


def _negative_count(eigvals: np.ndarray, tolerances: Tolerances) -> int | None:
    """Eigenvalues below ``-zero_eig_tol``; None for a spectrum that is empty or not finite."""
    eigvals = np.asarray(eigvals, dtype=np.float64)
    if eigvals.size == 0 or not np.isfinite(eigvals).all():
        return None
    return int((eigvals < -tolerances.zero_eig_tol(eigvals)).sum())


def _symmetry_decisions(session: Session) -> dict[int, bool]:
    """The stored symmetry-induced decision of every analysed run."""
    from ..core.analyses import closest_saddle

    table = closest_saddle.read_table(session)
    if table is None:
        return {}
    return {int(r): bool(si) for r, si in zip(table.run, table.symmetry_induced)}


def _symmetry_types(session: Session) -> dict[int, str]:
    """The stored symmetry type of every analysed run (empty strings: stored before types were)."""
    from ..core.analyses import closest_saddle

    table = closest_saddle.read_table(session)
    if table is None:
        return {}
    return {int(r): str(t) for r, t in zip(table.run, table.symmetry_type) if str(t)}


def _channel_limits(session: Session, tolerances: Tolerances) -> dict[int, tuple[float, int | None]]:
    """``run -> (limit loss, index of the limit model)`` of every run stored as a channel kind."""
    from ..core.analyses import channels

    out = {}
    for row in np.flatnonzero(np.isin(session.runs.kind, AT_INFINITY)):
        result = channels.read(session, int(row))
        if result is not None and result.kind in AT_INFINITY:
            out[int(row)] = (float(result.loss_limit), _negative_count(result.eigvals, tolerances))
    return out


@dataclasses.dataclass(frozen=True)
class StoredFacts:
    """What a session's stored analyses say about its runs, read once for a whole table: the
    classification tolerances, the symmetry-induced decisions and the limits of the channels."""

    tolerances: Tolerances
    decisions: dict[int, bool]
    limits: dict[int, tuple[float, int | None]]
    types: dict[int, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, session: Session) -> StoredFacts:
        tolerances = Tolerances.from_dict(session.config.get("tolerances", {}))
        return cls(tolerances, _symmetry_decisions(session), _channel_limits(session, tolerances),
                   _symmetry_types(session))


def run_values(session: Session, facts: StoredFacts, row: int) -> dict[str, Any]:
    """Every column of :data:`COLUMNS` for run ``row``; None where a value is not known."""
    runs = session.runs
    kind = str(runs.kind[row])
    finite = kind in FINITE_CRITICAL and bool(np.isfinite(runs.theta[row]).all())
    if kind in AT_INFINITY:
        limit, index = facts.limits.get(row, (None, None))
    else:
        limit, index = None, (_negative_count(runs.hessian_eigvals[row], facts.tolerances) if finite else None)
    spectrum_known = bool(np.isfinite(runs.hessian_eigvals[row]).all())
    return {"run": row, "seed": int(runs.seed[row]), "kind": kind, "loss": _number(runs.loss[row]),
            "grad_norm": _number(runs.grad_norm[row]), "lambda_min": _number(runs.lambda_min[row]), "index": index,
            "degeneracy": int(runs.degeneracy[row]) if spectrum_known else None,
            "symmetry_induced": facts.decisions.get(row),
            "symmetry_type": (facts.types.get(row) or _symmetry_type(session.spec, runs.theta[row])) if finite
            else None,
            "loss_limit": limit, "train_loss": _number(runs.train_loss[row]),
            "stop_reason": str(runs.stop_reason[row])}


def run_columns(session: Session) -> dict[str, list[Any]]:
    """Every column of :data:`COLUMNS` as a list, one entry per run; None where a value is not known."""
    facts = StoredFacts.of(session)
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in range(session.runs.n_runs):
        for name, value in run_values(session, facts, row).items():
            columns[name].append(value)
    return columns


def _symmetry_type(spec, theta: np.ndarray) -> str:
    from ..core.saddles.symmetry_type import symmetry_type  # at call time: reading a table loads no torch before

    return symmetry_type(spec, theta)


def _number(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


#: The pandas dtype of each column: nullable integers, booleans and strings, so that "not known" is
#: ``<NA>`` there; NaN is the missing value of the float columns.
DTYPES = {"run": "int64", "seed": "int64", "kind": "string", "loss": "float64", "grad_norm": "float64",
          "lambda_min": "float64", "index": "Int64", "degeneracy": "Int64", "symmetry_induced": "boolean",
          "symmetry_type": "string", "loss_limit": "float64", "train_loss": "float64", "stop_reason": "string"}


def runs_frame(session: Session) -> pandas.DataFrame:
    """:func:`run_columns` as a DataFrame, one row per run (its index is the run), missing values as NA."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series(values, dtype=DTYPES[name]) for name, values in run_columns(session).items()})


def _finite_stat(reduce, values: np.ndarray) -> float:
    """``reduce`` over the finite ``values``; NaN when there is none."""
    values = values[np.isfinite(values)]
    return float(reduce(values)) if values.size else np.nan


def outcomes_frame(session: Session) -> pandas.DataFrame:
    """The outcome table (thesis Table 6.1): per kind (the index, in table order, then ``total``) the
    ``count``, how many are ``symmetry_induced``, ``loss_min`` and ``loss_max``, ``grad_norm_max`` and
    ``lambda_min_median``; NaN for a kind without runs."""
    import pandas as pd

    runs = session.runs
    rows = []
    for kind in Kind:
        mask = runs.kind == kind.value
        rows.append({"count": int(mask.sum()), "symmetry_induced": int((mask & runs.symmetry_induced).sum()),
                     "loss_min": _finite_stat(np.min, runs.loss[mask]),
                     "loss_max": _finite_stat(np.max, runs.loss[mask]),
                     "grad_norm_max": _finite_stat(np.max, runs.grad_norm[mask]),
                     "lambda_min_median": _finite_stat(np.median, runs.lambda_min[mask])})
    rows.append({"count": runs.n_runs, "symmetry_induced": int(runs.symmetry_induced.sum()), "loss_min": np.nan,
                 "loss_max": np.nan, "grad_norm_max": np.nan, "lambda_min_median": np.nan})
    return pd.DataFrame(rows, index=pd.Index([k.value for k in Kind] + ["total"], name="kind"))


__all__ = ["COLUMNS", "DTYPES", "StoredFacts", "outcomes_frame", "run_columns", "run_values", "runs_frame"]
