"""Ctrl-C at any moment, under load: the prompt always comes back and every command is recorded once,
in order, with its status. A person presses Ctrl-C whenever they like — while the line is being
accepted, while the command runs, as it finishes and the hooks report to the recorder.

bash itself drops a Ctrl-C that lands between accepting a line and handing the terminal to the
command (plain `bash --norc` does, under load): the command then runs on, and a person presses Ctrl-C
again. That second press is allowed only when the command is seen running in the foreground. And a
Ctrl-C that reaches the terminal before bash has read the line discards the line (the terminal flushes
its input): such a command never ran and is rightly not recorded.

readline has a race of its own there: it select()s the terminal, then read()s a key. A Ctrl-C whose
flush empties the input between the two leaves read() blocked in the kernel with no prompt drawn
(seen once in CI-like runs: bash, no children, asleep in the kernel's terminal read, no prompt;
readline looks at the signal only when read() returns). A person's next key wakes it; a second Ctrl-C is allowed
then too, and only then: the hooks are not running, bash waits on the terminal itself.

And bash can drop the first key of a line: a Ctrl-C that bash's own handler takes while no command
runs and readline is not reading (readline has read the line and is putting the terminal back, or a
command has ended and readline has not yet installed its handler for the next prompt) is acted on
only when the parser has taken the first character of the line readline returns. bash abandons that
character and runs the rest: 'leep 101' for `sleep 101`, 'cho round-47' for the next `echo round-47`
(strace: the line read whole, `^C` after it, `history 1` already 'leep 101'). Not the recorder's:
this test's typing, 600 rounds each under the same load, lost a first key in 2 rounds with bash
under `script -q` (no recorder at all), 1 with the PS0 hooks, none with the fallback's (1 in another
150); 0 with bash straight on pexpect's pty, where no relay stands between the keys and bash to
move a Ctrl-C's arrival. No typing avoids it: the lost key is typed well after the prompt, it is the
Ctrl-C before it that bash mishandles. Such a line is what bash ran and is recorded as that: it is
accepted only with exactly its first key missing and bash's 'command not found' (127), and rarely."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import psutil
import pytest

from recorder.capture.journal import read as read_journal
from recorder.model import read
from tests.cli import PROMPT, foreground_command, record_in_pty, user_shell, wait_until_running

ROUNDS = 100


def spawn(home: Path, tmp_path: Path) -> pexpect.spawn:
    return record_in_pty(home, tmp_path)


def what_runs(shell: psutil.Process) -> str:
    """Where the shell and its children wait: what a hang is made of."""
    out = []
    for process in [shell, *shell.children(recursive=True)]:
        try:
            proc = Path(f"/proc/{process.pid}")
            wchan, syscall = (proc / "wchan").read_text(), (proc / "syscall").read_text().split()
            fd = syscall[1] if len(syscall) > 1 else ""  # the first argument: the fd a read waits on
            target = os.readlink(proc / "fd" / str(int(fd, 16))) if fd.startswith("0x") else ""
            out.append(
                f"{process.pid} {process.name()} {process.status()} {wchan} syscall {syscall[:2]} "
                f"on {target} {process.cmdline()}"
            )
        except (psutil.Error, OSError):
            continue
    return "; ".join(out)


WAITING = {"7", "23", "270"}  # poll, select, pselect6 (x86_64): readline waiting for a key before it reads


def reading_the_terminal(shell: psutil.Process) -> bool:
    """bash blocked in read(2) on its terminal, or in readline's select before that read, nothing else
    running: readline waiting for a key."""
    if shell.children():
        return False
    syscall = Path(f"/proc/{shell.pid}/syscall").read_text().split()
    if syscall and syscall[0] in WAITING:
        return True
    if len(syscall) < 2 or syscall[0] != "0" or not syscall[1].startswith("0x"):
        return False
    return os.readlink(f"/proc/{shell.pid}/fd/{int(syscall[1], 16)}").startswith("/dev/pts/")


# People type after the prompt is drawn: the next line waits this long, the Ctrl-Cs keep their exact
# moments. (It does not stop bash dropping a first key, see above: that comes from the Ctrl-C's moment.)
SETTLE = 0.02


def load(cores: int) -> list[subprocess.Popen]:
    """Busy processes, one a core, that end by themselves: a busy machine is when the races show."""
    burn = "import time\nend = time.monotonic() + 240\nwhile time.monotonic() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(cores)]


def test_ctrl_c_at_any_moment_brings_the_prompt_back_every_time(home, tmp_path, hook_mode):
    burners = load(os.cpu_count() or 2)
    try:
        child = spawn(home, tmp_path)
        shell = user_shell(child)
        typed, pressed_twice = [], 0  # (command, whether the terminal may have discarded it)
        for i in range(ROUNDS):
            moment = i % 3
            time.sleep(SETTLE)
            if moment == 0:  # while the line is accepted and PS0 reports it
                command = "sleep 101"
                child.sendline(command)
                time.sleep((i % 7) * 0.001)
            elif moment == 1:  # while the command runs
                command = "sleep 100"
                child.sendline(command)
                wait_until_running(shell, "sleep")
                time.sleep((i % 5) * 0.003)
            else:  # as it finishes: while the hooks report and wait for the recorder
                command = "sleep 0.05"
                child.sendline(command)
                # Timed from the line seen accepted, not sent: under a heavier load than the burners' a
                # Ctrl-C 30 ms after sending reached the terminal before bash read the line, which
                # vanished (both modes failed so in one run of ten), and this line must be recorded.
                child.expect_exact(f"{command}\r\n")
                time.sleep(0.03 + (i % 8) * 0.006)
            child.sendcontrol("c")
            typed.append((command, moment == 0))
            if child.expect([PROMPT, pexpect.TIMEOUT], timeout=5) == 1:
                if foreground_command(shell, "sleep") is None and not reading_the_terminal(shell):
                    # a slow recorder under load, or a hang
                    assert child.expect([PROMPT, pexpect.TIMEOUT], timeout=30) == 0, (
                        f"round {i}: no prompt, and nothing runs: {what_runs(shell)}; "
                        f"the screen ends {child.before[-300:]!r}"
                    )
                else:
                    pressed_twice += 1
                    child.sendcontrol("c")
                    child.expect(PROMPT, timeout=20)
            time.sleep(SETTLE)
            child.sendline(f"echo round-{i}")
            child.expect(f"round-{i}\r\n")
            child.expect(PROMPT)
            typed.append((f"echo round-{i}", False))
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
    finally:
        for burner in burners:
            burner.kill()
    assert child.exitstatus == 0
    assert pressed_twice < ROUNDS // 3, f"bash dropped {pressed_twice} of {ROUNDS} Ctrl-C"
    directory = tmp_path / "sessions" / "t"
    steps = read.load(directory).steps
    recorded = [st.command for st in steps]
    assert recorded == kept(typed, recorded)  # each once, in order: no report was cut or lost
    dropped = {command[1:] for command, _ in typed} & set(recorded)  # bash ran them without the first key
    assert sum(recorded.count(line) for line in dropped) <= ROUNDS // 20, f"bash lost the first key of {dropped}"
    accepted = recorded.count("sleep 101")  # the rest were discarded by the terminal, unread
    # Under load a Ctrl-C often lands before readline has read the line (15 of 34 were seen on a busy CI
    # machine): a quarter still makes the race real, fewer would make the test weak.
    assert accepted >= sum(may_go for _, may_go in typed) // 4, f"only {accepted} lines reached bash: a weak test"
    for st in steps:
        if st.command in dropped:
            assert st.exit == 127  # 'leep', 'cho': command not found
        elif st.command in ("sleep 100", "sleep 101"):
            assert st.exit == 130
        elif st.command == "sleep 0.05":
            assert st.exit in (0, 130)
        else:
            assert st.exit == 0
    journal = [e["step"]["command"] for e in read_journal(directory / "journal.ndjson") if e["event"] == "step"]
    assert journal == recorded


# The hooks call `history` (while PS0 or the fallback's DEBUG trap reports a line) and `env` (while the
# prompt's hook reports a finished command); a function of the user's of that name runs instead, so a
# slow one holds each window open long enough for a Ctrl-C to land in it every time. `history` waits
# in the shell itself, as the hooks do: the fallback reports from the interactive shell, where bash
# lets a Ctrl-C that kills a child of a function (a `sleep`) pass without running the INT trap.
SLOW = {
    "as the line is reported": (
        "history() { local end=$((${EPOCHREALTIME/./} + 400000)); while ((${EPOCHREALTIME/./} < end)); do :; done; "
        'builtin history "$@"; }'
    ),
    "as the finished command is reported": 'env() { sleep 0.4; command env "$@"; }',
}


@pytest.mark.parametrize("window", sorted(SLOW))
def test_ctrl_c_inside_the_hooks_is_one_press_and_no_report_is_lost(tmp_path, window, hook_mode):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(f"PS1='test$ '\n{SLOW[window]}\n")
    child = spawn(home, tmp_path)
    typed = []
    for i in range(8):
        command = "sleep 100" if window == "as the line is reported" else "true"
        child.sendline(command)
        time.sleep(0.15)  # inside the slow hook
        child.sendcontrol("c")
        child.expect(PROMPT, timeout=10)  # one press: a second would be needed only if the report was cut
        child.sendline(f"echo round-{i}")
        child.expect(f"round-{i}\r\n", timeout=10)
        child.expect(PROMPT, timeout=10)
        typed += [command, f"echo round-{i}"]
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    steps = read.load(tmp_path / "sessions" / "t").steps
    assert [st.command for st in steps] == typed
    interrupted = [st.exit for st in steps if not st.command.startswith("echo")]
    assert interrupted == ([130] * 8 if window == "as the line is reported" else [0] * 8)


def kept(typed: list[tuple[str, bool]], recorded: list[str]) -> list[str]:
    """What was typed, less the lines the terminal may have discarded and did (matched in order), each
    as bash ran it: as typed, or without its first key (see the module's docstring)."""
    out, at = [], 0
    for command, may_go in typed:
        if at < len(recorded) and recorded[at] in (command, command[1:]):
            out.append(recorded[at])
            at += 1
        elif not may_go:
            out.append(command)  # must be there: the comparison shows where it is missing
    return out
