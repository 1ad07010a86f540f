"""The one way a command reads a session: every command that takes a session directory (the generators,
build, verify, show, diff, check) goes through `load_session`, so what one refuses, all refuse."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.errors import RecorderError

if TYPE_CHECKING:
    from recorder.model.session import Session


def load_session(session_dir: Path, shown_as: str | None = None) -> Session:
    """A session well-formed and free of secrets written into it by hand (they would reach an image, a
    manifest or a compose file). `shown_as` names the session in errors when it was read from a copy.

    The reader (ruamel, libyaml) and the guard (detect-secrets) are imported here, by the commands that
    read a session: `record --help` and the commands that read none do not pay for them."""
    from recorder.model import read
    from recorder.model import session as session_io
    from recorder.secrets import guard

    try:
        recorded = read.load(session_dir)
        guard.refuse_unredacted(recorded, session_dir / session_io.SESSION_FILE)
    except RecorderError as exc:
        if shown_as is None:
            raise
        raise type(exc)(str(exc).replace(str(session_dir), shown_as)) from None
    gc.freeze()  # it lives until the command ends: the cycle collector need not walk it while generating
    return recorded
