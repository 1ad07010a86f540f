"""journal.ndjson: one JSON event a line, appended and fsynced, so a crash loses no finished command."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from recorder.session import Host, Session, Step, step_from_data, step_to_data

JOURNAL_FILE = "journal.ndjson"


class Journal:
    def __init__(self, directory: Path):
        self.path = directory / JOURNAL_FILE
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, event: str, **fields: Any) -> None:
        record = {"event": event, **{k: _plain(v) for k, v in fields.items()}}
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
        os.write(self._fd, line)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _plain(value: Any) -> Any:
    if isinstance(value, Step):
        return step_to_data(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def read(path: Path) -> list[dict[str, Any]]:
    """Events in order; a torn last line (the crash happened mid-write) is ignored."""
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def recover(directory: Path, name: str) -> Session:
    """The session as far as its journal got: host and every finished step, in order."""
    path = directory / JOURNAL_FILE
    session = Session(name=name)
    for event in read(path):
        if event.get("event") == "begin" and isinstance(event.get("host"), dict):
            fields = {k: str(v) for k, v in event["host"].items() if k in Host.__dataclass_fields__}
            session.host = Host(**fields)
        elif event.get("event") == "step":
            session.steps.append(step_from_data(event.get("step"), path, f"step {len(session.steps) + 1}"))
    return session
