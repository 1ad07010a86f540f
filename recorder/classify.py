"""Decides how each recorded step is replayed in the image, and says why in words a reviewer reads.

The decision rests on what the step did (observed effects), not on guessing from its text; the text
only helps to explain (e.g. `apt-get update` changed nothing the image keeps).
"""

from __future__ import annotations

import bashlex

from recorder.session import Effects

ENV_IGNORED = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES"})


def effective_status(status: int, pipestatus: list[int]) -> int:
    """A pipeline whose earlier stage failed is a failure, even when its last stage succeeded."""
    if status != 0:
        return status
    return next((s for s in pipestatus if s != 0), 0)


def parse_env(blob: bytes) -> dict[str, str]:
    """`env -0` output -> variables, without the shell's own bookkeeping and exported functions."""
    env: dict[str, str] = {}
    for item in blob.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if not sep:
            continue
        key = name.decode("utf-8", "replace")
        if key in ENV_IGNORED or key.startswith("BASH_FUNC_"):
            continue
        env[key] = value.decode("utf-8", "replace")
    return env


def env_changes(before: dict[str, str], after: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    removed = sorted(k for k in before if k not in after)
    return changed, removed


def command_words(command: str) -> list[list[str]]:
    """The simple commands in a command line, as word lists; [] when bash syntax defeats the parser."""
    try:
        trees = bashlex.parse(command)
    except Exception:  # noqa: BLE001 - bashlex raises assorted errors on syntax it does not know
        return []
    found: list[list[str]] = []

    class Visitor(bashlex.ast.nodevisitor):
        def visitcommand(self, node, parts):  # noqa: N802 - bashlex's name
            words = [p.word for p in parts if p.kind == "word"]
            if words:
                found.append(words)

    for tree in trees:
        Visitor().visit(tree)
    return found


NAVIGATION = frozenset({"cd", "pushd", "popd"})


def decide(command: str, status: int, effects: Effects) -> tuple[str, str]:
    """(replay, why) for one finished command."""
    if status != 0:
        return "skip", f"failed (exit {status}): left out of the image"
    if effects.ports_opened:
        ports = ", ".join(str(p) for p in effects.ports_opened)
        return "skip", f"started the service listening on {ports}: the image runs it as ENTRYPOINT"
    if effects.packages:
        names = sorted({n for p in effects.packages for n in (p.installed or p.dependencies)})
        shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
        removed = sorted({n for p in effects.packages for n in p.removed})
        what = f"installs {shown}" if names else f"removes {', '.join(removed)}"
        return "run", f"{what} ({effects.packages[0].manager}); versions pinned to what the host installed"
    if effects.files or effects.env_set or effects.env_unset:
        parts = []
        if effects.files:
            n = len(effects.files)
            parts.append(f"changed {n} file{'s' if n != 1 else ''}: copied from files/")
        names = sorted(effects.env_set) + sorted(effects.env_unset)
        if names:
            parts.append(f"sets {', '.join(names)}: ENV")
        return "files", "; ".join(parts)
    words = command_words(command)
    if words and all(w[0] in NAVIGATION for w in words):
        return "skip", "changes directory only (kept as the step's cwd)"
    if any(w[:2] in (["apt-get", "update"], ["apt", "update"]) for w in words):
        return "skip", "refreshes package lists; each install in the image does its own update"
    return "skip", "changed nothing the image keeps"
