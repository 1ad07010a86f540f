"""The `record` command: start a recording, generate its Dockerfile, build its image."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from generators import dockerfile
from recorder import session as session_io
from recorder.errors import RecorderError
from recorder.recording import Options

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Record a deployment done by hand on a staging host and turn it into a container image.",
)
err = Console(stderr=True, highlight=False)


@app.command()
def start(
    name: str = typer.Option(..., "--name", help="Session name; the session is written to DIR/NAME."),
    directory: Path = typer.Option(Path("sessions"), "--dir", help="Where sessions are written."),
    force: bool = typer.Option(False, "--force", help="Record over an existing session of that name."),
    watch: list[str] = typer.Option(None, "--watch", help="Watch this root instead of the defaults (repeatable)."),
) -> None:
    """Open your shell and record the deployment you do in it; `exit` ends the recording."""
    _check_can_record(name)
    _record(Options(name=name, sessions_dir=directory, force=force, roots=_roots(watch)))


@app.command()
def resume(
    name: str = typer.Argument(..., help="The interrupted session's name."),
    directory: Path = typer.Option(Path("sessions"), "--dir", help="Where sessions are written."),
    watch: list[str] = typer.Option(None, "--watch", help="Watch this root instead of the defaults (repeatable)."),
) -> None:
    """Continue a recording that was interrupted (recorder killed, connection lost)."""
    _check_can_record(name)
    _record(Options(name=name, sessions_dir=directory, resume=True, roots=_roots(watch)))


def _roots(watch: list[str] | None) -> tuple[str, ...]:
    from recorder import probes

    return tuple(watch) if watch else probes.DEFAULT_ROOTS


def _check_can_record(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise RecorderError(f"session name {name!r}: use a plain name such as `web`")
    if not sys.stdin.isatty():
        raise RecorderError("recording needs a terminal: run it in an interactive shell (ssh -t, docker exec -it)")


def _record(options: Options) -> None:
    """Record in a guarded child process: the terminal is restored even if the recorder is killed."""
    from recorder import summary, terminal
    from recorder.journal import JOURNAL_FILE, read
    from recorder.recording import Recording, remove_channel

    target = options.sessions_dir / options.name

    def work() -> int:
        try:
            verb = "Resuming" if options.resume else "Recording"
            err.print(
                f"[bold]{verb}[/] session [bold]{options.name}[/] into {target}. "
                "Deploy as usual; type [bold]exit[/] to finish."
            )
            summary.show(Recording(options).run(), target, err)
            return 0
        except RecorderError as exc:
            _error(exc)
            return exc.exit_code

    def killed(signum: int, pid: int) -> None:
        remove_channel(pid)  # the shell's environment dumps must not outlive the recorder
        path = target / JOURNAL_FILE
        steps = sum(1 for e in read(path) if e.get("event") == "step") if path.exists() else 0
        err.print(
            f"\nrecord: the recorder was killed (signal {signum}); {steps} finished commands are safe in "
            f"{path}. `record resume {options.name}` continues the recording.",
            markup=False,
            soft_wrap=True,
        )

    code = terminal.run_guarded(work, killed)
    if code:
        raise typer.Exit(code)


@app.command("to-dockerfile")
def to_dockerfile(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    base: str = typer.Option(None, "--base", help="Use this FROM image instead of the recorded host's."),
) -> None:
    """Write the session's Dockerfile and .dockerignore into its directory (the build context)."""
    recorded = _load(session_dir)
    generated = dockerfile.generate(recorded, base)
    for name in generated:  # all checked before any is written
        target = session_dir / name
        if target.is_symlink():
            raise RecorderError(f"{target}: is a symlink; remove it, the generated file is written in its place")
        session_io.inside(session_dir, target, "generated files are written inside the session directory")
    for name, text in generated.items():
        target = session_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8", errors="replace") != text:
            target.write_text(text, encoding="utf-8")
        err.print(f"wrote {target}")


@app.command()
def build(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    tag: str = typer.Option(..., "--tag", "-t", help="Name and tag of the image, e.g. web:1."),
    base: str = typer.Option(None, "--base", help="Use this FROM image instead of the recorded host's."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the engine's build cache."),
) -> None:
    """Build the session's image through the Docker engine, streaming its output."""
    from recorder import engine

    recorded = _load(session_dir)
    image_id = engine.build(
        recorded, session_dir, tag, base, lambda line: err.print(line, markup=False), no_cache=no_cache
    )
    err.print(f"built [bold]{tag}[/] ({image_id[:19]})")


def _load(session_dir: Path) -> session_io.Session:
    """A session the generators may use: well-formed, and without a secret written into it by hand."""
    from recorder import secrets

    recorded = session_io.load(session_dir)
    secrets.refuse_unredacted(recorded, session_dir / session_io.SESSION_FILE)
    return recorded


def _error(exc: RecorderError) -> None:
    """One line, and never a secret: a message may quote what the user wrote."""
    from recorder import secrets

    err.print(f"record: error: {secrets.scrub_message(str(exc))}", markup=False, soft_wrap=True)


def main() -> None:
    try:
        app()
    except RecorderError as exc:
        _error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
