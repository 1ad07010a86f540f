"""`record start` with a real bash in a real pty, driven by pexpect as a person would type.

No Docker here: the watched root is a temporary directory, so these run anywhere bash does.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import pexpect
import pytest

from recorder import session as s
from recorder.journal import read as read_journal

PROMPT = r"\[rec\] [^\r\n]*[#$] $"


@pytest.fixture
def home(tmp_path):
    """A user with their own rc file: an alias, a PROMPT_COMMAND and ignoreboth must keep working."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(
        "alias ll='ls -la'\n"
        "HISTCONTROL=ignoreboth\n"
        "PROMPT_COMMAND='USER_PC_RAN=yes'\n"
        "PS1='test$ '\n"
    )
    return home


def spawn(home: Path, tmp_path: Path, name: str = "t", extra: str = "") -> pexpect.spawn:
    watched = tmp_path / "watched"
    watched.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "GONE": "bye", "TERM": "xterm"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "recorder", "start", "--name", name, "--dir", str(tmp_path / "sessions"),
         "--watch", str(watched), *extra.split()],
        env=env, cwd=str(tmp_path), encoding="utf-8", codec_errors="replace", timeout=30, dimensions=(24, 100),
    )
    child.expect(PROMPT)
    return child


def type_and_wait(child: pexpect.spawn, line: str) -> str:
    child.sendline(line)
    child.expect(PROMPT)
    return child.before


def test_commands_are_recorded_exactly_with_status_and_effects(home, tmp_path):
    w = tmp_path / "watched"
    child = spawn(home, tmp_path)
    heredoc = f"cat > {w}/page.html <<'EOF'\n<h1>hi $HOME</h1>\nEOF"
    loop = f"for n in a b; do\n  echo $n >> {w}/loop.txt\ndone"
    commands = [
        heredoc,
        loop,
        "false",
        "false | true",
        " export SPACED=1",
        "unset GONE",
        f"cd {w}",
        "ln -s page.html link.html",
        "rm loop.txt",
        "ll >/dev/null",
        "echo $USER_PC_RAN",
    ]
    for line in commands:
        out = type_and_wait(child, line)
    assert "yes" in out  # the user's PROMPT_COMMAND still runs
    child.sendline("sleep 100")
    child.expect("sleep 100")
    time.sleep(0.5)  # as a person would: the command is running before Ctrl-C
    child.sendcontrol("c")
    child.expect(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    directory = tmp_path / "sessions" / "t"
    session = s.load(directory)
    steps = {st.command: st for st in session.steps}
    assert list(steps) == [*commands, "sleep 100"]
    assert steps[heredoc].replay == "files" and steps[heredoc].exit == 0
    assert (directory / "files" / str(w / "page.html").lstrip("/")).read_text() == "<h1>hi $HOME</h1>\n"
    assert steps[loop].effects.files[0].path == str(w / "loop.txt")
    assert steps["false"].exit == 1 and steps["false"].replay == "skip"
    assert steps["false | true"].exit == 1
    assert steps[" export SPACED=1"].effects.env_set == {"SPACED": "1"}
    assert steps["unset GONE"].effects.env_unset == ["GONE"]
    assert steps["ln -s page.html link.html"].cwd == str(w)
    link = steps["ln -s page.html link.html"].effects.files[0]
    assert (link.kind, link.target) == ("symlink", "page.html")
    assert [(f.path, f.kind) for f in steps["rm loop.txt"].effects.files] == [(str(w / "loop.txt"), "deleted")]
    assert steps["ll >/dev/null"].exit == 0  # the alias worked
    assert steps["sleep 100"].exit == 130 and steps["sleep 100"].replay == "skip"
    # the journal was written step by step, with the same steps
    journal = read_journal(directory / "journal.ndjson")
    assert [e["step"]["command"] for e in journal if e["event"] == "step"] == list(steps)
    assert journal[-1]["event"] == "end"
    cast = (directory / "terminal.cast").read_text().splitlines()
    assert '"version": 2' in cast[0] and len(cast) > 5


def test_finished_session_is_not_overwritten_without_force(home, tmp_path):
    child = spawn(home, tmp_path)
    type_and_wait(child, "echo one")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    first = (tmp_path / "sessions" / "t" / "session.yaml").read_text()
    again = pexpect.run(f"{sys.executable} -m recorder start --name t --dir {tmp_path / 'sessions'}",
                        withexitstatus=True, encoding="utf-8", cwd=str(tmp_path))
    assert again[1] == 2
    assert "already there; use --force" in again[0]
    assert "Traceback" not in again[0]
    assert (tmp_path / "sessions" / "t" / "session.yaml").read_text() == first


def test_resize_reaches_the_shell(home, tmp_path):
    child = spawn(home, tmp_path)
    child.setwinsize(33, 121)
    child.sendline("stty size")
    child.expect(r"(\d+ \d+)\r\n")  # the prompt may be redrawn after the resize; wait for the answer
    assert child.match.group(1) == "33 121"
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_large_output_arrives_byte_exact_when_the_shell_exits_right_after(home, tmp_path):
    """20 MB printed by the last command, then the shell exits at once: no byte of the tail is lost."""
    data = tmp_path / "big.txt"
    block = "".join(f"{i:07d} the quick brown fox jumps over the lazy dog\n" for i in range(4000))
    data.write_text(block * 98)  # 20.5 MB
    expected = hashlib.sha256(data.read_bytes().replace(b"\n", b"\r\n")).hexdigest()
    child = spawn(home, tmp_path)
    child.sendline(f"stty -echo; echo BEGIN-MARK; cat {data}; exit")
    child.expect("BEGIN-MARK\r\n")
    received = bytearray(child.buffer.encode())  # what pexpect read past the match
    while True:
        try:
            received += child.read_nonblocking(1 << 20, timeout=30).encode()
        except pexpect.EOF:
            break
    raw = data.read_bytes()
    body = bytes(received[: len(raw) + raw.count(b"\n")])  # the pty turns each \n into \r\n
    assert hashlib.sha256(body).hexdigest() == expected, f"received {len(received)} bytes"
    assert b"Recorded" in received[len(body):]  # the summary follows the output, after the shell exited
