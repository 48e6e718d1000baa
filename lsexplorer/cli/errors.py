"""The command line's own errors: a problem with what the user asked for, told in one line."""

from __future__ import annotations

from ..core.base.errors import InputError


class UserError(InputError):
    """A problem with what the user asked for (a flag, a file, a combination); one line, exit status 2."""


__all__ = ["UserError"]
