"""The `record` command as the tests run it: in a new process with its output captured (`record`), or
at a real terminal, a pty, as a person types at it (`record_in_pty`). One way each, so a change to how
the command is started is made once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import psutil

PROMPT = r"\[rec\] [^\r\n]*[#$] $"  # the recorded shell's prompt: the marker the hooks put before PS1
RECORD = [sys.executable, "-m", "recorder"]


def record(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 900):
    """`record ARGS...` in a new process: its exit status, stdout and stderr (text)."""
    return subprocess.run([*RECORD, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def record_in_pty(
    home: Path,
    tmp_path: Path,
    *args: str,
    command: str = "start",
    name: str = "t",
    sessions: Path | None = None,
    env: dict | None = None,
    width: int = 100,
) -> pexpect.spawn:
    """`record start --name NAME` (or `resume NAME`) at a pty, watching tmp_path/watched, once its prompt is up."""
    watched = tmp_path / "watched"
    watched.mkdir(exist_ok=True)
    named = ["--name", name] if command == "start" else [name]
    where = ["--dir", str(sessions or tmp_path / "sessions"), "--watch", str(watched)]
    child = pexpect.spawn(
        sys.executable,
        [*RECORD[1:], command, *named, *where, *args],
        env={**os.environ, "HOME": str(home), "TERM": "xterm", **(env or {})},
        cwd=str(tmp_path),
        encoding="utf-8",
        codec_errors="replace",
        timeout=30,
        dimensions=(24, width),
    )
    child.expect(PROMPT)
    return child


def type_and_wait(child: pexpect.spawn, line: str) -> str:
    child.sendline(line)
    child.expect(PROMPT)
    return child.before


def finish(child: pexpect.spawn) -> None:
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()


def user_shell(child: pexpect.spawn) -> psutil.Process:
    return next(p for p in psutil.Process(child.pid).children(recursive=True) if p.name() in ("bash", "zsh"))


def foreground_command(shell: psutil.Process, name: str) -> psutil.Process | None:
    """The shell's child `name` when it holds the terminal (the foreground process group)."""
    with open(f"/proc/{shell.pid}/stat") as f:
        foreground = int(f.read().rsplit(")", 1)[1].split()[5])
    for process in shell.children():
        try:
            if process.name() == name and os.getpgid(process.pid) == foreground:
                return process
        except (psutil.Error, ProcessLookupError):
            continue
    return None


def wait_until_running(shell: psutil.Process, name: str, timeout: float = 30) -> None:
    """As a person sees it: the command has started and owns the terminal."""
    deadline = time.monotonic() + timeout
    while foreground_command(shell, name) is None:
        assert time.monotonic() < deadline, f"{name} never started"
        time.sleep(0.002)
