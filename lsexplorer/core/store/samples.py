"""Where the bundled sample session is, in a source checkout and in an installed wheel.

The file lives in the repository's ``sample_data/``; a wheel installs it as data under
``<prefix>/share/lsexplorer/`` (pyproject.toml, ``[tool.setuptools.data-files]``), where ``prefix``
is the environment's (or the user scheme's, for ``pip install --user``).
"""

from __future__ import annotations

import os
import sysconfig
from importlib import resources
from pathlib import Path

#: File name of the bundled sample session: the thesis toy experiment, 100 width-5 students.
SAMPLE_NAME = "toy_width5.h5"
#: Every bundled sample session, file name -> what File ▸ Open sample calls it.
SAMPLES = {SAMPLE_NAME: "Toy teacher, 100 width-5 students (§6.2)",
           "mnist5k_deep.h5": "MNIST pixels, 3×10 deep net: symmetry-induced saddles (§6.3)"}


def _candidates(name: str) -> list[Path]:
    package = resources.files("lsexplorer")
    found = [Path(str(package / "sample_data" / name)),  # package data, should it ever move there
             Path(str(package)).resolve().parent / "sample_data" / name]  # a source checkout
    for scheme in (None, f"{os.name}_user"):
        try:
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:
            continue
        found.append(Path(data) / "share" / "lsexplorer" / name)
    return found


def sample_session_path(name: str = SAMPLE_NAME) -> Path:
    """The sample session ``name``: a checkout's own first (an editable install also copies it to the
    prefix, where it may be older), then the installed one; if there is none, where a checkout would
    hold it (a path that does not exist)."""
    candidates = _candidates(name)
    return next((p for p in candidates if p.is_file()), candidates[1])


def bundled_samples() -> list[tuple[str, Path]]:
    """``(title, path)`` of every bundled sample session that is present, in :data:`SAMPLES` order."""
    found = [(title, sample_session_path(name)) for name, title in SAMPLES.items()]
    return [(title, path) for title, path in found if path.is_file()]


__all__ = ["SAMPLES", "SAMPLE_NAME", "bundled_samples", "sample_session_path"]
