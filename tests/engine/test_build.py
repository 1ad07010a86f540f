"""`record build` against the real engine: progress on a terminal and in logs, the options users expect,
a remote engine through DOCKER_HOST, and a failing instruction traced back to the step it came from."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import sys
import tarfile
import threading
from pathlib import Path

import pexpect
import pytest

from recorder.model import read, write
from recorder.model import session as s
from tests import staging
from tests.cli import record

pytestmark = pytest.mark.docker

CONF = b"greeting = hello\n"


def small_session(directory: Path, extra: list[s.Step] = ()) -> Path:
    """A session that builds in seconds: a copied file, a command run in the image, then `extra`."""
    (directory / "files" / "etc").mkdir(parents=True)
    (directory / "files" / "etc" / "small.conf").write_bytes(CONF)
    conf = s.FileChange("/etc/small.conf", "file", 0o640, sha256=hashlib.sha256(CONF).hexdigest())
    steps = [
        s.Step(1, "vi /etc/small.conf", "/root", 0, "files", "changed 1 file", s.Effects(files=[conf])),
        s.Step(
            2,
            'echo "proxy=$http_proxy" > /srv/build-arg.txt && ls /sys/class/net > /srv/networks.txt',
            "/root",
            0,
            "run",
            "flipped to run by a reviewer",
        ),
        *extra,
    ]
    write.save(s.Session(name="small", host=s.Host(base_image=staging.BASE_IMAGE), steps=steps), directory)
    return directory


def read_from_image(client, tag: str, path: str) -> bytes:
    container = client.containers.create(tag)
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            return tar.extractfile(tar.next()).read()
    finally:
        container.remove(force=True)


def test_build_options_reach_the_engine_and_logs_get_plain_progress_lines(docker_client, tmp_path):
    d = small_session(tmp_path / "small")
    tag = staging.tag("build-options")
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    result = record(
        "build", str(d), "--tag", tag, "--no-cache",
        "--build-arg", "http_proxy=http://proxy.invalid:3128",
        "--label", "org.example.team=ops", "--label", "org.example.ticket=OPS-1",
        "--network", "none",
        "--platform", f"linux/{machine}",
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        steps = [line for line in lines if "] step " in line]
        assert len(steps) == 7  # FROM, LABEL, COPY, WORKDIR, RUN, and the engine's LABEL for each --label
        assert steps[2].endswith("step 3/7: COPY files/etc/small.conf /etc/small.conf  (step 1: vi /etc/small.conf)")
        assert "step 5/7: RUN echo" in steps[4] and "(step 2: echo" in steps[4]
        assert steps[5].endswith("step 6/7: LABEL org.example.team=ops")
        assert lines[-2].startswith(f"built {tag} (sha256:")
        assert lines[-1] == "no service to run: nothing to smoke-test"
        image = docker_client.images.get(tag)
        assert image.labels["org.example.team"] == "ops" and image.labels["org.example.ticket"] == "OPS-1"
        assert image.labels["io.record.session"] == "small"  # the generated LABEL is still there
        assert image.attrs["Architecture"] == machine
        assert read_from_image(docker_client, tag, "/srv/build-arg.txt") == b"proxy=http://proxy.invalid:3128\n"
        assert read_from_image(docker_client, tag, "/srv/networks.txt") == b"lo\n"  # --network none: loopback only
        assert read_from_image(docker_client, tag, "/etc/small.conf") == CONF
    finally:
        docker_client.images.remove(tag, force=True)


def test_quiet_prints_only_the_image_id(docker_client, tmp_path):
    d = small_session(tmp_path / "small")
    tag = staging.tag("build-quiet")
    result = record("build", str(d), "--tag", tag, "--quiet")
    try:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert result.stdout == docker_client.images.get(tag).id + "\n"
    finally:
        docker_client.images.remove(tag, force=True)


def test_bad_build_option_is_one_line_exit_2(tmp_path):
    d = small_session(tmp_path / "small")
    result = record("build", str(d), "--tag", "x:y", "--label", "no-equals-sign")
    assert result.returncode == 2
    assert result.stderr == "record: error: --label 'no-equals-sign': expected KEY=VALUE\n"


BROKEN = s.Step(3, "ls /srv/missing-dir", "/srv", 0, "run", "flipped to run by a reviewer")


@pytest.mark.parametrize("quiet", [False, True])
def test_a_broken_run_names_its_step_and_command_with_the_last_output(docker_client, tmp_path, quiet):
    d = small_session(tmp_path / "small", [BROKEN])
    tag = staging.tag("build-broken")
    result = record("build", str(d), "--tag", tag, *(["--quiet"] if quiet else []))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == (
        f"record: error: build of {d} failed at instruction 7/7, from step 3 (replay: run), which ran "
        "`ls /srv/missing-dir` on staging: The command '/bin/sh -c ls /srv/missing-dir' returned a non-zero code: 2"
    )
    assert "ls: cannot access '/srv/missing-dir': No such file or directory" in "\n".join(lines[:-1])
    assert "Traceback" not in result.stderr
    assert not docker_client.images.list(name=tag)


def test_a_broken_multi_line_command_is_shown_as_recorded(docker_client, tmp_path):
    loop = s.Step(3, "for d in logs data; do\n  mkdir /srv/nope/$d\ndone", "/srv", 0, "run", "flipped by a reviewer")
    d = small_session(tmp_path / "small", [loop])
    result = record("build", str(d), "--tag", staging.tag("build-broken-loop"), "--quiet")
    assert result.returncode == 1
    assert (
        "step 3, as recorded on staging:\n  for d in logs data; do\n    mkdir /srv/nope/$d\n  done\n" in result.stderr
    )
    assert "mkdir: cannot create directory '/srv/nope/logs'" in result.stderr
    assert "from step 3 (replay: run), which ran `for d in logs data; do …` on staging" in result.stderr


def test_on_a_terminal_progress_is_live_and_leaves_one_line_per_instruction(docker_client, tmp_path):
    d = small_session(tmp_path / "small", [BROKEN])
    child = pexpect.spawn(
        sys.executable,
        ["-m", "recorder", "build", str(d), "--tag", staging.tag("build-tty")],
        encoding="utf-8",
        timeout=300,
        dimensions=(30, 140),
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = staging.strip_ansi(child.before)
    assert child.exitstatus == 1
    assert "step 7 of 7 RUN ls /srv/missing-dir" in screen  # the live panel: step n of m and the instruction
    assert "from step 3: ls /srv/missing-dir" in screen
    assert "total " in screen  # the clocks
    assert "✓ 3/7 COPY files/etc/small.conf /etc/small.conf" in screen  # what stays of a finished instruction
    assert "✗ 7/7 RUN ls /srv/missing-dir" in screen
    # the live panel is gone at the end: the last output is repeated for the record, then the error
    tail = screen[screen.index("last lines of its output:") :]
    assert "No such file or directory" in tail and "record: error: build of" in tail


class _EngineForwarder:
    """A remote engine, as far as the client can tell: TCP on a loopback port, forwarded to the local socket."""

    def __init__(self, socket_path: str = "/var/run/docker.sock"):
        self.socket_path = socket_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self.socket_path)
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_a_tcp_docker_host_is_used_for_the_build(docker_client, tmp_path):
    d = small_session(tmp_path / "small")
    tag = staging.tag("build-tcp")
    forwarder = _EngineForwarder()
    try:
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{forwarder.port}"}
        result = record("build", str(d), "--tag", tag, "--quiet", env=env)
        assert result.returncode == 0, result.stderr
        assert forwarder.connections > 0
        assert docker_client.images.get(tag).id == result.stdout.strip()
    finally:
        forwarder.close()
        docker_client.images.remove(tag, force=True)


LISTENER = (
    "use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 8099, Listen => 5, ReuseAddr => 1)"
    ' or die "cannot listen: $!"; while (my $c = $s->accept) { print $c "ok\\n"; close $c }'
)


@pytest.mark.parametrize(
    "command, serves",
    [
        (["/usr/bin/perl", "-e", LISTENER], True),
        (["/bin/sh", "-c", "echo starting on 8099; echo config not found >&2; exit 3"], False),
        (["/usr/sbin/no-such-server", "--port", "8099"], False),
    ],
)
def test_the_build_ends_with_a_smoke_run_that_catches_an_image_that_does_not_serve(
    docker_client, tmp_path, command, serves
):
    d = small_session(tmp_path / "small")
    session = read.load(d)
    session.services = [s.Service("listener", command, ports=[s.Port(8099, "0.0.0.0")])]
    write.save(session, d)
    tag = staging.tag("build-smoke")
    try:
        result = record("build", str(d), "--tag", tag, "--timeout", "10")
        last = result.stderr.splitlines()[-1]
        if serves:
            assert result.returncode == 0, result.stderr
            assert last == f"smoke run: {tag} stayed up and accepted on 8099"
        else:
            assert result.returncode == 1, result.stderr
            assert last.startswith(f"record: error: {tag} does not serve: ")
            assert f"service listener, ENTRYPOINT {json.dumps(command)}" in last
            assert "(`--no-smoke` skips this check)" in last and "Traceback" not in result.stderr
            if command[0] == "/bin/sh":
                assert "port 8099 did not accept within 10s (exit 3)" in last
                # the engine keeps stdout and stderr apart, so their lines may come back in either order
                logs = last.split("last lines: ", 1)[1]
                assert "starting on 8099" in logs and "config not found" in logs
            else:
                assert "it could not start (" in last and "/usr/sbin/no-such-server" in last
        assert not docker_client.containers.list(all=True, filters={"label": f"io.record.smoke={tag}"})
        skipped = record("build", str(d), "--tag", tag, "--no-smoke")
        assert skipped.returncode == 0 and "smoke run" not in skipped.stderr
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True)
