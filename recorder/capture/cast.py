"""The cast: what the user's terminal showed, as an asciicast v2 file, written as it arrives and
redacted before it is kept (a secret typed or printed never reaches the file in the clear)."""

from __future__ import annotations

import codecs
import contextlib
import errno
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path


class CastWriter:
    """asciicast v2 of what the terminal showed. Output only: keyboard input is never written.

    While recording, output goes raw to `<cast>.raw` with its timing in `<cast>.timing` (as
    `script --log-timing` does): one write per burst on the hot path. Encoding JSON inline halved
    the relay's throughput. The cast is written from them at close(), or by the next resume after
    a crash, and every secret the recording learned is replaced by its placeholder then. Until
    then the raw file holds what the screen showed, so only its owner may read it.

    A full disk stops the cast, never the relay: `error` says why it stopped.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        env: dict[str, str],
        append: bool = False,
        redact: Callable[[str], list[tuple[int, int, str]]] | None = None,
    ):
        self.path = path
        self.raw_path = path.with_name(path.name + ".raw")
        self.timing_path = path.with_name(path.name + ".timing")
        self.redact = redact
        self.error = ""
        if append:
            self._convert()  # what a crashed recording left behind
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

    def output(self, data: bytes) -> None:
        with self._lock:
            if self.error:
                return
            try:
                if os.write(self._raw, data) < len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                self._timing.write(f"{time.monotonic() - self._start:.6f} {len(data)}\n")
            except OSError as exc:
                self.error = exc.strerror or str(exc)

    def flush(self) -> None:
        """Called at each prompt: after a crash, the output up to the last prompt keeps its timing."""
        with self._lock:
            if not self.error:
                try:
                    self._timing.flush()
                except OSError as exc:
                    self.error = exc.strerror or str(exc)

    def close(self) -> None:
        with self._lock:
            os.close(self._raw)
            with contextlib.suppress(OSError):
                self._timing.close()
        self._convert()

    def _convert(self) -> None:
        """Append the raw output to the cast as events, secrets replaced, then drop the raw files."""
        if not (self.raw_path.exists() and self.timing_path.exists()):
            return
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        stamps, texts = [], []
        try:
            with open(self.raw_path, "rb") as raw, open(self.timing_path, encoding="ascii", errors="replace") as timing:
                for line in timing:
                    stamp, _, size = line.partition(" ")
                    try:
                        elapsed, count = round(float(stamp), 6), int(size)
                    except ValueError:
                        break  # a torn last line after a crash
                    text = decoder.decode(raw.read(count))
                    if text:
                        stamps.append(elapsed)
                        texts.append(text)
                # After a crash, output whose timing was not written yet: kept, at the last known time.
                text = decoder.decode(raw.read(), final=True)
                if text:
                    stamps.append(stamps[-1] if stamps else 0.0)
                    texts.append(text)
            if self.redact is not None:
                texts = redact_events(texts, self.redact("".join(texts)))
            with open(self.path, "a", encoding="utf-8") as cast:
                for elapsed, text in zip(stamps, texts, strict=True):
                    cast.write(json.dumps([elapsed, "o", text], ensure_ascii=False) + "\n")
        except OSError as exc:
            self.error = self.error or exc.strerror or str(exc)
        finally:
            # Never left behind: unredacted, they are the one copy of a typed secret on disk.
            self.raw_path.unlink(missing_ok=True)
            self.timing_path.unlink(missing_ok=True)


def _private(path: Path) -> int:
    """Open for writing, readable by its owner only, whatever mode an older file had."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def redact_events(texts: list[str], spans: list[tuple[int, int, str]]) -> list[str]:
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
