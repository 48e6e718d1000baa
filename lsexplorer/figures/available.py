"""Why a figure cannot be drawn for a run, and round-off that must not be drawn as data.

A figure's data function raises :class:`FigureUnavailable` when what it draws is not in the session
(an analysis never run for that run, a run of the wrong kind); the message is one line that says
what is missing and the command that computes it, and ``needs`` names the analyses that
``export --compute-missing`` runs first.

Values that are all round-off (a slice flat to 1e-20, a spectrum of zeros) are not data: a figure
says so in a note (:func:`roundoff_note`) instead of drawing the noise.
"""

from __future__ import annotations

import numpy as np

from ..core.base.errors import InputError

#: Relative size of round-off in a value computed in float64 from quantities of a given size: a few
#: thousand ulps, the error of sums over a data set and of an eigen-decomposition.
ROUNDOFF = 4096 * np.finfo(np.float64).eps


class FigureUnavailable(InputError):
    """A figure that the session cannot give for this run; the message says why and how to compute it."""

    def __init__(self, reason: str, needs: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needs = tuple(needs)


def analysis_command(analysis: str, run: int | None) -> str:
    """The CLI command that stores ``analysis`` for ``run`` (every run when None)."""
    runs = "" if run is None else f" --runs {run}"
    return f"lsexplorer analyze SESSION{runs} --{analysis.replace('_', '-')}"


def missing(what: str, analysis: str, run: int | None) -> FigureUnavailable:
    """The error of a figure whose ``analysis`` is not stored for ``run``."""
    return FigureUnavailable(f"no {what}; run `{analysis_command(analysis, run)}`", needs=(analysis,))


def is_roundoff(values: np.ndarray, scale: float) -> bool:
    """Whether the finite ``values`` vary by no more than round-off of quantities of size ``scale``
    (and of their own size): nothing a plot of them could show but noise. No finite value: True."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return True
    size = max(abs(float(scale)), float(np.max(np.abs(v))), np.finfo(np.float64).tiny)
    return float(np.ptp(v)) <= ROUNDOFF * size


def roundoff_note(what: str, values: np.ndarray, scale: float) -> str:
    """The sentence a figure shows in place of ``values`` that are round-off of size-``scale`` numbers."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    spread = float(np.ptp(v)) if v.size else 0.0
    return (f"{what} varies by {spread:.1e} here: round-off of values of size {abs(float(scale)):.1e}, "
            f"so it is flat to float64 precision and not drawn")


__all__ = ["ROUNDOFF", "FigureUnavailable", "analysis_command", "is_roundoff", "missing", "roundoff_note"]
