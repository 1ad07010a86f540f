"""Reading command lines as bash does: simple commands, without the wrappers people type around them.

`sudo -E env DEBIAN_FRONTEND=noninteractive nohup apt-get install -y nginx && systemctl start nginx`
is two simple commands, and the first one is an apt-get install. bashlex does the parsing.
"""

from __future__ import annotations

import functools

# Wrappers that run the rest of the line as a command, and the options of theirs that take a value.
WRAPPERS = {
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group"},
    "env": {"-u", "--unset", "-C", "--chdir", "-S"},
    "nohup": set(),
    "time": set(),
    "nice": {"-n"},
    "ionice": {"-c", "-n"},
    "stdbuf": {"-i", "-o", "-e"},
    "exec": set(),
    "command": set(),
    "builtin": set(),
    "doas": {"-u"},
}


def simple_commands(command: str) -> list[list[str]]:
    """The simple commands in a command line, as word lists; [] when bash syntax defeats the parser."""
    return [list(words) for words in _parsed(command)]


def warm_up() -> None:
    """bashlex builds its parser tables each time it is imported (0.2-0.3 s): a recording has it done
    while the user types the first command, which would otherwise wait for it."""
    import bashlex  # noqa: F401


@functools.lru_cache(maxsize=32)
def _parsed(command: str) -> tuple[tuple[str, ...], ...]:
    """Parsed once a command: classifying one finished command asks for its words six times."""
    import bashlex  # builds its parser tables on import (0.3 s): only when a command line is read

    try:
        trees = bashlex.parse(command)
    except Exception:  # noqa: BLE001 - bashlex raises assorted errors on syntax it does not know
        return ()
    found: list[tuple[str, ...]] = []

    class Visitor(bashlex.ast.nodevisitor):
        def visitcommand(self, node, parts):  # noqa: N802 - bashlex's name
            words = [p.word for p in parts if p.kind == "word"]
            if words:
                found.append(tuple(words))

    for tree in trees:
        Visitor().visit(tree)
    return tuple(found)


def basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def unwrap(words: list[str]) -> list[str]:
    """The command that actually runs: without VAR=value prefixes, sudo, env, nohup and the like."""
    words = list(words)
    while words:
        if "=" in words[0] and not words[0].startswith("-") and words[0].split("=", 1)[0].isidentifier():
            words = words[1:]
            continue
        wrapper = WRAPPERS.get(basename(words[0]))
        if wrapper is None:
            break
        words = words[1:]
        while words and words[0].startswith("-") and words[0] != "--":
            words = words[2:] if words[0] in wrapper else words[1:]
        if words and words[0] == "--":
            words = words[1:]
    return words


def commands(command: str) -> list[list[str]]:
    """The simple commands of a line, each unwrapped; empty ones dropped."""
    return [w for w in (unwrap(c) for c in simple_commands(command)) if w]


def positional(args: list[str], takes_value: set[str]) -> list[str]:
    """Arguments that are not options, skipping the values of options that take one."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            continue
        elif arg.startswith("-"):
            skip = arg in takes_value
        else:
            out.append(arg)
    return out


def kept_options(args: list[str], keep: set[str], keep_prefixes: tuple[str, ...] = ()) -> list[str]:
    """Options worth replaying (with their values): `--enablerepo=epel`, `-i URL`, `--user` ..."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg in keep:
            out.append(arg)
            if arg in _VALUED and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        elif keep_prefixes and arg.startswith(keep_prefixes):
            out.append(arg)
        i += 1
    return out


# Options (among all managers') that take the following word as their value.
_VALUED = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "--trusted-host",
    "-f",
    "--find-links",
    "-t",
    "--target-release",
    "--enablerepo",
    "--disablerepo",
    "--repository",
    "-X",
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "--registry",
    "-v",
    "--version",
    "--source",
}
