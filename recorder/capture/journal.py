"""journal.ndjson: one JSON event a line, appended and fsynced, so a crash loses no finished command.

An event is written (write(2)) before the recorder answers the shell: from then on it is in the
kernel's page cache, which a killed recorder (kill -9, a crash) cannot lose. The fsync that makes it
survive the machine losing power runs in a thread of its own right after, off the prompt's path: on
a busy disk it cost more than everything else a command's step does (4 ms of 12 here)."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

from recorder.model.read import step_from_data
from recorder.model.session import Host, Session, Step
from recorder.model.write import step_to_data

JOURNAL_FILE = "journal.ndjson"


class Journal:
    """Appends events; when the disk refuses one (full), keeps it and every later one in memory and
    writes them, in order, as soon as the disk takes them again. The shell is never held up."""

    def __init__(self, directory: Path):
        self.path = directory / JOURNAL_FILE
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.backlog: list[bytes] = []
        self.error: OSError | None = None  # why the backlog is not on disk
        self._torn = False  # a write stopped mid-line: start the next on a fresh line
        self._unsynced = threading.Event()
        self._closing = False
        self._syncer = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
        self._syncer.start()

    def append(self, event: str, **fields: Any) -> bool:
        """True when this event, and every one before it, is on disk."""
        self.backlog.append(encode({"event": event, **{k: _plain(v) for k, v in fields.items()}}))
        return self.flush()

    def flush(self) -> bool:
        while self.backlog:
            data = (b"\n" if self._torn else b"") + self.backlog[0]
            try:
                written = os.write(self._fd, data)
            except OSError as exc:
                self.error = exc
                return False
            if written < len(data):
                self._torn = True  # read() skips the torn line; the event is written again whole
                self.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return False
            self._torn = False
            self.backlog.pop(0)
            self._unsynced.set()
        self.error = None
        return True

    def _sync_loop(self) -> None:
        while True:
            self._unsynced.wait()
            self._unsynced.clear()
            if self._closing:
                return
            with contextlib.suppress(OSError):  # written already: a retry would duplicate it
                os.fsync(self._fd)

    def close(self) -> None:
        """Everything written is on disk when this returns."""
        self._closing = True
        self._unsynced.set()
        self._syncer.join()
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)


def encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()


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
