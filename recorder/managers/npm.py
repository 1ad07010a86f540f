"""npm: requests as typed (global or a project's); what was installed read from the package.json files
it wrote; replayed as only what was asked for (the lockfile written by the same install fixes the rest)
with the cache cleaned in the layer (DL3016)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from recorder.managers.base import INSTALL, REMOVE, Manager, Request, pinned_install
from recorder.model.commandline import kept_options, positional
from recorder.model.session import PackageChange

ACTIONS = {"install": INSTALL, "i": INSTALL, "add": INSTALL, "uninstall": REMOVE, "remove": REMOVE, "rm": REMOVE}
NODE_MODULE = re.compile(r"^(?P<root>.*?)/node_modules/(?P<name>@[^/]+/[^/]+|[^@/][^/]*)/package\.json$")
GLOBAL_NODE_MODULES = ("/usr/local/lib", "/usr/lib", "/opt/homebrew/lib")


def _name(word: str) -> str:
    if word.startswith("@"):
        scope, _, rest = word[1:].partition("/")
        return f"@{scope}/{rest.split('@', 1)[0]}"
    return word.split("@", 1)[0]


def parse(program: str, args: list[str]) -> Request | None:
    found = positional(args, {"--prefix", "--registry"})
    if not found or found[0] not in ACTIONS:
        return None
    scope = "global" if {"-g", "--global"} & set(args) else "project"
    keep = kept_options(args, {"--registry"}, ("--registry=",))
    return Request("npm", ACTIONS[found[0]], tuple(_name(w) for w in found[1:]), tuple(keep), program, scope)


def installs(paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """Directory holding node_modules -> {package: version}, top-level packages only."""
    found: dict[str, dict[str, str]] = {}
    for path in paths:
        for name, version in versions(path, lambda path=path: _read(path)).items():
            found.setdefault(NODE_MODULE.match(path)["root"], {})[name] = version
    return found


def versions(path: str, read) -> dict[str, str]:
    """A top-level package of a node_modules directory, from its package.json (a dependency nested
    inside a package is not)."""
    match = NODE_MODULE.match(path)
    if not match or "/node_modules" in match["root"]:
        return {}
    try:
        version = str(json.loads(read()).get("version", ""))
    except (OSError, ValueError, AttributeError):
        return {}
    return {match["name"]: version} if version else {}


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def is_global_root(root: str) -> bool:
    """`npm -g` installs into <prefix>/lib/node_modules."""
    return root in GLOBAL_NODE_MODULES


def replay(change: PackageChange, relaxed: bool = False) -> list[str]:
    g = "" if change.target else " -g"  # no project directory: a global install
    after = " \\\n && npm cache clean --force"
    return pinned_install(change, relaxed, f"npm install{g}", f"npm uninstall{g}", "{n}@{v}", "DL3016", after=after)


MANAGER = Manager(
    replays=("npm",),
    parsers={"npm": parse},
    replay=replay,
    config_paths=("/etc/npmrc", "/usr/local/etc/npmrc"),
    caches=(".npm",),  # ~/.npm: its download cache (_cacache) and logs, never the deployment
    config_names=(".npmrc",),
    database=lambda site: site,
    versions=versions,
)


def changes(requests: list[Request], changed: Iterable[str]) -> list[PackageChange]:
    """What a command installed with npm, from the package.json files it wrote: one change per
    node_modules; what was asked for is `installed`, the rest `dependencies`."""
    out = []
    typed = next((r for r in requests if r.manager == "npm"), None)
    asked = {n for r in requests if r.manager == "npm" for n in r.names}
    for root, pkgs in sorted(installs(changed).items()):
        change = PackageChange(
            manager="npm",
            target="" if is_global_root(root) else root,
            site=f"{root}/node_modules",
            options=list(typed.options) if typed else [],
        )
        for name, version in sorted(pkgs.items()):
            bucket = change.installed if not asked or name in asked else change.dependencies
            bucket[name] = version
        out.append(change)
    return out
