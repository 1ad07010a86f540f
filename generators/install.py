"""How each package manager installs in a Dockerfile: pinned to what the staging host had, caches
and package lists removed in the same layer (the hadolint rules DL3008/9/14/15, DL3030/32/33,
DL3038/40/41, DL3018/19, DL3013/42, DL3016, DL3028).
"""

from __future__ import annotations

import shlex

from recorder.session import PackageChange

APT_CLEAN = "rm -rf /var/lib/apt/lists/*"
INDENT = " \\\n      "


def _words(items: list[str]) -> str:
    return INDENT.join(items)


def _opts(change: PackageChange) -> str:
    return "".join(f"{shlex.quote(o)} " for o in change.options)


def apt(change: PackageChange, relaxed: bool = False) -> list[str]:
    wanted = change.installed or change.dependencies
    lines = []
    if wanted:
        pins = [name if relaxed else f"{name}={version}" for name, version in sorted(wanted.items())]
        ignore = "DL3015" + (",DL3008" if relaxed else "")
        lines.append(f"# hadolint ignore={ignore}")  # the host installed recommended packages; so does the image
        lines.append(
            "RUN apt-get update \\\n"
            f" && DEBIAN_FRONTEND=noninteractive apt-get install -y {_opts(change)}\\\n      {_words(pins)} \\\n"
            f" && {APT_CLEAN}"
        )
    if change.removed:
        lines.append("RUN apt-get purge -y " + " ".join(sorted(change.removed)))
    return lines


def _yum_like(tool: str, clean: str):
    def render(change: PackageChange, relaxed: bool = False) -> list[str]:
        lines = []
        wanted = change.installed or change.dependencies
        if wanted:
            pins = [n if relaxed or n.startswith("@") else f"{n}-{v}" for n, v in sorted(wanted.items())]
            quoted = [shlex.quote(p) for p in pins]
            lines.append(f"RUN {tool} install -y {_opts(change)}\\\n      {_words(quoted)} \\\n && {clean}")
        if change.removed:
            lines.append(f"RUN {tool} remove -y {' '.join(sorted(change.removed))} && {clean}")
        return lines

    return render


yum = _yum_like("yum", "yum clean all && rm -rf /var/cache/yum")
dnf = _yum_like("dnf", "dnf clean all && rm -rf /var/cache/dnf")


def apk(change: PackageChange, relaxed: bool = False) -> list[str]:
    lines = []
    wanted = change.installed or change.dependencies
    if wanted:
        pins = [n if relaxed else f"{n}={v}" for n, v in sorted(wanted.items())]
        lines.append(f"RUN apk add --no-cache {_opts(change)}\\\n      {_words(pins)}")
    if change.removed:
        lines.append(f"RUN apk del {' '.join(sorted(change.removed))}")
    return lines


def pip(change: PackageChange, relaxed: bool = False) -> list[str]:
    """Every distribution pinned, dependencies too: pip would otherwise resolve them anew."""
    program = f"{change.target}/bin/pip" if change.target else "pip3"
    lines = []
    wanted = {**change.dependencies, **change.installed}
    if wanted:
        pins = [n if relaxed else f"{n}=={v}" for n, v in sorted(wanted.items(), key=lambda i: i[0].lower())]
        lines.append(f"RUN {program} install --no-cache-dir {_opts(change)}\\\n      {_words(pins)}")
    if change.removed:
        lines.append(f"RUN {program} uninstall -y {' '.join(sorted(change.removed))}")
    return lines


def npm(change: PackageChange, relaxed: bool = False) -> list[str]:
    """Only what was asked for is pinned: npm's lockfile, written by the same install, fixes the rest."""
    lines = []
    scope = "-g " if not change.target else ""
    wanted = change.installed or change.dependencies
    if wanted:
        pins = [n if relaxed else f"{n}@{v}" for n, v in sorted(wanted.items())]
        lines.append(f"RUN npm install {scope}{_opts(change)}\\\n      {_words(pins)} \\\n && npm cache clean --force")
    if change.removed:
        lines.append(f"RUN npm uninstall {scope}{' '.join(sorted(change.removed))}")
    return lines


def gem(change: PackageChange, relaxed: bool = False) -> list[str]:
    lines = []
    wanted = change.installed or change.dependencies
    if wanted:
        pins = [n if relaxed else f"{n}:{v}" for n, v in sorted(wanted.items())]
        lines.append(f"RUN gem install --no-document {_opts(change)}\\\n      {_words(pins)}")
    if change.removed:
        lines.append(f"RUN gem uninstall -x {' '.join(sorted(change.removed))}")
    return lines


def unsupported(change: PackageChange, relaxed: bool = False) -> list[str]:
    names = " ".join(sorted(change.installed or change.dependencies))
    return [f"# packages from `{change.manager}` are not replayed: {names}"]


RUNNERS = {"apt": apt, "dpkg": apt, "yum": yum, "dnf": dnf, "apk": apk, "pip": pip, "npm": npm, "gem": gem}


def install(change: PackageChange, relaxed: bool = False) -> list[str]:
    return RUNNERS.get(change.manager, unsupported)(change, relaxed)
