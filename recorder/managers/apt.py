"""apt and dpkg (Debian, Ubuntu): install requests as typed, replayed pinned with the lists removed in
the same layer (hadolint DL3008/9/14/15), its sources and preferences as configuration."""

from __future__ import annotations

import re

from recorder.managers.base import INSTALL, REFRESH, RELAXED, REMOVE, Manager, Request, options, words
from recorder.model.commandline import kept_options, positional
from recorder.model.session import PackageChange

ACTIONS = {"install": INSTALL, "reinstall": INSTALL, "remove": REMOVE, "purge": REMOVE, "update": REFRESH}
VALUED = {"-t", "--target-release", "-o", "-c"}
NO_RECOMMENDS = "--no-install-recommends"
# The package lists, the downloaded .debs (an image from debootstrap has no docker-clean hook), and
# the backups dpkg and debconf rewrite on every run (status-old, templates.dat-old: ~0.8 MB a layer);
# none is read by a program the image runs.
CLEAN = "apt-get clean \\\n && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old"
STATUS = "/var/lib/dpkg/status"  # dpkg's database: what is installed


def parse_apt(program: str, args: list[str]) -> Request | None:
    found = positional(args, VALUED)
    if not found or found[0] not in ACTIONS:
        return None
    names = tuple(re.split(r"[=/]", w, maxsplit=1)[0] for w in found[1:])
    keep = kept_options(args, {"--no-install-recommends", "-t", "--target-release"})
    return Request("apt", ACTIONS[found[0]], names, tuple(keep), program)


def parse_dpkg(program: str, args: list[str]) -> Request | None:
    if any(a in ("-i", "--install") or (a.startswith("-") and not a.startswith("--") and "i" in a) for a in args):
        return Request("dpkg", INSTALL, tuple(positional(args, set())), (), program)
    return None


WITH_RECOMMENDS = "# and their recommended packages, as on the staging host (`record minimize` proves which can go)"


def replay(change: PackageChange, relaxed: bool = False) -> list[str]:
    """Pinned names (a name without a version, e.g. supervisor the host did not have, stays unpinned);
    with the recommended packages as on the host unless the change says --no-install-recommends."""
    wanted = change.installed or change.dependencies
    lines = []
    if wanted:
        pins = [name if relaxed or not version else f"{name}={version}" for name, version in sorted(wanted.items())]
        ignore = []
        if NO_RECOMMENDS not in change.options:
            lines.append(WITH_RECOMMENDS)
            ignore.append("DL3015")
        versionless = [name for name, version in sorted(wanted.items()) if not version]
        if relaxed or versionless:
            lines.append(RELAXED if relaxed else f"# not pinned, not on the staging host: {', '.join(versionless)}")
            ignore.append("DL3008")
        if ignore:
            lines.append(f"# hadolint ignore={','.join(ignore)}")
        lines.append(
            "RUN apt-get update \\\n"
            f" && DEBIAN_FRONTEND=noninteractive apt-get install -y {options(change)}\\\n      {words(pins)} \\\n"
            f" && {CLEAN}"
        )
    if change.removed:
        lines.append("RUN apt-get purge -y " + " ".join(sorted(change.removed)))
    return lines


def install_unpinned(names: list[str]) -> list[str]:
    return [
        "# hadolint ignore=DL3008",
        f"RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y {NO_RECOMMENDS} "
        f"{' '.join(names)} \\\n && {CLEAN}",
    ]


def dpkg_versions(status_text: str) -> dict[str, str]:
    """Installed package -> version, from the text of dpkg's status file (on the host, or archived out of an image)."""
    return dpkg_status(status_text)[0]


def dpkg_status(status_text: str) -> tuple[dict[str, str], set[str]]:
    """(installed package -> version, the packages every Debian base image has: Essential or required)."""
    versions: dict[str, str] = {}
    base: set[str] = set()
    for para in status_text.split("\n\n"):
        fields = deb822(para)
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            name = fields["Package"]
            arch = fields.get("Architecture", "")
            if fields.get("Multi-Arch") == "same" and arch not in ("", "all"):
                name = f"{name}:{arch}" if name in versions else name
            versions[name] = fields.get("Version", "")
            if fields.get("Essential") == "yes" or fields.get("Priority") == "required":
                base.add(name)
    return versions, base


def deb822(paragraph: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in paragraph.splitlines():
        if line and not line[0].isspace():
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
    return fields


def versions(path: str, read) -> dict[str, str]:
    """What an image's dpkg database (its status file, archived out of the image) says is installed."""
    return dpkg_versions(read().decode("utf-8", "replace")) if path == STATUS else {}


MANAGER = Manager(
    replays=("apt", "dpkg"),
    parsers={"apt-get": parse_apt, "apt": parse_apt, "aptitude": parse_apt, "dpkg": parse_dpkg},
    replay=replay,
    config_paths=("/etc/apt/",),
    families=("debian", "ubuntu"),
    install_unpinned=install_unpinned,
    database=lambda site: STATUS,
    versions=versions,
    without_recommends=NO_RECOMMENDS,
)


def change_between(before: dict[str, str], after: dict[str, str], automatic: set[str]) -> PackageChange | None:
    """What dpkg's database says a step did: packages added or upgraded (those apt marked automatic are
    dependencies), and those removed; None when nothing changed."""
    if before == after:
        return None
    change = PackageChange(manager="apt")
    for name, version in sorted(after.items()):
        if before.get(name) == version:
            continue
        if name in automatic:
            change.dependencies[name] = version
        else:
            change.installed[name] = version
    change.removed = sorted(n for n in before if n not in after)
    return change
