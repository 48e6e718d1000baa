"""Sessions whose data is a distribution rather than samples: how to tell, and what applies to them.

Kept free of torch (like :mod:`.spec`), so the analysis registry and the command line can ask
without loading the numerics. The numerics of the one such landscape so far, Safran & Shamir's
Gaussian-input ReLU population loss, are in :mod:`.relu_gaussian` and :mod:`.relu_gaussian_session`.
"""

from __future__ import annotations

from collections.abc import Mapping

#: ``config["data"]["kind"]`` of the Gaussian-input ReLU population landscape.
KIND = "relu-gaussian"

#: Analyses that apply to it: the others follow a neuron split in two, which needs free output weights.
APPLICABLE_ANALYSES = ("escape",)


def is_population(session_or_config) -> bool:
    """Whether a session (or its config) is a population landscape (``/data`` holds a sample only)."""
    config = getattr(session_or_config, "config", session_or_config)
    return isinstance(config, Mapping) and isinstance(config.get("data"), Mapping) \
        and config["data"].get("kind") == KIND


def refuse_inapplicable(session_or_config, analyses) -> None:
    """ValueError naming the ``analyses`` that do not apply to a population landscape, if any."""
    refused = sorted(set(analyses) - set(APPLICABLE_ANALYSES)) if is_population(session_or_config) else []
    if refused:
        raise ValueError(f"{' and '.join(refused)} {'does' if len(refused) == 1 else 'do'} not apply to the "
                         f"{KIND} landscape (output weights are fixed, so neurons cannot be split); "
                         f"choose {', '.join(APPLICABLE_ANALYSES)}")


__all__ = ["APPLICABLE_ANALYSES", "KIND", "is_population", "refuse_inapplicable"]
