"""`record preflight`: check a host against Kubernetes node requirements, or compare hosts' reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recorder.errors import RecorderError

if TYPE_CHECKING:
    from recorder.preflight import checks as preflight


def register(app: typer.Typer) -> None:
    app.command("preflight")(preflight_command)


def preflight_command(
    reports: list[Path] = typer.Argument(None, help="With --compare: reports written by `preflight --json`."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (to compare hosts later)."),
    compare: bool = typer.Option(False, "--compare", help="Report hosts whose MAC, product_uuid or name collide."),
    config: Path = typer.Option(
        None, "--config", help="Thresholds and ports to check (default: the preflight.yaml shipped with record)."
    ),
    root: Path = typer.Option(Path("/"), "--root", help="Check the system under this directory (firewall unread)."),
) -> None:
    """Check this host against Kubernetes node requirements (OS, resources, kernel, runtime, ports, identity)."""
    from recorder.preflight import checks as preflight
    from recorder.preflight import firewall

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

    from recorder.preflight import checks as preflight

    status_style = {preflight.PASS: "green", preflight.WARN: "yellow", preflight.FAIL: "bold red"}
    out = Console(highlight=False)
    table = Table(title=f"preflight: {report.hostname or 'this host'}", title_justify="left")
    table.add_column("check", max_width=20, overflow="fold")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        table.add_row(check.check, f"[{status_style[check.status]}]{check.status}[/]", check.detail)
    out.print(table)


def _compare(paths: list[Path], as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from recorder.preflight import checks as preflight

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
