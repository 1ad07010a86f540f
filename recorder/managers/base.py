"""What every package manager module provides, and the pieces their Dockerfile lines share.

A package manager lives in one module of this package (apt.py, yum.py, apk.py, pip.py, npm.py,
gem.py): how its command line is read, how its installs are replayed in a Dockerfile, which files
configure it, and how the system's own manager installs a program. Each fills in one `Manager`;
`registry.py` holds them all and answers for the rest of the code, which names no manager itself.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from recorder.model.session import PackageChange

INSTALL, REMOVE, REFRESH = "install", "remove", "refresh"
INDENT = " \\\n      "


@dataclass(frozen=True)
class Request:
    """One package-manager request as typed: which manager, what was asked for, what the replay keeps."""

    manager: str  # apt | dpkg | yum | dnf | rpm | apk | pip | npm | gem
    action: str  # install | remove | refresh (package lists only)
    names: tuple[str, ...] = ()  # as asked for, without versions or extras
    options: tuple[str, ...] = ()  # options the replay must keep
    program: str = ""  # the word that ran it: pip3, /opt/app/venv/bin/pip, npm ...
    scope: str = ""  # npm: "global" or "project"; pip: "user" with --user
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


Parser = Callable[[str, list[str]], "Request | None"]  # (program as typed, its arguments)
Replay = Callable[[PackageChange, bool], list[str]]  # (the change, relaxed: no version pins) -> lines
# One file of a manager's database as archived out of an image: (its path, a reader of its bytes) ->
# {package: version} it records. Paths alone often say it (pip's NAME-VERSION.dist-info/).
Versions = Callable[[str, Callable[[], bytes]], dict[str, str]]


@dataclass(frozen=True)
class Manager:
    replays: tuple[str, ...]  # the PackageChange.manager values whose installs it writes
    parsers: Mapping[str, Parser]  # program name -> the reader of its command line
    replay: Replay
    config_paths: tuple[str, ...] = ()  # its configuration: directories (ending in /) or files
    config_names: tuple[str, ...] = ()  # configuration file names wherever they are (a project's .npmrc)
    families: tuple[str, ...] = ()  # os ids (os-release ID) whose system package manager it is
    install_unpinned: Callable[[list[str]], list[str]] | None = None  # lines that install names, no pins
    caches: tuple[str, ...] = ()  # what it keeps for itself (the watcher's patterns: a name, or a path glob)
    # Where an image keeps what it installed, for `record verify`: (a change's site) -> the path to read,
    # and what each file read there says is installed; None where that is not known (it is not checked).
    database: Callable[[str], str] | None = None
    versions: Versions | None = None
    # the install option that leaves out recommended (weak) packages; `record minimize` proves it safe
    without_recommends: str = ""
    # Where the database is no file a reader here can parse (rpm's: Berkeley DB or sqlite, by version):
    # a command run in the image, and what its output says is installed.
    query: tuple[str, ...] = ()
    query_versions: Callable[[str], dict[str, str]] | None = None


def words(items: list[str]) -> str:
    """Package words one to a line: a reviewer's diff shows the one that changed."""
    return INDENT.join(items)


def options(change: PackageChange) -> str:
    return "".join(f"{shlex.quote(o)} " for o in change.options)


RELAXED = "# not pinned: built with --relaxed, for a mirror that no longer has the recorded versions"


def unpinned(relaxed: bool, rule: str) -> list[str]:
    """Why a relaxed install has no pins, and the ignore of hadolint's `rule` that wants them."""
    return [RELAXED, f"# hadolint ignore={rule}"] if relaxed else []


def pinned_install(
    change: PackageChange,
    relaxed: bool,
    install: str,
    remove: str,
    pin: str,
    rule: str,
    wanted: dict[str, str] | None = None,
    after: str = "",
) -> list[str]:
    """The RUN lines of a manager whose install is one command of pinned names (`pin` formats a name
    `n` and version `v`; `rule` is hadolint's for a missing pin) and whose removal is another; `after`
    cleans its cache in the same layer."""
    wanted = (change.installed or change.dependencies) if wanted is None else wanted
    lines = []
    if wanted:
        ordered = sorted(wanted.items(), key=lambda item: item[0].lower())
        pins = [n if relaxed else pin.format(n=n, v=v) for n, v in ordered]
        lines += unpinned(relaxed, rule)
        lines.append(f"RUN {install} {options(change)}\\\n      {words(pins)}{after}")
    if change.removed:
        lines.append(f"RUN {remove} {' '.join(sorted(change.removed))}")
    return lines
