"""The migration commands: Kubernetes manifests and a compose file from a session."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from generators import compose, kubernetes, runtime
from recorder import session as session_io
from recorder.errors import RecorderError
from recorder.session import FILES_DIR, Session

K8S_DIR = "k8s"

err = Console(stderr=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("to-k8s")(to_k8s)
    app.command("to-compose")(to_compose)


def to_k8s(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the manifests (default SESSION/k8s)."),
    nodeport: int = typer.Option(None, "--nodeport", help="Expose the service on this node port (30000-32767)."),
    image: str = typer.Option(None, "--image", help="Image the workload runs (default NAME:latest)."),
) -> None:
    """Write Kubernetes manifests (workload, Service, ConfigMap, Secret placeholders) for the session."""
    recorded = session_io.load(session_dir)
    manifests = kubernetes.generate(recorded, captured_configs(recorded, session_dir), image=image, nodeport=nodeport)
    directory = output or session_dir / K8S_DIR
    if directory.exists() and not directory.is_dir():
        raise RecorderError(f"{directory}: exists and is not a directory")
    _write(directory, manifests.files)
    for name in kubernetes.ALL_FILES:
        if name not in manifests.files and (directory / name).exists():
            err.print(
                f"note: {directory / name} is no longer generated from this session; remove it",
                markup=False,
                soft_wrap=True,
            )
    for note in manifests.notes:
        err.print(f"note: {note}", markup=False, soft_wrap=True)


def captured_configs(recorded: Session, session_dir: Path) -> dict[str, bytes]:
    """The captured contents of the session's config files, which the ConfigMap carries."""
    return {c.path: (session_dir / f"{FILES_DIR}{c.path}").read_bytes() for c in runtime.config_files(recorded)}


def to_compose(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
) -> None:
    """Write docker-compose.yml into the session directory, building and running its image."""
    recorded = session_io.load(session_dir)
    generated = compose.generate(recorded)
    _write(session_dir, generated.files)
    for note in generated.notes:
        err.print(f"note: {note}", markup=False, soft_wrap=True)


def _write(directory: Path, files: dict[str, str]) -> None:
    """Write generated files, leaving a file alone when it already says the same."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = directory / name
        if not target.exists() or target.read_text(encoding="utf-8", errors="replace") != text:
            target.write_text(text, encoding="utf-8")
            err.print(f"wrote {target}", markup=False, soft_wrap=True)
        else:
            err.print(f"unchanged {target}", markup=False, soft_wrap=True)
