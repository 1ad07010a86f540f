"""Package installs as typed: which manager, what was asked for, which options must be replayed.

The versions come from the host's package databases (recorder.capture.probes); this module only reads the
command line, so that a reviewer sees `pip install flask` become `pip install flask==3.0.3` in the
right virtualenv, with the right index, and yum keeps its `--enablerepo=epel`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from recorder.model.commandline import basename, commands, kept_options, positional

INSTALL, REMOVE, REFRESH = "install", "remove", "refresh"


@dataclass(frozen=True)
class Request:
    manager: str  # apt | dpkg | yum | dnf | rpm | apk | pip | npm | gem
    action: str  # install | remove | refresh (package lists only)
    names: tuple[str, ...] = ()  # as asked for, without versions or extras
    options: tuple[str, ...] = ()  # options the replay must keep
    program: str = ""  # the word that ran it: pip3, /opt/app/venv/bin/pip, npm ...
    scope: str = ""  # npm: "global" or "project"; pip: "user" with --user
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


APT_ACTIONS = {"install": INSTALL, "reinstall": INSTALL, "remove": REMOVE, "purge": REMOVE, "update": REFRESH}
APT_VALUED = {"-t", "--target-release", "-o", "-c"}
YUM_ACTIONS = {
    "install": INSTALL, "localinstall": INSTALL, "reinstall": INSTALL, "groupinstall": INSTALL,
    "remove": REMOVE, "erase": REMOVE, "groupremove": REMOVE, "makecache": REFRESH,
}
YUM_KEEP_PREFIXES = ("--enablerepo", "--disablerepo", "--setopt", "--nogpgcheck", "--releasever")
PIP_VALUED = {"-i", "--index-url", "--extra-index-url", "--trusted-host", "-f", "--find-links", "-r",
              "--requirement", "-c", "--constraint", "-t", "--target", "--prefix", "--root"}
PIP_KEEP = {"-i", "--index-url", "--extra-index-url", "--trusted-host", "-f", "--find-links", "--user",
            "--break-system-packages", "--pre"}
APK_VALUED = {"-X", "--repository", "-t", "--virtual", "-p", "--root"}
GEM_VALUED = {"-v", "--version", "--source", "-s", "-i", "--install-dir"}

_PIP_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _apt(program: str, args: list[str]) -> Request | None:
    words = positional(args, APT_VALUED)
    if not words or words[0] not in APT_ACTIONS:
        return None
    names = tuple(re.split(r"[=/]", w, maxsplit=1)[0] for w in words[1:])
    keep = kept_options(args, {"--no-install-recommends", "-t", "--target-release"})
    return Request("apt", APT_ACTIONS[words[0]], names, tuple(keep), program)


def _dpkg(program: str, args: list[str]) -> Request | None:
    if any(a in ("-i", "--install") or (a.startswith("-") and not a.startswith("--") and "i" in a) for a in args):
        return Request("dpkg", INSTALL, tuple(positional(args, set())), (), program)
    return None


def _yum(program: str, args: list[str]) -> Request | None:
    manager = "dnf" if basename(program) in ("dnf", "microdnf") else "yum"
    words = positional(args, {"-c", "--config", "--installroot", "-d", "-e", "-x", "--exclude"})
    if words[:2] == ["group", "install"]:
        words = ["groupinstall", *words[2:]]
    if not words or words[0] not in YUM_ACTIONS:
        return None
    names = words[1:]
    if words[0].startswith("group"):
        names = [f"@{n}" for n in names]
    keep = [a for a in args if a.startswith(YUM_KEEP_PREFIXES)]
    return Request(manager, YUM_ACTIONS[words[0]], tuple(names), tuple(keep), program)


def _rpm(program: str, args: list[str]) -> Request | None:
    modes = [a for a in args if a.startswith("-") and not a.startswith("--")]
    if any(set(m[1:]) & {"i", "U"} for m in modes) or "--install" in args or "--upgrade" in args:
        return Request("rpm", INSTALL, tuple(positional(args, set())), (), program)
    if any("e" in m[1:] for m in modes) or "--erase" in args:
        return Request("rpm", REMOVE, tuple(positional(args, set())), (), program)
    return None


def _apk(program: str, args: list[str]) -> Request | None:
    words = positional(args, APK_VALUED)
    actions = {"add": INSTALL, "del": REMOVE, "update": REFRESH}
    if not words or words[0] not in actions:
        return None
    names = tuple(re.split(r"[=<>~]", w, maxsplit=1)[0] for w in words[1:])
    keep = kept_options(args, {"-X", "--repository"})
    return Request("apk", actions[words[0]], names, tuple(keep), program)


def _pip(program: str, args: list[str]) -> Request | None:
    words = positional(args, PIP_VALUED)
    if not words or words[0] not in ("install", "uninstall"):
        return None
    names = []
    for w in words[1:]:
        match = _PIP_NAME.match(w)
        if match and "/" not in w and not w.endswith((".whl", ".tar.gz", ".zip")):
            names.append(match.group(1))
    keep = kept_options(args, PIP_KEEP)
    scope = "user" if "--user" in args else ""
    requirements = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-r", "--requirement")]
    extra = {"requirements": requirements[0]} if requirements else {}
    action = INSTALL if words[0] == "install" else REMOVE
    return Request("pip", action, tuple(names), tuple(keep), program, scope, extra)


def _npm_name(word: str) -> str:
    if word.startswith("@"):
        scope, _, rest = word[1:].partition("/")
        return f"@{scope}/{rest.split('@', 1)[0]}"
    return word.split("@", 1)[0]


def _npm(program: str, args: list[str]) -> Request | None:
    words = positional(args, {"--prefix", "--registry"})
    actions = {"install": INSTALL, "i": INSTALL, "add": INSTALL, "uninstall": REMOVE, "remove": REMOVE, "rm": REMOVE}
    if not words or words[0] not in actions:
        return None
    scope = "global" if {"-g", "--global"} & set(args) else "project"
    keep = kept_options(args, {"--registry"}, ("--registry=",))
    return Request("npm", actions[words[0]], tuple(_npm_name(w) for w in words[1:]), tuple(keep), program, scope)


def _gem(program: str, args: list[str]) -> Request | None:
    words = positional(args, GEM_VALUED)
    actions = {"install": INSTALL, "uninstall": REMOVE}
    if not words or words[0] not in actions:
        return None
    keep = kept_options(args, {"--source"})
    return Request("gem", actions[words[0]], tuple(words[1:]), tuple(keep), program)


PARSERS = {
    "apt-get": _apt, "apt": _apt, "aptitude": _apt, "dpkg": _dpkg,
    "yum": _yum, "dnf": _yum, "microdnf": _yum, "rpm": _rpm,
    "apk": _apk, "npm": _npm, "gem": _gem,
}


def _python_pip(words: list[str]) -> tuple[str, list[str]] | None:
    """`python3 -m pip install x` and `/opt/venv/bin/python -m pip ...` -> (program, args)."""
    if re.fullmatch(r"python[0-9.]*", basename(words[0])) and words[1:3] == ["-m", "pip"]:
        return words[0] + " -m pip", words[3:]
    return None


def parse(command: str) -> list[Request]:
    """Every package-manager request in a command line, in order."""
    out = []
    for words in commands(command):
        program, args = words[0], words[1:]
        name = basename(program)
        via_python = _python_pip(words)
        if via_python is not None:
            request = _pip(*via_python)
        elif re.fullmatch(r"pip[0-9.]*", name):
            request = _pip(program, args)
        elif name in PARSERS:
            request = PARSERS[name](program, args)
        else:
            request = None
        if request is not None:
            out.append(request)
    return out


def creates_virtualenv(command: str) -> str | None:
    """The directory of a virtualenv the command creates (`python3 -m venv /opt/app/venv`), if any."""
    for words in commands(command):
        if re.fullmatch(r"python[0-9.]*", basename(words[0])) and words[1:3] == ["-m", "venv"]:
            rest = positional(words[3:], {"--prompt"})
            return rest[0] if rest else None
        if basename(words[0]) == "virtualenv":
            rest = positional(words[1:], {"-p", "--python", "--prompt"})
            return rest[0] if rest else None
    return None
