"""Where the commands talk to a person: stderr, through rich when there is markup or a table.

rich is imported on first use: `to-dockerfile`, run by pre-commit on every commit, prints plain
lines only, and importing rich is a tenth of its start-up."""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def note(line: str) -> None:
    """A plain line on stderr, printed as it is (a path with [brackets] in it is not markup)."""
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


def error_line(exc: Exception) -> None:
    """One line, and never a secret: a message may quote what the user wrote."""
    from recorder.secrets import guard

    note(f"record: error: {guard.scrub_message(str(exc))}")
