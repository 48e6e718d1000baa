"""Qt's own log output, filtered of messages that say nothing to a user.

The offscreen platform plugin warns "This plugin does not support propagateSizeHints()" whenever a
window is laid out; headless figure export lays out dozens, and the warnings buried the one line
that matters. Everything else Qt says still reaches stderr.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

#: Substrings of Qt messages that are dropped.
NOISE = ("does not support propagateSizeHints",)

_installed = False


def _handler(mode: QtMsgType, context, message: str) -> None:
    if any(noise in message for noise in NOISE):
        return
    print(message, file=sys.stderr)


def drop_offscreen_noise() -> None:
    """Install the filter once per process (idempotent)."""
    global _installed
    if not _installed:
        qInstallMessageHandler(_handler)
        _installed = True
