"""How a run is named to a person: "run 3 (seed 4)", or what a derived one-run session stands for.

A session built around one point of another session (a path's certified highest point,
``config["origin"]``) has a single row 0; calling it "run 0" would clash with the source session's
own run 0 shown in the next window. Such a row is named by what it is and where it came from:
"the saddle of path 1→2 (from run 1, seed 1)".
"""

from __future__ import annotations

from .session import Session


def _origin(session: Session) -> dict | None:
    origin = session.config.get("origin")
    return origin if isinstance(origin, dict) and origin.get("path") else None


def _path_arrow(key: str) -> str:
    return str(key).replace("_to_", "→")


def _source_run(origin: dict) -> int | None:
    run = origin.get("run")
    if isinstance(run, int):
        return run
    head = str(origin.get("path", "")).split("_to_")[0]
    return int(head) if head.lstrip("-").isdigit() else None


def run_name(session: Session, row: int) -> str:
    """"run 3", or "the saddle of path 1→2" for a path's saddle session; lower case, for mid-sentence."""
    origin = _origin(session)
    if origin is None:
        return f"run {int(row)}"
    return f"the saddle of path {_path_arrow(origin['path'])}"


def run_title(session: Session, row: int, *, seed: bool = True) -> str:
    """"Run 3 (seed 4)", or "The saddle of path 1→2 (from run 1, seed 1)"; capitalised, to open a sentence."""
    origin = _origin(session)
    seed_value = int(session.runs.seed[row]) if 0 <= row < session.runs.n_runs else None
    if origin is None:
        name = f"Run {int(row)}"
        return f"{name} (seed {seed_value})" if seed and seed_value is not None else name
    name = f"The saddle of path {_path_arrow(origin['path'])}"
    if not seed:
        return name
    source = _source_run(origin)
    where = [f"from run {source}"] if source is not None else []
    if seed_value is not None and seed_value >= 0:
        where.append(f"seed {seed_value}")
    return f"{name} ({', '.join(where)})" if where else name


def session_title(session: Session) -> str | None:
    """What a derived session stands for, for a window title ("the saddle of path 1→2"); None for a plain one."""
    origin = _origin(session)
    return None if origin is None else f"the saddle of path {_path_arrow(origin['path'])}"


__all__ = ["run_name", "run_title", "session_title"]
