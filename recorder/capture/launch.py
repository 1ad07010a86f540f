"""The programs a typed command line starts, as the operator meant them: without the wrappers that
switch user, detach or daemonize, with the user and directory they run as.

`su -s /bin/sh web -c "cd /srv/files && nohup python3 -m http.server 9000 &"` starts
`python3 -m http.server 9000` as web in /srv/files; `service nginx start` and
`systemctl enable --now app` start a unit, whose program the caller finds from what runs.
"""

from __future__ import annotations

import os
import posixpath
import pwd
from dataclasses import dataclass

from recorder.model.commandline import WRAPPERS, basename, simple_commands, unwrap

SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}
DETACHERS = {"nohup": set(), "setsid": set(), "disown": set(), "daemon": set()}
SERVICE_ACTIONS = {"start", "restart", "reload", "force-reload", "try-restart", "condrestart"}
SU_VALUED = {"-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment"}
RUNUSER_VALUED = SU_VALUED | {"-u", "--user"}
SUDO_USER = {"-u", "--user"}


@dataclass(frozen=True)
class Launch:
    words: tuple[str, ...]  # the program and its arguments, as typed ( () for a unit )
    user: str  # "" = whoever ran the step
    cwd: str
    unit: str = ""  # service X start, /etc/init.d/X start, systemctl start X


def launches(command: str, cwd: str, user: str = "") -> list[Launch]:
    """Every program the line starts, in order; `cd` changes the directory of those after it."""
    found: list[Launch] = []
    for words in simple_commands(command):
        cwd = _walk(words, cwd, user, found)
    return found


def _walk(words: list[str], cwd: str, user: str, found: list[Launch]) -> str:
    while words and (basename(words[0]) in DETACHERS or basename(words[0]) in WRAPPERS):
        name = basename(words[0])
        if name == "sudo":
            sudo_user, rest = _sudo(words[1:])
            user, words = sudo_user or "root", rest
            continue
        words = unwrap(words) if name in WRAPPERS else _after_options(words[1:], set())
    if not words:
        return cwd
    name = basename(words[0])
    if name == "cd":
        target = words[1] if len(words) > 1 else "~"
        if "$" in target:
            return cwd
        return posixpath.normpath(
            posixpath.join(cwd, _home(user) if target == "~" else target.replace("~", _home(user), 1))
        )
    if name in ("su", "runuser"):
        return _switch_user(words, cwd, user, found)
    if name in SHELLS and "-c" in words[1:]:
        inner = words[words.index("-c") + 1 :]
        if inner:
            for sub in simple_commands(inner[0]):
                cwd = _walk(sub, cwd, user, found)
        return cwd
    if name == "start-stop-daemon":
        _start_stop_daemon(words, cwd, user, found)
        return cwd
    unit = _unit(words)
    if unit:
        found.append(Launch((), user, "/", unit))
        return cwd
    if name not in ("export", "source", ".", "echo", "sleep", "true", "set", "unset"):
        found.append(Launch(tuple(words), user, cwd))
    return cwd


def _after_options(words: list[str], valued: set[str]) -> list[str]:
    while words and words[0].startswith("-") and words[0] != "--":
        words = words[2:] if words[0] in valued else words[1:]
    return words[1:] if words and words[0] == "--" else words


def _sudo(words: list[str]) -> tuple[str, list[str]]:
    user = ""
    while words and words[0].startswith("-") and words[0] != "--":
        if words[0] in SUDO_USER and len(words) > 1:
            user, words = words[1], words[2:]
        elif words[0].startswith("-u") and len(words[0]) > 2:
            user, words = words[0][2:], words[1:]
        else:
            words = words[2:] if words[0] in WRAPPERS["sudo"] else words[1:]
    return user, words[1:] if words and words[0] == "--" else words


def _switch_user(words: list[str], cwd: str, user: str, found: list[Launch]) -> str:
    """su [-] [-s SHELL] [-c CMD] [USER]; runuser -u USER -- CMD…; runuser [-l] USER -c CMD."""
    args, command, target, login, rest = words[1:], "", "", False, []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-", "-l", "--login"):
            login = True
        elif arg in ("-c", "--command") and i + 1 < len(args):
            command, i = args[i + 1], i + 1
        elif arg in ("-u", "--user") and i + 1 < len(args):
            target, i = args[i + 1], i + 1
        elif arg == "--":
            rest = args[i + 1 :]
            break
        elif arg in RUNUSER_VALUED:
            i += 1
        elif not arg.startswith("-") and not target:
            target = arg
        elif not arg.startswith("-"):
            rest = args[i:]
            break
        i += 1
    target = target or "root"
    where = _home(target) if login else cwd
    if command:
        for sub in simple_commands(command):
            where = _walk(sub, where, target, found)
    elif rest:
        _walk(rest, where, target, found)
    return cwd


def _start_stop_daemon(words: list[str], cwd: str, user: str, found: list[Launch]) -> None:
    args = words[1:]
    if not any(a in ("-S", "--start") for a in args):
        return
    program, chuid, chdir, rest = "", "", cwd, []
    for i, arg in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else ""
        if arg in ("-x", "--exec", "-a", "--startas"):
            program = program or value
        elif arg in ("-c", "--chuid"):
            chuid = value.split(":")[0]
        elif arg in ("-d", "--chdir"):
            chdir = value
        elif arg == "--":
            rest = args[i + 1 :]
            break
    if program:
        found.append(Launch((program, *rest), chuid or user, chdir))


def _unit(words: list[str]) -> str:
    name = basename(words[0])
    args = [w for w in words[1:] if not w.startswith("-")]
    if name in ("service", "invoke-rc.d") and len(args) >= 2 and args[1] in SERVICE_ACTIONS:
        return args[0]
    if words[0].startswith("/etc/init.d/") and args and args[0] in SERVICE_ACTIONS:
        return name
    if name == "systemctl" and args:
        if args[0] in SERVICE_ACTIONS and len(args) > 1:
            return args[1].removesuffix(".service")
        if args[0] == "enable" and "--now" in words and len(args) > 1:
            return args[1].removesuffix(".service")
    return ""


def _home(user: str) -> str:
    try:
        return pwd.getpwnam(user or _current()).pw_dir
    except KeyError:
        return "/root" if user in ("", "root") else f"/home/{user}"


def _current() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "root"
