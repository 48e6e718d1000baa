"""lsexplorer: explore the loss landscapes of small neural networks and their critical points.

The Python API, for notebooks and scripts (``docs/api.md``)::

    import lsexplorer as lx

    session = lx.open("experiment.h5")        # or lx.train(preset="toy", seeds=16, epochs=20_000)
    session.runs                               # one row per run: kind, loss, ‖∇L‖, λ_min, index, ...
    session.analyze("closest_saddle", runs=[3])
    session.figure("saddle_line_eigenvalues_vs_mu", run=3)
    session.save("experiment.h5")

Everything listed in ``__all__`` is the public API; every other module (``lsexplorer.core``,
``lsexplorer.cli``, ``lsexplorer.gui``, ...) is internal and may change between versions.
``lsexplorer.figures`` loads when first used.
"""

from ._api.counting import counting
from ._api.results import MinimumEnergyPath, Point
from ._api.running import import_students, train
from ._api.session import Session, open, sample_path
from ._api.sweeping import Sweep, open_sweep, sweep
from ._version import __version__ as __version__
from .core.base.errors import InputError

__all__ = ["InputError", "MinimumEnergyPath", "Point", "Session", "Sweep", "counting", "figures", "import_students",
           "open", "open_sweep", "sample_path", "sweep", "train"]


def __getattr__(name: str):
    """``lsexplorer.figures`` on first use: it loads matplotlib, which the command line mostly does without."""
    if name == "figures":
        import importlib

        return importlib.import_module(".figures", __name__)
    raise AttributeError(f"module 'lsexplorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"figures"})
