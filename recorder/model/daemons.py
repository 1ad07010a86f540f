"""What is known about server programs (daemons.yaml beside this module), and the one rule that
uses it: a daemon's command without what made it a daemon, with what keeps it in the foreground."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

DATA = Path(__file__).with_name("daemons.yaml")


@dataclass(frozen=True)
class Daemon:
    name: str
    programs: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    drop_valued: tuple[str, ...] = ()
    foreground: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    title: str = ""
    title_keeps: tuple[str, ...] = ()
    config_files: tuple[str, ...] = ()
    config_option: str = ""
    data_dir: str = ""
    data_option: tuple[str, ...] = ()
    user: str = ""
    supervisor: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def runs_as(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.programs)

    def started_by(self, unit: str) -> bool:
        unit = unit.removesuffix(".service")
        return any(fnmatch.fnmatchcase(unit, pattern) for pattern in self.units)


@functools.cache
def known() -> tuple[Daemon, ...]:
    data = YAML(typ="safe").load(DATA.read_text(encoding="utf-8"))
    out = []
    for name, entry in data.items():
        values = {k: tuple(str(x) for x in v) if isinstance(v, list) else v for k, v in entry.items()}
        out.append(Daemon(name=name, **values))
    return tuple(out)


def find(names: Iterable[str]) -> Daemon | None:
    """The known daemon a process is, by any of the names it goes by."""
    names = [n for n in names if n]
    return next((d for d in known() if any(d.runs_as(n) for n in names)), None)


def for_unit(unit: str) -> Daemon | None:
    return next((d for d in known() if d.started_by(unit)), None)


def data_dir_of(name: str) -> str:
    daemon = find([name])
    return daemon.data_dir if daemon else ""


def in_foreground(daemon: Daemon | None, words: list[str]) -> list[str]:
    """The command without its daemonizing options (`-D`, `--daemonize yes`, `--daemonize=/log`),
    with each of the daemon's foreground options (with its values) added where the command lacks it."""
    if daemon is None:
        return list(words)
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in daemon.drop:
            continue
        elif word in daemon.drop_valued:
            skip = True
        elif word.split("=", 1)[0] in daemon.drop_valued + daemon.drop and "=" in word:
            continue
        else:
            out.append(word)
    for group in _groups(daemon.foreground):
        if not any(out[i : i + len(group)] == group for i in range(len(out))):
            out += group
    return out


def _groups(words: tuple[str, ...]) -> list[list[str]]:
    """Options with their values: (-D, -e) is [-D], [-e]; (--daemonize, no) is one."""
    groups: list[list[str]] = []
    for word in words:
        if word.startswith("-") or not groups:
            groups.append([word])
        else:
            groups[-1].append(word)
    return groups
