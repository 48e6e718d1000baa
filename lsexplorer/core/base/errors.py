"""The one exception family for problems with what a user gave: a file, a config, a flag.

Front ends catch :class:`InputError` and show its message as one line (the CLI exits with status 2,
the app shows a dialog); anything else that escapes is a bug and keeps its traceback. This module
imports nothing heavy, so a front end can catch these errors without loading numerics.
"""


class InputError(Exception):
    """Input that cannot be used as given; the message says what and why, in one line."""
