"""The review commands: show, diff, check and verify. Reports go to stdout (`--json` for machines), progress
to stderr; exit 1 means "found a difference", exit 2 "bad input"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recorder.commands.loading import load_session
from recorder.console import note

if TYPE_CHECKING:
    from rich.console import Console

    from recorder.engine.expect import Check

REPORT_WIDTH = 160  # a log or a pipe has no width; wide enough that table rows stay on one line


def _out() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = REPORT_WIDTH
    return console


def _json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def show(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    base: str = typer.Option(None, "--base", help="Show it as built with this FROM image."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a session for review: what each step becomes in the image, and warnings."""
    from recorder.review import show as show_mod

    described = show_mod.describe(load_session(session_dir), session_dir, base)
    if as_json:
        _json(described)
    else:
        show_mod.render(described, _out())


def diff(
    a: str = typer.Argument(..., help="The session before: a directory, or REV:PATH (e.g. origin/main:sessions/web)."),
    b: str = typer.Argument(..., help="The session after: a directory, or REV:PATH."),
    as_json: bool = typer.Option(False, "--json", help="Print the differences as JSON."),
) -> None:
    """Compare what two sessions put in their images: packages, files, ports, env, entrypoint (Markdown)."""
    import tempfile

    from recorder.review import diff as diff_mod
    from recorder.review.revision import session_dir

    with tempfile.TemporaryDirectory(prefix="record-diff-") as scratch:
        a_dir, b_dir = session_dir(a, Path(scratch)), session_dir(b, Path(scratch))
        result = diff_mod.compare(load_session(a_dir, a), a_dir, load_session(b_dir, b), b_dir)
    if as_json:
        _json({"a": a, "b": b, **result})
    else:
        typer.echo(diff_mod.markdown(result, a, b), nl=False)


def check(
    paths: list[Path] = typer.Argument(
        None, help="Session directories, or files inside them (pre-commit passes those); default: all in ./sessions."
    ),
    base: str = typer.Option(
        None, "--base", help="The FROM image the files were generated with, if not the session's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Fail (exit 1) when committed generated files differ from what session.yaml generates now."""
    from recorder.review import check as check_mod

    report, stale = [], False
    for directory in check_mod.sessions_for(list(paths or [])):
        statuses = check_mod.check(load_session(directory), directory, base)
        ok = all(s.state == check_mod.UP_TO_DATE for s in statuses)
        stale = stale or not ok
        report.append({"session": str(directory), "ok": ok, "files": [s.as_dict() for s in statuses]})
        if as_json:
            continue
        if ok:
            typer.echo(f"{directory}: generated files are up to date")
            continue
        for s in statuses:
            if s.why:
                typer.echo(f"{directory / s.path}: {s.state}: {s.why}")
            elif s.state != check_mod.UP_TO_DATE:
                typer.echo(f"{directory / s.path}: {s.state} (not what session.yaml generates now)")
                if s.diff:
                    typer.echo(s.diff, nl=False)
        if any(s.state != check_mod.UP_TO_DATE and not s.why for s in statuses):
            typer.echo(f"{directory}: stale; run `record to-dockerfile {directory}` and commit the result")
    if as_json:
        _json({"ok": not stale, "sessions": report})
    if stale:
        raise typer.Exit(1)


def _rows(checks: list[Check]) -> list[Check]:
    """Dependencies that match fold into one row; everything else, and any mismatch, has its own."""
    from recorder.engine.expect import MATCH, Check

    deps = [c for c in checks if c.kind == "package" and c.note == "dependency" and c.result == MATCH]
    rows = [c for c in checks if c not in deps]
    if deps:
        at = next((i for i, c in enumerate(rows) if c.kind in ("env",)), len(rows))
        rows.insert(at, Check("package", f"{len(deps)} dependencies", "as recorded", "as recorded", MATCH))
    return rows


def report_verify(checks: list[Check], tag: str, as_json: bool) -> int:
    """Print the verify table (or JSON); the exit status: 1 on any mismatch."""
    from rich.table import Table
    from rich.text import Text

    from recorder.engine.expect import MATCH, MISMATCH

    result_style = {MATCH: "green", MISMATCH: "bold red"}
    mismatched = [c for c in checks if c.result == MISMATCH]
    counts = {r: sum(1 for c in checks if c.result == r) for r in (MATCH, MISMATCH, "skipped")}
    if as_json:
        _json({"image": tag, "ok": not mismatched, "counts": counts, "checks": [c.as_dict() for c in checks]})
        return 1 if mismatched else 0
    out = _out()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("check", "subject", "staging", "image", "result", "note"):
        table.add_column(column, overflow="fold")
    for c in _rows(checks):
        table.add_row(
            c.kind,
            c.subject,
            c.expected,
            c.observed if not c.skip else "",
            Text(c.result, style=result_style.get(c.result, "dim")),
            c.skip or c.note,
        )
    out.print(table)
    for c in mismatched:
        out.print(
            f"mismatch: {c.kind} {c.subject}: staging {c.expected}, image {c.observed}"
            + (f" ({c.note})" if c.note else ""),
            markup=False,
            soft_wrap=True,
        )
    verdict = "the image answers like staging" if not mismatched else "the image differs from staging"
    out.print(
        f"verify {tag}: {counts[MATCH]} matched, {counts[MISMATCH]} mismatched, {counts['skipped']} skipped: {verdict}",
        markup=False,
        soft_wrap=True,
    )
    return 1 if mismatched else 0


def run_verify(session_dir: Path, tag: str, timeout: float, as_json: bool) -> int:
    from recorder.engine import verify as verify_mod

    recorded = load_session(session_dir)
    checks = verify_mod.run(recorded, tag, timeout, note)
    return report_verify(checks, tag, as_json)


def verify(
    session_dir: Path = typer.Argument(..., help="The session the image was built from."),
    tag: str = typer.Option(..., "--tag", "-t", help="The image to verify, e.g. web:1."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for the recorded ports to open."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Run the image and check it answers like staging did: ports, HTTP, files, packages, env."""
    code = run_verify(session_dir, tag, timeout, as_json)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command()(show)
    app.command()(diff)
    app.command()(check)
    app.command()(verify)
