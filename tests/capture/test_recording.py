"""`record start` with a real bash in a real pty, driven by pexpect as a person would type.

No Docker here: the watched root is a temporary directory, so these run anywhere bash does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pexpect
import psutil
import pytest

from generators import dockerfile
from recorder.capture.classify import effective_status
from recorder.capture.journal import read as read_journal
from recorder.model import read
from tests.cli import PROMPT, finish, record_in_pty, type_and_wait, user_shell, wait_until_running


@pytest.fixture
def home(tmp_path, hook_mode):
    """A user with their own rc file: an alias, a PROMPT_COMMAND and ignoreboth must keep working (in
    both of bash's hook modes: see conftest.py)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(
        "alias ll='ls -la'\nHISTCONTROL=ignoreboth\nPROMPT_COMMAND='USER_PC_RAN=yes'\nPS1='test$ '\n"
    )
    return home


def spawn(home: Path, tmp_path: Path, name: str = "t", extra: str = "") -> pexpect.spawn:
    return record_in_pty(home, tmp_path, *extra.split(), name=name, env={"GONE": "bye"})


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
    wait_until_running(user_shell(child), "sleep")  # as a person would: the command is running before Ctrl-C
    child.sendcontrol("c")
    child.expect(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    directory = tmp_path / "sessions" / "t"
    session = read.load(directory)
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
    assert steps["ll >/dev/null"].expanded == "ls -la >/dev/null"
    assert steps["sleep 100"].exit == 130 and steps["sleep 100"].replay == "skip"
    # the journal was written step by step, with the same steps
    journal = read_journal(directory / "journal.ndjson")
    assert [e["step"]["command"] for e in journal if e["event"] == "step"] == list(steps)
    assert journal[-1]["event"] == "end"
    cast = (directory / "terminal.cast").read_text().splitlines()
    assert '"version": 2' in cast[0] and len(cast) > 5


def test_lines_the_shell_runs_no_simple_command_of_and_a_users_debug_trap(home, tmp_path, hook_mode):
    """The fallback hears of a line at its first simple command run by the shell itself: a line that is
    only a subshell or a function definition has none, and is reported as it finishes. Comments and
    blank lines are no command, as with PS0. The user's own DEBUG trap runs after the hooks' and sees
    the line's $? and $_, and one they set later is chained after the next line; a command added to
    PROMPT_COMMAND later is not taken for a typed one."""
    w = tmp_path / "watched"
    with (home / ".bashrc").open("a") as rc:
        rc.write("""seen() { [[ $BASH_COMMAND == "echo mark" ]] && SEEN+="[$1:$2]"; }\ntrap 'seen "$?" "$_"' DEBUG\n""")
    child = spawn(home, tmp_path)
    commands = [
        f"( echo sub > {w}/sub.txt )",
        "greet() { echo hi; }",
        "greet",
        "(exit 3) | true | (exit 5)",
        "ls /nonexistent-dir",
        "echo mark",
        "false; echo mark",
        'echo "seen=$SEEN"',
        "ls /nonexistent-dir",
        'echo "status=$?"',
        "PROMPT_COMMAND+=$'\\n'PC_TAIL=1",
        "echo after-1",
        "echo after-2",
        "trap 'LATER=$((LATER + 1))' DEBUG",
        "echo after-3",
        'echo "later=$LATER"; trap -p DEBUG',
    ]
    outputs = {}
    for line in ["# a note", *commands[:3], "   ", *commands[3:]]:
        outputs[line] = type_and_wait(child, line)
    finish(child)
    assert "seen=[2:/nonexistent-dir][1:false]" in outputs['echo "seen=$SEEN"']  # as bash alone gives
    assert "status=2" in outputs['echo "status=$?"']  # the hooks keep $? across the prompt
    chained = outputs['echo "later=$LATER"; trap -p DEBUG']
    assert "later=" in chained and "later=\r" not in chained  # the user's new trap runs
    assert ("__rec_debug" in chained) == (hook_mode == "fallback")  # and the fallback's is in front of it again
    steps = read.load(tmp_path / "sessions" / "t").steps
    assert [st.command for st in steps] == commands
    assert [f.path for f in steps[0].effects.files] == [str(w / "sub.txt")]
    assert steps[3].exit == effective_status(5, [3, 0, 5])


def test_a_service_started_by_a_line_that_is_only_a_subshell_is_that_lines(home, tmp_path):
    """The fallback reports such a line only as it finishes, after the server started: the recorder
    dates the line from its prompt, so the server is still credited to it, not to the line before."""
    w = tmp_path / "watched"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = f"nohup python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1"
    start = f"(cd {w}; {server} & sleep 0.5)"  # the line ends well after the server started
    child = spawn(home, tmp_path)
    type_and_wait(child, "echo before")
    type_and_wait(child, start)
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.05)
        finish(child)
    finally:
        for process in psutil.process_iter(["cmdline"]):
            if f"http.server {port}" in " ".join(process.info["cmdline"] or []):
                process.kill()
    session = read.load(tmp_path / "sessions" / "t")
    before, started = session.steps
    assert "started the service" in started.why and port in started.effects.ports_opened
    assert "started the service" not in before.why and not before.effects.ports_opened


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_finished_session_is_not_overwritten_without_force(home, tmp_path):
    child = spawn(home, tmp_path)
    type_and_wait(child, "echo one")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    first = (tmp_path / "sessions" / "t" / "session.yaml").read_text()
    again = pexpect.run(
        f"{sys.executable} -m recorder start --name t --dir {tmp_path / 'sessions'}",
        withexitstatus=True,
        encoding="utf-8",
        cwd=str(tmp_path),
    )
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
    assert b"Recorded" in received[len(body) :]  # the summary follows the output, after the shell exited


def test_directories_a_step_makes_or_changes_are_recorded_and_rebuilt(home, tmp_path):
    """`mkdir -p` of empty directories a service needs, `chmod` and `chown` of one: what the step did
    to the host, recorded and rebuilt (they were "changed nothing the image keeps")."""
    w = tmp_path / "watched"
    (w / "app").mkdir(parents=True)
    child = spawn(home, tmp_path)
    made = f"mkdir -p {w}/supervisor.conf.d {w}/log/supervisor"
    modes = f"chmod 750 {w}/app && chown nobody:nogroup {w}/log/supervisor"
    for line in (made, modes):
        type_and_wait(child, line)
    finish(child)
    session = read.load(tmp_path / "sessions" / "t")
    steps = {st.command: st for st in session.steps}
    assert steps[made].replay == steps[modes].replay == "files"
    dirs = {f.path: (f.kind, f.mode, f.owner) for st in session.steps for f in st.effects.files}
    assert dirs[f"{w}/supervisor.conf.d"] == ("dir", 0o755, "root")
    assert dirs[f"{w}/app"] == ("dir", 0o750, "root")
    assert dirs[f"{w}/log/supervisor"] == ("dir", 0o755, "nobody")
    text = dockerfile.generate(session)["Dockerfile"]
    assert f"install -d -m 0755 {w}/supervisor.conf.d" in text
    assert f"install -d -m 0750 {w}/app" in text
    assert f"install -d -m 0755 -o nobody -g nogroup {w}/log/supervisor" in text


def test_a_chown_over_installed_packages_installs_nothing_and_is_replayed_as_typed(home, tmp_path):
    """`chown -R app /opt/app` after an npm install touches every package.json at the same version:
    it is not an install of them all, and the tree is not copied file by file."""
    w = tmp_path / "watched"
    (w / "app").mkdir(parents=True)
    child = spawn(home, tmp_path)
    modules = f"{w}/app/node_modules"
    install = (
        f"mkdir -p {modules}/left-pad {modules}/is-number && "
        f"""echo '{{"name": "left-pad", "version": "1.3.0"}}' > {modules}/left-pad/package.json && """
        f"""echo '{{"name": "is-number", "version": "7.0.0"}}' > {modules}/is-number/package.json"""
    )
    owner = f"chown -R nobody:nogroup {w}/app"
    for line in (install, owner):
        type_and_wait(child, line)
    finish(child)
    session = read.load(tmp_path / "sessions" / "t")
    steps = {st.command: st for st in session.steps}
    [npm] = steps[install].effects.packages
    assert npm.installed == {"is-number": "7.0.0", "left-pad": "1.3.0"}
    assert steps[owner].effects.packages == [] and steps[owner].replay == "run"
    assert "changes the owner or mode" in steps[owner].why
    text = dockerfile.generate(session)["Dockerfile"]
    assert f"RUN chown -R nobody:nogroup {w}/app" in text and text.count("npm install") == 1


def test_commands_in_a_nested_root_shell_are_recorded(home, tmp_path):
    w = tmp_path / "watched"
    child = spawn(home, tmp_path)
    child.sendline("su -")
    child.expect(PROMPT)
    type_and_wait(child, f"echo nested > {w}/nested.txt")
    child.sendline("exit")
    child.expect(PROMPT)
    type_and_wait(child, "echo back")
    finish(child)
    session = read.load(tmp_path / "sessions" / "t")
    # steps are numbered as they finish: the nested shell's commands come before the `su -` that opened it
    assert [st.command for st in session.steps] == [f"echo nested > {w}/nested.txt", "su -", "echo back"]
    inside, opened, _ = session.steps
    assert opened.replay == "skip" and "nested shell" in opened.why
    assert inside.replay == "files" and inside.cwd == "/root"
    assert inside.effects.files[0].path == str(w / "nested.txt")
    assert not session.warnings


def test_a_secret_typed_at_a_prompt_is_never_recorded(home, tmp_path):
    child = spawn(home, tmp_path)
    child.sendline("read -s -p 'Password: ' DB_PASS; echo got-${#DB_PASS}")
    child.expect("Password: ")
    time.sleep(0.3)
    child.sendline("hunter2-very-secret")
    child.expect("got-19")
    child.expect(PROMPT)
    finish(child)
    directory = tmp_path / "sessions" / "t"
    step = read.load(directory).steps[0]
    assert step.needed_secret and "secret" in step.why
    for path in directory.rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), path


def test_a_vi_edit_is_recorded_and_its_result_captured(home, tmp_path):
    w = tmp_path / "watched"
    w.mkdir()
    (w / "app.conf").write_text("port = 80\n")
    child = spawn(home, tmp_path)
    child.sendline(f"vi -u NONE -N {w}/app.conf")
    child.expect("app.conf")
    time.sleep(0.5)
    child.send(":s/80/8080/\r")
    child.send(":wq\r")
    child.expect(PROMPT)
    finish(child)
    directory = tmp_path / "sessions" / "t"
    step = read.load(directory).steps[0]
    assert step.replay == "files" and [f.path for f in step.effects.files] == [str(w / "app.conf")]
    assert (directory / "files" / str(w / "app.conf").lstrip("/")).read_text() == "port = 8080\n"


def test_a_large_paste_does_not_deadlock_and_arrives_whole(home, tmp_path):
    w = tmp_path / "watched"
    lines = [f"line {i:05d} {'x' * 60}" for i in range(3000)]  # about 200 KB typed at once
    child = spawn(home, tmp_path)
    child.send(f"cat > {w}/paste.txt <<'EOF'\n" + "\n".join(lines) + "\nEOF\n")
    child.expect(PROMPT, timeout=120)
    finish(child)
    assert (w / "paste.txt").read_text() == "\n".join(lines) + "\n"
    step = read.load(tmp_path / "sessions" / "t").steps[0]
    assert step.command.splitlines()[1:-1] == lines


def _worker_and_shell(child: pexpect.spawn) -> tuple[psutil.Process, psutil.Process]:
    """The guarded recorder process (it holds the pty) and the user's bash under it."""
    worker = psutil.Process(child.pid).children()[0]
    return worker, next(p for p in worker.children() if p.name() == "bash")  # beside it: the cast's follower


@pytest.mark.parametrize("finished", [0, 2, 5])
def test_kill_9_loses_no_finished_command_and_the_recording_resumes(home, tmp_path, finished):
    w = tmp_path / "watched"
    child = spawn(home, tmp_path)
    for i in range(finished):
        type_and_wait(child, f"echo {i} > {w}/f{i}.txt")
    worker, shell = _worker_and_shell(child)
    worker.send_signal(signal.SIGKILL)
    child.expect(r"killed \(signal 9\); (\d+) finished commands are safe")
    assert int(child.match.group(1)) == finished
    child.expect(pexpect.EOF)
    psutil.wait_procs([shell], timeout=10)
    assert not shell.is_running() or shell.status() == psutil.STATUS_ZOMBIE  # the shell is not left behind
    directory = tmp_path / "sessions" / "t"
    steps = [e for e in read_journal(directory / "journal.ndjson") if e["event"] == "step"]
    assert [e["step"]["command"] for e in steps] == [f"echo {i} > {w}/f{i}.txt" for i in range(finished)]

    again = pexpect.run(
        f"{sys.executable} -m recorder start --name t --dir {tmp_path / 'sessions'}",
        withexitstatus=True,
        encoding="utf-8",
        cwd=str(tmp_path),
        env={**os.environ, "HOME": str(home)},
    )
    assert again[1] == 2 and "record resume t" in again[0]

    child = pexpect.spawn(
        sys.executable,
        ["-m", "recorder", "resume", "t", "--dir", str(tmp_path / "sessions"), "--watch", str(w)],
        env={**os.environ, "HOME": str(home), "TERM": "xterm"},  # with no TERM, readline redraws a long line in pieces
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=30,
    )
    child.expect(PROMPT)
    type_and_wait(child, f"echo more > {w}/more.txt")
    finish(child)
    session = read.load(directory)
    assert [st.id for st in session.steps] == list(range(1, finished + 2))
    assert session.steps[-1].command == f"echo more > {w}/more.txt"
    assert any("interrupted and resumed" in warning for warning in session.warnings)
    cast = (directory / "terminal.cast").read_text()
    assert cast.count('"version": 2') == 1 and "echo more" in cast  # one cast, carried across the crash
    assert not list(directory.glob("terminal.cast.*"))


def test_a_background_process_holding_the_pty_does_not_keep_the_recording_open(home, tmp_path):
    """A process started in the session keeps the pty open after the shell exits: no end of output ever
    comes, so the recording ends on the shell's exit once the output has gone quiet."""
    pid_file = tmp_path / "holder.pid"
    child = spawn(home, tmp_path)
    type_and_wait(child, f"(sleep 120 & echo $! > {pid_file})")
    holder = psutil.Process(int(pid_file.read_text()))
    try:
        started = time.monotonic()
        finish(child)
        assert time.monotonic() - started < 15
        assert holder.is_running()  # it did hold the pty for the whole wait
        session = read.load(tmp_path / "sessions" / "t")
        assert [st.command for st in session.steps] == [f"(sleep 120 & echo $! > {pid_file})"]
    finally:
        holder.kill()


def test_hangup_saves_the_session(home, tmp_path):
    child = spawn(home, tmp_path)
    type_and_wait(child, "echo before-hangup")
    worker, _ = _worker_and_shell(child)
    worker.send_signal(signal.SIGHUP)  # as when the ssh connection drops
    child.expect(pexpect.EOF, timeout=20)
    session = read.load(tmp_path / "sessions" / "t")
    assert [st.command for st in session.steps] == ["echo before-hangup"]


def test_terminal_mode_is_restored_even_after_kill_9(home, tmp_path):
    (tmp_path / "watched").mkdir()
    record = f"{sys.executable} -m recorder start --name t --dir {tmp_path / 'sessions'} --watch {tmp_path / 'watched'}"
    script = f"stty -g > {tmp_path}/before; {record}; stty -g > {tmp_path}/after; echo DONE"
    child = pexpect.spawn(
        "bash", ["--norc", "-c", script], env={**os.environ, "HOME": str(home)}, encoding="utf-8", timeout=30
    )
    child.expect(PROMPT)
    recorder = next(
        p for p in psutil.Process(child.pid).children(recursive=True) if any(c.name() == "bash" for c in p.children())
    )
    recorder.send_signal(signal.SIGKILL)
    child.expect("DONE")
    assert (tmp_path / "after").read_text() == (tmp_path / "before").read_text()


def test_tab_completion_and_job_control_work_as_in_a_plain_shell(home, tmp_path):
    child = spawn(home, tmp_path)
    child.send("ech\t")
    child.expect("echo ")
    child.send("completed\r")
    child.expect("completed\r\n")
    child.expect(PROMPT)
    child.sendline("sleep 100")
    time.sleep(0.5)
    child.sendcontrol("z")
    child.expect("Stopped")
    child.expect(PROMPT)
    type_and_wait(child, "kill %1")
    finish(child)
    steps = read.load(tmp_path / "sessions" / "t").steps
    assert [(st.command, st.exit) for st in steps][:2] == [("echo completed", 0), ("sleep 100", 148)]


def test_a_shell_that_cannot_be_followed_is_flagged_on_screen_and_in_the_session(home, tmp_path):
    child = spawn(home, tmp_path)
    child.sendline("bash --norc")
    child.expect(r"bash-[\d.]+[#$] ")
    child.sendline("echo inside-unrecorded")
    child.expect(r"bash-[\d.]+[#$] ")
    child.sendline("exit")
    child.expect("not followed")  # said at once, not only in the summary
    child.expect(PROMPT)
    finish(child)
    session = read.load(tmp_path / "sessions" / "t")
    assert [st.command for st in session.steps] == ["bash --norc"]
    assert "not followed" in session.steps[0].why
    assert any("step 1: opened a shell that was not followed" in w for w in session.warnings)


def test_zsh_as_the_login_shell_is_recorded_too(tmp_path):
    zsh = shutil.which("zsh")
    assert zsh, "zsh must be installed for the tests (scripts/test installs it)"
    home = tmp_path / "zhome"
    home.mkdir()
    (home / ".zshrc").write_text("PROMPT='zsh%# '\nalias ll='ls -la'\n")
    watched = tmp_path / "watched"
    watched.mkdir()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "recorder", "start", "--name", "z", "--dir", str(tmp_path / "sessions"), "--watch", str(watched)],
        env={**os.environ, "HOME": str(home), "SHELL": zsh, "TERM": "xterm"},
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=30,
        dimensions=(24, 100),
    )
    prompt = r"\[rec\] zsh[#%] "  # zsh writes terminal modes after its prompt
    child.expect(prompt)
    loop = f"for n in a b; do\n  echo $n >> {watched}/z.txt\ndone"
    for line in (loop, "false | true", "export ZVAR=1", "ll >/dev/null"):
        child.sendline(line)
        child.expect(prompt)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    steps = read.load(tmp_path / "sessions" / "z").steps
    assert [st.command for st in steps] == [loop, "false | true", "export ZVAR=1", "ll >/dev/null"]
    assert steps[0].effects.files[0].path == str(watched / "z.txt")
    assert steps[1].exit == 1
    assert steps[2].effects.env_set == {"ZVAR": "1"}
    assert steps[3].expanded == "ls -la >/dev/null"
