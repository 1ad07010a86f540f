"""yum, dnf and rpm (CentOS, RHEL and their rebuilds, Fedora): requests with their repository options
(`--enablerepo=epel` is kept), replayed pinned and cleaned in the same layer (DL3032/33, DL3040/41)."""

from __future__ import annotations

import shlex

from recorder.managers.base import INSTALL, REFRESH, REMOVE, Manager, Request, options, words
from recorder.model.commandline import basename, positional
from recorder.model.session import PackageChange

ACTIONS = {
    "install": INSTALL,
    "localinstall": INSTALL,
    "reinstall": INSTALL,
    "groupinstall": INSTALL,
    "remove": REMOVE,
    "erase": REMOVE,
    "groupremove": REMOVE,
    "makecache": REFRESH,
}
KEEP_PREFIXES = ("--enablerepo", "--disablerepo", "--setopt", "--nogpgcheck", "--releasever")
FAMILIES = ("centos", "rhel", "rocky", "almalinux", "fedora", "ol")


def parse_yum(program: str, args: list[str]) -> Request | None:
    manager = "dnf" if basename(program) in ("dnf", "microdnf") else "yum"
    found = positional(args, {"-c", "--config", "--installroot", "-d", "-e", "-x", "--exclude"})
    if found[:2] == ["group", "install"]:
        found = ["groupinstall", *found[2:]]
    if not found or found[0] not in ACTIONS:
        return None
    names = found[1:]
    if found[0].startswith("group"):
        names = [f"@{n}" for n in names]
    keep = [a for a in args if a.startswith(KEEP_PREFIXES)]
    return Request(manager, ACTIONS[found[0]], tuple(names), tuple(keep), program)


def parse_rpm(program: str, args: list[str]) -> Request | None:
    modes = [a for a in args if a.startswith("-") and not a.startswith("--")]
    if any(set(m[1:]) & {"i", "U"} for m in modes) or "--install" in args or "--upgrade" in args:
        return Request("rpm", INSTALL, tuple(positional(args, set())), (), program)
    if any("e" in m[1:] for m in modes) or "--erase" in args:
        return Request("rpm", REMOVE, tuple(positional(args, set())), (), program)
    return None


def _replay_with(tool: str):
    clean = f"{tool} clean all && rm -rf /var/cache/{tool}"

    def replay(change: PackageChange, relaxed: bool = False) -> list[str]:
        lines = []
        wanted = change.installed or change.dependencies
        if wanted:
            pins = [n if relaxed or n.startswith("@") else f"{n}-{v}" for n, v in sorted(wanted.items())]
            quoted = [shlex.quote(p) for p in pins]
            lines.append(f"RUN {tool} install -y {options(change)}\\\n      {words(quoted)} \\\n && {clean}")
        if change.removed:
            lines.append(f"RUN {tool} remove -y {' '.join(sorted(change.removed))} && {clean}")
        return lines

    return replay


def _install_unpinned_with(tool: str):
    def install_unpinned(names: list[str]) -> list[str]:
        return ["# hadolint ignore=DL3033,DL3041", f"RUN {tool} install -y {' '.join(names)} && {tool} clean all"]

    return install_unpinned


YUM = Manager(
    replays=("yum",),
    parsers={"yum": parse_yum, "dnf": parse_yum, "microdnf": parse_yum, "rpm": parse_rpm},
    replay=_replay_with("yum"),
    config_paths=("/etc/yum.repos.d/", "/etc/yum.conf", "/etc/yum/", "/etc/pki/rpm-gpg/"),
    families=tuple(f for f in FAMILIES if f != "fedora"),
    install_unpinned=_install_unpinned_with("yum"),
)
DNF = Manager(
    replays=("dnf",),
    parsers={},
    replay=_replay_with("dnf"),
    config_paths=("/etc/dnf/",),
    families=("fedora",),
    install_unpinned=_install_unpinned_with("dnf"),
    without_recommends="--setopt=install_weak_deps=False",
)
