"""Many figures of a session written at once: chosen figures for chosen runs, and what was skipped and why.

:func:`export_figures` is what ``lsexplorer export`` runs (and what a notebook may call): for every
chosen figure it draws each chosen run (a per-session figure once) and writes it with
:func:`~.files.write_figure`. A figure the session cannot give for a run is not an error: it is
listed in :attr:`ExportReport.skipped` with the one-line reason (e.g. the analysis to run), and a
run whose computation fails numerically is skipped the same way, without losing the others.
:func:`missing_analyses` says which stored analyses the chosen figures lack, so a caller can compute
them first (``--compute-missing``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..core.analyses import REGISTRY, closest_saddle, escape, mu_sweep
from ..core.analyses import paths as stored_paths
from ..core.base.kinds import Kind
from ..core.base.numerical_failure import failure_reason, is_numerical_failure
from ..core.store.atomic_write import files_kept
from ..core.store.session import Session
from .available import FigureUnavailable
from .catalog import PATH_TO_GLOBAL, FigureOptions, FigureSpec
from .files import IMAGE_FORMATS, FigureWriteError, write_figure
from .registry import FIGURES
from .style import PaperStyle


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A figure not drawn for ``run`` (None: a per-session figure), and why, in one line."""

    figure: str
    run: int | None
    reason: str

    def line(self, session_name: str = "SESSION") -> str:
        """``"saddle line eigenvalues vs mu, run 3: no closest-saddle analysis; run `…`"``."""
        spec = FIGURES.get(self.figure)
        what = spec.title if spec is not None else self.figure
        where = f", run {self.run}" if self.run is not None else ""
        return f"{what}{where}: {self.reason.replace('SESSION', session_name)}"


@dataclasses.dataclass
class ExportReport:
    """What an export did: the files written, in order, and the figures skipped."""

    written: list[Path] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)


#: ``(done, total, what)`` after each figure.
Progress = Callable[[int, int, str], None]


def showcase_run(session: Session) -> int:
    """The run an export draws by default: the first local minimum whose closest saddle's narrower point
    converged and that has a μ sweep and an escape scan; else the first local minimum with any
    closest saddle; else the first local minimum; else run 0."""
    local = [int(r) for r in np.flatnonzero(np.asarray(session.runs.kind).astype(str) == Kind.LOCAL_MIN)]
    swept, escaped = set(mu_sweep.analysed_rows(session)), set(escape.analysed_rows(session))
    for row in local:
        c = closest_saddle.read(session, row)
        if c is not None and c.narrower.kind != Kind.NOT_CONVERGED and row in swept and row in escaped:
            return row
    for row in local:
        if closest_saddle.read(session, row) is not None:
            return row
    return local[0] if local else 0


def chosen_figures(names: Iterable[str] | None) -> list[FigureSpec]:
    """The figures called ``names`` (every figure when None) in catalogue order; ValueError naming the
    choices for an unknown name."""
    if names is None:
        return list(FIGURES.values())
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    return [spec for name, spec in FIGURES.items() if name in wanted]


def jobs(specs: Sequence[FigureSpec], runs: Sequence[int]) -> list[tuple[FigureSpec, int | None]]:
    """Every ``(figure, run)`` to draw: each per-run figure for every run, each per-session figure once."""
    out: list[tuple[FigureSpec, int | None]] = []
    for spec in specs:
        out += [(spec, int(run)) for run in runs] if spec.per_run else [(spec, None)]
    return out


def missing_analyses(session: Session, specs: Sequence[FigureSpec], runs: Sequence[int]) -> dict[str, list[int]]:
    """``{analysis: runs}`` of the stored analyses the figures draw that ``runs`` lack (with
    :data:`~.catalog.PATH_TO_GLOBAL` for a missing path to the nearest global minimum)."""
    out: dict[str, list[int]] = {}
    for spec in specs:
        for name in spec.needs:
            rows = [int(r) for r in runs] if spec.per_run else range(len(session.runs.seed))
            if name == PATH_TO_GLOBAL:
                lacking = [r for r in rows if stored_paths.to_global(session, r) is None]
            elif REGISTRY[name].applies(session):
                lacking = [r for r in rows if REGISTRY[name].read(session, r) is None]
            else:
                continue
            out.setdefault(name, [])
            out[name] += [r for r in lacking if r not in out[name]]
    return {name: sorted(rows) for name, rows in out.items() if rows}


def export_figures(session: Session, out_dir: str | Path, runs: Sequence[int], names: Iterable[str] | None = None,
                   style: PaperStyle | None = None, formats: Sequence[str] = IMAGE_FORMATS,
                   options: FigureOptions | None = None, stop: threading.Event | None = None,
                   progress: Progress | None = None) -> ExportReport:
    """Draw the figures called ``names`` (all by default) for ``runs`` and write each into ``out_dir`` as
    ``NAME[_runI].{pdf,svg,png,csv,py}``.

    Returns what was written and skipped. Once ``stop`` is set no further figure is started (every
    file written is whole). A file that cannot be written raises
    :class:`~.files.FigureWriteError` saying how many were written whole before it (they stay).
    """
    style = style or PaperStyle()
    options = options or FigureOptions()
    todo = jobs(chosen_figures(names), runs)
    report = ExportReport()
    for done, (spec, run) in enumerate(todo, 1):
        if stop is not None and stop.is_set():
            break
        try:
            plot = spec.build(session, run, options)
        except FigureUnavailable as exc:
            report.skipped.append(Skipped(spec.name, run, exc.reason))
        except Exception as exc:
            if not is_numerical_failure(exc):
                raise
            report.skipped.append(Skipped(spec.name, run, f"failed: {failure_reason(exc)}"))
        else:
            try:
                report.written += write_figure(plot, out_dir, style, formats, name=spec.file_stem(run))
            except FigureWriteError as exc:
                report.written += exc.written
                raise FigureWriteError(f"{exc} ({files_kept(len(report.written))})", report.written) from None
        if progress is not None:
            progress(done, len(todo), spec.file_stem(run))
    return report


__all__ = ["ExportReport", "Skipped", "chosen_figures", "export_figures", "jobs", "missing_analyses",
           "showcase_run"]
