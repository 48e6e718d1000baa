"""Making sessions: training students from a preset, and importing students trained elsewhere.

Both check everything they are given before any work starts (as ``lsexplorer train`` and
``lsexplorer import`` do), run under progress bars, and save to ``output`` only once the session is
complete: an interrupted call writes nothing and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.base.errors import InputError
from .inputs import config_layers, one_line_errors, output_path
from .progress import drive
from .session import Session

#: Progress bars of :func:`train`'s stages.
TRAIN_STAGES = {"train": ("training", "epoch", True), "certify": ("refining", "point", False)}
#: Progress bars of :func:`import_students`' stages.
IMPORT_STAGES = {"measure": ("measuring", "point", False), "certify": ("refining", "point", False)}


@contextlib.contextmanager
def _writing(output: str | os.PathLike | None, overwrite: bool) -> Iterator[Path | None]:
    """``output`` checked and held as its only writer for the block (nothing when None)."""
    if output is None:
        yield None
        return
    from ..core.store.session import session_writer

    out = output_path(output, overwrite)
    with session_writer(out):
        yield out


def _finished(core, out: Path | None) -> Session:
    """The API session of a finished ``core`` session, saved to ``out`` first when given."""
    if out is not None:
        from ..core.store.session import save_session

        save_session(core, out)
    return Session(core, out)


def train(preset: str | None = None, seeds: int | Sequence[int] | None = None, *, first_seed: int | None = None,
          config: str | os.PathLike | Mapping | None = None, output: str | os.PathLike | None = None,
          overwrite: bool = False, progress: bool = True, confirm_long: bool = False, **overrides: Any) -> Session:
    """Train students from a preset and certify every end point, as ``lsexplorer train`` does.

    Parameters
    ----------
    preset
        ``toy`` (thesis §6.2: the 41×41 grid, a 4-neuron sigmoid teacher, width-5 students, Adam at
        lr 1e-4 for 1e7 epochs), ``gaussian``, ``digits-pca10``, ``mnist-pca10``, ``mnist5k-pca10`` or
        ``relu-gaussian``; default the one ``config`` names, else ``toy``.
    seeds
        How many students (seeds ``first_seed``, ``first_seed + 1``, ...), or a list of seeds;
        default the preset's.
    first_seed
        The first seed of a count.
    config
        A TOML config file, or a table in the config's layout (a session's ``config``), under the
        overrides.
    output
        Save the finished session here (refused at once if it exists, without ``overwrite``).
    overwrite
        Replace an existing ``output``.
    progress
        Show progress bars (widgets in a notebook with ipywidgets, text otherwise).
    confirm_long
        Start even when the run is estimated to take more than a day.
    **overrides
        Settings over the preset and ``config``: ``[network]`` ones by name (``width=3``,
        ``activation="tanh"``), ``[train]`` ones by name (``epochs=20_000``, ``lr=1e-2``,
        ``device="cpu"``), or whole sections as dicts (``data={...}``, ``refine={...}``,
        ``tolerances={...}``).

    Returns
    -------
    Session
        The trained session (its :attr:`~Session.file` is ``output``, or None).

    Raises
    ------
    InputError
        An unknown preset or setting, a value out of range, an unusable device, ``output`` that
        exists or has no folder, a run that would not fit in memory (or take more than a day
        without ``confirm_long``); nothing is written.
    KeyboardInterrupt
        Interrupted (Ctrl-C, a notebook's kernel interrupt): the computation is stopped and
        nothing is written.
    """
    from ..core.base.estimates import LONG_SECONDS, ResourceError, check_budget, estimate_experiment
    from ..core.data.mnist import MnistError
    from ..core.experiment.experiment import build_config, run_experiment
    from ..core.training.train import resolve_device, tune_glibc_malloc

    table, layered = config_layers(config, seeds, first_seed, overrides)
    if preset is not None:
        layered["preset"] = preset
    built = build_config("toy", table, layered)
    with one_line_errors(ValueError):
        resolve_device(built["train"].get("device", "cpu"))
    estimate = estimate_experiment(built)
    with one_line_errors(ResourceError):
        check_budget(estimate, confirmed=True)
    if not confirm_long and estimate.seconds > LONG_SECONDS:
        raise InputError(f"this run needs {estimate.describe()}; pass confirm_long=True to start it anyway")
    with _writing(output, overwrite) as out:
        tune_glibc_malloc()
        stop = threading.Event()
        with one_line_errors(MnistError):
            core = drive(run_experiment(built, stop), TRAIN_STAGES, progress=progress, stop=stop)
        return _finished(core, out)


def import_students(files: str | os.PathLike | Sequence[str | os.PathLike], *, preset: str | None = None,
                    config: str | os.PathLike | Mapping | None = None, like: str | os.PathLike | None = None,
                    width: int | None = None, refine: bool = False, output: str | os.PathLike | None = None,
                    overwrite: bool = False, progress: bool = True) -> Session:
    """A session of students trained elsewhere, as ``lsexplorer import`` builds it.

    Parameters
    ----------
    files
        One file or several (any mix): ``.npz`` (array ``theta``, optional ``seed``), ``.npy`` or
        ``.csv`` of flat θ rows, or a PyTorch ``state_dict`` / saved ``nn.Sequential`` (``.pt``, ``.pth``).
    preset, config, like
        Where the data and network come from (at most one; default the toy preset): a preset, a TOML
        config (file or table), or an existing session file.
    width
        The hidden width of the preset's or config's network.
    refine
        Refine and certify every point as after training; by default they are measured and
        classified where they are.
    output, overwrite, progress
        As for :func:`train`.

    Returns
    -------
    Session

    Raises
    ------
    InputError
        A file that does not fit the network (widths, parameter count, NaN, unknown layers), an
        unknown preset, more than one source, an unusable ``output``; nothing is written.
    KeyboardInterrupt
        Interrupted: nothing is written.
    """
    from ..core.experiment.importer import import_files

    paths = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    if not paths:
        raise InputError("import_students() needs at least one file")
    if isinstance(config, (str, os.PathLike)):
        from ..core.experiment.experiment import read_toml

        config = read_toml(config)
    with _writing(output, overwrite) as out:
        stop = threading.Event()
        runner = import_files([os.fspath(p) for p in paths], preset, config, like, width, refine, stop)
        core = drive(runner, IMPORT_STAGES, progress=progress, stop=stop)
        return _finished(core, out)


__all__ = ["IMPORT_STAGES", "TRAIN_STAGES", "import_students", "train"]
