"""What a refined point can be: the one list of kinds, with the words every view uses for them.

A kind is stored as its plain string (``/runs/kind``), so :class:`Kind` is a ``StrEnum``: a member
equals its string, and numpy string arrays compare with members directly. Adding a kind is one line
here (its name and three labels); ``gui/style.py`` gives it a colour, ``classify.py`` or an
analysis assigns it. Which point gets which kind is documented in :mod:`lsexplorer.core.base.classify`.
"""

from __future__ import annotations

import enum


class Kind(enum.StrEnum):
    """A kind of point: the stored name, ``label`` (singular), ``plural`` and ``short`` (table cells)."""

    label: str
    plural: str
    short: str

    def __new__(cls, value: str, label: str, plural: str, short: str) -> Kind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label, member.plural, member.short = label, plural, short
        return member

    GLOBAL_MIN = "global_min", "global minimum", "global minima", "global min"
    LOCAL_MIN = "local_min", "local minimum", "local minima", "local min"
    STRICT_SADDLE = "strict_saddle", "strict saddle", "strict saddles", "strict saddle"
    NONSTRICT_SADDLE = "nonstrict_saddle", "non-strict saddle", "non-strict saddles", "non-strict saddle"
    CHANNEL = "channel", "minimum at infinity", "minima at infinity", "min. at ∞"
    CHANNEL_SADDLE = "channel_saddle", "saddle at infinity", "saddles at infinity", "saddle at ∞"
    NOT_CONVERGED = "not_converged", "not converged", "not converged", "not converged"


#: Every kind's stored name, in table order.
KINDS: tuple[str, ...] = tuple(k.value for k in Kind)


def kind_label(kind: str, form: str = "label") -> str:
    """The ``label``/``plural``/``short`` word of a stored kind string; the string itself if unknown."""
    try:
        return getattr(Kind(str(kind)), form)
    except ValueError:
        return str(kind)


def kind_phrase(kind: str) -> str:
    """What a point of ``kind`` is, as the end of a sentence about it: "is a local minimum", "is a saddle at
    infinity", "did not converge" (a run that did not converge is not a kind of point)."""
    if str(kind) == Kind.NOT_CONVERGED:
        return "did not converge"
    label = kind_label(kind)
    return f"is {'an' if label[:1] in 'aeiou' else 'a'} {label}"


__all__ = ["KINDS", "Kind", "kind_label", "kind_phrase"]
