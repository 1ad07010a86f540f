"""The cast: what the user's terminal showed, as an asciicast v2 file, redacted as it arrives (a secret
typed or printed never reaches the file in the clear)."""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re

    from recorder.secrets.redact import Redactor

CAST_FILE = "terminal.cast"  # in the session directory
Spans = list[tuple[int, int, str]]  # (start, end, placeholder) in a text: sorted, not overlapping

# Each scan of the output holds back its last TAIL characters and scans them again with what follows: a
# secret cut in two by a read (or by a scan) is seen whole, up to this long. A private key is the
# longest kind (its END line is looked for within 64 KiB of its BEGIN line).
TAIL = 128 << 10
BATCH = 1 << 20  # characters scanned at once beyond the tail: a tenth of the work is the tail again
RELEASE, END, STOP = "release", "end", "stop"  # what the follower is told (see CastWriter._tell)
MARKS = frozenset({RELEASE, END, STOP})
# At close: after WAIT seconds, a follower with more than BACKLOG bytes of output still to read back
# finishes the cast on its own (about 0.3 s of work: it redacts 30-60 MB a second).
WAIT = 0.15
BACKLOG = 8 << 20


class CastWriter:
    """asciicast v2 of what the terminal showed. Output only: keyboard input is never written.

    Output goes raw to `<cast>.raw` with its timing in `<cast>.timing` (as `script --log-timing` does):
    one write per burst on the relay's hot path, and what a crash leaves for the next resume.

    A process of its own, the follower (cast_follower.py), reads it back as it arrives and redacts it
    into `<cast>.part`, which becomes the cast at close(): the secrets the recording knows, and tokens
    found by their shape (keys, JWTs, credentials in URLs). It works at the lowest priority, in the
    pauses of the output: a thread here took the interpreter's lock from the relay (0.8x `script -q`),
    and a process scanning beside a flood, even at the lowest priority, still cost the relay a tenth
    on a 2-vCPU machine (bench/throughput.py). When `exit` comes right after more output than it has
    scanned, it finishes the cast on its own after the recorder is gone (see close).

    What a command printed is let through at its prompt (flush()), with the values the recording has
    learned by then: the echo of `export DB_PASSWORD=...`, a password typed at a no-echo prompt and
    printed back. A secret learned even later that was shown before (typed ahead, printed before it
    was typed) has the cast written again from the raw output at close. Until then the raw files and
    the part may hold what the screen showed, so only their owner may read them. Tokens the follower
    finds in the output are learned here at the next prompt, under the name it gave them.

    A full disk stops the cast, never the relay: `error` says why it stopped.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        env: dict[str, str],
        append: bool = False,
        redactor: Redactor | None = None,
    ):
        self.path = path
        self.raw_path, self.timing_path, self.part_path = private_files(path)
        self.redactor = redactor
        self.error = ""
        self.rewritten = False  # the follower wrote the cast again from the raw output (a secret learned late)
        self.detached = False  # close() left the follower to finish the cast on its own
        self.backlog = 0  # bytes of output it had still to read back then
        if append:
            self._recover()  # what a crashed recording left behind
        offset = _cast_end(path) if append else 0.0
        if not offset:
            header = {
                "version": 2,
                "width": width,
                "height": height,
                "env": {k: env[k] for k in ("SHELL", "TERM") if k in env},
            }
            path.write_text(json.dumps(header) + "\n", encoding="utf-8")
        self._start = time.monotonic() - offset  # a resumed recording continues the same timeline
        self._raw = _private(self.raw_path)
        self._timing = os.fdopen(_private(self.timing_path), "w", encoding="ascii")
        with os.fdopen(_private(self.part_path), "wb") as part, open(path, "rb") as cast:
            shutil.copyfileobj(cast, part)  # the part is the whole cast to be: it replaces the cast
        self._lock = threading.Lock()  # output comes from the relay's writer thread, flush from the recorder
        self._sent = 0  # the redactor's values up to here were sent to the follower
        self._written = 0  # raw bytes
        self._read_back = 0  # raw bytes the follower said it has read back
        self._ended = False
        self._follower = subprocess.Popen(
            [sys.executable, "-P", "-m", "recorder.capture.cast_follower", str(path), str(TAIL), str(BATCH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the terminal's signals are the recorder's to handle, not its
        )
        self._reports = b""

    @property
    def follower_pid(self) -> int:
        return self._follower.pid

    # -- the relay's side

    def output(self, data: bytes) -> None:
        with self._lock:
            if self.error:
                return
            try:
                if os.write(self._raw, data) < len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                elapsed = time.monotonic() - self._start
                self._timing.write(f"{elapsed:.6f} {len(data)}\n")
            except OSError as exc:
                self.error = exc.strerror or str(exc)
                return
            self._written += len(data)

    # -- the recorder's side

    def flush(self) -> None:
        """Called at each prompt, once the finished command's secrets are known: what it printed may
        go into the cast; and after a crash, the output up to here keeps its timing."""
        self._learn(self._read_reports())
        self._tell(RELEASE)

    def end_of_output(self) -> None:
        """The shell is gone: the follower scans the rest now, while the recording is being saved."""
        self._tell(END)
        self._ended = True

    def close(self, store: Path | None = None) -> None:
        """The cast is complete when this returns, unless more than BACKLOG bytes of output were still
        to be read back WAIT seconds after: then the follower finishes on its own (`detached` says so;
        `record resume` waits for it) and `exit` does not wait for a scan of what a long burst printed.
        `store` is the recording's file of secret values, removed once the cast is written: a follower
        that dies before leaves it for the resume that cleans the raw output."""
        if not self._ended:
            self.end_of_output()
        with contextlib.suppress(OSError):
            os.close(self._raw)
        self._learn(self._read_reports())
        self._tell(STOP, store)
        with contextlib.suppress(OSError):
            self._follower.stdin.close()
        reports = self._wait()
        if reports is None:
            self.detached = True
            return
        self._follower.wait()
        self._learn(reports)
        ended = next((r["end"] for r in reports if "end" in r), None)
        if ended is not None:
            self.rewritten, self.error = ended["rewritten"], self.error or ended["error"]
            return
        try:  # the follower died: the cast is written here, from the raw output
            self._convert_raw()
            os.chmod(self.part_path, os.stat(self.path).st_mode & 0o777)  # readable as the cast was
            os.replace(self.part_path, self.path)
            if store is not None:
                store.unlink(missing_ok=True)
        except OSError as exc:
            self.error = self.error or exc.strerror or str(exc)
        finally:
            # Never left behind: unredacted, they are the one copy of a typed secret on disk.
            for leftover in (self.raw_path, self.timing_path, self.part_path):
                leftover.unlink(missing_ok=True)

    def _wait(self) -> list[dict] | None:
        """The follower's reports to its end; None when it is left to finish on its own."""
        start, reports = time.monotonic(), []
        while True:
            waited = time.monotonic() - start
            chunk = self._read_report_bytes(max(0.0, WAIT - waited) if waited < WAIT else 0.5)
            reports += self._parse_reports(chunk or b"")
            if chunk == b"" or any("end" in r for r in reports):
                return reports
            if time.monotonic() - start >= WAIT and self._written - self._read_back > BACKLOG:
                self.backlog = self._written - self._read_back
                self._learn(reports)
                return None

    def _tell(self, kind: str, store: Path | None = None) -> None:
        """Tell the follower `kind` (RELEASE, END, STOP) at this point of the output, with the values
        learned since: a line in the timing file, where the output is in order (the follower reads it
        there, so it never lets through output that came after), and the values on its stdin."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._timing.write(f"{kind}\n")
            self._timing.flush()
            if kind == STOP:
                self._timing.close()
        message = {"kind": kind, "values": self._new_values(), "store": str(store) if store else None}
        with contextlib.suppress(OSError, ValueError):  # a follower that died is replaced by _convert_raw at close
            self._follower.stdin.write(json.dumps(message).encode() + b"\n")
            self._follower.stdin.flush()

    def _new_values(self) -> list[tuple[str, str, bool]]:
        """(value, name, found by its shape in the output) of each value learned since the last message."""
        if self.redactor is None:
            return []
        known = self.redactor.known_since(self._sent)
        self._sent += len(known)
        return known

    def _read_reports(self) -> list[dict]:
        """The follower's reports so far."""
        reports = []
        while chunk := self._read_report_bytes(0):
            reports += self._parse_reports(chunk)
        return reports

    def _read_report_bytes(self, timeout: float) -> bytes | None:
        """What the follower wrote, waiting up to `timeout` seconds: None when nothing came, b"" at its end."""
        fd = self._follower.stdout.fileno()
        if not select.select([fd], [], [], timeout)[0]:
            return None
        try:
            return os.read(fd, 1 << 16)
        except OSError:
            return b""

    def _parse_reports(self, chunk: bytes) -> list[dict]:
        """The follower's whole report lines so far, one JSON object each (see cast_follower.py)."""
        *lines, self._reports = (self._reports + chunk).split(b"\n")
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        self._read_back = max([self._read_back, *(r["read"] for r in out if "read" in r)])
        return out

    def _learn(self, reports: list[dict]) -> None:
        """Tokens the follower found in the output, learned under the names it gave them."""
        if self.redactor is None:
            return
        for report in reports:
            for value, name in report.get("found", ()):
                self.redactor.adopt(value, name)

    # -- from the raw output, at once

    def _recover(self) -> None:
        """A crashed recording's output, appended to the cast, every secret known now replaced. A
        follower still finishing the last cast (see close) holds a lock on the part: it is waited for."""
        wait_for_follower(self.path)
        self.part_path.unlink(missing_ok=True)
        if self.raw_path.exists() and self.timing_path.exists():
            try:
                self._convert_raw()
                os.replace(self.part_path, self.path)
            except OSError as exc:
                self.error = self.error or exc.strerror or str(exc)
        for leftover in (self.raw_path, self.timing_path, self.part_path):
            leftover.unlink(missing_ok=True)

    def _convert_raw(self) -> None:
        convert_raw(self.path, self.raw_path, self.timing_path, self.part_path, self.redactor)


def private_files(path: Path) -> tuple[Path, Path, Path]:
    """Beside the cast at `path`, while it is written: the raw output, its timing, the part."""
    return tuple(path.with_name(path.name + suffix) for suffix in (".raw", ".timing", ".part"))


def unfinished(path: Path) -> str:
    """Why the cast at `path` is not yet what the recording showed, or '' when it is: committed now, it
    would lack output (never hold a secret: what is not yet cleaned stays in private files)."""
    try:
        with open(private_files(path)[2], "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        return ""
    except BlockingIOError:
        return "still being written, or cleaned of secrets after exit: commit it when that is done"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return "left by a recording that did not end: `record resume` finishes it"


def wait_for_follower(path: Path) -> None:
    """Until a follower still finishing the cast at `path` on its own (see CastWriter.close) is done:
    it holds a lock on the part until then."""
    with contextlib.suppress(OSError), open(private_files(path)[2], "rb") as part:
        fcntl.flock(part, fcntl.LOCK_EX)


def convert_raw(path: Path, raw_path: Path, timing_path: Path, part_path: Path, redactor: Redactor | None) -> None:
    """Write the part anew: the cast as it was, then all of the raw output, redacted."""
    stream = _Stream(redactor.spans if redactor is not None else None)
    out = os.fdopen(_private(part_path), "w", encoding="utf-8")
    with out, open(path, encoding="utf-8") as cast:
        shutil.copyfileobj(cast, out)
        for stamp, text in _raw_events(raw_path, timing_path):
            stream.feed(stamp, text)
            out.write(stream.take()[0])
        stream.finish()
        out.write(stream.take()[0])


class _Stream:
    """Output as it arrives, redacted in scans of BATCH characters: each scan holds back its last TAIL
    characters, which the next scan sees again with what follows them. What a scan lets through is held
    as events (time, redacted text, text as shown) until taken, with the cast's lines for them, written
    by the scan: a prompt, or `exit`, right after a long output need not encode it all then."""

    def __init__(self, spans: Callable[[str], Spans] | None):
        self.spans = spans
        self.pending: list[tuple[float, str]] = []  # not scanned for good yet
        self.size = 0
        self.held: list[tuple[float, str, str]] = []
        self.lines: list[str] = []  # the held events as the cast's lines
        self.held_bytes = 0  # of the held text as shown, in UTF-8

    def feed(self, stamp: float, text: str) -> None:
        self.pending.append((stamp, text))
        self.size += len(text)
        if self.size >= TAIL + BATCH:
            self._scan(final=False)

    def finish(self) -> None:
        if self.pending:
            self._scan(final=True)

    def take(self) -> tuple[str, int]:
        """The cast's lines of the held events not spilled yet, and the bytes all held events showed."""
        lines, count = self.spill(), self.held_bytes
        self.held, self.held_bytes = [], 0
        return lines, count

    def spill(self) -> str:
        """The cast's lines of the events held since the last spill; the events stay held."""
        lines, self.lines = "".join(self.lines), []
        return lines

    def holds(self, pattern: re.Pattern | None) -> bool:
        """Whether the held text has a match of `pattern` starting in it (it may end in what is pending)."""
        if pattern is None or not self.held:
            return False
        held = "".join(shown for _, _, shown in self.held)
        found = pattern.search(held + "".join(text for _, text in self.pending))
        return found is not None and found.start() < len(held)

    def rescan(self) -> None:
        """Scan the held text again, with what is known now."""
        self.pending = [(stamp, shown) for stamp, _, shown in self.held] + self.pending
        self.size = sum(len(text) for _, text in self.pending)
        self.held, self.lines, self.held_bytes = [], [], 0

    def _scan(self, final: bool) -> None:
        joined = "".join(text for _, text in self.pending)
        spans = self.spans(joined) if self.spans is not None else []
        cut = len(joined) if final else _cut(joined, spans)
        scanned, self.pending = _split(self.pending, cut)
        self.size = len(joined) - cut
        shown = [text for _, text in scanned]
        redacted = redact_events(shown, [span for span in spans if span[0] < cut])
        events = [(stamp, r, text) for (stamp, text), r in zip(scanned, redacted, strict=True)]
        self.held += events
        self.lines.append(_lines((stamp, r) for stamp, r, _ in events))
        self.held_bytes += sum(len(text) if text.isascii() else len(text.encode()) for text in shown)


def _cut(joined: str, spans: Spans) -> int:
    """Where a scan stops letting text through: TAIL characters before its end, at a line's start if
    one is near (a short value is replaced as a whole word: its first character's neighbour is seen),
    and never inside a secret it found. A secret across the cut is whole in this scan if it is no
    longer than TAIL."""
    limit = len(joined) - TAIL
    newline = joined.rfind("\n", max(0, limit - BATCH // 2), limit)
    cut = newline + 1 if newline >= 0 else limit
    for start, end, _ in spans:
        if start < cut < end:
            return end
    return cut


def _split(events: list[tuple[float, str]], cut: int) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """The events before character `cut` of their joined text, and those after; one is cut in two."""
    before, pos = [], 0
    for i, (stamp, text) in enumerate(events):
        if pos + len(text) <= cut:
            before.append((stamp, text))
            pos += len(text)
            continue
        k = cut - pos
        if k:
            before.append((stamp, text[:k]))
        return before, [(stamp, text[k:]), *events[i + 1 :]]
    return before, []


def _lines(events: Iterator[tuple[float, str]]) -> str:
    return "".join(json.dumps([stamp, "o", text], ensure_ascii=False) + "\n" for stamp, text in events if text)


def _raw_events(raw_path: Path, timing_path: Path) -> Iterator[tuple[float, str]]:
    """The raw output as (time, text), by its timing; after a crash, output whose timing was not written
    yet comes last, at the last known time."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    stamp = 0.0
    with open(raw_path, "rb") as raw, open(timing_path, encoding="ascii", errors="replace") as timing:
        for line in timing:
            if line.rstrip("\n") in MARKS:
                continue  # where the follower was told something
            when, _, size = line.partition(" ")
            try:
                stamp, count = round(float(when), 6), int(size)
            except ValueError:
                break  # a torn last line after a crash
            if text := decoder.decode(raw.read(count)):
                yield stamp, text
        while chunk := raw.read(1 << 20):
            if text := decoder.decode(chunk):
                yield stamp, text
        if text := decoder.decode(b"", final=True):
            yield stamp, text


def _private(path: Path) -> int:
    """Open for writing, readable by its owner only, whatever mode an older file had."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def redact_events(texts: list[str], spans: Spans) -> list[str]:
    """Replace spans of the joined texts, keeping event boundaries: a secret split across two
    bursts is replaced in the event where it starts and removed from the next."""
    joined = "".join(texts)
    out, offset, k = [], 0, 0
    for text in texts:
        cs, ce = offset, offset + len(text)
        offset = ce
        pieces, pos = [], cs
        while k < len(spans) and spans[k][0] < ce:
            s, e, replacement = spans[k]
            if s >= pos:
                pieces += [joined[pos:s], replacement]
            pos = max(pos, min(e, ce))
            if e > ce:
                break
            k += 1
        pieces.append(joined[pos:ce])
        out.append("".join(pieces))
    return out


def _cast_end(path: Path) -> float:
    """The time of the last event in an existing cast (a resumed recording continues after it)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0.0
    for line in reversed(lines[1:]):
        try:
            return float(json.loads(line)[0]) + 0.001
        except (ValueError, IndexError, TypeError):
            continue
    return 0.001 if lines else 0.0
