"""A session's ``analyses`` tree as plain arrays of a chunk file, and back.

A chunk file is an ``.npz`` read without pickles, so a tree of groups, arrays and scalars is stored
flat: every array under ``<prefix>/<path>``, and the groups (empty ones too) and the scalars in one
JSON string. Scalars come back as Python numbers, strings, booleans or None, as the readers of a
stored analysis accept them from an HDF5 file too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

#: The prefix of a tree's arrays among a chunk's other arrays.
PREFIX = "analyses"
#: The key of the JSON string holding the groups and scalars.
LAYOUT_KEY = "analyses_layout_json"


def flatten_tree(tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of ``tree`` under ``analyses/<path>`` plus :data:`LAYOUT_KEY`; ``{}`` for an empty tree."""
    if not tree:
        return {}
    arrays: dict[str, np.ndarray] = {}
    groups: list[str] = []
    scalars: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], path: str) -> None:
        for key, value in node.items():
            if "/" in str(key):
                raise ValueError(f"an analyses key may not hold '/': {path}/{key}")
            where = f"{path}/{key}"
            if isinstance(value, Mapping):
                groups.append(where)
                walk(value, where)
            elif isinstance(value, np.ndarray):
                arrays[where] = value
            else:
                scalars[where] = value.item() if isinstance(value, np.generic) else value

    walk(tree, PREFIX)
    arrays[LAYOUT_KEY] = np.asarray(json.dumps({"groups": groups, "scalars": scalars}))
    return arrays


def unflatten_tree(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The tree :func:`flatten_tree` stored among ``arrays`` (``{}`` when none was)."""
    if LAYOUT_KEY not in arrays:
        return {}
    layout = json.loads(str(arrays[LAYOUT_KEY]))
    tree: dict[str, Any] = {}

    def place(path: str, value: Any) -> None:
        parts = path.split("/")[1:]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    for path in layout["groups"]:
        place(path, {})
    for path, value in layout["scalars"].items():
        place(path, value)
    for key, value in arrays.items():
        if key.startswith(PREFIX + "/"):
            place(key, np.asarray(value))
    return tree


def without_tree(arrays: Mapping[str, Any]) -> dict[str, Any]:
    """``arrays`` less the entries of a flattened tree."""
    return {k: v for k, v in arrays.items() if k != LAYOUT_KEY and not k.startswith(PREFIX + "/")}


__all__ = ["LAYOUT_KEY", "PREFIX", "flatten_tree", "unflatten_tree", "without_tree"]
