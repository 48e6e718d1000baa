"""The session object of the public API, and opening one from a file.

:class:`Session` wraps the core's :class:`~lsexplorer.core.store.session.Session` (one HDF5 file's
contents, in memory): its runs and outcomes as pandas tables, one run's point, the analyses and
paths computed into it, its figures, and saving it. Everything it computes stays in memory until
:meth:`Session.save`, as in a notebook one expects; the command line's verbs save at once instead.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.base.errors import InputError
from .inputs import analysis_options, is_index, one_line_errors, output_path, run_rows
from .progress import drive
from .results import MinimumEnergyPath, Point

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

    from ..core.store.session import Session as CoreSession
    from ..figures import PaperStyle


class Session:
    """One experiment: its data, network, runs, their critical points and what was computed about them.

    Made by :func:`lsexplorer.open`, :func:`lsexplorer.train` or :func:`lsexplorer.import_students`.
    Analyses and paths are computed into it in memory; :meth:`save` writes it.

    Parameters
    ----------
    core
        The core session it wraps (internal; use :func:`lsexplorer.open` to make one).
    file
        The file it was read from or last saved to, if any.
    """

    def __init__(self, core: CoreSession, file: str | os.PathLike | None = None) -> None:
        self._core = core
        self._file = None if file is None else Path(file)

    @property
    def core(self) -> CoreSession:
        """The core session this wraps (internal: its layout may change between versions).

        :mod:`lsexplorer.figures` and the ``lsexplorer.core`` functions take it.
        """
        return self._core

    @property
    def file(self) -> Path | None:
        """The file this session was read from or last saved to; None for one never saved."""
        return self._file

    @property
    def runs(self) -> pandas.DataFrame:
        """One row per run, the row's index its run: ``run``, ``seed``, ``kind``, ``loss``, ``grad_norm``,
        ``lambda_min``, ``index``, ``degeneracy``, ``symmetry_induced``, ``symmetry_type``,
        ``loss_limit`` (a channel's L∞), ``train_loss``, ``stop_reason``.

        A value that is not known (an analysis not run, a spectrum that is not finite) is missing,
        never 0: NaN in float columns, ``<NA>`` in the others. Built anew at each access, so it
        shows the analyses computed since.
        """
        from .run_table import runs_frame

        return runs_frame(self._core)

    @property
    def outcomes(self) -> pandas.DataFrame:
        """The outcome table (thesis Table 6.1): per kind the ``count``, how many are
        ``symmetry_induced``, ``loss_min``, ``loss_max``, ``grad_norm_max``, ``lambda_min_median``."""
        from .run_table import outcomes_frame

        return outcomes_frame(self._core)

    @property
    def config(self) -> dict:
        """How the session was made: the whole experiment config (a copy), ``run`` saying how it ran."""
        return copy.deepcopy(self._core.config)

    def __len__(self) -> int:
        return self._core.runs.n_runs

    def point(self, run: int) -> Point:
        """Run ``run``'s point: θ, its Hessian spectrum, network, kind and why refinement stopped.

        Raises
        ------
        InputError
            ``run`` is not a run of this session.
        """
        from .run_table import StoredFacts, run_values

        if not is_index(run):
            raise InputError(f"point() takes one run index, got {run!r}")
        (row,) = run_rows(run, len(self), "run")
        v = run_values(self._core, StoredFacts.of(self._core), row)
        runs = self._core.runs
        return Point(run=row, seed=v["seed"], kind=v["kind"], loss=_or_nan(v["loss"]),
                     grad_norm=_or_nan(v["grad_norm"]), lambda_min=_or_nan(v["lambda_min"]), index=v["index"],
                     degeneracy=v["degeneracy"], symmetry_induced=v["symmetry_induced"],
                     symmetry_type=v["symmetry_type"], loss_limit=v["loss_limit"], theta=runs.theta[row].copy(),
                     eigenvalues=runs.hessian_eigvals[row].copy(), theta_init=runs.theta_init[row].copy(),
                     theta_trained=runs.theta_trained[row].copy(), network=self._core.spec.to_dict(),
                     stop_reason=v["stop_reason"])

    def analyze(self, analyses: str | Sequence[str] | None = None, runs: int | Sequence[int] | None = None, *,
                options: Mapping[str, Mapping[str, float]] | None = None, workers: int | None = None,
                progress: bool = True) -> dict:
        """Compute analyses for some runs and keep them in this session (in memory; :meth:`save` writes them).

        Parameters
        ----------
        analyses
            One name or several: ``channels``, ``symmetry``, ``closest_saddle``, ``mu_sweep``, ``escape``,
            ``theorems`` (those they need run first). Default: every one that applies, as
            ``lsexplorer analyze`` without flags.
        runs
            A run index or a list of them; default every run (each analysis picks the kinds it applies to).
        options
            Budgets and knobs by analysis, e.g. ``{"escape": {"max_seconds": 30}}``
            (``lsexplorer analyze --help`` lists them).
        workers
            Processes that analyse runs side by side (default: every CPU this process may use; 1: in
            this process). The results do not depend on it.
        progress
            Show a progress bar per analysis.

        Returns
        -------
        dict
            Per analysis the runs stored and headline counts; under ``failed`` the runs an analysis
            failed on numerically (they store nothing; the others are kept).

        Raises
        ------
        InputError
            An unknown analysis or option, a run out of range, an analysis that does not apply.
        KeyboardInterrupt
            Interrupted: the analyses that finished are kept, the one running is dropped.
        """
        from ..core.analyses import REGISTRY
        from ..core.analyses.analyze import analyze_session
        from ..core.base.distribution import APPLICABLE_ANALYSES, is_population
        from ..core.training.train import tune_glibc_malloc

        if analyses is None:
            chosen = list(APPLICABLE_ANALYSES if is_population(self._core) else REGISTRY)
        else:
            chosen = [analyses] if isinstance(analyses, str) else list(analyses)
        unknown = [name for name in chosen if name not in REGISTRY]
        if unknown:
            raise InputError(f"unknown analysis {unknown[0]!r}; choose from {', '.join(REGISTRY)}")
        rows = run_rows(runs, len(self))
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise InputError(f"workers= must be a positive whole number, got {workers!r}")
        chosen_options = analysis_options(options)
        tune_glibc_malloc()
        stop = threading.Event()
        stages = {name: (name.replace("_", " "), "run", False) for name in REGISTRY}
        with one_line_errors(ValueError):
            return drive(analyze_session(self._core, rows, chosen, chosen_options, stop, workers), stages,
                         progress=progress, stop=stop)

    def path(self, run_from: int, run_to: int | str = "global", *, images: int = 16, auto: bool = False,
             align: bool = True, max_seconds: float | None = None, progress: bool = True) -> MinimumEnergyPath:
        """The minimum-energy path from run ``run_from`` to run ``run_to``, with its highest point certified.

        Kept in this session (in memory; :meth:`save` writes it), replacing an earlier path between
        the same runs, as ``lsexplorer path`` stores it.

        Parameters
        ----------
        run_from, run_to
            The runs; ``run_to="global"`` picks the global minimum nearest to ``run_from`` after
            symmetry alignment.
        images
            Interior images of the band (with ``auto``, the most it may grow to).
        auto
            AutoNEB: start with few images and insert where needed.
        align
            Align the target to the source first (permutations, sign flips).
        max_seconds
            How long the band may relax (and again, if its highest point is no index-1 saddle, be
            tightened); default 300 s (120 s). A band out of time keeps where it got to, and its
            highest image is refined and certified as usual. Bands between minima that a flat valley
            joins can need the whole default.
        progress
            Show a progress bar.

        Raises
        ------
        InputError
            A run out of range or without a finite point, the same run twice, a band too large for
            the memory there is.
        KeyboardInterrupt
            Interrupted: nothing is kept.
        """
        from ..core.analyses import paths as stored_paths
        from ..core.base.estimates import band_cost, check_cost
        from ..core.paths.minimum_energy import PathConfig, path_analysis
        from ..core.paths.neb import NEBConfig

        if not is_index(images) or images < 1:
            raise InputError(f"images= must be a positive integer, got {images!r}")
        budget = {}
        if max_seconds is not None:
            if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not 0 < max_seconds < 1e9:
                raise InputError(f"max_seconds= must be a positive number of seconds, got {max_seconds!r}")
            budget = {"max_seconds": float(max_seconds)}
        neb = NEBConfig(images=int(images), auto_max_images=max(int(images), 4), **budget)
        spec, n_samples = self._core.spec, len(self._core.x)
        with one_line_errors(ValueError):
            check_cost(band_cost(spec.n_params, n_samples, sum(spec.widths[1:]), images, neb.memory,
                                 cause=f"images={images} (a band of {images + 2} images over {n_samples} samples)"))
        stop = threading.Event()
        with one_line_errors(ValueError):
            config = PathConfig(auto=auto, align=align, neb=neb,
                                **({"tighten_seconds": budget["max_seconds"]} if budget else {}))
            runner = path_analysis(self._core, run_from, run_to, config, stop)
            result = drive(runner, {"climb": ("band", "step", False)}, progress=progress, stop=stop)
        stored_paths.write(self._core, result)
        return MinimumEnergyPath.from_result(result)

    def figure(self, name: str, run: int | None = None, *, style: PaperStyle | None = None,
               **options: Any) -> Figure:
        """Figure ``name`` of run ``run`` (or of the whole session) as a matplotlib figure.

        Parameters
        ----------
        name
            One of ``lsexplorer.figures.FIGURES`` (``training_loss``, ``saddle_line_eigenvalues_vs_mu``, ...).
        run
            The run, for figures drawn per run.
        style
            Width, height and fonts on paper (:class:`lsexplorer.figures.PaperStyle`; one journal column by default).
        **options
            The figure's own choices (:class:`lsexplorer.figures.FigureOptions`): ``mu``, ``eigs``, ``expand``.

        Raises
        ------
        InputError
            An unknown figure or option, or what the figure needs is not in the session (the message
            names the analysis that computes it).
        """
        import dataclasses

        from .. import figures

        known = [f.name for f in dataclasses.fields(figures.FigureOptions)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InputError(f"unknown figure option {unknown[0]}=; known: {', '.join(known)}")
        if run is not None:
            run_rows(run, len(self), "run=")
        with one_line_errors(ValueError):
            return figures.figure(name, self._core, run, figures.FigureOptions(**options), style)

    def save(self, path: str | os.PathLike | None = None, *, overwrite: bool = False) -> Path:
        """Write the session to ``path`` (default: the file it came from) atomically; returns the path.

        A reader sees the old file or the complete new one, never a part (``lsexplorer`` saves the
        same way). Saving back to the session's own file needs no ``overwrite``.

        Raises
        ------
        InputError
            No path for a session never saved, ``path`` exists (without ``overwrite``), its folder
            does not exist, another lsexplorer is writing it, or the disk is full.
        """
        from ..core.store.session import save_session

        if path is None and self._file is None:
            raise InputError("this session has no file yet; give save() a path")
        target = Path(path) if path is not None else self._file
        own = self._file is not None and target.resolve() == self._file.resolve()
        output_path(target, overwrite or own)
        save_session(self._core, target)  # as the session's only writer, atomically
        self._file = target
        return target

    def __repr__(self) -> str:
        counts = {k: v for k, v in self._core.outcome_counts().items() if v and k not in ("runs", "symmetry_induced")}
        where = str(self._file) if self._file is not None else "not saved"
        kinds = ", ".join(f"{v} {k}" for k, v in counts.items())
        return f"<lsexplorer.Session {where}: {self._core.spec.describe()}, {len(self)} runs ({kinds})>"


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def open(path: str | os.PathLike) -> Session:  # noqa: A001  (lsexplorer.open, the API's entry point)
    """The session stored at ``path``, checked as every lsexplorer front end checks it.

    Parameters
    ----------
    path
        A session file (``.h5``) written by ``lsexplorer`` or :meth:`Session.save`.

    Returns
    -------
    Session

    Raises
    ------
    InputError
        The file is missing, not HDF5, not an lsexplorer session, from a newer version, truncated
        or otherwise damaged; the message is the line ``lsexplorer info FILE`` prints.
    """
    from ..core.analyses.opening import open_session

    if Path(path).is_dir():
        raise InputError(f"cannot open {os.fspath(path)}: a folder (a sweep? use lsexplorer.open_sweep)")
    return Session(open_session(path), path)


def sample_path(name: str = "toy_width5.h5") -> Path:
    """Where the bundled sample session ``name`` is (a checkout's ``sample_data/`` or the installed copy).

    ``toy_width5.h5``: the thesis toy experiment, 100 width-5 students with every analysis;
    ``mnist5k_deep.h5``: a deep net on MNIST pixels.

    Raises
    ------
    InputError
        ``name`` is not a bundled sample.
    """
    from ..core.store.samples import SAMPLES, sample_session_path

    if name not in SAMPLES:
        raise InputError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}")
    return sample_session_path(name)


__all__ = ["Session", "open", "sample_path"]
