"""pip (and virtualenvs): requests as typed, whichever pip ran them (`pip3`, `venv/bin/pip`,
`python3 -m pip`); what was installed read from the dist-info directories it wrote, not by asking
pip; replayed with every distribution pinned, dependencies too (pip would resolve them anew) and no
cache left in the layer (DL3013/42)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from recorder.managers.base import INSTALL, REMOVE, Manager, Request, pinned_install
from recorder.model.commandline import basename, commands, kept_options, positional
from recorder.model.session import PackageChange

INDEXES = {"-i", "--index-url", "--extra-index-url", "--trusted-host", "-f", "--find-links"}
VALUED = INDEXES | {"-r", "--requirement", "-c", "--constraint", "-t", "--target", "--prefix", "--root"}
KEEP = INDEXES | {"--user", "--break-system-packages", "--pre"}
PROGRAM = re.compile(r"pip[0-9.]*")
PYTHON = re.compile(r"python[0-9.]*")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
DIST_INFO = re.compile(r"^(?P<site>.*/(?:site|dist)-packages)/(?P<name>[^/-]+)-(?P<version>[^/]+)\.dist-info/")


def parse(program: str, args: list[str]) -> Request | None:
    found = positional(args, VALUED)
    if not found or found[0] not in ("install", "uninstall"):
        return None
    names = []
    for w in found[1:]:
        match = _NAME.match(w)
        if match and "/" not in w and not w.endswith((".whl", ".tar.gz", ".zip")):
            names.append(match.group(1))
    keep = kept_options(args, KEEP)
    scope = "user" if "--user" in args else ""
    requirements = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-r", "--requirement")]
    extra = {"requirements": requirements[0]} if requirements else {}
    action = INSTALL if found[0] == "install" else REMOVE
    return Request("pip", action, tuple(names), tuple(keep), program, scope, extra)


def via_python(command_words: list[str]) -> tuple[str, list[str]] | None:
    """`python3 -m pip install x` and `/opt/venv/bin/python -m pip ...` -> (program, args)."""
    if PYTHON.fullmatch(basename(command_words[0])) and command_words[1:3] == ["-m", "pip"]:
        return command_words[0] + " -m pip", command_words[3:]
    return None


def creates_virtualenv(command: str) -> str | None:
    """The directory of a virtualenv the command creates (`python3 -m venv /opt/app/venv`), if any."""
    for found in commands(command):
        if PYTHON.fullmatch(basename(found[0])) and found[1:3] == ["-m", "venv"]:
            rest = positional(found[3:], {"--prompt"})
            return rest[0] if rest else None
        if basename(found[0]) == "virtualenv":
            rest = positional(found[1:], {"-p", "--python", "--prompt"})
            return rest[0] if rest else None
    return None


def normalize(name: str) -> str:
    """PEP 503: Flask, flask and FLASK_ are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installs(paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """site-packages directory -> {distribution: version} for dist-info directories among `paths`."""
    found: dict[str, dict[str, str]] = {}
    for path in paths:
        match = DIST_INFO.match(path)
        if match:
            found.setdefault(match["site"], {})[match["name"]] = match["version"]
    return found


def versions(path: str, read) -> dict[str, str]:
    """A distribution installed in an image: its dist-info directory's name says it (read nothing)."""
    match = DIST_INFO.match(path)
    return {match["name"]: match["version"]} if match and path.endswith(".dist-info/METADATA") else {}


def virtualenv_of(site: str) -> str:
    """The virtualenv a site-packages directory belongs to; "" for a system interpreter."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(site)))  # <root>/lib/pythonX.Y/site-packages
    return root if os.path.isfile(os.path.join(root, "pyvenv.cfg")) else ""


def replay(change: PackageChange, relaxed: bool = False) -> list[str]:
    pip = f"{change.target}/bin/pip" if change.target else "pip3"
    wanted = {**change.dependencies, **change.installed}  # every distribution pinned: pip would resolve anew
    return pinned_install(
        change, relaxed, f"{pip} install --no-cache-dir", f"{pip} uninstall -y", "{n}=={v}", "DL3013", wanted
    )


MANAGER = Manager(
    replays=("pip",),
    parsers={},
    replay=replay,
    config_paths=("/etc/pip.conf",),
    config_names=("pip.conf", ".pypirc"),
    database=lambda site: site,
    versions=versions,
)


def changes(command: str, cwd: str, requests: list[Request], changed: Iterable[str], deleted: Iterable[str]):
    """What a command installed or removed with pip, from the dist-info directories it wrote or deleted:
    one change per site-packages directory; what was asked for is `installed`, the rest `dependencies`."""
    out: list[PackageChange] = []
    new_venv = creates_virtualenv(command)
    typed = next((r for r in requests if r.manager == "pip"), None)
    asked = {normalize(n) for r in requests if r.manager == "pip" for n in r.names}
    removed = installs(deleted)
    for site, dists in sorted(installs(changed).items()):
        if new_venv and site.startswith(os.path.join(cwd, new_venv) + "/"):
            continue  # the pip and setuptools a new virtualenv comes with: creating it again brings them
        change = PackageChange(
            manager="pip", target=virtualenv_of(site), site=site, options=list(typed.options) if typed else []
        )
        for name, version in sorted(dists.items()):
            bucket = change.installed if not asked or normalize(name) in asked else change.dependencies
            bucket[name] = version
        change.removed = sorted(n for n in removed.pop(site, {}) if n not in dists)
        out.append(change)
    for site, dists in sorted(removed.items()):
        out.append(PackageChange(manager="pip", target=virtualenv_of(site), site=site, removed=sorted(dists)))
    return out
