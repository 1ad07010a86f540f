"""The cast's follower: a process of its own that reads the terminal's raw output back as the relay
writes it, redacts it and writes the cast's lines (see cast.CastWriter, which starts it).

It scans in the pauses of the output (a person reads, types), at the lowest priority: while output
floods it waits (see FLOW_PAUSE), and what `exit` right after a long burst leaves, it finishes alone.
The timing file is its log, in order: a line `TIME BYTES` for each burst of output, and a line
`release`, `end` or `stop` where it is told something. For each of those a JSON line comes on stdin:
    {"kind": "release" | "end" | "stop", "values": [[value, name, shape], ...]}
"release" lets through what was printed before it (at a prompt), "end" says the output is over, "stop"
ends it; `values` are what the recording learned since (`shape`: found by its shape in the output).
It reports on stdout, one JSON line each: {"found": [[value, name], ...]} for tokens it found by their
shape (the recording learns them under these names), and at the end {"end": {"rewritten": bool,
"error": str}}. An end of stdin before "stop" means the recorder died: the raw output stays for the
next resume, as after a crash.

    python -P -m recorder.capture.cast_follower CAST TAIL BATCH
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import mmap
import os
import select
import sys
from pathlib import Path

from recorder.capture import cast as casting
from recorder.secrets.detect import warm_up
from recorder.secrets.redact import Redactor, values_pattern

QUIET = 0.05  # seconds between looks at the output when there was nothing new
# While the raw output grows this fast (a flood: `cat` of a large file, a build's log), it is left for
# the next pause of this long or the next message: even at the lowest priority, a scan on the relay's
# other core slowed the relay by a tenth on a 2-vCPU machine (bench/throughput.py: 0.91x `script -q`
# scanning along, 1.00x waiting; shared caches or host siblings, which a guest cannot see).
FLOW_PAUSE = 0.05
LOOK_EVERY = 1 << 20  # raw bytes read back between looks at whether the output floods again


class Follower:
    def __init__(self, path: Path):
        self.path = path
        self.raw_path, self.timing_path, self.part_path = casting.private_files(path)
        self.redactor = Redactor()  # the recording's values as they are sent, and what it finds itself
        self.told: set[str] = set()  # values the recording sent: not reported back
        self.reported = 0  # the redactor's values up to here were reported or sent
        self.stream = casting._Stream(self.redactor.spans)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.raw = os.open(self.raw_path, os.O_RDONLY)
        self.timing = open(self.timing_path, "rb")  # noqa: SIM115 - read as it grows, closed at the end
        self.part = open(self.part_path, "r+b")  # noqa: SIM115
        fcntl.flock(self.part, fcntl.LOCK_EX)  # held to the end: a resume waits for this cast to be done
        self.part.seek(0, os.SEEK_END)
        self.released_at = self.part.tell()  # the part up to here was let through; after it, scanned lines
        self.offset = 0  # raw bytes read back
        self.looked_at = 0  # the offset at the last look at whether the output floods
        self.raw_seen = 0  # the raw output's size then
        self.stamp = 0.0
        self.timing_rest = b""  # a timing line not whole yet
        self.timing_lines: list[bytes] = []  # read, not handled yet: the next one last
        self.control_rest = b""
        self.messages: list[dict] = []
        self.stdin_closed = False
        self.let_through = 0  # raw bytes let through, or more (a replaced invalid byte counts three)
        self.checked = 0  # the redactor's values up to here were looked for in what was let through
        self.rewrite = False
        self.error = ""

    def run(self) -> None:
        warm_up()  # while the shell starts: a scan right at `exit` need not pay for it
        _report({"ready": True})
        marks = {mark.encode(): mark for mark in casting.MARKS}
        while (line := self._next_line()) is not None:
            if line in marks:
                if self._told(marks[line]):
                    return
                continue
            when, _, size = line.partition(b" ")
            with contextlib.suppress(ValueError):  # a line torn by a full disk
                self._feed(round(float(when), 6), int(size))
        # No more output: told to stop (its mark was lost on a full disk), or the recorder died and the
        # raw output stays for the next resume.
        if any(m["kind"] == casting.STOP for m in self.messages):
            self._told(casting.STOP)

    def _told(self, kind: str) -> bool:
        """Do what the message for a mark of `kind` says; whether it was the last."""
        message = self._message(kind)
        if message is None:
            return True  # the recorder died
        if kind == casting.RELEASE:
            self._release()
        elif kind == casting.END:
            self._end_of_output()
        else:
            self._end_of_output()
            self._release(final=True)
            self._finish(message.get("store"))
            return True
        return False

    # -- input

    def _next_line(self) -> bytes | None:
        """The timing file's next line, waiting for it; None when the recorder died."""
        while True:
            if self.timing_lines and self.offset - self.looked_at < LOOK_EVERY:
                return self.timing_lines.pop()
            self._while_output_floods()
            self.looked_at = self.offset
            if self.timing_lines:
                return self.timing_lines.pop()
            data = self.timing.read(1 << 16)
            if data:
                lines = (self.timing_rest + data).split(b"\n")
                self.timing_rest = lines.pop()
                self.timing_lines = lines[::-1]
                continue
            if self.stdin_closed:
                return None
            ready, _, _ = select.select([0], [], [], QUIET)  # a message, the end of stdin, or time to look again
            if ready:
                self._read_stdin()

    def _while_output_floods(self) -> None:
        """When the raw output grew since the last look: until it stops growing for FLOW_PAUSE, or a
        message comes (a prompt, the end)."""
        size = os.fstat(self.raw).st_size
        while size != self.raw_seen and not self.messages and not self.stdin_closed:
            self.raw_seen = size
            ready, _, _ = select.select([0], [], [], FLOW_PAUSE)
            if ready:
                self._read_stdin()
                return
            size = os.fstat(self.raw).st_size

    def _message(self, kind: str) -> dict | None:
        """The message for a mark of `kind` just read (sent right after it was written), its values and
        those of any message before it taken; None when the recorder died first. A message whose mark
        a full disk kept out of the timing file is passed over, its values kept."""
        while True:
            while not self.messages:
                if self.stdin_closed:
                    return None
                self._read_stdin()
            message = self.messages.pop(0)
            self._take_values(message["values"])
            if message["kind"] == kind:
                return message

    def _read_stdin(self) -> None:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            self.stdin_closed = True
            return
        *lines, self.control_rest = (self.control_rest + chunk).split(b"\n")
        self.messages += [json.loads(line) for line in lines if line]

    def _feed(self, stamp: float, count: int) -> None:
        self.stamp = stamp
        chunk = os.pread(self.raw, count, self.offset)
        self.offset += len(chunk)
        if text := self.decoder.decode(chunk):
            self.stream.feed(stamp, text)
            self._spill()

    def _take_values(self, values: list) -> None:
        for value, name, shape in values:
            self.told.add(value)
            self.redactor.adopt(value, name, shape)

    # -- output

    def _spill(self) -> None:
        """Write the lines of what was scanned since, after what was let through: a prompt after a long
        output has little left to write. Until that prompt they are the part's tail, which the prompt
        cuts off if its command's secrets are in them."""
        lines = self.stream.spill()
        if lines:
            self._write(lines)
            _report({"read": self.offset})
        self._report_found()

    def _release(self, final: bool = False) -> None:
        """Let through what was scanned, looking first for the values learned since the last time."""
        values, self.checked = self.redactor.learned_since(self.checked)
        if values and self.stream.holds(values_pattern(values)):
            self.part.seek(self.released_at)  # its lines, written as scanned, are written again
            self.part.truncate()
            self.stream.rescan()  # a secret learned at this prompt, in what its command printed
        if values and self._shown_before(values):
            self.rewrite = True
        if final:
            self.stream.finish()
        lines, count = self.stream.take()
        self.let_through += count
        self._write(lines)
        self.released_at = self.part.tell()
        self._report_found()

    def _end_of_output(self) -> None:
        if text := self.decoder.decode(b"", final=True):
            self.stream.feed(self.stamp, text)
        self.stream.finish()
        self._spill()

    def _write(self, lines: str) -> None:
        if lines and not self.rewrite and not self.error:
            try:
                self.part.write(lines.encode())
                self.part.flush()  # what was scanned is on disk as soon as it is: the part shows the progress
            except OSError as exc:  # the cast stops here, redacted so far; the relay goes on
                self.error = exc.strerror or str(exc)

    def _shown_before(self, values: list[str]) -> bool:
        """Whether output already let through holds one of these values, in the raw bytes."""
        if not self.let_through:
            return False
        pattern = values_pattern(values, binary=True)
        longest = max(len(v.encode()) for v in values)
        size = min(os.path.getsize(self.raw_path), self.let_through + longest)
        with open(self.raw_path, "rb") as raw, mmap.mmap(raw.fileno(), size, access=mmap.ACCESS_READ) as shown:
            found = pattern.search(shown)
        return found is not None and found.start() < self.let_through

    def _report_found(self) -> None:
        known = self.redactor.known_since(self.reported)
        self.reported += len(known)
        found = [[value, name] for value, name, shape in known if shape and value not in self.told]
        if found:
            _report({"found": found})

    def _finish(self, store: str | None) -> None:
        """The part becomes the cast; nothing unredacted is left behind, nor the values (`store`)."""
        os.close(self.raw)
        self.timing.close()
        try:
            if self.rewrite:
                casting.convert_raw(self.path, self.raw_path, self.timing_path, self.part_path, self.redactor)
            os.chmod(self.part_path, os.stat(self.path).st_mode & 0o777)  # readable as the cast was
            os.replace(self.part_path, self.path)
            if store:
                Path(store).unlink(missing_ok=True)
        except OSError as exc:
            self.error = self.error or exc.strerror or str(exc)
        finally:
            for leftover in (self.raw_path, self.timing_path, self.part_path):
                leftover.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.part.close()  # and the lock with it
        _report({"end": {"rewritten": self.rewrite, "error": self.error}})


def _report(message: dict) -> None:
    with contextlib.suppress(OSError):  # a recorder that left it to finish alone reads no more
        sys.stdout.buffer.write(json.dumps(message).encode() + b"\n")
        sys.stdout.buffer.flush()


def main(argv: list[str]) -> None:
    path, tail, batch = Path(argv[0]), int(argv[1]), int(argv[2])
    casting.TAIL, casting.BATCH = tail, batch  # the writer's, which a test may have made small
    with contextlib.suppress(OSError, AttributeError):  # a core nobody else wants: the relay and the shell come first
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    Follower(path).run()


if __name__ == "__main__":
    main(sys.argv[1:])
