"""Settings classes store and print the same dicts as before they became `Record`s: keys in the same
order, the same types (tuple vs list, int vs float, array dtypes), and ``from_dict`` inverts
``to_dict``. The expected layouts are in ``tests/data/settings_dicts.json``, written from the
hand-written ``to_dict`` methods these classes had."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lsexplorer.core.base.classify import Tolerances
from lsexplorer.core.base.spec import MLPSpec
from lsexplorer.core.channels.flat_channel import ChannelSettings
from lsexplorer.core.critical.refine_stages import RefineConfig
from lsexplorer.core.paths.minimum_energy import PathConfig
from lsexplorer.core.paths.neb import NEBConfig
from lsexplorer.core.paths.saddle_search import SaddleConfig
from lsexplorer.core.population.descent import DescentConfig as PopulationDescentConfig
from lsexplorer.core.saddles.closest_saddle import MergeConfig
from lsexplorer.core.saddles.saddle_descent import DescentConfig as SaddleDescentConfig
from lsexplorer.core.training.train import TrainConfig

GOLDEN = Path(__file__).parent / "data" / "settings_dicts.json"

#: name -> (class, a non-default instance); ``from_dict`` is checked where the class has one.
CASES = {
    "Tolerances": (Tolerances, lambda: Tolerances(grad_tol=1e-9, eig_atol=1e-12, max_norm_growth=5.0)),
    "MLPSpec": (MLPSpec, lambda: MLPSpec((2, 4, 3, 1), "tanh", False, True)),
    "ChannelSettings": (ChannelSettings, lambda: ChannelSettings(min_outgoing=30.0, approach_amplitudes=(10.0, 100.0))),
    "RefineConfig": (RefineConfig, lambda: RefineConfig(slsqp_maxeval=100, minimizer="trust_newton", polish=False)),
    "NEBConfig": (NEBConfig, lambda: NEBConfig(images=8, spring=0.5, optimizer="fire", auto_probe=5)),
    "SaddleConfig": (SaddleConfig, lambda: SaddleConfig(follow_steps=10, trust=0.2)),
    "PathConfig": (PathConfig, lambda: PathConfig(auto=True, neb=NEBConfig(images=4, spring=2.0),
                                                  saddle=SaddleConfig(trust=0.5), tighten_seconds=3.0)),
    "PopulationDescentConfig": (PopulationDescentConfig, lambda: PopulationDescentConfig(lr=0.5, max_steps=10)),
    "MergeConfig": (MergeConfig, lambda: MergeConfig(smoothing=1e-2, maxeval=10)),
    "SaddleDescentConfig": (SaddleDescentConfig, lambda: SaddleDescentConfig(
        mus=(0.5,), n_perturbations=2, refine=RefineConfig(polish=False).to_dict())),
    "TrainConfig": (TrainConfig, lambda: TrainConfig(optimizer="sgd", lr=0.01, epochs=5, betas=(0.8, 0.9),
                                                     momentum=0.5, grad_tol=1e-7)),
}


def typed(value):
    """``value`` with every type made explicit, so that a list and a tuple, or 1 and 1.0, differ."""
    if isinstance(value, dict):
        return ["dict", [[k, typed(v)] for k, v in value.items()]]
    if isinstance(value, np.ndarray):
        return ["ndarray", value.dtype.str, list(value.shape), [repr(v) for v in value.ravel().tolist()]]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [typed(v) for v in value]]
    return [type(value).__name__, repr(value)]


def layouts() -> dict:
    return {f"{name}/{which}": typed(instance.to_dict())
            for name, (cls, other) in CASES.items()
            for which, instance in (("default", cls()) if name != "MLPSpec" else ("default", MLPSpec((2, 5, 1))),
                                    ("other", other()))}


@pytest.mark.parametrize("key", [f"{n}/{w}" for n in CASES for w in ("default", "other")])
def test_to_dict_layout_is_unchanged(key):
    assert layouts()[key] == json.loads(GOLDEN.read_text())[key]


@pytest.mark.parametrize("name", [n for n, (cls, _) in CASES.items() if hasattr(cls, "from_dict")])
def test_from_dict_inverts_to_dict(name):
    cls, other = CASES[name]
    for instance in (other(),) + ((cls(),) if name != "MLPSpec" else ()):
        again = cls.from_dict(instance.to_dict())
        assert again == instance
        assert typed(again.to_dict()) == typed(instance.to_dict())


if __name__ == "__main__":  # writes the expected layouts from the classes as they are
    GOLDEN.write_text(json.dumps(layouts(), indent=1) + "\n")
