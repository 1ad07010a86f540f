"""`record build`: the session's image through the Docker engine, with progress, and `--verify` after."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recorder.commands.loading import load_session
from recorder.console import stderr
from recorder.errors import RecorderError

if TYPE_CHECKING:
    from recorder.engine.build import BuildFailed


def register(app: typer.Typer) -> None:
    app.command()(build)
    app.command()(minimize)


def build(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    tag: str = typer.Option(..., "--tag", "-t", help="Name and tag of the image, e.g. web:1."),
    base: str = typer.Option(None, "--base", help="Use this FROM image instead of the recorded host's."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the engine's build cache."),
    relaxed: bool = typer.Option(False, "--relaxed", help="Do not pin package versions."),
    build_arg: list[str] = typer.Option(
        None, "--build-arg", help="KEY=VALUE for the build, e.g. http_proxy=http://proxy:3128 (repeatable)."
    ),
    label: list[str] = typer.Option(None, "--label", help="KEY=VALUE label on the image (repeatable)."),
    network: str = typer.Option(None, "--network", help="Network for RUN instructions: bridge, host, none, ..."),
    platform: str = typer.Option(None, "--platform", help="Target platform, e.g. linux/amd64 (engine permitting)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress: print the image id, or the failure."),
    verify: bool = typer.Option(False, "--verify", help="Then check the image answers like staging (record verify)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for the recorded ports to accept."),
    no_smoke: bool = typer.Option(
        False, "--no-smoke", help="Do not run the image after the build to check it stays up and its ports accept."
    ),
) -> None:
    """Build the session's image through the Docker engine, showing its progress."""
    from recorder.engine import build as engine
    from recorder.engine.progress import BuildProgress

    recorded = load_session(session_dir)
    options = engine.BuildOptions(
        no_cache=no_cache,
        build_args=_pairs(build_arg, "--build-arg"),
        labels=_pairs(label, "--label"),
        network=network,
        platform=platform,
        relaxed=relaxed,
    )
    try:
        with BuildProgress(stderr(), quiet) as progress:
            image_id = engine.build(recorded, session_dir, tag, base, progress, options)
    except engine.BuildFailed as exc:
        _explain_failure(exc, shown=progress.live is None and not quiet)
        raise
    if quiet:
        typer.echo(image_id)
    else:
        stderr().print(f"built [bold]{tag}[/] ({image_id[:19]}) in {progress.elapsed:.1f}s")
    if not no_smoke:
        from recorder.engine import smoke

        summary = smoke.run(recorded, tag, timeout)
        if not quiet:
            stderr().print(summary, markup=False)
    if verify:
        from recorder.commands.review import run_verify

        code = run_verify(session_dir, tag, timeout, as_json=False)
        if code:
            raise typer.Exit(code)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise RecorderError(f"{option} {value!r}: expected KEY=VALUE")
        out[key] = rest
    return out


def _explain_failure(exc: BuildFailed, shown: bool) -> None:
    """What a person needs before the one-line error: the command as recorded and its last output."""
    if exc.step is not None and "\n" in exc.step.command.strip():
        stderr().print(f"step {exc.step.id}, as recorded on staging:", markup=False)
        for line in exc.step.command.strip().splitlines():
            stderr().print(f"  {line}", markup=False)
    if exc.tail and not shown:
        stderr().print("last lines of its output:", markup=False)
        for line in exc.tail:
            stderr().print(f"  {line}", markup=False)


def minimize(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    base: str = typer.Option(None, "--base", help="Build FROM this image instead of the recorded host's."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for the recorded ports to accept."),
    repo: str = typer.Option(None, "--repo", help="Image name for the trials (default record-minimize-NAME)."),
) -> None:
    """Build the image without recommended packages and verify it; only if it answers like staging and
    is smaller, write that decision into session.yaml (dropped, kept and why) and regenerate the Dockerfile."""
    from generators import dockerfile
    from recorder.commands.generate import write_generated
    from recorder.engine import minimize as engine_minimize
    from recorder.model import write

    recorded = load_session(session_dir)
    name = repo or f"record-minimize-{_image_name(recorded.name)}"
    say = stderr().print
    outcome = engine_minimize.minimize(recorded, session_dir, base, name, timeout, lambda line: say(line, markup=False))
    before = outcome.recorded.size
    say(f"as recorded: {before / 1e6:.1f} MB, verify passed", markup=False)
    if outcome.chosen is None:
        say(f"kept as recorded: {outcome.why_not}; session.yaml is unchanged", markup=False)
        return
    after = outcome.chosen.size
    say(f"chosen: {after / 1e6:.1f} MB ({after / before:.2f}x), verify passed; tagged {name}:minimized", markup=False)
    for m in outcome.decisions:
        say(f"{m.manager}: left out {len(m.dropped)}: {', '.join(sorted(m.dropped))}", markup=False)
        for package, why in sorted(m.kept.items()):
            say(f"{m.manager}: kept {package}: {why}", markup=False)
    write.set_minimized(session_dir, outcome.decisions)
    say(f"wrote {session_dir / 'session.yaml'} (minimized)", markup=False)
    write_generated(session_dir, dockerfile.generate(load_session(session_dir)))


def _image_name(name: str) -> str:
    """A session name as a repository name: lower case, other characters as dashes."""
    import re

    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "session"
