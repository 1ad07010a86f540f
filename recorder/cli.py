"""The `record` command: start a recording, generate its Dockerfile, build its image."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from generators import dockerfile
from recorder import cli_review
from recorder import session as session_io
from recorder.console import note, stderr
from recorder.errors import RecorderError
from recorder.loading import load_session

if TYPE_CHECKING:
    from recorder.engine import BuildFailed
    from recorder.recording import Options

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Record a deployment done by hand on a staging host and turn it into a container image.",
)


@app.command()
def start(
    name: str = typer.Option(..., "--name", help="Session name; the session is written to DIR/NAME."),
    directory: Path = typer.Option(Path("sessions"), "--dir", help="Where sessions are written."),
    force: bool = typer.Option(False, "--force", help="Record over an existing session of that name."),
    shell: str = typer.Option(None, "--shell", help="bash or zsh (default: your login shell if it is zsh, else bash)."),
    watch: list[str] = typer.Option(None, "--watch", help="Watch this root instead of the defaults (repeatable)."),
    ignore: list[str] = typer.Option(
        None, "--ignore", help="Never capture paths matching this .gitignore-style pattern (repeatable; "
        "patterns in ./.recordignore are read too)."
    ),
) -> None:
    """Open your shell and record the deployment you do in it; `exit` ends the recording."""
    from recorder.recording import Options

    _check_can_record(name)
    _record(Options(name=name, sessions_dir=directory, force=force, roots=_roots(watch), ignores=_ignores(ignore),
                    shell=_shell(shell)))


@app.command()
def resume(
    name: str = typer.Argument(..., help="The interrupted session's name."),
    directory: Path = typer.Option(Path("sessions"), "--dir", help="Where sessions are written."),
    watch: list[str] = typer.Option(None, "--watch", help="Watch this root instead of the defaults (repeatable)."),
) -> None:
    """Continue a recording that was interrupted (recorder killed, connection lost)."""
    from recorder.recording import Options

    _check_can_record(name)
    _record(Options(name=name, sessions_dir=directory, resume=True, roots=_roots(watch), ignores=_ignores(None)))


def _shell(chosen: str | None) -> str:
    """bash unless zsh is asked for or is the login shell: the hooks exist for those two."""
    import os
    import shutil

    wanted = chosen or os.environ.get("SHELL", "")
    if os.path.basename(wanted) == "zsh" and shutil.which(wanted):
        return shutil.which(wanted) or wanted
    if chosen and os.path.basename(chosen) != "bash":
        raise RecorderError(f"--shell {chosen}: only bash and zsh can be recorded")
    return shutil.which(chosen or "bash") or "/bin/bash"


def _ignores(patterns: list[str] | None) -> tuple[str, ...]:
    from recorder import probes

    return probes.read_ignore_file(Path(probes.IGNORE_FILE)) + tuple(patterns or ())


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
            stderr().print(
                f"[bold]{verb}[/] session [bold]{options.name}[/] into {target}. "
                "Deploy as usual; type [bold]exit[/] to finish."
            )
            summary.show(Recording(options).run(), target, stderr())
            return 0
        except RecorderError as exc:
            _error(exc)
            return exc.exit_code

    def killed(signum: int, pid: int) -> None:
        remove_channel(pid)  # the shell's environment dumps must not outlive the recorder
        path = target / JOURNAL_FILE
        steps = sum(1 for e in read(path) if e.get("event") == "step") if path.exists() else 0
        note(
            f"\nrecord: the recorder was killed (signal {signum}); {steps} finished commands are safe in "
            f"{path}. `record resume {options.name}` continues the recording."
        )

    code = terminal.run_guarded(work, killed)
    if code:
        raise typer.Exit(code)


@app.command("to-dockerfile")
def to_dockerfile(
    session_dir: Path = typer.Argument(..., help="A session directory (e.g. sessions/web)."),
    base: str = typer.Option(None, "--base", help="Use this FROM image instead of the recorded host's."),
    relaxed: bool = typer.Option(False, "--relaxed", help="Do not pin package versions."),
) -> None:
    """Write the session's Dockerfile and .dockerignore into its directory (the build context)."""
    recorded = load_session(session_dir)
    generated = dockerfile.generate(recorded, base, relaxed)
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
        note(f"wrote {target}")


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise RecorderError(f"{option} {value!r}: expected KEY=VALUE")
        out[key] = rest
    return out


@app.command()
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
    timeout: float = typer.Option(30.0, "--timeout", help="With --verify: seconds to wait for the recorded ports."),
) -> None:
    """Build the session's image through the Docker engine, showing its progress."""
    from recorder import engine
    from recorder.progress import BuildProgress

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
    if verify:
        from recorder.cli_review import run_verify

        code = run_verify(session_dir, tag, timeout, as_json=False)
        if code:
            raise typer.Exit(code)


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


cli_review.register(app)


from recorder import cli_migrate  # noqa: E402 - command modules register after the core commands

cli_migrate.register(app)


def _error(exc: RecorderError) -> None:
    """One line, and never a secret: a message may quote what the user wrote."""
    from recorder import secrets

    note(f"record: error: {secrets.scrub_message(str(exc))}")


def main() -> None:
    try:
        app()
    except RecorderError as exc:
        _error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
