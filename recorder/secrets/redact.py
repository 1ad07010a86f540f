"""Puts `<redacted:NAME>` where a secret was, so none is written where it could leave the host.

A `Redactor` lives for one recording: every value it has seen gets one stable placeholder name, and it
is applied at one point, to each Step as it is built, before anything is journaled or copied; the
terminal cast is cleaned of the same values as it is written, by a process of its own (the cast's
follower, with a Redactor of its own: the two tell each other what they learn, see `adopt`). A lock
guards it all the same: a recording's threads (the relay, the recorder) both use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import threading
from collections.abc import Iterable
from pathlib import Path

from recorder.model.placeholders import PLACEHOLDER, placeholder
from recorder.model.session import FileChange, Service, Step
from recorder.secrets.detect import (
    SUBSTRING_MIN,
    WORD_MIN,
    Hit,
    find_in_command,
    find_in_file,
    find_values,
    is_secret_name,
    kind_name,
    looks_random,
    plausible_value,
    var_name,
)


def values_pattern(values: Iterable[str], binary: bool = False) -> re.Pattern | None:
    """One regex for these values, the longest first: those of SUBSTRING_MIN characters or more
    anywhere, shorter ones as whole words only, none shorter than WORD_MIN; over bytes (UTF-8) when
    `binary`. None when no value is long enough."""
    before, after = (part.encode() for part in WHOLE_WORD) if binary else WHOLE_WORD
    parts = []
    for value in sorted((v for v in values if len(v) >= WORD_MIN), key=len, reverse=True):
        escaped = re.escape(value.encode() if binary else value)
        parts.append(escaped if len(value) >= SUBSTRING_MIN else before + escaped + after)
    if not parts:
        return None
    return re.compile((b"|" if binary else "|").join(parts))


WHOLE_WORD = ("(?<![A-Za-z0-9_])", "(?![A-Za-z0-9_])")


class Redactor:
    """One recording's secrets: value -> placeholder name. Same value, same name, everywhere.

    `store` (0600, outside what is committed and built) keeps the values across a crash, so the
    terminal output the crash left behind is cleaned when the recording is resumed.
    """

    def __init__(self, store: Path | None = None):
        self.store = store
        self.known: dict[str, str] = {}  # in the order learned: values are never forgotten
        self.from_output: set[str] = set()  # learned by their shape in the terminal's output (see spans)
        self._pattern: re.Pattern | None = None
        self._lock = threading.RLock()
        if store is not None and store.exists():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                loaded = json.loads(store.read_text(encoding="utf-8"))
                self.known = {str(k): str(v) for k, v in loaded.items()}

    # -- learning

    def learn(self, value: str, name: str) -> str:
        """The placeholder name for a value; a new value gets a name no other value has."""
        with self._lock:
            if value in self.known:
                return self.known[value]
            base = var_name(name) or "SECRET"
            used = set(self.known.values())
            chosen, n = base, 2
            while chosen in used:
                chosen, n = f"{base}_{n}", n + 1
            self.known[value] = chosen
            self._pattern = None
            self._save()
            return chosen

    def adopt(self, value: str, name: str, shape: bool = True) -> str:
        """Learn a value another redactor named (the cast's follower, or the recording for it) under
        that name when no other value has it; `shape`: it was found by its shape in the output."""
        with self._lock:
            if value not in self.known and name not in set(self.known.values()):
                self.known[value] = name
                self._pattern = None
                self._save()
            if shape:
                self.from_output.add(value)
            return self.learn(value, name)

    def known_since(self, count: int) -> list[tuple[str, str, bool]]:
        """(value, name, found by its shape in the output) of the values learned after the first `count`."""
        with self._lock:
            return [(v, n, v in self.from_output) for v, n in list(self.known.items())[count:]]

    def learned_since(self, count: int) -> tuple[list[str], int]:
        """The values learned after the first `count`, but for those found by their shape in the
        terminal's output (found wherever they are shown) and those too short to be searched for; and
        the count to ask from next time."""
        with self._lock:
            values = list(self.known)[count:]
            return [v for v in values if v not in self.from_output and len(v) >= WORD_MIN], len(self.known)

    def _save(self) -> None:
        if self.store is None:
            return
        tmp = self.store.with_name(self.store.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o600)
                json.dump(self.known, out)
            tmp.replace(self.store)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def forget_store(self) -> None:
        if self.store is not None:
            with contextlib.suppress(OSError):
                self.store.unlink()

    # -- replacing

    def pattern(self) -> re.Pattern | None:
        """One regex for every known value: long ones anywhere, short ones as whole words."""
        with self._lock:
            if self._pattern is None:
                self._pattern = values_pattern(self.known)
            return self._pattern

    def replace_known(self, text: str) -> str:
        pattern = self.pattern()
        if pattern is None or not text:
            return text
        return pattern.sub(lambda m: placeholder(self.known[m.group()]), text)

    def _apply(self, text: str, hits: Iterable[Hit], default: str) -> str:
        """Learn what the hits found, replace those places, then every known value elsewhere."""
        out, pos = [], 0
        for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
            if hit.start < pos or hit.end <= hit.start:
                continue  # inside a secret already replaced
            value = text[hit.start : hit.end]
            if PLACEHOLDER.fullmatch(value):
                continue
            name = self.learn(value, hit.name or kind_name(hit) or default)
            out += [text[pos : hit.start], placeholder(name)]
            pos = hit.end
        out.append(text[pos:])
        return self.replace_known("".join(out))

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Where known values and unmistakable tokens (keys, JWTs, URL credentials) are in a long
        text such as the terminal's output, with their placeholders; sorted, not overlapping."""
        found = find_values(text, entropy=False, tokens_only=True)
        pattern = self.pattern()
        if pattern is not None:
            found += [Hit(m.start(), m.end(), "known", self.known[m.group()]) for m in pattern.finditer(text)]
        out: list[tuple[int, int, str]] = []
        with self._lock:
            for hit in sorted(found, key=lambda h: (h.start, -h.end)):
                if out and hit.start < out[-1][1]:
                    continue
                value = text[hit.start : hit.end]
                if PLACEHOLDER.fullmatch(value):
                    continue
                if hit.kind != "known" and value not in self.known:
                    self.from_output.add(value)
                name = hit.name if hit.kind == "known" else self.learn(value, kind_name(hit))
                out.append((hit.start, hit.end, placeholder(name)))
        return out

    def command(self, text: str) -> str:
        return self._apply(text, find_in_command(text), "SECRET")

    def text(self, text: str) -> str:
        """Free text (a warning, a message): known values and whatever the plugins see."""
        return self._apply(text, find_values(text), "SECRET")

    # -- the model

    def environment(self, step: Step, typed: Iterable[str] = ()) -> None:
        """Redact the variables a step set. First, so a secret typed at a prompt and then exported is
        named after its variable; what was typed and went nowhere is still known, as TYPED_SECRET."""
        typed = [v for v in typed if v.strip()]
        secret_vars = []
        for name, value in list(step.effects.env_set.items()):
            new = placeholder(self.learn(value, name)) if value in typed else self._env_value(name, value)
            if new != value:
                step.effects.env_set[name] = new
                secret_vars.append(name)
        for value in typed:
            self.learn(value, "TYPED_SECRET")
        if secret_vars:
            step.why += f"; {', '.join(secret_vars)}: secret, given at run time (never in the image)"

    def step(self, step: Step) -> None:
        """Redact a step's text in place, after its environment and files were looked at."""
        step.command = self.command(step.command)
        step.expanded = self.command(step.expanded)
        for f in step.effects.files:
            self.file_metadata(f)

    def _env_value(self, name: str, value: str) -> str:
        if value in self.known or (is_secret_name(name) and plausible_value(value)):
            return placeholder(self.learn(value, name))
        hits = find_values(value)
        if looks_random(value) or any(h.start == 0 and h.end == len(value) for h in hits):
            return placeholder(self.learn(value, name))
        partial = [Hit(h.start, h.end, h.kind, f"{name}_{kind_name(h)}") for h in hits]
        return self._apply(value, partial, name)

    def file_metadata(self, f: FileChange) -> None:
        """A path or link target that holds a secret is redacted, and the file is not copied."""
        for attr in ("path", "target"):
            value = getattr(f, attr)
            if value:
                new = self.text(value)
                if new != value:
                    setattr(f, attr, new)
                    f.secret = f.secret or f"its {attr} holds a secret"
                    f.sha256 = None

    def file_content(self, data: bytes) -> str:
        """Why a captured file must not be copied ('' when it may): learns the secrets it holds."""
        text = data.decode("utf-8", "replace")
        reasons = []
        for hit in sorted(find_in_file(text), key=lambda h: h.start):
            self.learn(text[hit.start : hit.end], hit.name or kind_name(hit))
            reasons.append(f"{hit.kind.lower()} on line {text.count(chr(10), 0, hit.start) + 1}")
        pattern = self.pattern()
        seen = pattern.search(text) if pattern is not None and not reasons else None
        if seen:
            line = text.count("\n", 0, seen.start()) + 1
            reasons.append(f"the secret {self.known[seen.group()]} on line {line}")
        return ", ".join(dict.fromkeys(reasons))

    def service(self, service: Service) -> None:
        service.command = self.argv(service.command)
        service.observed = self.argv(service.observed)
        service.env = {name: self._env_value(name, value) for name, value in service.env.items()}

    def argv(self, argv: list[str]) -> list[str]:
        if not argv:
            return argv
        joined = shlex.join(argv)
        redacted = self.command(joined)
        if redacted == joined:
            return argv
        try:
            return shlex.split(redacted)
        except ValueError:
            return [self.command(a) for a in argv]
