"""The migration commands: Kubernetes manifests and a compose file from a session, and a node preflight."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recorder.console import note
from recorder.errors import RecorderError
from recorder.loading import load_session
from recorder.session import FILES_DIR, Session

if TYPE_CHECKING:
    from recorder import preflight

# The generators, preflight and rich's tables are imported by the commands that use them: every
# `record` command pays for what this module imports, and `to-dockerfile` is run in loops (pre-commit).

K8S_DIR = "k8s"


def register(app: typer.Typer) -> None:
    app.command("to-k8s")(to_k8s)
    app.command("to-compose")(to_compose)
    app.command("preflight")(preflight_command)


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
    if directory.exists() and not directory.is_dir():
        raise RecorderError(f"{directory}: exists and is not a directory")
    _write(directory, manifests.files)
    for name in kubernetes.ALL_FILES:
        if name not in manifests.files and (directory / name).exists():
            note(f"note: {directory / name} is no longer generated from this session; remove it")
    for text in manifests.notes:
        note(f"note: {text}")


def captured_configs(recorded: Session, session_dir: Path) -> dict[str, bytes]:
    """The captured contents of the session's config files, which the ConfigMap carries."""
    from generators import runtime

    return {c.path: (session_dir / f"{FILES_DIR}{c.path}").read_bytes() for c in runtime.config_files(recorded)}


def to_compose(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
) -> None:
    """Write docker-compose.yml into the session directory, building and running its image."""
    from generators import compose

    recorded = load_session(session_dir)
    generated = compose.generate(recorded)
    _write(session_dir, generated.files)
    for text in generated.notes:
        note(f"note: {text}")


def _write(directory: Path, files: dict[str, str]) -> None:
    """Write generated files, leaving a file alone when it already says the same."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = directory / name
        if not target.exists() or target.read_text(encoding="utf-8", errors="replace") != text:
            target.write_text(text, encoding="utf-8")
            note(f"wrote {target}")
        else:
            note(f"unchanged {target}")


def preflight_command(
    reports: list[Path] = typer.Argument(None, help="With --compare: reports written by `preflight --json`."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (to compare hosts later)."),
    compare: bool = typer.Option(False, "--compare", help="Report hosts whose MAC, product_uuid or name collide."),
    config: Path = typer.Option(
        None, "--config", help="Thresholds and ports to check (default: the preflight.yaml shipped with record)."
    ),
    root: Path = typer.Option(Path("/"), "--root", help="Check the system under this directory (firewall unread)."),
) -> None:
    """Check this host against Kubernetes node requirements (OS, CPUs, memory, swap, ports, identity)."""
    from recorder import firewall, preflight

    if compare:
        _compare(reports or [], as_json)
        return
    if reports:
        raise RecorderError(f"{reports[0]}: report files are only read with --compare")
    settings = preflight.load_config(config or preflight.DEFAULT_CONFIG)
    if not root.is_dir():
        raise RecorderError(f"{root}: no such directory to check")
    rules, problem = None, ""
    if root.resolve() == Path("/"):
        try:
            rules = firewall.live_rules()
        except firewall.FirewallUnreadable as exc:
            problem = str(exc)
    else:
        problem = f"firewall rules are kernel state, not files under {root}"
    report = preflight.inspect(root, settings, rules, problem)
    if as_json:
        sys.stdout.write(report.to_json())
    else:
        _print_report(report)
    if report.status == preflight.FAIL:
        raise typer.Exit(1)


def _print_report(report: preflight.Report) -> None:
    from rich.console import Console
    from rich.table import Table

    from recorder import preflight

    status_style = {preflight.PASS: "green", preflight.WARN: "yellow", preflight.FAIL: "bold red"}
    out = Console(highlight=False)
    table = Table(title=f"preflight: {report.hostname or 'this host'}", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        table.add_row(check.check, f"[{status_style[check.status]}]{check.status}[/]", check.detail)
    out.print(table)


def _compare(paths: list[Path], as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from recorder import preflight

    if len(paths) < 2:
        raise RecorderError("--compare needs at least two reports written by `record preflight --json`")
    loaded = [(str(p), preflight.read_report(p)) for p in paths]
    collisions = preflight.compare(loaded)
    if as_json:
        data = [{"what": c.what, "value": c.value, "hosts": list(c.hosts)} for c in collisions]
        sys.stdout.write(json.dumps({"collisions": data}, indent=2) + "\n")
    else:
        out = Console(highlight=False)
        if collisions:
            table = Table(title=f"{len(collisions)} collisions among {len(loaded)} hosts", title_justify="left")
            table.add_column("shared")
            table.add_column("value")
            table.add_column("hosts", overflow="fold")
            for c in collisions:
                table.add_row(c.what, c.value, "\n".join(c.hosts))
            out.print(table)
        else:
            out.print(f"no collisions among {len(loaded)} hosts: MAC addresses, product_uuid and hostnames are unique")
    if collisions:
        raise typer.Exit(1)
