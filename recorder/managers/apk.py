"""apk (Alpine): `apk add` pinned, with no cache to leave behind (`--no-cache`, DL3018/19)."""

from __future__ import annotations

import re

from recorder.managers.base import INSTALL, REFRESH, REMOVE, Manager, Request, pinned_install
from recorder.model.commandline import kept_options, positional
from recorder.model.session import PackageChange

VALUED = {"-X", "--repository", "-t", "--virtual", "-p", "--root"}
ACTIONS = {"add": INSTALL, "del": REMOVE, "update": REFRESH}


def parse(program: str, args: list[str]) -> Request | None:
    found = positional(args, VALUED)
    if not found or found[0] not in ACTIONS:
        return None
    names = tuple(re.split(r"[=<>~]", w, maxsplit=1)[0] for w in found[1:])
    keep = kept_options(args, {"-X", "--repository"})
    return Request("apk", ACTIONS[found[0]], names, tuple(keep), program)


def replay(change: PackageChange, relaxed: bool = False) -> list[str]:
    return pinned_install(change, relaxed, "apk add --no-cache", "apk del", "{n}={v}", "DL3018")


def install_unpinned(names: list[str]) -> list[str]:
    return ["# hadolint ignore=DL3018", f"RUN apk add --no-cache {' '.join(names)}"]


MANAGER = Manager(
    replays=("apk",),
    parsers={"apk": parse},
    replay=replay,
    config_paths=("/etc/apk/",),
    families=("alpine",),
    install_unpinned=install_unpinned,
)
