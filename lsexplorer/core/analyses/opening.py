"""Opening a session: the file checked by the store, then every stored analysis by its own module.

Kept apart from the registry itself, which the command line imports to build its flags without
loading h5py or torch.
"""

from __future__ import annotations

import os

from ..store.session import Session, SessionError, load_session
from . import stored_checks
from .checks import PARSE_ERRORS, Malformed


def check_stored(session: Session, results: bool = True) -> None:
    """Raise ``ValueError`` naming the first stored analysis entry of ``session`` its readers cannot
    use: layouts always, every result's fields and shapes when ``results`` (which imports torch)."""
    for group, check in stored_checks().items():
        if group in session.analyses:
            try:
                check(session.analyses[group], session, results)
            except Malformed:
                raise
            except PARSE_ERRORS as e:
                raise ValueError(f"/analyses/{group} is malformed ({type(e).__name__}: {e})") from None


def open_session(path: str | os.PathLike, *, check_results: bool = True) -> Session:
    """The session at ``path``, validated as a file (:func:`~lsexplorer.core.store.session.load_session`)
    and in every stored analysis (:func:`check_stored`); :class:`SessionError` says why it cannot be.

    This is how every front end opens a session. ``check_results=False`` checks only the layouts,
    for a caller that reads only the summary tables (``lsexplorer info``) and starts without torch.
    """
    session = load_session(path)
    try:
        check_stored(session, check_results)
    except ValueError as e:
        raise SessionError(f"cannot open {os.fspath(path)}: {e}") from None
    return session


__all__ = ["check_stored", "open_session"]
