"""How each package manager installs in a Dockerfile: pinned to what the staging host had, caches
and package lists removed in the same layer (the hadolint rules DL3008/9/14/15, DL3030/32/33,
DL3038/40/41, DL3018/19, DL3013/42, DL3016, DL3028).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from recorder.model.session import PackageChange

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


@dataclass(frozen=True)
class _Simple:
    """A manager whose install is one command with pinned names, and whose removal is another."""

    install: str  # e.g. "apk add --no-cache"; {program} is the program that ran (pip of a virtualenv)
    remove: str
    pin: str  # how a version is attached: "{n}={v}"
    after: str = ""  # cache clean-up in the same layer
    pin_dependencies: bool = False  # pin what was pulled in too, where the tool would resolve it anew

    def __call__(self, change: PackageChange, relaxed: bool = False) -> list[str]:
        words = {"program": self.program(change), "g": "" if change.target else " -g"}
        wanted = {**change.dependencies, **change.installed} if self.pin_dependencies else (
            change.installed or change.dependencies)
        lines = []
        if wanted:
            ordered = sorted(wanted.items(), key=lambda item: item[0].lower())
            pins = [n if relaxed else self.pin.format(n=n, v=v) for n, v in ordered]
            command = self.install.format(**words)
            lines.append(f"RUN {command} {_opts(change)}\\\n      {_words(pins)}{self.after}")
        if change.removed:
            lines.append(f"RUN {self.remove.format(**words)} {' '.join(sorted(change.removed))}")
        return lines

    def program(self, change: PackageChange) -> str:
        if change.manager == "pip":
            return f"{change.target}/bin/pip" if change.target else "pip3"
        return ""


apk = _Simple("apk add --no-cache", "apk del", "{n}={v}")
# every distribution pinned, dependencies too: pip would otherwise resolve them anew
pip = _Simple("{program} install --no-cache-dir", "{program} uninstall -y", "{n}=={v}", pin_dependencies=True)
# only what was asked for: npm's lockfile, written by the same install, fixes the rest
# {g}: -g when there was no project directory (a global install)
npm = _Simple("npm install{g}", "npm uninstall{g}", "{n}@{v}", after=" \\\n && npm cache clean --force")
gem = _Simple("gem install --no-document", "gem uninstall -x", "{n}:{v}")


def unsupported(change: PackageChange, relaxed: bool = False) -> list[str]:
    names = " ".join(sorted(change.installed or change.dependencies))
    return [f"# packages from `{change.manager}` are not replayed: {names}"]


RUNNERS = {"apt": apt, "dpkg": apt, "yum": yum, "dnf": dnf, "apk": apk, "pip": pip, "npm": npm, "gem": gem}


def install(change: PackageChange, relaxed: bool = False) -> list[str]:
    return RUNNERS.get(change.manager, unsupported)(change, relaxed)
