"""The summary printed when a recording ends: what was kept, what was left out, and warnings."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from recorder.model.placeholders import ENV_FILE_EXAMPLE, needs
from recorder.model.session import Session, active_steps

PLAIN = {"markup": False}


def report(session: Session, directory: Path, console: Console) -> None:
    kept = active_steps(session)
    dropped = [s for s in session.steps if s.replay == "skip"]
    console.print(
        f"\n[bold]Recorded[/] {len(session.steps)} commands into {directory}: "
        f"{len(kept)} kept, {len(dropped)} left out."
    )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("step", "replay", "command", "why"):
        table.add_column(column, overflow="fold")
    for s in session.steps:
        first = s.command.strip().splitlines()[0] if s.command.strip() else ""
        table.add_row(str(s.id), s.replay, Text(first[:60]), Text(s.why))  # Text: a command is not markup
    console.print(table)
    packages = sorted({f"{n}={v}" for s in kept for p in s.effects.packages for n, v in p.installed.items()})
    files = sorted({f.path for s in kept for f in s.effects.files if not f.secret})
    if packages:
        console.print("packages: " + ", ".join(packages), markup=False)
    if files:
        console.print("files: " + ", ".join(files), markup=False)
    for svc in session.services:
        ports = ", ".join(f"{p.address}:{p.port}" for p in svc.ports)
        console.print(f"service: {svc.name} on {ports} → {' '.join(svc.command)}", markup=False)
    if session.fingerprint is not None:
        fp = session.fingerprint
        said = [f"port {p.port} {'accepts' if p.accepts else 'refuses'} TCP" for p in fp.ports]
        said += [f"GET {h.url} → {h.status}" for h in fp.http]
        console.print("staging answered: " + ("; ".join(said) or "nothing was listening"), markup=False)
    wanted = needs(session)
    if wanted.env:
        console.print(
            f"secrets (never recorded, never in the image): give {', '.join(wanted.env)} at run time: "
            f"docker run --env-file .env (to-dockerfile writes {ENV_FILE_EXAMPLE})",
            markup=False,
        )
    for path, why in wanted.files.items():
        console.print(f"secret file (not copied, {why}): mount yours at run time: docker run -v ...:{path}:ro", **PLAIN)
    for step_id, names in wanted.left_out.items():
        console.print(f"step {step_id} needs {', '.join(names)} while building: it is left out of the image", **PLAIN)
    for w in session.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}")
    console.print(f"Next: record to-dockerfile {directory}  and  record build {directory} --tag NAME:TAG", **PLAIN)
