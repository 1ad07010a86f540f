"""`record start` and `record resume`: open the user's shell and record what they do in it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from recorder.console import error_line, note, stderr
from recorder.errors import RecorderError

if TYPE_CHECKING:
    from recorder.capture.recording import Options


SSH = typer.Option(
    None,
    "--ssh",
    help="Record a staging host from here: [USER@]HOST as ssh takes it (your ~/.ssh/config applies). "
    "The host needs sshd, bash >= 4.0 and coreutils; nothing is installed or left there.",
)
SSH_OPTION = typer.Option(None, "--ssh-option", help="An ssh option KEY=VALUE, passed as `-o KEY=VALUE` (repeatable).")
SSH_CONFIG = typer.Option(None, "--ssh-config", help="The ssh config file to use (`ssh -F FILE`).")


def register(app: typer.Typer) -> None:
    app.command()(start)
    app.command()(resume)


def start(
    name: str = typer.Option(..., "--name", help="Session name; the session is written to DIR/NAME."),
    directory: Path = typer.Option(Path("sessions"), "--dir", help="Where sessions are written."),
    force: bool = typer.Option(False, "--force", help="Record over an existing session of that name."),
    shell: str = typer.Option(None, "--shell", help="bash or zsh (default: your login shell if it is zsh, else bash)."),
    watch: list[str] = typer.Option(None, "--watch", help="Watch this root instead of the defaults (repeatable)."),
    ignore: list[str] = typer.Option(
        None,
        "--ignore",
        help="Never capture paths matching this .gitignore-style pattern (repeatable; "
        "patterns in ./.recordignore are read too).",
    ),
    ssh: str = SSH,
    ssh_option: list[str] = SSH_OPTION,
    ssh_config: str = SSH_CONFIG,
) -> None:
    """Open your shell and record the deployment you do in it; `exit` ends the recording.
    With --ssh, the shell is on the staging host and the session is written here."""
    from recorder.capture.recording import Options

    _check_can_record(name)
    host = None
    if ssh:
        path, hooks, host = _remote(ssh, tuple(ssh_option or ()), ssh_config, shell)
    else:
        path, hooks = _shell(shell)
    _record(
        Options(
            name=name,
            sessions_dir=directory,
            force=force,
            roots=_roots(watch),
            ignores=_ignores(ignore),
            shell=path,
            hooks=hooks,
            host=host,
        )
    )


def resume(
    name: str = typer.Argument(..., help="The interrupted session's name."),
    directory: Path = typer.Option(Path("sessions"), "--dir", help="Where sessions are written."),
    watch: list[str] = typer.Option(None, "--watch", help="Watch this root instead of the defaults (repeatable)."),
    ssh: str = SSH,
    ssh_option: list[str] = SSH_OPTION,
    ssh_config: str = SSH_CONFIG,
) -> None:
    """Continue a recording that was interrupted (recorder killed, connection lost); one made over
    ssh is continued with the same --ssh."""
    from recorder.capture.recording import Options

    _check_can_record(name)
    _check_resumed_the_same_way(directory / name, bool(ssh))
    host = None
    if ssh:
        path, hooks, host = _remote(ssh, tuple(ssh_option or ()), ssh_config, "bash")
    else:
        path, hooks = _shell("bash")
    _record(
        Options(
            name=name,
            sessions_dir=directory,
            resume=True,
            roots=_roots(watch),
            ignores=_ignores(None),
            shell=path,
            hooks=hooks,
            host=host,
        )
    )


def _shell(chosen: str | None) -> tuple[str, str]:
    """The shell to open, bash unless zsh is asked for or is the login shell, and how its commands are
    reported (hooks.mode). A shell that cannot be followed is refused here, before anything is written."""
    import os
    import shutil

    from recorder.capture import hooks

    login = os.environ.get("SHELL", "")
    wanted = chosen or (login if os.path.basename(login) == "zsh" and shutil.which(login) else "bash")
    path = shutil.which(wanted)
    if path is None:
        raise RecorderError(f"--shell {wanted}: no such program")
    return path, hooks.mode(path, dict(os.environ))


def _check_resumed_the_same_way(directory: Path, over_ssh: bool) -> None:
    """A recording made over ssh goes on over ssh, one made at a console at a console (Recording checks
    it again; here it is said before anything else is)."""
    from recorder.capture.journal import JOURNAL_FILE, read

    path = directory / JOURNAL_FILE
    if not path.is_file():
        return
    begin = next((e for e in read(path) if e.get("event") == "begin"), {})
    host = begin.get("host")
    was_ssh = isinstance(host, dict) and host.get("via") == "ssh"
    if was_ssh != over_ssh:
        how = "over ssh: resume it with --ssh HOST" if was_ssh else "at the console: resume it so"
        raise RecorderError(f"{directory}: this recording was made {how}")


def _remote(destination: str, options: tuple[str, ...], config: str | None, shell: str | None):
    """Connect before anything is written: a host that cannot be reached, or whose bash cannot be
    followed, is refused with one line."""
    import os

    from recorder.capture import hooks
    from recorder.capture.ssh import SshHost

    if shell not in (None, "bash"):
        raise RecorderError(f"--shell {shell}: over --ssh the host's bash is recorded")
    if destination.startswith("-"):
        raise RecorderError(f"--ssh {destination}: give the host as [USER@]HOST")
    for option in options:
        if "=" not in option:
            raise RecorderError(f"--ssh-option {option}: give it as KEY=VALUE")
    host = SshHost(destination, options, config)
    kind, version = host.connect()
    try:
        mode = hooks.mode_of(kind, version, f"bash on {destination}", dict(os.environ))
    except RecorderError:
        host.close()
        raise
    return "bash", mode, host


def _ignores(patterns: list[str] | None) -> tuple[str, ...]:
    from recorder.capture import probes

    return probes.read_ignore_file(Path(probes.IGNORE_FILE)) + tuple(patterns or ())


def _roots(watch: list[str] | None) -> tuple[str, ...]:
    from recorder.capture import probes

    return tuple(watch) if watch else probes.DEFAULT_ROOTS


def _check_can_record(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise RecorderError(f"session name {name!r}: use a plain name such as `web`")
    if not sys.stdin.isatty():
        raise RecorderError("recording needs a terminal: run it in an interactive shell (ssh -t, docker exec -it)")


def _record(options: Options) -> None:
    """Record in a guarded child process: the terminal is restored even if the recorder is killed."""
    from recorder.capture import pty as terminal
    from recorder.capture import summary
    from recorder.capture.journal import JOURNAL_FILE, read
    from recorder.capture.recording import Recording, remove_channel

    target = options.sessions_dir / options.name

    def work() -> int:
        try:
            verb = "Resuming" if options.resume else "Recording"
            stderr().print(
                f"[bold]{verb}[/] session [bold]{options.name}[/] into {target}. "
                "Deploy as usual; type [bold]exit[/] to finish."
            )
            summary.report(Recording(options).run(), target, stderr())
            return 0
        except RecorderError as exc:
            error_line(exc)
            return exc.exit_code

    def killed(signum: int, pid: int) -> None:
        remove_channel(pid)  # the shell's environment dumps must not outlive the recorder
        if options.host is not None:
            options.host.close()  # the master connection; the host's agent has ended with its input
        path = target / JOURNAL_FILE
        steps = sum(1 for e in read(path) if e.get("event") == "step") if path.exists() else 0
        note(
            f"\nrecord: the recorder was killed (signal {signum}); {steps} finished commands are safe in "
            f"{path}. `record resume {options.name}` continues the recording."
        )

    code = terminal.run_guarded(work, killed)
    if code:
        raise typer.Exit(code)
