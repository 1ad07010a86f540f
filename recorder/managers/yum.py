"""yum, dnf and rpm (CentOS, RHEL and their rebuilds, Fedora): requests with their repository options
(`--enablerepo=epel` is kept), replayed pinned and cleaned in the same layer (DL3032/33, DL3040/41).

What rpm's database holds is read as `rpm -qa --qf QUERY` prints it (on the host, and in an image for
`record verify`): a package's version here is its EVRA, `[EPOCH:]VERSION-RELEASE.ARCH`, so a pin
`NAME-EVRA` is the full NEVRA the host had, epoch included where the package has one.
"""

from __future__ import annotations

import shlex

from recorder.managers.base import INSTALL, REFRESH, REMOVE, Manager, Request, options, unpinned, words
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
QUERY = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n"  # one package a line, for rpm_versions
RPM_MANAGERS = ("yum", "dnf", "rpm")


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


def rpm_versions(text: str) -> dict[str, str]:
    """Installed package -> EVRA, from `rpm -qa --qf QUERY` output. Imported signing keys (gpg-pubkey)
    are not packages a repository installs. A name installed for two architectures (multilib) is kept
    once per architecture, as NAME.ARCH; of several versions of one (installonly kernels), the last."""
    found: dict[str, list[tuple[str, str]]] = {}
    for line in sorted(text.splitlines()):
        fields = line.split("\t")
        if len(fields) != 5 or fields[0] == "gpg-pubkey":
            continue
        name, epoch, version, release, arch = fields
        evr = f"{version}-{release}" if epoch in ("(none)", "") else f"{epoch}:{version}-{release}"
        found.setdefault(name, []).append((arch, f"{evr}.{arch}"))
    out: dict[str, str] = {}
    for name, builds in found.items():
        arches = {arch for arch, _ in builds}
        for arch, evra in builds:
            out[name if len(arches) == 1 else f"{name}.{arch}"] = evra
    return out


def nevra(name: str, evra: str) -> str:
    """The pin of a package: NAME-[EPOCH:]VERSION-RELEASE.ARCH (a multilib NAME.ARCH key loses its .ARCH)."""
    arch = evra.rsplit(".", 1)[-1] if "." in evra else ""
    if arch and name.endswith(f".{arch}"):
        name = name[: -len(arch) - 1]
    return f"{name}-{evra}"


def change_between(
    before: dict[str, str], after: dict[str, str], requests: list[Request], os_id: str = ""
) -> PackageChange | None:
    """What rpm's database says a step did. The manager and repository options are those of the yum,
    dnf or rpm command typed (yum when a script installed them); packages asked for by name are
    `installed`, the rest `dependencies`. None when nothing changed.

    A package installed from a URL (`rpm -Uvh https://…/epel-release-latest-7.noarch.rpm`, `yum install
    URL`) is in no repository: the URL is kept with the options, and yum installs it from there (its
    NEVRA pin then names the package the URL gave). rpm's own installs are replayed that way by yum,
    with `--nogpgcheck`: rpm installed it without asking for a signature, and dnf would ask."""
    if before == after:
        return None
    typed = [r for r in requests if r.manager in RPM_MANAGERS]
    system = "dnf" if os_id == "fedora" else "yum"
    manager = typed[0].manager if typed else system
    urls = [n for r in typed if r.action == INSTALL for n in r.names if "://" in n]
    unsigned: list[str] = []
    if manager == "rpm" and urls and all("://" in n for n in typed[0].names):
        manager, unsigned = system, ["--nogpgcheck"]
    change = PackageChange(manager=manager)
    change.options = list(dict.fromkeys([*(o for r in typed for o in r.options), *unsigned, *urls]))
    asked = {n for r in typed for n in r.names}
    added = {n: v for n, v in sorted(after.items()) if before.get(n) != v}

    def was_asked(name: str) -> bool:
        return name in asked or name.rsplit(".", 1)[0] in asked  # a multilib NAME.ARCH

    if not any(was_asked(n) for n in added):
        asked = set(added)  # installed by what it provides (a path, a capability): all of it was asked for
    for name, version in added.items():
        if was_asked(name):
            change.installed[name] = version
        else:
            change.dependencies[name] = version
    change.removed = sorted(n for n in before if n not in after)
    return change


def verify_changed(text: str) -> dict[str, str]:
    """path -> `rpm -V` flags of the files that differ from their package (`S.5....T.  c /etc/x.conf`,
    `missing   c /etc/y`); a file absent from the output is as its package shipped it."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        slash = line.find("/")
        if slash < 0 or line.startswith("error:"):
            continue
        out[line[slash:]] = line[:slash].split()[0] if line[:slash].split() else ""
    return out


def content_changed(flags: str) -> bool:
    """Whether `rpm -V` flags say the bytes differ (size, digest) or the file is gone: the rest (mode,
    owner, mtime) a copy of the package's file would not fix."""
    return flags == "missing" or "S" in flags or "5" in flags


def _replay_with(tool: str):
    clean = f"{tool} clean all && rm -rf /var/cache/{tool}"

    def replay(change: PackageChange, relaxed: bool = False) -> list[str]:
        lines = []
        # dependencies are pinned too: EL repositories keep every version, so an unpinned dependency
        # resolves to the newest, not to what the host had
        wanted = {**change.dependencies, **change.installed}
        if wanted:
            pins = [n if relaxed or n.startswith("@") else nevra(n, v) for n, v in sorted(wanted.items())]
            quoted = [shlex.quote(p) for p in pins]
            lines += unpinned(relaxed, "DL3041" if tool == "dnf" else "DL3033")
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
    query=("rpm", "-qa", "--qf", QUERY),
    query_versions=rpm_versions,
)
DNF = Manager(
    replays=("dnf",),
    parsers={},
    replay=_replay_with("dnf"),
    config_paths=("/etc/dnf/",),
    families=("fedora",),
    install_unpinned=_install_unpinned_with("dnf"),
    without_recommends="--setopt=install_weak_deps=False",
    query=("rpm", "-qa", "--qf", QUERY),
    query_versions=rpm_versions,
)
