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


__all__ = ["SAMPLE_NAME", "sample_session_path"]
