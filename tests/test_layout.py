"""The layout's rules, read from the import graph of the code (every `import`, at any depth of a
module, counted): the generators stay pure, the model depends on nothing, typer stays in the commands.

A rule broken here is how the tangle came back before: a generator reaching into capture for one
helper brings psutil, subprocess and the rest with it, and pure generation is pure no longer."""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("recorder", "generators")
# What pure generation must never reach, even through another module of ours.
EDGE = {
    "psutil",
    "pexpect",
    "docker",
    "typer",
    "click",
    "subprocess",
    "rich",
    "ptyprocess",
    "inotify_simple",
    "pyroute2",
    "requests",
    "socket",
}


# What `record` must not import before it knows which command runs: each is imported by the commands
# that use it (pre-commit runs `record check` on every commit; `--help` needs none of them).
NOT_AT_START = {
    "rich",
    "docker",
    "detect_secrets",
    "requests",
    "pexpect",
    "ptyprocess",
    "bashlex",
    "psutil",
    "ruamel",
    "yaml",
    "pyroute2",
    "inotify_simple",
    "generators",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


@cache
def imports(module: str) -> frozenset[str]:
    """Every module `module` imports: ours by full name, others by their top-level name."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in MODULES}
    ours = {name for name in found if name in MODULES}
    return frozenset(ours | {name.split(".")[0] for name in found - ours if name.split(".")[0] not in PACKAGES})


@cache
def reaches(module: str) -> frozenset[str]:
    """Everything `module` imports, directly or through modules of ours."""
    seen, todo = set(), [module]
    while todo:
        for name in imports(todo.pop()):
            if name not in seen:
                seen.add(name)
                if name in MODULES:
                    todo.append(name)
    return frozenset(seen)


def ours(names) -> set[str]:
    return {n for n in names if n in MODULES and n not in PACKAGES}


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_is_read():
    """The rules below are not vacuous: the graph holds the modules and edges they speak of."""
    assert "generators.kubernetes" in MODULES and "recorder.capture.recording" in MODULES
    assert "recorder.model.image" in imports("generators.kubernetes")
    assert "pyroute2" in reaches("recorder.capture.recording") and "docker" in reaches("recorder.engine.build")


def test_generators_import_only_the_model_the_managers_and_errors():
    for module in (m for m in MODULES if under(m, "generators")):
        wrong = {
            n
            for n in ours(imports(module))
            if not under(n, "generators", "recorder.model", "recorder.managers", "recorder.errors")
        }
        assert not wrong, f"{module} imports {sorted(wrong)}"


def test_nothing_at_the_edge_reaches_the_generators_even_indirectly():
    for module in (m for m in MODULES if under(m, "generators")):
        edge = reaches(module) & EDGE
        assert not edge, f"{module} reaches {sorted(edge)}"


def test_the_model_imports_nothing_else_of_the_project():
    for module in (m for m in MODULES if under(m, "recorder.model")):
        wrong = {n for n in ours(imports(module)) if not under(n, "recorder.model", "recorder.errors")}
        assert not wrong, f"{module} imports {sorted(wrong)}"


def test_the_managers_import_only_the_model():
    for module in (m for m in MODULES if under(m, "recorder.managers")):
        wrong = {
            n for n in ours(imports(module)) if not under(n, "recorder.managers", "recorder.model", "recorder.errors")
        }
        assert not wrong, f"{module} imports {sorted(wrong)}"


def test_only_the_commands_import_typer():
    for module in MODULES:
        if "typer" in imports(module):
            assert under(module, "recorder.commands", "recorder.cli"), f"{module} imports typer"


def test_nothing_imports_the_commands_but_the_cli():
    """The commands are the top: a module below them that imports one runs back up the layers."""
    for module in MODULES:
        upward = {n for n in ours(imports(module)) if under(n, "recorder.commands", "recorder.cli")}
        if upward:
            assert under(module, "recorder.commands", "recorder.cli", "recorder.__main__"), f"{module} imports {upward}"


def test_the_cli_starts_with_typer_and_the_command_modules_only():
    """What importing the CLI adds to what typer imports itself: none of the heavy libraries, and of ours
    only the command modules and what they share (errors, the console)."""
    code = (
        "import sys; import typer; before = set(sys.modules); import recorder.cli; "
        "print(*sorted(set(sys.modules) - before))"
    )
    added = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(added.stdout.split())
    assert not {name.split(".")[0] for name in loaded} & NOT_AT_START
    allowed = {"recorder", "recorder.cli", "recorder.console", "recorder.errors"}
    ours = {n for n in loaded if n.split(".")[0] in PACKAGES}
    wrong = {n for n in ours if n not in allowed and not under(n, "recorder.commands")}
    assert not wrong, f"imported at start: {sorted(wrong)}"
