"""A sweep on disk: the plan (sweep points and chunks of seeds), its manifest, and chunk results.

A sweep crosses a base experiment config with axes (hidden widths, optionally learning rates) and
a list of seeds. Every axis combination is a *sweep point*, which becomes one ordinary session file;
its seeds are cut into *chunks*, the unit of work (one Dask task). The output folder holds::

    sweep.json                       the manifest: what was asked (every point's full config, the
                                     chunk size) and what is done (chunks and sessions finished)
    chunks/<point>/<index>.npz       one finished chunk's arrays, written the moment it arrives (with
                                     the analyses of its seeds when the sweep analyses them)
    <point>.h5                       the point's session, assembled once all its chunks are in

Everything is written atomically (:mod:`lsexplorer.core.store.atomic_write`: temporary file, fsync,
rename), so a killed process leaves either the old or the complete new file; a re-run reads the
manifest and the chunk files and computes only what is missing.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ..base.config_schema import is_flow
from ..store.atomic_write import SaveError, remove_stale_temporaries, write_atomically
from ..store.writer_lock import LockFailed, LockHeld, writer_lock
from .chunk_tree import flatten_tree, unflatten_tree, without_tree

MANIFEST_NAME = "sweep.json"
MANIFEST_FORMAT = "lsexplorer.sweep"
MANIFEST_VERSION = 1
CHUNK_DIR = "chunks"


class SweepError(ValueError):
    """A sweep folder or request that cannot be used; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One axis combination: its name (``w5`` or ``w5_lr0.001``), width, lr and full config."""

    name: str
    width: int
    lr: float
    config: dict

    @property
    def session_file(self) -> str:
        return f"{self.name}.h5"


@dataclasses.dataclass(frozen=True)
class SweepChunk:
    """Seeds ``seeds`` of point ``point`` (``index``-th chunk of that point): one task."""

    point: str
    index: int
    seeds: tuple[int, ...]

    @property
    def key(self) -> str:
        return f"{self.point}/{self.index:05d}"

    @property
    def relpath(self) -> str:
        return f"{CHUNK_DIR}/{self.point}/{self.index:05d}.npz"


@dataclasses.dataclass
class SweepPlan:
    """Every point and chunk of a sweep, in a fixed order (points by lr then width; chunks by seed)."""

    points: list[SweepPoint]
    chunk: int
    widths: list[int]
    lrs: list[float]
    seeds: list[int]
    #: The analyses each task runs on its seeds (registry names; empty: none).
    analyses: list[str] = dataclasses.field(default_factory=list)

    @property
    def chunks(self) -> list[SweepChunk]:
        out = []
        for p in self.points:
            for i in range(0, len(self.seeds), self.chunk):
                out.append(SweepChunk(p.name, i // self.chunk, tuple(self.seeds[i:i + self.chunk])))
        return out

    def point(self, name: str) -> SweepPoint:
        return next(p for p in self.points if p.name == name)

    def asked(self) -> dict:
        """The part of the manifest that says what was asked; equal asks are the same sweep."""
        asked = {"axes": {"widths": list(self.widths), "lr": list(self.lrs), "seeds": list(self.seeds)},
                 "chunk": self.chunk,
                 "points": [{"name": p.name, "width": p.width, "lr": p.lr, "session": p.session_file,
                             "config": p.config} for p in self.points]}
        return {**asked, "analyses": list(self.analyses)} if self.analyses else asked


def _point_name(width: int, lr: float, several_lrs: bool) -> str:
    return f"w{width}_lr{lr:g}" if several_lrs else f"w{width}"


def plan_sweep(preset: str = "toy", toml: Mapping | None = None, overrides: Mapping | None = None,
               widths: Sequence[int] = (), lrs: Sequence[float] | None = None, chunk: int = 8,
               analyses: Sequence[str] = ()) -> SweepPlan:
    """The sweep of ``widths`` x ``lrs`` over the config ``preset < toml < overrides`` and its seeds.

    ``lrs`` None keeps the config's learning rate. ``analyses`` (registry names, in the registry's
    order whatever order given) run in each task on its seeds. Raises
    :class:`~lsexplorer.core.experiment.experiment.ConfigError` for a config that cannot run and
    :class:`SweepError` for impossible axes or analyses. Sweeps train a fixed number of epochs
    (``train.grad_tol`` must be 0): a gradient-norm stop is checked on a wall-clock schedule, so a
    seed's end point would depend on the machine and on its chunk. Gradient flow
    (``train.optimizer = "flow"``) checks it at every step and may use it; it has no learning rate.
    """
    from ..experiment.experiment import build_config  # torch: only to plan a sweep, not to read one

    widths = list(widths)
    if not widths:
        raise SweepError("a sweep needs at least one width (--widths 4 5 6)")
    if any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths) or len(set(widths)) != len(widths):
        raise SweepError(f"widths must be distinct positive integers, got {widths}")
    if not isinstance(chunk, int) or chunk < 1:
        raise SweepError(f"chunk must be a positive integer, got {chunk!r}")
    base = build_config(preset, toml, overrides)
    if "widths" in ((toml or {}).get("network") or {}) or "widths" in ((overrides or {}).get("network") or {}):
        raise SweepError("a width sweep sets network.width; remove the explicit network.widths list from the config")
    if is_flow(base) and lrs is not None:
        raise SweepError("gradient flow has no learning rate to sweep; drop --lr")
    # Gradient flow checks grad_tol at every step of every seed, so its end points do not depend on the clock.
    if base["train"].get("grad_tol", 0.0) > 0 and not is_flow(base):
        raise SweepError("sweeps train a fixed number of epochs so that a seed's end point does not depend on "
                         "its chunk or machine; set train.grad_tol = 0")
    lr_values = [float(base["train"]["lr"])] if lrs is None else [float(v) for v in lrs]
    if not lr_values or len(set(lr_values)) != len(lr_values) or not all(v > 0 and np.isfinite(v) for v in lr_values):
        raise SweepError(f"learning rates must be distinct positive numbers, got {lr_values}")
    points = []
    for lr in lr_values:
        for width in widths:
            layer = copy.deepcopy(dict(overrides or {}))
            layer.setdefault("network", {})["width"] = width
            layer.setdefault("train", {})["lr"] = lr
            config = build_config(preset, toml, layer)
            points.append(SweepPoint(_point_name(width, lr, lrs is not None and len(lr_values) > 1),
                                     width, lr, config))
    return SweepPlan(points, chunk, widths, lr_values, list(base["seeds"]), _analyses(analyses))


def _analyses(names: Sequence[str]) -> list[str]:
    """``names`` checked against the registry, in its order."""
    from ..analyses import REGISTRY  # light: the registry imports without torch

    unknown = sorted(set(names) - set(REGISTRY))
    if unknown:
        raise SweepError(f"unknown analyses {unknown}; choose from {', '.join(REGISTRY)}")
    return [name for name in REGISTRY if name in set(names)]


# ------------------------------------------------------------------------------------------------
# The folder
# ------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def sweep_folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the writer lock of sweep folder ``folder`` (made if missing) for the ``with`` block.

    One sweep writes a folder at a time. The lock needs nothing but the folder, so a second sweep
    into a busy folder is refused at once, before a config is built or a cluster started;
    :class:`SweepError` says who holds it, or why the folder cannot be made or locked. A folder made
    here and left empty (the request was refused) is removed again. Reentrant within a process.
    """
    folder = Path(folder)
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"cannot create the sweep folder {folder}: {exc.strerror or exc}") from None
    try:
        with writer_lock(Path(os.path.realpath(folder / MANIFEST_NAME)), str(folder)):
            yield folder
    except (LockHeld, LockFailed) as exc:
        raise SweepError(str(exc)) from None
    finally:
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when still empty


def check_sweep_folder(plan: SweepPlan, folder: Path) -> str | None:
    """:class:`SweepError` unless ``folder`` is new, empty or holds this very sweep (to resume);
    returns the creation time of the sweep found there (None for a new one)."""
    if (folder / MANIFEST_NAME).exists():
        manifest = read_manifest(folder)
        check_same_sweep(manifest, plan, folder)
        return manifest.get("created")
    if folder.exists() and any(not p.name.startswith(".") for p in folder.iterdir()):  # locks, temporaries
        raise SweepError(f"{folder} exists, is not empty and holds no sweep; choose a new or empty folder")
    return None


# ------------------------------------------------------------------------------------------------
# Atomic files
# ------------------------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` through the project's one checked atomic write; the folder is made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(Path(os.path.realpath(path)), data)
    except SaveError as exc:
        raise SweepError(f"cannot write {path}: {exc}") from None


def write_chunk(folder: Path, chunk: SweepChunk, arrays: Mapping[str, Any]) -> Path:
    """Store one finished chunk's arrays (``run_chunk``'s result, its ``analyses`` tree flattened:
    :mod:`.chunk_tree`) atomically; returns the file."""
    path = Path(folder) / chunk.relpath
    plain = {k: np.asarray(v) for k, v in arrays.items() if k not in ("run", "analyses")}
    plain.update(flatten_tree(arrays.get("analyses") or {}))
    plain["run_json"] = np.asarray(json.dumps(arrays.get("run", {})))
    buffer = io.BytesIO()
    np.savez(buffer, **plain)
    _atomic_write(path, buffer.getbuffer())
    return path


def remove_stale_chunk_temporaries(folder: Path, plan: SweepPlan) -> list[Path]:
    """Remove the temporary chunk files that killed sweeps left in ``folder``; returns them.

    Call it only holding the folder's writer lock: its holder is the only writer of chunk files,
    so none of them can be mid-save.
    """
    names: dict[str, set[str]] = {}
    for chunk in plan.chunks:
        point, file = chunk.relpath.rsplit("/", 1)
        names.setdefault(point, set()).add(file)
    return [p for point, files in names.items()
            for p in remove_stale_temporaries(Path(os.path.realpath(Path(folder) / point)), files)]


def read_chunk(folder: Path, chunk: SweepChunk) -> dict | None:
    """A finished chunk's arrays, or None when it is missing, unreadable or holds other seeds."""
    path = Path(folder) / chunk.relpath
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None
    if tuple(int(s) for s in arrays.get("seed", ())) != chunk.seeds:
        return None
    arrays["run"] = json.loads(str(arrays.pop("run_json")))
    tree = unflatten_tree(arrays)
    arrays = without_tree(arrays)
    arrays["analyses"] = tree
    return arrays


def chunk_done(folder: Path, chunk: SweepChunk) -> bool:
    """Whether ``chunk``'s file is there and holds its seeds (reads only the seed list)."""
    path = Path(folder) / chunk.relpath
    try:
        with np.load(path, allow_pickle=False) as z:
            return tuple(int(s) for s in z["seed"]) == chunk.seeds
    except (OSError, ValueError, KeyError, EOFError):
        return False


# ------------------------------------------------------------------------------------------------
# The manifest
# ------------------------------------------------------------------------------------------------

def _normalised(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def write_manifest(folder: Path, plan: SweepPlan, done_chunks: Sequence[str], sessions: Sequence[str],
                   created: str | None = None, engine: Mapping | None = None) -> dict:
    """Write ``sweep.json`` atomically: the plan (what was asked) and what is done; returns it."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "lsexplorer_version": __version__,
                "created": created or now, "updated": now, **plan.asked(),
                "done": {"chunks": sorted(done_chunks), "sessions": sorted(sessions),
                         "chunks_total": len(plan.chunks), "complete": len(sessions) == len(plan.points)},
                "engine": dict(engine or {})}
    _atomic_write(Path(folder) / MANIFEST_NAME, json.dumps(manifest, indent=1, allow_nan=False).encode())
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of sweep folder ``folder``; :class:`SweepError` if it is not a sweep folder."""
    path = Path(folder) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"{folder} is not a sweep folder (no {MANIFEST_NAME})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SweepError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise SweepError(f"{path} is not an lsexplorer sweep manifest")
    if manifest.get("format_version", 0) > MANIFEST_VERSION:
        raise SweepError(f"{path} has sweep format version {manifest['format_version']}; this lsexplorer reads "
                         f"up to {MANIFEST_VERSION}")
    for key in ("points", "chunk", "axes", "done"):
        if key not in manifest:
            raise SweepError(f"{path} lacks {key!r}")
    return manifest


def check_same_sweep(manifest: Mapping, plan: SweepPlan, folder: Path) -> None:
    """:class:`SweepError` unless ``manifest`` asked for exactly ``plan`` (so its chunks can be reused)."""
    asked = _normalised(plan.asked())
    if list(manifest.get("analyses", [])) != list(plan.analyses):
        there = ", ".join(manifest.get("analyses", [])) or "none"
        raise SweepError(f"{folder} holds a sweep with other analyses ({there} there, "
                         f"{', '.join(plan.analyses) or 'none'} now); run it with the same --analyze "
                         "or choose another output folder")
    for key in ("axes", "chunk"):
        if _normalised(manifest.get(key)) != asked[key]:
            raise SweepError(f"{folder} holds a different sweep ({key} {manifest.get(key)} there, {asked[key]} now); "
                             f"choose another output folder")
    stored = {p["name"]: p for p in manifest["points"]}
    for p in asked["points"]:
        if stored.get(p["name"]) != p:
            raise SweepError(f"{folder} holds a different sweep (point {p['name']} has another config); "
                             f"choose another output folder")


__all__ = ["SweepChunk", "SweepError", "SweepPlan", "SweepPoint", "check_same_sweep", "check_sweep_folder",
           "chunk_done", "plan_sweep", "read_chunk", "read_manifest", "remove_stale_chunk_temporaries",
           "sweep_folder_lock", "write_chunk", "write_manifest"]
