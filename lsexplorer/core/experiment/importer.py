"""Students trained elsewhere: read their parameters, check them against a network, build a session.

Formats (by file suffix), every one giving flat points ``theta (S, P)`` in the layout of
:mod:`lsexplorer.core.landscape.nets` (layer by layer ``W_l`` row-major ``(n_l, n_{l-1})``, then ``b_l``):

``.npz``         the array ``theta`` (or the file's only array), ``(S, P)`` or ``(P,)``; an optional
                 ``seed (S,)`` integer array names the runs.
``.npy``         one array ``(S, P)`` or ``(P,)``; loaded with ``allow_pickle=False``.
``.csv``         one point per line, comma-separated; a first line that is not numbers is a header.
``.pt``/``.pth`` a PyTorch ``state_dict`` of the ``Linear`` layers (2-D weights, each followed by its
                 1-D bias when the net has biases, in order) or a whole saved ``nn.Sequential`` of
                 ``Linear`` and activation layers. Loaded with ``torch.load(weights_only=True)``: only
                 tensors, containers and, for a saved ``Sequential``, the classes ``Sequential``,
                 ``Linear``, ``Sigmoid``, ``Tanh`` and ``Softplus`` are ever unpickled.

Everything is checked against the target network before a session is built, and every problem is
an :class:`ImportFileError` whose message is one line naming the file: wrong widths or bias layout,
wrong number of parameters, NaN/inf entries, missing tensors, unknown layer types, a different
activation.

:func:`import_points` builds the session from the points, as given (loss, gradient, Hessian spectrum
and kind measured at each point, exactly as certification measures) or refined and certified
(:func:`lsexplorer.core.critical.certify.certify`). :func:`to_state_dict` maps a flat point back to a
``Sequential``'s ``state_dict`` (``0.weight``, ``0.bias``, ``2.weight``, ...).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import threading
import time
import zipfile
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ..._version import __version__
from ..analyses.opening import open_session
from ..base.classify import Tolerances, classify, loss_scale
from ..base.errors import InputError
from ..base.memory import available_memory
from ..base.numerical_failure import failure_reason, is_numerical_failure
from ..base.progress import Progress
from ..base.user_files import UnreadableFile, format_bytes, read_regular, regular_file_size
from ..critical.certify import CertifiedPoints, certify
from ..critical.refine import RefineConfig
from ..landscape.hessian import loss_grad_hessian, spectrum
from ..landscape.nets import MLPSpec, flatten, unflatten
from ..store.array_files import ArrayFileError, HeaderCheck, load_npy, load_npz
from ..store.hdf5_guard import EXPANSION_ALLOWANCE, MAX_EXPANSION
from ..store.session import Runs, Session
from .experiment import ConfigError, build_config, make_dataset, read_toml

FORMATS = {".npz": "npz", ".npy": "npy", ".csv": "csv", ".pt": "torch", ".pth": "torch"}
#: Activation modules a saved ``nn.Sequential`` may hold, by the activation name they stand for.
_ACTIVATION_MODULES = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus"}


class ImportFileError(InputError, ValueError):
    """A file that cannot be imported into the target network; the message is one line."""


@dataclasses.dataclass
class ImportedPoints:
    """Points read from files: ``theta (S, P)``, ``seed (S,)`` and where each came from (``source (S,)``)."""

    theta: np.ndarray
    seed: np.ndarray
    source: np.ndarray
    formats: tuple[str, ...]


# --------------------------------------------------------------------------- reading

#: Python lists of floats from a CSV take about 30 times the file's bytes; larger point sets go in .npy.
MAX_CSV_BYTES = 64 << 20
#: Importing S points of P parameters holds about this many (S, P) float64 arrays at once (the points,
#: refined points, spectra and their copies in the session).
IMPORT_COPIES = 8


def _check_shape(name: str, shape: tuple, spec: MLPSpec) -> None:
    """Refuse anything but points as rows ``(S, P)`` or one point ``(P,)`` of ``spec``."""
    if len(shape) not in (1, 2) or shape[0] == 0:
        raise ImportFileError(f"{name}: expected points as rows (S, {spec.n_params}), got shape {shape}")
    if shape[-1] != spec.n_params:
        raise ImportFileError(f"{name}: {shape[-1]} parameters per point, but the network "
                              f"({'-'.join(map(str, spec.widths))} {spec.activation}"
                              f"{' with biases' if spec.bias else ''}) has {spec.n_params}")


def _check_header(name: str, spec: MLPSpec) -> HeaderCheck:
    """What a ``theta`` array's header must say before its data is read: numbers, rows of ``spec``'s
    parameters, few enough that importing them fits in memory."""
    def check(member: str, shape: tuple, dtype: np.dtype) -> None:
        if member == "seed":
            if len(shape) != 1 or dtype.kind not in "iu":
                raise ImportFileError(f"{name}: 'seed' must be integers (S,), got {dtype} of shape {shape}")
            return
        if dtype.kind not in "fiu":
            raise ImportFileError(f"{name}: expected numbers, got an array of dtype {dtype}")
        _check_shape(name, shape, spec)
        _check_memory(name, shape[0] if len(shape) == 2 else 1, spec)
    return check


def _check_memory(name: str, n_points: int, spec: MLPSpec) -> None:
    limit = available_memory()
    need = IMPORT_COPIES * 8 * n_points * spec.n_params
    if limit is not None and need > limit:
        raise ImportFileError(f"{name}: importing its {n_points:,} points needs about {format_bytes(need)} of "
                              f"memory, more than the {format_bytes(limit)} available")


def _rows(name: str, arr: np.ndarray, spec: MLPSpec) -> np.ndarray:
    """``arr`` as float64 ``(S, P)`` checked for shape and finiteness."""
    if arr.dtype.kind not in "fiu":
        raise ImportFileError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
    _check_shape(name, arr.shape, spec)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ImportFileError(f"{name}: {int(bad.sum())} NaN/inf entries (first at point {row}, parameter {col})")
    return arr


def _read_npz(path: Path, spec: MLPSpec) -> tuple[np.ndarray, np.ndarray | None]:
    def choose(names: list[str]) -> list[str]:
        key = "theta" if "theta" in names else (names[0] if len(names) == 1 else None)
        if key is None:
            raise ImportFileError(f"{path.name}: no array 'theta' among {', '.join(names) or 'none'}")
        return [key, "seed"] if key == "theta" and "seed" in names else [key]

    try:
        arrays = load_npz(path, choose, _check_header(path.name, spec))
    except (ArrayFileError, UnreadableFile) as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    seed = arrays.pop("seed", None)
    theta = _rows(path.name, next(iter(arrays.values())), spec)
    if seed is not None:
        seed = np.asarray(seed)
        if seed.shape != (theta.shape[0],) or seed.dtype.kind not in "iu":
            raise ImportFileError(f"{path.name}: 'seed' must be {theta.shape[0]} integers, got shape {seed.shape}")
    return theta, seed


def _read_npy(path: Path, spec: MLPSpec) -> np.ndarray:
    try:
        arr = load_npy(path, _check_header(path.name, spec))
    except (ArrayFileError, UnreadableFile) as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    return _rows(path.name, arr, spec)


def _read_csv(path: Path, spec: MLPSpec) -> np.ndarray:
    try:
        text = read_regular(path, MAX_CSV_BYTES, "a CSV file (save more points as .npy)").decode("utf-8")
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    except UnreadableFile as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name}: cannot read it as text ({_first_line(exc)})") from None
    rows = []
    for k, line in enumerate(lines):
        try:
            rows.append([float(v) for v in line.split(",")])
        except ValueError:
            if k == 0:
                continue  # a header
            raise ImportFileError(f"{path.name}: line {k + 1} is not comma-separated numbers: {line[:60]!r}") from None
    if not rows:
        raise ImportFileError(f"{path.name}: no rows of numbers")
    if len({len(r) for r in rows}) != 1:
        raise ImportFileError(f"{path.name}: rows have different numbers of values "
                              f"({', '.join(str(n) for n in sorted({len(r) for r in rows}))})")
    return _rows(path.name, np.array(rows), spec)


def _torch_load(path: Path):
    """``torch.load(weights_only=True)``, allowing only the module classes a ``Sequential`` MLP needs."""
    nn = torch.nn
    allowed = [nn.Sequential, nn.Linear, nn.Sigmoid, nn.Tanh, nn.Softplus]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found:
            raise ImportFileError(f"{path.name}: unknown layer type {found.group(1).rsplit('.', 1)[-1]} "
                                  f"({found.group(1)}); only Linear, Sigmoid, Tanh and Softplus layers are read"
                                  ) from None
        raise ImportFileError(f"{path.name}: not a state_dict or nn.Sequential that torch.load(weights_only=True) "
                              f"reads ({type(exc).__name__})") from None


def _sequential_tensors(name: str, model, spec: MLPSpec) -> list[tuple[str, torch.Tensor]]:
    """The (name, tensor) pairs of a saved ``Sequential``, its layer types and activation checked."""
    acts = set()
    for k, layer in enumerate(model):
        kind = type(layer).__name__
        if kind in _ACTIVATION_MODULES:
            acts.add(_ACTIVATION_MODULES[kind])
        elif kind != "Linear":
            raise ImportFileError(f"{name}: unknown layer type {kind} at position {k}; only Linear, Sigmoid, "
                                  f"Tanh and Softplus layers are read")
    if acts and acts != {spec.activation}:
        raise ImportFileError(f"{name}: activation {', '.join(sorted(acts))}, but the network uses {spec.activation}")
    return list(model.state_dict().items())


def _tensors_to_theta(name: str, tensors: Sequence[tuple[str, object]], spec: MLPSpec) -> np.ndarray:
    """Map ``Linear`` weights (and biases) in order onto the flat layout of ``spec``: ``(P,)``."""
    layers: list[list] = []
    for key, value in tensors:
        if not isinstance(value, torch.Tensor):
            raise ImportFileError(f"{name}: entry {key!r} is a {type(value).__name__}, not a tensor")
        if value.ndim == 2:
            layers.append([key, value.detach().to(torch.float64).numpy(), None])
        elif value.ndim == 1 and layers and layers[-1][2] is None and key.endswith("bias"):
            layers[-1][2] = value.detach().to(torch.float64).numpy()
        else:
            raise ImportFileError(f"{name}: tensor {key!r} of shape {tuple(value.shape)} is not a Linear weight "
                                  f"or the bias that follows one")
    if not layers:
        raise ImportFileError(f"{name}: no Linear weight tensors found")
    if len(layers) != spec.n_layers:
        raise ImportFileError(f"{name}: {len(layers)} Linear weight tensor(s) ({', '.join(k for k, _, _ in layers)}), "
                              f"but the network {'-'.join(map(str, spec.widths))} has {spec.n_layers} layers")
    widths = [layers[0][1].shape[1]] + [w.shape[0] for _, w, _ in layers]
    for (key, w, _), n_in in zip(layers, widths[:-1]):
        if w.shape[1] != n_in:
            raise ImportFileError(f"{name}: {key!r} takes {w.shape[1]} inputs but the layer before gives {n_in}")
    if tuple(widths) != spec.widths:
        raise ImportFileError(f"{name}: layer widths {'-'.join(map(str, widths))}, but the network is "
                              f"{'-'.join(map(str, spec.widths))}")
    has_bias = [b is not None for _, _, b in layers]
    if spec.bias and not all(has_bias):
        missing = [key for key, _, b in layers if b is None]
        raise ImportFileError(f"{name}: missing bias tensor(s) for {', '.join(missing)}; the network has biases")
    if not spec.bias and any(has_bias):
        raise ImportFileError(f"{name}: has bias tensors, but the network has none (set network.bias = true)")
    theta = flatten(spec, [(w, b) for _, w, b in layers])
    return _rows(name, theta, spec)[0]


def _check_torch_archive(path: Path) -> None:
    """Refuse a torch zip archive whose members expand far beyond the file (``torch.save`` stores
    tensors uncompressed) or would not fit in memory, before torch allocates them."""
    try:
        size = regular_file_size(path)
        if not zipfile.is_zipfile(path):
            return  # the legacy format; torch.load reads it
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except UnreadableFile as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFileError(f"{path.name}: not a readable torch file ({_first_line(exc)})") from None
    limit = available_memory()
    if declared > MAX_EXPANSION * size + EXPANSION_ALLOWANCE or (limit is not None and 2 * declared > limit):
        raise ImportFileError(f"{path.name}: its tensors expand to {format_bytes(declared)} from a "
                              f"{format_bytes(size)} file; refused")


def _read_torch(path: Path, spec: MLPSpec) -> np.ndarray:
    _check_torch_archive(path)
    obj = _torch_load(path)
    if isinstance(obj, torch.nn.Sequential):
        tensors = _sequential_tensors(path.name, obj, spec)
    elif isinstance(obj, Mapping):
        tensors = list(obj.items())
    else:
        raise ImportFileError(f"{path.name}: holds a {type(obj).__name__}; expected a state_dict or an nn.Sequential")
    return _tensors_to_theta(path.name, tensors, spec)[None]


def read_points(paths: Sequence[str | Path], spec: MLPSpec) -> ImportedPoints:
    """Every point in ``paths`` (any mix of formats), checked against ``spec``; seeds default to 0..S-1."""
    thetas, seeds, sources, formats = [], [], [], []
    for p in paths:
        path = Path(p)
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ImportFileError(f"{path.name}: unknown file type {path.suffix!r}; use "
                                  f"{', '.join(sorted(FORMATS))}")
        try:
            regular_file_size(path)
        except UnreadableFile as exc:
            raise ImportFileError(f"{path}: {exc}") from None
        seed = None
        if fmt == "npz":
            theta, seed = _read_npz(path, spec)
        elif fmt == "npy":
            theta = _read_npy(path, spec)
        elif fmt == "csv":
            theta = _read_csv(path, spec)
        else:
            theta = _read_torch(path, spec)
        thetas.append(theta)
        seeds.append(seed)
        sources += [path.name] * len(theta)
        formats.append(fmt)
    theta = np.concatenate(thetas)
    if all(s is not None for s in seeds) and len(np.unique(np.concatenate(seeds))) == len(theta):
        seed = np.concatenate(seeds).astype(np.int64)
    else:
        seed = np.arange(len(theta), dtype=np.int64)
    return ImportedPoints(theta, seed, np.array(sources, dtype=str), tuple(formats))


def to_state_dict(spec: MLPSpec, theta) -> dict[str, torch.Tensor]:
    """One flat point ``(P,)`` as the ``state_dict`` of ``Sequential(Linear, act, Linear, ...)``, float64."""
    theta = np.asarray(theta, dtype=np.float64)
    out = {}
    for l, (w, b) in enumerate(unflatten(spec, theta)):
        out[f"{2 * l}.weight"] = torch.tensor(np.array(w))
        if b is not None:
            out[f"{2 * l}.bias"] = torch.tensor(np.array(b))
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


# --------------------------------------------------------------------------- building a session

def import_points(config: Mapping, x: np.ndarray, y: np.ndarray, teacher_theta: np.ndarray | None,
                  points: ImportedPoints, refine: bool = False, stop: threading.Event | None = None
                  ) -> Generator[Progress, None, Session]:
    """A session of ``points`` on data ``x (N, d)``, ``y (N, d_out)`` with ``config`` (as ``build_config`` makes).

    As given (``refine=False``): every point is measured where it is, with stop reason ``"imported"``.
    With ``refine``: :func:`certify` refines and classifies them as after training. The initial and
    trained points of the session are the imported ones. ``config["run"]`` records the import:
    ``imported_from`` (file names), ``formats``, ``refined``. A set ``stop`` ends early; unfinished
    rows are ``not_converged`` (``"cancelled"``).
    """
    config = copy.deepcopy(dict(config))
    spec = MLPSpec.from_dict(config["network"])
    tol = Tolerances.from_dict(config["tolerances"])
    theta = points.theta
    started = time.perf_counter()
    if refine:
        certified = yield from certify(spec, theta, x, y, RefineConfig.from_dict(config["refine"]), tol, stop)
    else:
        certified = yield from _measure_all(spec, theta, x, y, tol, stop, started)
    xt, yt = torch.from_numpy(np.asarray(x, dtype=np.float64)), torch.from_numpy(np.asarray(y, dtype=np.float64))
    given_loss = np.array([loss_grad_hessian(spec, t, xt, yt)[0] for t in theta]) if refine else certified.loss
    config["seeds"] = points.seed.tolist()
    config["run"] = {"imported_from": sorted(set(points.source.tolist())), "formats": list(points.formats),
                     "refined": bool(refine), "stopped": bool(stop is not None and stop.is_set())}
    runs = Runs.from_certified(certified, seed=points.seed, theta_init=theta, train_loss=given_loss,
                               theta_trained=theta)
    return Session(config=config, x=x, y=y, teacher_theta=teacher_theta, runs=runs, analyses={},
                   lsexplorer_version=__version__)


def import_files(files: Sequence[str | Path], preset: str | None = None, toml: str | Path | Mapping | None = None,
                 like: str | Path | None = None, width: int | None = None, refine: bool = False,
                 stop: threading.Event | None = None) -> Generator[Progress, None, Session]:
    """:func:`import_points` of ``files`` with data and network from a preset, a TOML config or a session.

    At most one of ``preset``, ``toml`` (a path, or the table already read from one) and ``like`` (a
    session path) is given (default: the
    toy preset); ``width`` overrides the hidden width of a preset or config. Raises
    :class:`ImportFileError`, :class:`lsexplorer.core.experiment.experiment.ConfigError`,
    :class:`lsexplorer.core.store.session.SessionError` or :class:`lsexplorer.core.data.mnist.MnistError`, each
    with a one-line message, before any work is done.
    """
    if sum(v is not None for v in (preset, toml, like)) > 1:
        raise ConfigError("give at most one of a preset, a TOML config and a session to import like")
    if like is not None:
        if width is not None:
            raise ConfigError("the width comes from the session imported like; do not set it as well")
        source = open_session(like)
        config = build_config("toy", source.config)
        x, y, teacher = source.x, source.y, source.teacher_theta
    else:
        overrides: dict = {"preset": preset} if preset else {}
        if width is not None:
            overrides["network"] = {"width": int(width)}
        table = toml if isinstance(toml, Mapping) or toml is None else read_toml(toml)
        config = build_config("toy", table, overrides)
        data = make_dataset(config)
        x, y, teacher = data.x, data.y, data.teacher_theta
    points = read_points(files, MLPSpec.from_dict(config["network"]))
    return (yield from import_points(config, x, y, teacher, points, refine, stop))


def _measure_all(spec, theta, x, y, tol, stop, started) -> Generator[Progress, None, CertifiedPoints]:
    """Loss, gradient, spectrum and kind of every row of ``theta`` without moving it."""
    xt, yt = torch.from_numpy(np.asarray(x, dtype=np.float64)), torch.from_numpy(np.asarray(y, dtype=np.float64))
    s, p = theta.shape
    out = CertifiedPoints(theta=theta.copy(), loss=np.full(s, np.nan), grad_norm=np.full(s, np.nan),
                          hessian_eigvals=np.full((s, p), np.nan), kind=np.full(s, "not_converged", dtype=object),
                          degeneracy=np.zeros(s, dtype=np.int64), lambda_min=np.full(s, np.nan),
                          stop_reason=np.full(s, "cancelled", dtype=object), refine_seconds=np.zeros(s))
    y_scale = loss_scale(yt.numpy())
    for row in range(s):
        if stop is not None and stop.is_set():
            break
        try:
            value, g, h = loss_grad_hessian(spec, theta[row], xt, yt)
            out.loss[row], out.grad_norm[row] = value, float(np.linalg.norm(g))
            if np.isfinite(h).all():
                out.hessian_eigvals[row] = spectrum(h)[0]
            c = classify(out.loss[row], out.grad_norm[row], out.hessian_eigvals[row], y_scale, tol)
            out.kind[row], out.degeneracy[row], out.lambda_min[row] = c.kind, c.n_zero, c.lambda_min
            out.stop_reason[row] = "imported"
        except Exception as exc:
            if not is_numerical_failure(exc):
                raise
            out.kind[row], out.stop_reason[row] = "not_converged", "imported; " + failure_reason(exc)
        yield Progress("measure", row + 1, s, time.perf_counter() - started)
    out.kind = out.kind.astype(str)
    out.stop_reason = out.stop_reason.astype(str)
    return out


__all__ = [
    "FORMATS",
    "ImportFileError",
    "ImportedPoints",
    "import_files",
    "import_points",
    "read_points",
    "to_state_dict",
]
