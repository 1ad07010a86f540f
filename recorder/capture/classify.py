"""Decides how each recorded step is replayed in the image, and says why in words a reviewer reads.

The decision rests on what the step did (observed effects), not on guessing from its text; the text
only helps to explain (e.g. a package list refresh changed nothing the image keeps).
"""

from __future__ import annotations

import functools

from recorder.capture import hooks
from recorder.managers import pip, registry
from recorder.managers.base import REFRESH
from recorder.managers.users import manages_users
from recorder.model import commandline
from recorder.model.session import Effects

ENV_IGNORED = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES"})


def effective_status(status: int, pipestatus: list[int]) -> int:
    """A pipeline whose earlier stage failed is a failure, even when its last stage succeeded."""
    if status != 0:
        return status
    return next((s for s in pipestatus if s != 0), 0)


def parse_env(blob: bytes) -> dict[str, str]:
    """The shell's exported variables, from what bash's hooks dump (`declare -px`, see
    hooks.parse_exports) or zsh's (`env -0`), without the shell's own bookkeeping and exported
    functions."""
    return dict(_parsed_env(blob))


@functools.lru_cache(maxsize=4)
def _parsed_env(blob: bytes) -> tuple[tuple[str, str], ...]:
    """Most commands change no variable: the same dump comes again and is read once (0.15 ms a command)."""
    if blob.startswith((b"declare ", b"typeset ", b"export ")):
        items = hooks.parse_exports(blob)
    else:
        items = [(name, value) for name, sep, value in (i.partition(b"=") for i in blob.split(b"\0")) if sep]
    env: dict[str, str] = {}
    for name, value in items:
        key = name.decode("utf-8", "replace")
        if key in ENV_IGNORED or key.startswith("BASH_FUNC_"):
            continue
        env[key] = value.decode("utf-8", "replace")
    return tuple(env.items())


def env_changes(before: dict[str, str], after: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    removed = sorted(k for k in before if k not in after)
    return changed, removed


def command_words(command: str) -> list[list[str]]:
    """The simple commands of a line as typed (wrappers such as sudo kept)."""
    return commandline.simple_commands(command)


NAVIGATION = frozenset({"cd", "pushd", "popd"})
# Commands that change only who owns a file and what its mode is: the same command on the tree the
# earlier steps rebuilt makes the same change, where copying every file it touched would double a tree
# (`chown -R app /opt/app` over node_modules). Directories alone are rebuilt as recorded (install -d).
ATTRIBUTES = frozenset({"chown", "chgrp", "chmod", "setfacl", "chattr"})


SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh", "fish", "csh", "tcsh"})
REMOTE = frozenset({"ssh", "mosh", "telnet"})


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def opens_shell(command: str) -> bool:
    """True when the command line starts an interactive shell (sudo -i, su - postgres, bash, ssh host)."""
    words = command_words(command)
    if len(words) != 1:
        return False
    w = words[0]
    while w and "=" in w[0] and not w[0].startswith("-"):
        w = w[1:]  # VAR=value prefixes
    if not w:
        return False
    head, args = _basename(w[0]), w[1:]
    if head == "sudo":
        rest = _after_options(args, takes_value={"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"})
        return (
            not rest
            and any(a in ("-i", "-s", "--login", "--shell") for a in args)
            or bool(rest and (_basename(rest[0]) in SHELLS | {"su"}) and opens_shell(" ".join(rest)))
        )
    if head == "su":
        return "-c" not in args and "--command" not in args and not any(a.startswith("--command=") for a in args)
    if head in SHELLS:
        return not _after_options(args, takes_value={"-o", "-O", "--rcfile", "--init-file"})
    if head in REMOTE:
        return len(_after_options(args, takes_value={"-p", "-i", "-l", "-o", "-F", "-J", "-L", "-R", "-D"})) == 1
    return False


def _after_options(args: list[str], takes_value: set[str]) -> list[str]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in takes_value else 1
    return args[i:]


def decide(command: str, status: int, effects: Effects, nested: bool = False) -> tuple[str, str]:
    """(replay, why) for one finished command; `nested` when a shell it opened reported its own commands."""
    if nested:
        return "skip", "opened a nested shell; the commands typed in it are the steps just before this one"
    if opens_shell(command):
        return "skip", "opened a shell that was not followed: the commands typed in it were not recorded"
    if status != 0:
        return "skip", f"failed (exit {status}): left out of the image"
    if effects.packages:
        names = sorted({n for p in effects.packages for n in (p.installed or p.dependencies)})
        shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
        removed = sorted({n for p in effects.packages for n in p.removed})
        what = f"installs {shown}" if names else f"removes {', '.join(removed)}"
        managers = ", ".join(sorted({p.manager for p in effects.packages}))
        return "run", f"{what} ({managers}); versions pinned to what the host installed"
    venv = pip.creates_virtualenv(command)
    if venv:
        return "run", f"creates the virtualenv {venv}: replayed by running the command"
    if manages_users(command):
        return "run", "manages users or groups: replayed by running the command, /etc/passwd is not copied"
    words = command_words(command)
    changers = [w for w in words if w and _basename(w[0]) not in NAVIGATION]
    touched_files = any(f.kind != "dir" for f in effects.files)
    if touched_files and changers and all(_basename(w[0]) in ATTRIBUTES for w in changers):
        n = len(effects.files)
        return "run", f"changes the owner or mode of {n} path{'s' if n != 1 else ''}: replayed by running the command"
    if effects.files or effects.env_set or effects.env_unset:
        parts = []
        if effects.files:
            n = len(effects.files)
            parts.append(f"changed {n} file{'s' if n != 1 else ''}: copied from files/")
        names = sorted(effects.env_set) + sorted(effects.env_unset)
        if names:
            parts.append(f"sets {', '.join(names)}: ENV")
        return "files", "; ".join(parts)
    if words and all(w[0] in NAVIGATION for w in words):
        return "skip", "changes directory only (kept as the step's cwd)"
    if any(request.action == REFRESH for request in registry.parse(command)):  # apt-get update, yum makecache
        return "skip", "refreshes package lists; each install in the image does its own update"
    return "skip", "changed nothing the image keeps"
