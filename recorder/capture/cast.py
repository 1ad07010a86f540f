"""The cast: what the user's terminal showed, as an asciicast v2 file, redacted as it arrives (a secret
typed or printed never reaches the file in the clear)."""

from __future__ import annotations

import codecs
import collections
import contextlib
import errno
import json
import mmap
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.secrets.detect import warm_up
from recorder.secrets.redact import values_pattern

if TYPE_CHECKING:
    import re

    from recorder.secrets.redact import Redactor

Spans = list[tuple[int, int, str]]  # (start, end, placeholder) in a text: sorted, not overlapping

# Each scan of the output holds back its last TAIL characters and scans them again with what follows: a
# secret cut in two by a read (or by a scan) is seen whole, up to this long. A private key is the
# longest kind (its END line is looked for within 64 KiB of its BEGIN line).
TAIL = 128 << 10
BATCH = 1 << 20  # characters scanned at once beyond the tail: a tenth of the work is the tail again
QUIET = 0.05  # seconds without output before the cast's thread works
# Seconds of work at most each QUIET seconds while output flows (a scan is not cut). None: measured on
# the quiet test machine, 0.01 s cost 0.79x script's throughput and 0.002 s 0.87x, against 0.99x with
# none (bench/throughput.py), while `exit` right after 20 MB stayed at 0.18 s without (bench/exit.py).
SLICE = 0.0
RELEASE, STOP = "release", "stop"


class CastWriter:
    """asciicast v2 of what the terminal showed. Output only: keyboard input is never written.

    Output goes raw to `<cast>.raw` with its timing in `<cast>.timing` (as `script --log-timing` does):
    one write per burst on the relay's hot path, and what a crash leaves for the next resume. A thread
    of its own reads it back as it arrives and redacts it into `<cast>.part`, which becomes the cast at
    close(): the secrets the recording knows, and tokens found by their shape (keys, JWTs, credentials
    in URLs). So `exit` does not wait for a scan of everything the terminal showed.

    What a command printed is let through at its prompt (flush()), once the secrets typed for it are
    known: the echo of `export DB_PASSWORD=...`, a password typed at a no-echo prompt and printed back.
    A secret learned even later that was shown before (typed ahead, printed before it was typed) has
    the cast written again from the raw output at close. Until then the raw files and the part may
    hold what the screen showed, so only their owner may read them.

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
        self.raw_path = path.with_name(path.name + ".raw")
        self.timing_path = path.with_name(path.name + ".timing")
        self.part_path = path.with_name(path.name + ".part")
        self.redactor = redactor
        self.error = ""
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
        self._lock = threading.Lock()  # output comes from the relay's writer thread, flush from the recorder
        self._part = os.fdopen(_private(self.part_path), "wb")
        with open(path, "rb") as cast:
            shutil.copyfileobj(cast, self._part)  # the part is the whole cast to be: it replaces the cast
        self._released_at = self._part.tell()  # the part up to here was let through; after it, scanned lines
        self._arrived: list = []  # (time, byte count) of each write, RELEASE, STOP: for the cast's thread
        self._wake = threading.Event()  # set for RELEASE and STOP, and for output when the thread is idle
        self._idle = False  # the thread waits for output, not for output to pause
        self._rewrite = False  # a secret learned late was let through: the cast is written again at close
        self._checked = 0  # the redactor's values up to here were looked for in what was let through
        self._let_through = 0  # raw bytes let through, or more (a replaced invalid byte counts three)
        self.read_back = 0  # raw bytes the thread has read back and fed to its scans
        self._thread = threading.Thread(target=self._follow, name="cast", daemon=True)
        self._thread.start()

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
            self._arrived.append((round(elapsed, 6), len(data)))
            wake, self._idle = self._idle, False
        if wake:  # else the thread looks again QUIET seconds later: no wake-up a write while output flows
            self._wake.set()

    def flush(self) -> None:
        """Called at each prompt, once the finished command's secrets are known: what it printed may
        go into the cast; and after a crash, the output up to here keeps its timing."""
        with self._lock:
            if not self.error:
                try:
                    self._timing.flush()
                except OSError as exc:
                    self.error = exc.strerror or str(exc)
            self._arrived.append(RELEASE)
        self._wake.set()

    def close(self) -> None:
        with self._lock:
            os.close(self._raw)
            with contextlib.suppress(OSError):
                self._timing.close()
            self._arrived.append(STOP)
        self._wake.set()
        self._thread.join()
        try:
            if self._rewrite:
                self._convert_raw()
            os.chmod(self.part_path, os.stat(self.path).st_mode & 0o777)  # readable as the cast was
            os.replace(self.part_path, self.path)
        except OSError as exc:
            self.error = self.error or exc.strerror or str(exc)
        finally:
            # Never left behind: unredacted, they are the one copy of a typed secret on disk.
            for leftover in (self.raw_path, self.timing_path, self.part_path):
                leftover.unlink(missing_ok=True)

    # -- the cast's thread

    def _follow(self) -> None:
        """Read the raw output back, redact it, let it through at each prompt. While output flows the
        relay has the CPU (this thread's work, all of it, halved its throughput): the thread works a
        SLICE every QUIET seconds, so that a long burst is not all left for the prompt or `exit`; it
        works until output comes when output pauses, at a prompt, and to the end at the end."""
        stream = _Stream(self.redactor.spans if self.redactor is not None else None)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        reader, offset, stamp = os.open(self.raw_path, os.O_RDONLY), 0, 0.0
        backlog: collections.deque = collections.deque()  # (time, byte count) and RELEASE, in order
        ending = False
        try:
            if self.redactor is not None:
                warm_up()  # while the shell starts: the first scan, maybe right at `exit`, need not pay it
            while not ending:
                with self._lock:
                    idle = self._idle = not backlog and not self._arrived
                self._wake.wait(None if idle else QUIET)
                self._wake.clear()
                with self._lock:
                    arrived, self._arrived = self._arrived, []
                ending = STOP in arrived
                backlog.extend(item for item in arrived if item != STOP)
                flowing = bool(arrived) and not ending and RELEASE not in arrived
                until = time.monotonic() + SLICE
                while backlog and (ending or flowing or not self._arrived):  # a scan at a time, until output comes
                    if flowing and time.monotonic() > until:
                        break  # the relay's turn: QUIET seconds later, another slice
                    item = backlog.popleft()
                    if item == RELEASE:
                        self._release(stream)
                        continue
                    stamp, count = item
                    data = os.pread(reader, count, offset)
                    offset += len(data)
                    self.read_back = offset
                    if text := decoder.decode(data):
                        stream.feed(stamp, text)
                        self._spill(stream)
            if text := decoder.decode(b"", final=True):
                stream.feed(stamp, text)
            self._release(stream, final=True)
        except Exception as exc:  # noqa: BLE001 - whatever stopped it, the cast is written from the raw output
            self._rewrite = True
            if isinstance(exc, OSError):
                self.error = self.error or exc.strerror or str(exc)
        finally:
            os.close(reader)
            with contextlib.suppress(OSError):
                self._part.close()

    def _release(self, stream: _Stream, final: bool = False) -> None:
        """Let through what was scanned, looking first for the values learned since the last time."""
        if self.redactor is not None:
            values, self._checked = self.redactor.learned_since(self._checked)
            if values and stream.holds(values_pattern(values)):
                self._part.seek(self._released_at)  # its lines, written as scanned, are written again
                self._part.truncate()
                stream.rescan()  # a secret learned at this prompt, in what its command printed
            if values and self._shown_before(values):
                self._rewrite = True
        if final:
            stream.finish()
        lines, count = stream.take()
        self._let_through += count
        self._write(lines)
        self._released_at = self._part.tell()

    def _spill(self, stream: _Stream) -> None:
        """Write the lines of what was scanned since, after what was let through: a prompt after a long
        output has little left to write (100 MB at once took 0.8 s of exit). Until that prompt they are
        the part's tail, which the prompt cuts off if its command's secrets are in them."""
        self._write(stream.spill())

    def _write(self, lines: str) -> None:
        if lines and not self._rewrite and not self.error:
            try:
                self._part.write(lines.encode())
            except OSError as exc:  # the cast stops here, redacted so far; the relay goes on
                self.error = exc.strerror or str(exc)

    def _shown_before(self, values: list[str]) -> bool:
        """Whether output already let through holds one of these values, in the raw bytes."""
        if not self._let_through:
            return False
        pattern = values_pattern(values, binary=True)
        longest = max(len(v.encode()) for v in values)
        size = min(os.path.getsize(self.raw_path), self._let_through + longest)
        with open(self.raw_path, "rb") as raw, mmap.mmap(raw.fileno(), size, access=mmap.ACCESS_READ) as shown:
            found = pattern.search(shown)
        return found is not None and found.start() < self._let_through

    # -- from the raw output, at once

    def _recover(self) -> None:
        """A crashed recording's output, appended to the cast, every secret known now replaced."""
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
        """Write the part anew: the cast as it was, then all of the raw output, redacted."""
        stream = _Stream(self.redactor.spans if self.redactor is not None else None)
        out = os.fdopen(_private(self.part_path), "w", encoding="utf-8")
        with out, open(self.path, encoding="utf-8") as cast:
            shutil.copyfileobj(cast, out)
            for stamp, text in _raw_events(self.raw_path, self.timing_path):
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
