"""Faults: a full disk while recording, the shell crashing, the recorder killed at random points, the
Docker engine going away mid-build, a failing build, a base image no registry can give. The user's
shell keeps working, no finished command is lost, and every message is one clear line."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import pexpect
import psutil
import pytest

from recorder.capture.journal import read as read_journal
from recorder.model import read
from tests import staging
from tests.cli import PROMPT, finish, record_in_pty, type_and_wait

WORKER_FOUND = 10  # seconds to wait for the recorder's processes to appear


def start(home: Path, tmp_path: Path, sessions: Path, *args: str, command: str = "start") -> pexpect.spawn:
    return record_in_pty(home, tmp_path, *args, command=command, sessions=sessions, width=200)


@contextlib.contextmanager
def small_disk(where: Path, size: str = "256k"):
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def steps_in_journal(directory: Path) -> list[str]:
    return [e["step"]["command"] for e in read_journal(directory / "journal.ndjson") if e["event"] == "step"]


def fill(child: pexpect.spawn, disk: Path, w: Path) -> list[str]:
    """Fill the disk from the recorded shell, then type commands until the recorder says it cannot
    write (the journal's last page may still have room for a few lines); returns what was typed."""
    typed = [child_command(disk)]
    out = type_and_wait(child, typed[0])
    for i in range(40):
        if "cannot write to" in out:
            return typed
        typed.append(f"echo during-{i} > {w}/during-{i}.txt")
        out = type_and_wait(child, typed[-1])
    raise AssertionError("the recorder never said that it cannot write")


def child_command(disk: Path) -> str:
    return f"dd if=/dev/zero of={disk}/filler bs=64k 2>/dev/null; echo filled"


def test_a_full_disk_warns_once_the_shell_keeps_working_and_nothing_is_lost(home, tmp_path):
    w = tmp_path / "watched"
    with small_disk(tmp_path / "disk") as disk:
        child = start(home, tmp_path, disk)
        directory = disk / "t"
        commands = [f"echo before > {w}/before.txt"]
        type_and_wait(child, commands[0])
        commands += fill(child, disk, w)
        refused = [f"echo refused-{i} > {w}/refused-{i}.txt" for i in range(3)]
        for command in refused:
            out = type_and_wait(child, command)
            assert "cannot write to" not in out  # said once, not at every prompt
            assert f"could not copy {w}/{command.split()[1]}.txt" in out  # each file it could not keep
        commands += refused
        assert refused[-1] not in steps_in_journal(directory)  # the disk really refused them
        commands.append("seq 1 5000")  # more output than the cast's last page can hold
        assert "4999\r\n5000" in type_and_wait(child, commands[-1])
        child.sendline(f"rm {disk}/filler")
        child.expect("takes writes again")
        child.expect(PROMPT)
        type_and_wait(child, "echo after")
        finish(child)
        assert child.exitstatus == 0
        commands += [f"rm {disk}/filler", "echo after"]
        assert steps_in_journal(directory) == commands  # in order, each once
        # the files those steps changed could not be copied: the session says so (and load() names them)
        session = read.from_yaml_text((directory / "session.yaml").read_text(), directory / "session.yaml")
        assert [st.command for st in session.steps] == commands
        assert sum(f"could not copy {w}/refused" in warning for warning in session.warnings) == len(refused)
        assert any(warning.startswith("terminal.cast is incomplete: No space left") for warning in session.warnings)


def test_starting_on_a_full_disk_is_one_clear_line(home, tmp_path):
    with small_disk(tmp_path / "disk", "64k") as disk:
        subprocess.run(["dd", "if=/dev/zero", f"of={disk}/filler", "bs=4k"], capture_output=True)
        (tmp_path / "watched").mkdir()
        output, status = pexpect.run(
            f"{sys.executable} -m recorder start --name t --dir {disk} --watch {tmp_path / 'watched'}",
            withexitstatus=True,
            encoding="utf-8",
            env={**os.environ, "HOME": str(home)},
            cwd=str(tmp_path),
        )
    assert status == 1 and "Traceback" not in output, output
    assert f"record: error: {disk}/t" in output and "cannot be written (No space left on device)" in output


def test_a_disk_still_full_at_exit_leaves_the_commands_where_there_is_room_and_resume_brings_them_back(home, tmp_path):
    w = tmp_path / "watched"
    with small_disk(tmp_path / "disk") as disk:
        child = start(home, tmp_path, disk)
        commands = fill(child, disk, w)
        child.sendline("exit")
        child.expect(r"cannot be written \(No space left on device\); the (\d+) recorded commands are in (\S+):")
        assert int(child.match.group(1)) == len(commands)
        rescue = Path(child.match.group(2))
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 1
        try:
            assert os.stat(rescue).st_mode & 0o077 == 0
            (disk / "filler").unlink()
            (disk / "t" / "journal.ndjson").write_bytes(rescue.read_bytes())
            child = start(home, tmp_path, disk, command="resume")
            type_and_wait(child, "echo resumed")
            finish(child)
        finally:
            rescue.unlink()
        session = read.from_yaml_text((disk / "t" / "session.yaml").read_text(), disk / "t" / "session.yaml")
        assert [st.command for st in session.steps] == [*commands, "echo resumed"]


def test_the_shell_crashing_keeps_every_finished_command(home, tmp_path):
    child = start(home, tmp_path, tmp_path / "sessions")
    type_and_wait(child, "echo one")
    type_and_wait(child, "echo two")
    child.sendline("kill -9 $$")
    child.expect(r"Recorded\S* 2 commands")
    child.expect(pexpect.EOF)
    session = read.load(tmp_path / "sessions" / "t")
    assert [st.command for st in session.steps] == ["echo one", "echo two"]
    assert any("the shell ended on a signal (SIGKILL)" in w for w in session.warnings)
    assert any("never finished and is not recorded: kill -9 $$" in w for w in session.warnings)


def _worker(child: pexpect.spawn) -> psutil.Process:
    deadline = time.monotonic() + WORKER_FOUND
    while True:
        children = psutil.Process(child.pid).children()
        if children:
            return children[0]
        assert time.monotonic() < deadline, "the recorder's worker process did not appear"
        time.sleep(0.05)


def test_kill_9_at_20_random_points_loses_no_finished_command(home, tmp_path):
    """One scripted session, killed 20 times at random moments (at a prompt, while a command runs,
    while its step is being written), resumed each time: every command whose prompt came back is
    in the session, in order, once."""
    seed = int(os.environ.get("RECORD_KILL_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    w = tmp_path / "watched"
    sessions = tmp_path / "sessions"
    finished: list[str] = []
    sent: list[str] = []
    for cycle in range(20):
        child = start(home, tmp_path, sessions, command="start" if cycle == 0 else "resume")
        for j in range(rng.randint(0, 3)):
            command = f"echo c{cycle}-{j} > {w}/c{cycle}-{j}.txt"
            type_and_wait(child, command)
            finished.append(command)
            sent.append(command)
        last = f"echo k{cycle} > {w}/k{cycle}.txt; sleep 0.{rng.randint(0, 3)}"
        child.sendline(last)
        sent.append(last)
        time.sleep(rng.uniform(0, 0.5))
        worker = _worker(child)
        worker.send_signal(signal.SIGKILL)
        child.expect(pexpect.EOF, timeout=30)
        child.close()
        # the hooks' channel (the shell's environment dumps, secrets too) does not outlive the recorder
        assert not list(Path(tempfile.gettempdir()).glob(f"record-{worker.pid}-*"))
    child = start(home, tmp_path, sessions, command="resume")
    finish(child)
    recorded = [st.command for st in read.load(sessions / "t").steps]
    assert len(recorded) == len(set(recorded)), f"seed {seed}: a command was recorded twice"
    assert [c for c in recorded if c in finished] == finished, f"seed {seed}: a finished command was lost"
    assert [c for c in sent if c in recorded] == recorded, f"seed {seed}: out of order"


# ---------------------------------------------------------------- the engine


def _session(tmp_path: Path, command: str) -> Path:
    d = tmp_path / "app"
    d.mkdir()
    (d / "session.yaml").write_text(
        "schema: 1\nname: app\nsteps:\n"
        f"  - id: 1\n    command: {json.dumps(command)}\n    cwd: /\n    exit: 0\n    replay: run\n    why: by hand\n"
    )
    return d


def record(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "recorder", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


class EngineProxy:
    """A unix socket in front of the engine's, that can be cut: the engine going away mid-build."""

    def __init__(self, path: Path, engine: str = "/var/run/docker.sock"):
        self.path, self.engine = path, engine
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        self.sockets: list[socket.socket] = []
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)

    def close(self) -> None:
        self.cut.set()
        for sock in [self.server, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.mark.docker
def test_the_engine_going_away_mid_build_is_one_clear_line(docker_client, tmp_path):
    d = _session(tmp_path, "sleep 15")
    proxy = EngineProxy(tmp_path / "engine.sock")
    tag = staging.tag("faults-away")
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag, force=True)  # left by an earlier run
    engine = {"DOCKER_HOST": f"unix://{tmp_path / 'engine.sock'}"}
    proc = record("build", str(d), "--tag", tag, "--base", staging.BASE_IMAGE, "--no-cache", env=engine)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        # the engine has started the RUN step; give it time to be inside the step's container
        if ": RUN sleep 15" in line:
            time.sleep(3)
            proxy.close()
            break
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    lines = [*seen, *rest.splitlines(keepends=True)]
    assert proc.returncode == 1, "".join(lines)
    assert "Traceback" not in "".join(lines)
    said = (
        f"record: error: the Docker engine went away during the build of {d} at instruction 3/3, "
        "from step 1 (replay: run), which ran `sleep 15` on staging"
    )
    assert lines[-1].startswith(said), lines[-1]
    assert "start the engine again" in lines[-1]
    assert not docker_client.images.list(name=tag)


@pytest.mark.docker
def test_a_failing_build_names_the_step_it_comes_from(docker_client, tmp_path):
    d = _session(tmp_path, "test -e /nowhere")
    proc = record("build", str(d), "--tag", staging.tag("faults-fail"), "--base", staging.BASE_IMAGE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    last = err.splitlines()[-1]
    assert last.startswith(
        f"record: error: build of {d} failed at instruction 3/3, from step 1 (replay: run), which ran "
        "`test -e /nowhere` on staging: "
    )
    assert "returned a non-zero code: 1" in last and "Traceback" not in err


@pytest.mark.docker
def test_a_base_image_that_no_registry_can_give_says_what_to_do(docker_client, tmp_path):
    d = _session(tmp_path, "true")
    missing = staging.tag("faults-no-such-base")
    proc = record("build", str(d), "--tag", staging.tag("faults-nobase"), "--base", missing)
    _, err = proc.communicate(timeout=300)
    last = err.splitlines()[-1]
    assert proc.returncode == 1 and err.count("record: error: ") == 1 and last.startswith("record: error: "), err
    assert f"the base image {missing} is not in the engine and cannot be pulled" in last
    assert "--base IMAGE" in last and "Traceback" not in err
