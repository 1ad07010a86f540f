"""The `record` command: one Typer app; each module of `recorder.commands` registers its own commands."""

from __future__ import annotations

import sys

import typer

from recorder.commands import build, generate, preflight, record, review
from recorder.console import error_line
from recorder.errors import RecorderError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Record a deployment done by hand on a staging host and turn it into a container image.",
)

for commands in (record, generate, build, review, preflight):
    commands.register(app)


def main() -> None:
    try:
        app()
    except RecorderError as exc:
        error_line(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
