"""gem (Ruby): `gem install` pinned, without documentation (DL3028)."""

from __future__ import annotations

from recorder.managers.base import INSTALL, REMOVE, Manager, Request, pinned_install
from recorder.model.commandline import kept_options, positional
from recorder.model.session import PackageChange

VALUED = {"-v", "--version", "--source", "-s", "-i", "--install-dir"}
ACTIONS = {"install": INSTALL, "uninstall": REMOVE}


def parse(program: str, args: list[str]) -> Request | None:
    found = positional(args, VALUED)
    if not found or found[0] not in ACTIONS:
        return None
    keep = kept_options(args, {"--source"})
    return Request("gem", ACTIONS[found[0]], tuple(found[1:]), tuple(keep), program)


def replay(change: PackageChange, relaxed: bool = False) -> list[str]:
    return pinned_install(change, relaxed, "gem install --no-document", "gem uninstall -x", "{n}:{v}", "DL3028")


MANAGER = Manager(
    replays=("gem",),
    parsers={"gem": parse},
    replay=replay,
    config_paths=("/etc/gemrc",),
    config_names=(".gemrc",),
    caches=("*/.gem/specs",),  # ~/.gem/specs: the index it downloaded
)
