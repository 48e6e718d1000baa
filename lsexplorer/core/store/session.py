"""The HDF5 session file: everything one experiment computes, in one self-describing file.

A :class:`Session` holds the experiment's config, its data set, the teacher (if any), one row per
seed in :class:`Runs` (initial, trained and refined points, their loss, gradient norm, Hessian
spectrum and kind, plus the training trajectory and loss curve) and a free-form ``analyses`` tree.
:func:`save_session` writes it atomically; :func:`load_session` reads it back and validates it, so
every other module can trust a loaded session's shapes and values. The on-disk schema (format
version 2) is specified in ``docs/session-format.md``; keep the two in step.

Every reason a file cannot be opened or saved surfaces as a one-line :class:`SessionError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..._version import __version__
from ..base.config_schema import ConfigValueError, check_stored_config
from ..base.errors import InputError
from ..base.kinds import KINDS  # what a refined point can be; docs/session-format.md says what each means
from ..base.memory import available_memory
from ..base.spec import MLPSpec
from .atomic_write import SaveError, check_save_target, write_atomically
from .hdf5_guard import UnsafeFile, check_hdf5_tree, check_regular_file
from .writer_lock import LockFailed, LockHeld, writer_lock

FORMAT = "lsexplorer.session"
#: Written by this version; every older one (1..FORMAT_VERSION) is read and written back as this one.
#: Version 2 added the kinds ``channel`` and ``channel_saddle`` (and ``/analyses/channels``); a
#: version-1 file has the same layout, so reading it needs no conversion.
FORMAT_VERSION = 2


#: Arrays with at least this many elements are stored chunked with shuffle + gzip + checksum;
#: below it the chunk index costs more than compression saves.
_COMPRESS_MIN_SIZE = 4096


#: Every dataset under /runs and its sub-groups with its dtype (``np.str_``: variable-length UTF-8
#: in the file). One table drives coercion in the constructors, validation, writing and reading.
_RUN_FIELDS = {
    "seed": np.int64, "theta_init": np.float64, "theta": np.float64, "loss": np.float64,
    "grad_norm": np.float64, "hessian_eigvals": np.float64, "kind": np.str_, "degeneracy": np.int64,
    "lambda_min": np.float64, "stop_reason": np.str_, "train_loss": np.float64, "theta_trained": np.float64,
    "symmetry_induced": np.bool_,
}
#: The columns of :class:`Runs` a certification fills; a certifier's result holds them under these names.
CERTIFIED_FIELDS = ("theta", "loss", "grad_norm", "hessian_eigvals", "kind", "degeneracy", "lambda_min", "stop_reason")
#: Characters of the longest kind name: the least width of ``Runs.kind``.
KIND_WIDTH = max(map(len, KINDS))
_TRAJECTORY_FIELDS = {"epochs": np.int64, "theta": np.float32, "loss": np.float64}
_LOSS_CURVE_FIELDS = {"epochs": np.int64, "loss": np.float64}


class SessionError(InputError):
    """One-line, user-facing reason a file cannot be opened/saved."""


class _Invalid(Exception):
    """A reason without the file context; the public entry points add it."""


def _invalid(reason: str):
    raise _Invalid(reason)


# --------------------------------------------------------------------------------------------
# The in-memory session. Constructors coerce dtypes, so what is in memory is exactly what a
# save/load round trip gives back; shapes and values are checked by validate_session.
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class Trajectory:
    """Parameter snapshots taken during training, at (typically log-spaced) epochs.

    ``epochs: (K,)`` int64, strictly increasing; ``theta: (S, K, P)`` float32 (snapshots are for
    plotting and projection, and float32 halves the largest array of a session); ``loss: (S, K)``
    float64, the training loss at each snapshot.
    """

    epochs: np.ndarray
    theta: np.ndarray
    loss: np.ndarray

    def __post_init__(self) -> None:
        _coerce(self, _TRAJECTORY_FIELDS)


@dataclasses.dataclass(eq=False)
class LossCurve:
    """Training loss of every seed: ``epochs: (L,)`` int64 strictly increasing, ``loss: (S, L)`` float64."""

    epochs: np.ndarray
    loss: np.ndarray

    def __post_init__(self) -> None:
        _coerce(self, _LOSS_CURVE_FIELDS)


@dataclasses.dataclass(eq=False)
class Runs:
    """One row per seed: where training started and ended, and the critical point refinement found.

    Shapes use ``S`` runs and ``P = spec.n_params``. Float arrays are float64 (refined points and
    spectra are claims about critical points); ``kind`` and ``stop_reason`` are numpy str arrays.
    ``kind`` is always wide enough for every kind's name, so an analysis that relabels a run in
    place (``runs.kind[i] = "nonstrict_saddle"``) never has the name cut to the longest one present.
    ``symmetry_induced`` defaults to all False until the symmetry analysis fills it.
    """

    seed: np.ndarray             # (S,) int64
    theta_init: np.ndarray       # (S, P) initial points
    theta: np.ndarray            # (S, P) refined points
    loss: np.ndarray             # (S,) loss at theta
    grad_norm: np.ndarray        # (S,) ||grad L(theta)||_2
    hessian_eigvals: np.ndarray  # (S, P) ascending
    kind: np.ndarray             # (S,) str, one of KINDS
    degeneracy: np.ndarray       # (S,) int64, number of near-zero Hessian eigenvalues
    lambda_min: np.ndarray       # (S,) smallest Hessian eigenvalue
    stop_reason: np.ndarray      # (S,) str, why refinement stopped
    train_loss: np.ndarray       # (S,) loss at theta_trained
    theta_trained: np.ndarray    # (S, P) end of training, before refinement
    symmetry_induced: np.ndarray | None = None  # (S,) bool
    trajectory: Trajectory | None = None
    loss_curve: LossCurve | None = None

    def __post_init__(self) -> None:
        if self.symmetry_induced is None:
            self.symmetry_induced = np.zeros(np.shape(self.seed), dtype=bool)
        _coerce(self, _RUN_FIELDS)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "kind" and value is not None:
            value = np.asarray(value, dtype=np.str_)
            value = value.astype(np.dtype((np.str_, max(KIND_WIDTH, value.dtype.itemsize // 4))))
        super().__setattr__(name, value)

    @classmethod
    def from_certified(cls, points: Any, **rest: Any) -> Runs:
        """Runs whose :data:`CERTIFIED_FIELDS` are those of ``points`` (what a certification returned)
        and whose other fields (``seed``, ``theta_init``, ``train_loss``, ``theta_trained``, ...) are ``rest``."""
        return cls(**{name: getattr(points, name) for name in CERTIFIED_FIELDS}, **rest)

    @property
    def n_runs(self) -> int:
        return int(self.seed.shape[0]) if self.seed.ndim else 0


def _coerce(obj: Any, fields: dict[str, type]) -> None:
    for name, dtype in fields.items():
        setattr(obj, name, np.asarray(getattr(obj, name), dtype=dtype))


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclasses.dataclass(eq=False)
class Session:
    """One experiment: config, data ``x: (N, d)``, ``y: (N, d_out)``, teacher, runs and analyses.

    ``config`` is the JSON-able description of the whole experiment (``network``, ``teacher``,
    ``tolerances``, ... as written by the CLI). ``analyses`` is a nested dict whose leaves are numpy
    arrays (stored as datasets) or scalars, str and None (stored as attributes). ``distribution``
    (optional, JSON-able) says the loss is an expectation over this input distribution rather than
    the mean over ``x``, which then holds a sample of it for plots.
    """

    config: dict
    x: np.ndarray
    y: np.ndarray
    teacher_theta: np.ndarray | None
    runs: Runs
    analyses: dict = dataclasses.field(default_factory=dict)
    lsexplorer_version: str = __version__
    created: str = dataclasses.field(default_factory=_now_iso)
    distribution: dict | None = None

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
        if self.teacher_theta is not None:
            self.teacher_theta = np.asarray(self.teacher_theta, dtype=np.float64)

    @property
    def spec(self) -> MLPSpec:
        """The student network, from ``config["network"]``."""
        return _wrap(lambda: _spec_from_config(self.config, "network"), "invalid session")

    @property
    def teacher_spec(self) -> MLPSpec | None:
        """The teacher network from ``config["teacher"]``, or None when there is no teacher."""
        return _wrap(lambda: _teacher_spec(self.config), "invalid session")

    def outcome_counts(self) -> dict[str, int]:
        """How many runs there are, how many of each kind, and how many are symmetry-induced."""
        counts = {"runs": self.runs.n_runs}
        counts.update({k: int(np.count_nonzero(self.runs.kind == k)) for k in KINDS})
        counts["symmetry_induced"] = int(np.count_nonzero(self.runs.symmetry_induced))
        return counts


def _wrap(fn, prefix: str):
    try:
        return fn()
    except _Invalid as e:
        raise SessionError(f"{prefix}: {e}") from None


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def validate_session(session: Session) -> None:
    """Raise :class:`SessionError` naming the first thing wrong with ``session``.

    These are the checks :func:`load_session` applies to a file and :func:`save_session` applies
    before writing, so a session that passes can be saved and read back.
    """
    _wrap(lambda: _check_session(session), "invalid session")


def _spec_from_config(config: Any, key: str) -> MLPSpec:
    if not isinstance(config, dict):
        _invalid("config must be a JSON object")
    d = config.get(key)
    if not isinstance(d, dict):
        _invalid(f'config["{key}"] must be an object with widths, activation and bias')
    widths = d.get("widths")
    if not isinstance(widths, list) or not all(isinstance(w, int) and not isinstance(w, bool) for w in widths):
        _invalid(f'config["{key}"]["widths"] must be a list of integers, got {widths!r}')
    try:
        return MLPSpec.from_dict(d)
    except ValueError as e:
        _invalid(f'config["{key}"]: {e}')


def _teacher_spec(config: Any) -> MLPSpec | None:
    if isinstance(config, dict) and config.get("teacher") is None:
        return None
    return _spec_from_config(config, "teacher")


def _check_shape(name: str, arr: np.ndarray, expected: tuple, why: str) -> None:
    if arr.shape != expected:
        _invalid(f"{name} has shape {arr.shape}, expected {expected} ({why})")


def _check_session(s: Session) -> None:
    try:
        check_stored_config(s.config)  # first, so a NaN or a wrong type is reported with its key
    except ConfigValueError as e:
        _invalid(f"config: {e}")
    try:
        json.dumps(s.config, allow_nan=False)
    except (TypeError, ValueError) as e:
        _invalid(f"config is not JSON-serialisable ({e})")
    spec = _spec_from_config(s.config, "network")
    teacher_spec = _teacher_spec(s.config)
    tolerances = s.config.get("tolerances")
    if not isinstance(tolerances, dict) or not all(isinstance(k, str) for k in tolerances):
        _invalid('config["tolerances"] must be an object holding the classification tolerances')
    for name in ("lsexplorer_version", "created"):
        if not isinstance(getattr(s, name), str):
            _invalid(f"{name} must be a str")

    net = f"network {'-'.join(map(str, spec.widths))}"
    _check_dtypes(s, {"x": np.float64, "y": np.float64}, "/data")
    if s.x.ndim != 2 or s.y.ndim != 2 or s.x.shape[0] != s.y.shape[0] or s.x.shape[0] < 1:
        _invalid(f"/data/x {s.x.shape} and /data/y {s.y.shape} must be (N, d) and (N, d_out) with N >= 1")
    if s.x.shape[1] != spec.d_in or s.y.shape[1] != spec.d_out:
        _invalid(f"/data/x {s.x.shape} and /data/y {s.y.shape} do not fit the {net} "
                 f"(d = {spec.d_in}, d_out = {spec.d_out})")
    if not (np.isfinite(s.x).all() and np.isfinite(s.y).all()):
        _invalid("/data/x or /data/y holds NaN or inf")

    if teacher_spec is None:
        if s.teacher_theta is not None:
            _invalid('/teacher/theta is present but config["teacher"] is null')
    else:
        if s.teacher_theta is None:
            _invalid('config["teacher"] names a teacher but /teacher/theta is missing')
        if not (isinstance(s.teacher_theta, np.ndarray) and s.teacher_theta.dtype == np.float64):
            _invalid("/teacher/theta must be a numpy float64 array")
        _check_shape("/teacher/theta", s.teacher_theta, (teacher_spec.n_params,),
                     f"teacher network {'-'.join(map(str, teacher_spec.widths))}")
        if (teacher_spec.d_in, teacher_spec.d_out) != (spec.d_in, spec.d_out):
            _invalid(f"the teacher's input/output widths {teacher_spec.d_in}/{teacher_spec.d_out} differ "
                     f"from the student's {spec.d_in}/{spec.d_out}")
        if not np.isfinite(s.teacher_theta).all():
            _invalid("/teacher/theta holds NaN or inf")

    _check_runs(s.runs, spec.n_params, net)
    _check_analyses(s.analyses, "/analyses")


def _check_dtypes(obj: Any, fields: dict[str, type], where: str) -> None:
    """Arrays assigned after construction must still have the schema's dtype, or the file would differ."""
    for name, dtype in fields.items():
        value, expected = getattr(obj, name), np.dtype(dtype)
        ok = isinstance(value, np.ndarray) and (value.dtype == expected or value.dtype.kind == expected.kind == "U")
        if not ok:
            _invalid(f"{where}/{name} must be a numpy {'str' if expected.kind == 'U' else expected} array, "
                     f"got {getattr(value, 'dtype', type(value).__name__)}")


def _check_runs(r: Runs, n_params: int, net: str) -> None:
    _check_dtypes(r, _RUN_FIELDS, "/runs")
    if r.seed.ndim != 1:
        _invalid(f"/runs/seed has shape {r.seed.shape}, expected (S,)")
    S, P = r.n_runs, n_params
    why = f"S = {S} runs from /runs/seed, P = {P} parameters of the {net}"
    for name in ("theta_init", "theta", "hessian_eigvals", "theta_trained"):
        _check_shape(f"/runs/{name}", getattr(r, name), (S, P), why)
    for name in ("loss", "grad_norm", "kind", "degeneracy", "lambda_min", "stop_reason", "train_loss",
                 "symmetry_induced"):
        _check_shape(f"/runs/{name}", getattr(r, name), (S,), why)
    if len(np.unique(r.seed)) != S:
        _invalid("/runs/seed repeats a seed; each run needs its own")

    unknown = ~np.isin(r.kind, KINDS)
    if unknown.any():
        i = int(np.argmax(unknown))
        _invalid(f"/runs/kind of run {i} is {str(r.kind[i])!r}; expected one of {', '.join(KINDS)}")
    if ((r.degeneracy < 0) | (r.degeneracy > P)).any():
        _invalid(f"/runs/degeneracy must lie in [0, {P}]")

    converged = r.kind != "not_converged"

    def check_rows(name: str, arr: np.ndarray, strict: bool = False) -> None:
        rows = np.isfinite(arr.reshape(S, int(np.prod(arr.shape[1:], dtype=np.int64)))).all(axis=1)
        bad = ~rows if strict else (~rows & converged)
        if bad.any():
            i = int(np.argmax(bad))
            rule = "" if strict else "; only not_converged runs may hold NaN or inf"
            _invalid(f"{name} of run {i} (seed {r.seed[i]}, {r.kind[i]}) is not finite{rule}")

    check_rows("/runs/theta_init", r.theta_init, strict=True)
    for name in ("theta", "theta_trained", "loss", "grad_norm", "hessian_eigvals", "lambda_min", "train_loss"):
        check_rows(f"/runs/{name}", getattr(r, name))
    for name in ("loss", "grad_norm", "train_loss"):
        if (getattr(r, name) < 0).any():
            _invalid(f"/runs/{name} holds negative values")
    finite_spectra = r.hessian_eigvals[np.isfinite(r.hessian_eigvals).all(axis=1)]
    if (np.diff(finite_spectra, axis=1) < 0).any():
        _invalid("/runs/hessian_eigvals rows must be sorted ascending")

    if r.trajectory is not None:
        t = r.trajectory
        _check_dtypes(t, _TRAJECTORY_FIELDS, "/runs/trajectory")
        _check_epochs("/runs/trajectory/epochs", t.epochs)
        K = t.epochs.shape[0]
        _check_shape("/runs/trajectory/theta", t.theta, (S, K, P), f"{why}, K = {K} snapshots")
        _check_shape("/runs/trajectory/loss", t.loss, (S, K), f"{why}, K = {K} snapshots")
        check_rows("/runs/trajectory/theta", t.theta)
        check_rows("/runs/trajectory/loss", t.loss)
    if r.loss_curve is not None:
        c = r.loss_curve
        _check_dtypes(c, _LOSS_CURVE_FIELDS, "/runs/loss_curve")
        _check_epochs("/runs/loss_curve/epochs", c.epochs)
        _check_shape("/runs/loss_curve/loss", c.loss, (S, c.epochs.shape[0]), f"{why}, one column per epoch")
        check_rows("/runs/loss_curve/loss", c.loss)


def _check_epochs(name: str, epochs: np.ndarray) -> None:
    if epochs.ndim != 1 or (epochs < 0).any() or (np.diff(epochs) <= 0).any():
        _invalid(f"{name} must be a 1-D, strictly increasing list of non-negative epochs")


_SCALARS = (bool, int, float, complex, str, np.bool_, np.number)
_INT64 = np.iinfo(np.int64)


def _check_analyses(tree: Any, where: str) -> None:
    if not isinstance(tree, dict):
        _invalid(f"{where} must be a dict, got {type(tree).__name__}")
    for key, value in tree.items():
        if not isinstance(key, str) or not key or "/" in key or key in (".", ".."):
            _invalid(f"{where}: key {key!r} cannot name an HDF5 object (use a non-empty str without '/')")
        name = f"{where}/{key}"
        if isinstance(value, dict):
            _check_analyses(value, name)
        elif isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufcU":
                _invalid(f"{name} is a {value.dtype} array; analyses arrays hold numbers, booleans or str")
        elif value is None or isinstance(value, _SCALARS):
            if isinstance(value, (int, np.integer)) and not _INT64.min <= value <= _INT64.max:
                _invalid(f"{name} = {value} does not fit in int64")
        else:
            _invalid(f"{name} is a {type(value).__name__}; analyses hold dicts, numpy arrays, numbers, "
                     "str and None (convert lists with np.asarray)")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def save_session(session: Session, path: str | os.PathLike) -> None:
    """Validate ``session`` and write it to ``path`` atomically, as its only writer.

    The target must be a regular file or absent in a writable folder. The file is built in memory,
    the free space checked, then written under a temporary name in the target's folder, fsynced,
    renamed onto ``path`` and the folder fsynced (:mod:`.atomic_write`): a reader sees either the old
    file or the complete new one, also when the process is killed, the disk is full or the machine
    loses power. The save holds the session's writer lock (:func:`session_writer`); it is refused
    when another lsexplorer holds it, and when this session was loaded from ``path`` and the file
    has been replaced since (saving would drop the other writer's work). On any failure the
    temporary file is removed (a killed process may leave one, named ``.NAME.<random>.tmp``, which the
    next writer holding the lock removes) and an existing file at ``path`` is left untouched. Raises :class:`SessionError`.
    """
    shown = os.fspath(path)
    _wrap(lambda: _check_session(session), f"cannot save {shown}")
    with session_writer(path):
        try:
            target = check_save_target(path)
            origin = getattr(session, "_origin", None)
            if origin is not None and origin[0] == os.fspath(target) and _identity(target) not in (None, origin[1]):
                raise SaveError("another program replaced the file since this session was read from it; "
                                "save under another name, or reopen it and redo the change")
            image = _file_image(session)
            write_atomically(target, image)
        except SaveError as e:
            raise SessionError(f"cannot save {shown}: {e}") from None
        except MemoryError:
            raise SessionError(f"cannot save {shown}: not enough memory to build the file") from None
        except OSError as e:
            raise SessionError(f"cannot save {shown}: {_one_line(e)}") from None
        session._origin = (os.fspath(target), _identity(target))


@contextlib.contextmanager
def session_writer(path: str | os.PathLike) -> Iterator[None]:
    """Be the only lsexplorer writing the session at ``path`` for the ``with`` block.

    First checks that ``path`` can be saved to (a regular file or absent, in a writable folder), so
    a command taking it before long work fails at once. Take it before loading a session that will be saved back, so no other process can save in
    between (:mod:`.writer_lock`). Reentrant in one process. Raises :class:`SessionError` naming the
    pid of the process that holds it, or why the lock could not be made.
    """
    shown = os.fspath(path)
    try:
        target = check_save_target(path)
    except SaveError as e:
        raise SessionError(f"cannot save {shown}: {e}") from None
    try:
        with writer_lock(target, shown):
            yield
    except LockHeld as e:
        raise SessionError(str(e)) from None
    except LockFailed as e:
        raise SessionError(f"cannot write {shown}: {e}") from None


def _identity(path: Path) -> tuple | None:
    """What changes whenever a file is replaced or rewritten."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _file_image(session: Session) -> memoryview:
    """The session as the bytes of an HDF5 file, built in memory (nothing touches the disk); a view
    of the buffer HDF5 wrote into, so the file exists once in memory."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        _write(f, session)
    return buffer.getbuffer()


def _write(f: h5py.File, s: Session) -> None:
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = np.int64(FORMAT_VERSION)
    f.attrs["lsexplorer_version"] = s.lsexplorer_version
    f.attrs["created"] = s.created
    f.attrs["config"] = json.dumps(s.config, allow_nan=False)

    data = f.create_group("data")
    _write_array(data, "x", s.x)
    _write_array(data, "y", s.y)
    if s.distribution is not None:
        data.attrs["distribution"] = json.dumps(s.distribution, allow_nan=False)
    if s.teacher_theta is not None:
        _write_array(f.create_group("teacher"), "theta", s.teacher_theta)

    runs = f.create_group("runs")
    for name in _RUN_FIELDS:
        _write_array(runs, name, getattr(s.runs, name))
    for key, value in s.config["tolerances"].items():
        runs["kind"].attrs[key] = _attr_value(value if _is_scalar(value) else json.dumps(value))
    for group_name, fields in (("trajectory", _TRAJECTORY_FIELDS), ("loss_curve", _LOSS_CURVE_FIELDS)):
        part = getattr(s.runs, group_name)
        if part is not None:
            group = runs.create_group(group_name)
            for name in fields:
                _write_array(group, name, getattr(part, name))

    _write_analyses(f.create_group("analyses", track_order=True), s.analyses)


def _write_array(group: h5py.Group, name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "U":
        group.create_dataset(name, data=arr.astype(object), dtype=h5py.string_dtype("utf-8"))
    elif arr.size >= _COMPRESS_MIN_SIZE:
        group.create_dataset(name, data=arr, compression="gzip", compression_opts=4, shuffle=True,
                             fletcher32=True)
    else:
        group.create_dataset(name, data=arr)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, _SCALARS)


def _attr_value(value: Any):
    """The HDF5 attribute for a scalar; None becomes an empty attribute."""
    if value is None:
        return h5py.Empty("f8")
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, (complex, np.complexfloating)):
        return np.complex128(value)
    return str(value)


def _write_analyses(group: h5py.Group, tree: dict) -> None:
    for key, value in tree.items():
        if isinstance(value, dict):
            _write_analyses(group.create_group(key, track_order=True), value)
        elif isinstance(value, np.ndarray):
            _write_array(group, key, value)
        else:
            group.attrs[key] = _attr_value(value)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def load_session(path: str | os.PathLike) -> Session:
    """Read and validate the session file at ``path``; raises :class:`SessionError` saying why it cannot.

    Everything is loaded eagerly into numpy arrays and the file is closed before returning.
    ``/analyses`` is checked to be a tree of groups, arrays and scalars; what each analysis stored
    there is checked by that analysis (:func:`lsexplorer.core.analyses.open_session`, which front
    ends use).
    """
    shown = os.fspath(path)
    return _wrap(lambda: _read_and_check(Path(path)), f"cannot open {shown}")


def _read_and_check(path: Path) -> Session:
    try:
        size = check_regular_file(path)
    except UnsafeFile as e:
        _invalid(str(e))
    identity = _identity(path)
    try:
        if not h5py.is_hdf5(path):
            _invalid("not an HDF5 file")
        with h5py.File(path, "r") as f:
            check_hdf5_tree(f, size, available_memory())
            session = _read(f)
    except _Invalid:
        raise
    except UnsafeFile as e:
        _invalid(str(e))
    except MemoryError:
        _invalid("not enough memory to read it")
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, OverflowError) as e:
        _invalid(f"not a readable HDF5 file, it may be truncated or corrupt ({_one_line(e)})")
    _check_session(session)
    session._origin = (os.fspath(Path(os.path.realpath(path))), identity)
    return session


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _read(f: h5py.File) -> Session:
    fmt = _str_attr(f, "format")
    if fmt is None:
        names = ", ".join(f"/{k}" for k in list(f.keys())[:5]) or "nothing"
        _invalid(f"not an lsexplorer session (no 'format' attribute; it holds {names})")
    if fmt != FORMAT:
        _invalid(f"not an lsexplorer session (format {fmt!r}, expected {FORMAT!r})")
    version = f.attrs.get("format_version")
    if not isinstance(version, (int, np.integer)) or isinstance(version, (bool, np.bool_)) or version < 1:
        _invalid(f"format_version is {version!r}, expected a positive integer")
    if version > FORMAT_VERSION:
        _invalid(f"written by a newer lsexplorer (format {int(version)}); this one reads up to {FORMAT_VERSION}")
    attrs = {}
    for name in ("config", "lsexplorer_version", "created"):
        attrs[name] = _str_attr(f, name)
        if attrs[name] is None:
            _invalid(f"the root attribute {name!r} is missing or not a string")
    try:
        config = json.loads(attrs["config"])
    except ValueError as e:
        _invalid(f"the config attribute is not valid JSON ({e})")

    runs = Runs(**_read_fields(f, "/runs", _RUN_FIELDS),
                trajectory=_read_part(f, "/runs/trajectory", _TRAJECTORY_FIELDS, Trajectory),
                loss_curve=_read_part(f, "/runs/loss_curve", _LOSS_CURVE_FIELDS, LossCurve))
    teacher = _read_array(f, "/teacher/theta", np.float64) if "teacher" in f else None
    analyses = _read_analyses(_group(f, "/analyses")) if "analyses" in f else {}
    distribution = None
    if "data" in f and "distribution" in f["data"].attrs:
        try:
            distribution = json.loads(_str_attr(f["data"], "distribution") or "")
        except ValueError as e:
            _invalid(f"the /data attribute 'distribution' is not valid JSON ({e})")
        if not isinstance(distribution, dict):
            _invalid("the /data attribute 'distribution' is not a JSON object")
    return Session(config=config, x=_read_array(f, "/data/x", np.float64),
                   y=_read_array(f, "/data/y", np.float64),
                   teacher_theta=teacher, runs=runs, analyses=analyses,
                   lsexplorer_version=attrs["lsexplorer_version"], created=attrs["created"],
                   distribution=distribution)


def _str_attr(obj: h5py.HLObject, name: str) -> str | None:
    value = obj.attrs.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else None


def _group(f: h5py.File, path: str) -> h5py.Group:
    obj = f.get(path)
    if not isinstance(obj, h5py.Group):
        _invalid(f"{path} is {'missing' if obj is None else 'not a group'}")
    return obj


def _read_fields(f: h5py.File, path: str, fields: dict[str, type]) -> dict[str, np.ndarray]:
    _group(f, path)
    return {name: _read_array(f, f"{path}/{name}", dtype) for name, dtype in fields.items()}


def _read_part(f: h5py.File, path: str, fields: dict[str, type], cls):
    return cls(**_read_fields(f, path, fields)) if path in f else None


#: For each dtype kind of the schema, the stored dtype kinds accepted for it and its name in messages.
_ACCEPTED = {"f": ("fiu", "numbers"), "i": ("iu", "integers"), "b": ("b", "booleans"), "U": ("U", "strings")}


def _read_array(f: h5py.File, path: str, dtype: type) -> np.ndarray:
    """The dataset at ``path`` as numpy, if what it stores can be read as ``dtype`` (the caller coerces)."""
    ds = f.get(path)
    if not isinstance(ds, h5py.Dataset):
        _invalid(f"{path} is {'missing' if ds is None else 'not a dataset'}")
    is_str = h5py.check_string_dtype(ds.dtype) is not None
    accepted, what = _ACCEPTED[np.dtype(dtype).kind]
    if ("U" if is_str else ds.dtype.kind) not in accepted:
        _invalid(f"{path} holds {'strings' if is_str else ds.dtype}, expected {what}")
    return np.asarray(ds.asstr()[()] if is_str else ds[()])


def _read_analyses(group: h5py.Group) -> dict:
    out: dict = {key: _scalar_from_attr(value) for key, value in group.attrs.items()}
    for key in group:
        item = group.get(key)
        if isinstance(item, h5py.Group):
            out[key] = _read_analyses(item)
        elif isinstance(item, h5py.Dataset):
            if h5py.check_string_dtype(item.dtype) is not None:
                out[key] = np.asarray(item.asstr()[()], dtype=str)
            else:
                out[key] = np.asarray(item[()])
        else:
            _invalid(f"{group.name}/{key} is neither a group nor a dataset")
    return out


def _scalar_from_attr(value: Any):
    """Undo :func:`_attr_value`: numpy scalars come back as the Python types they were saved from."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, str) else np.asarray(value)


__all__ = ["FORMAT", "FORMAT_VERSION", "KINDS", "SessionError", "Trajectory", "LossCurve", "Runs", "Session",
           "save_session", "session_writer", "load_session", "validate_session"]
