"""The generating commands: Dockerfile, Kubernetes manifests and a compose file from a session.

Each loads the session through the one checked path and writes through one writer: every target is
checked before any is written, and a file that already says the same is left alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recorder.commands.loading import load_session
from recorder.console import note
from recorder.errors import RecorderError

if TYPE_CHECKING:
    from recorder.model.session import Session

# The generators and the model are imported by the commands that use them: every `record` command,
# `--help` too, pays for what this module imports, and `to-dockerfile` is run in loops (pre-commit).

K8S_DIR = "k8s"


def register(app: typer.Typer) -> None:
    app.command("to-dockerfile")(to_dockerfile)
    app.command("to-k8s")(to_k8s)
    app.command("to-compose")(to_compose)


def to_dockerfile(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    base: str = typer.Option(None, "--base", help="Use this FROM image instead of the recorded host's."),
    relaxed: bool = typer.Option(False, "--relaxed", help="Do not pin package versions."),
) -> None:
    """Write the session's Dockerfile and .dockerignore into its directory (the build context)."""
    from generators import dockerfile

    recorded = load_session(session_dir)
    write_generated(session_dir, dockerfile.generate(recorded, base, relaxed))


def to_k8s(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the manifests (default SESSION/k8s)."),
    nodeport: int = typer.Option(None, "--nodeport", help="Expose the service on this node port (30000-32767)."),
    image: str = typer.Option(None, "--image", help="Image the workload runs (default NAME:latest)."),
) -> None:
    """Write Kubernetes manifests (workload, Service, ConfigMap, Secret placeholders) for the session."""
    from generators import kubernetes

    recorded = load_session(session_dir)
    manifests = kubernetes.generate(recorded, captured_configs(recorded, session_dir), image=image, nodeport=nodeport)
    directory = output or session_dir / K8S_DIR
    write_generated(directory, manifests.files)
    for name in kubernetes.ALL_FILES:
        if name not in manifests.files and (directory / name).exists():
            note(f"note: {directory / name} is no longer generated from this session; remove it")
    for text in manifests.notes:
        note(f"note: {text}")


def captured_configs(recorded: Session, session_dir: Path) -> dict[str, bytes]:
    """The captured contents of the session's config files, which the ConfigMap carries."""
    from recorder.model import image as runtime
    from recorder.model.session import FILES_DIR

    return {c.path: (session_dir / f"{FILES_DIR}{c.path}").read_bytes() for c in runtime.config_files(recorded)}


def to_compose(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
) -> None:
    """Write docker-compose.yml into the session directory, building and running its image."""
    from generators import compose

    recorded = load_session(session_dir)
    generated = compose.generate(recorded)
    write_generated(session_dir, generated.files)
    for text in generated.notes:
        note(f"note: {text}")


def write_generated(directory: Path, files: dict[str, str]) -> None:
    """Write generated files into `directory`: all checked first (a symlink or a `..` that leads out is
    refused before anything is written), and a file that already says the same is left alone."""
    from recorder.model import paths

    if directory.exists() and not directory.is_dir():
        raise RecorderError(f"{directory}: exists and is not a directory")
    for name in files:
        target = directory / name
        if target.is_symlink():
            raise RecorderError(f"{target}: is a symlink; remove it, the generated file is written in its place")
        if directory.exists():
            paths.inside(directory, target, "generated files are written inside their directory")
    for name, text in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and target.read_text(encoding="utf-8", errors="replace") == text:
            note(f"unchanged {target}")
            continue
        target.write_text(text, encoding="utf-8")
        note(f"wrote {target}")
