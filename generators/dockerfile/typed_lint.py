"""Which lint findings a command replayed as the operator typed it may draw (typed_lint.yaml):
they are about how the command is written, and the image replays what ran on staging unchanged."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from ruamel.yaml import YAML

DATA = Path(__file__).with_name("typed_lint.yaml")


@functools.cache
def _table() -> tuple[tuple[str, re.Pattern[str]], ...]:
    data = YAML(typ="safe").load(DATA.read_text())
    return tuple((code, re.compile(entry["when"])) for code, entry in data.items())


def possible_findings(command: str) -> list[str]:
    """The codes whose finding the typed text makes possible, in the table's order."""
    return [code for code, when in _table() if when.search(command)]
