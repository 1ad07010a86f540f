"""`record start --ssh`: a staging host with sshd, bash and coreutils only (no python, nothing of ours)
recorded from here, through the real ssh client and a real pty; the session built and verified. The
same for the RHEL-like host and the rpm world's deployment (el7.py)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import sys
import tarfile
import time
from pathlib import Path

import pexpect
import psutil
import pytest

from recorder.capture.hooks import HOOKS_ENV, MODES
from recorder.model import read
from tests import staging
from tests.cli import PROMPT, RECORD
from tests.cli import record as record_cli
from tests.e2e import el7

pytestmark = pytest.mark.docker

PAGE = "<h1>hello over ssh</h1>"
DEPLOYMENT = (
    "apt-get update",
    "apt-get install -y nginx",
    f"cat > /var/www/html/index.html <<'EOF'\n{PAGE}\nEOF",
    "sed -i 's/listen 80 default_server;/listen 8080 default_server;/;"
    " s/listen \\[::\\]:80 default_server;/listen [::]:8080 default_server;/' /etc/nginx/sites-available/default",
    staging.FAILING_COMMAND,
    "export APP_ENV=staging",
    "nginx",
)


@pytest.fixture(scope="session")
def ssh_image(docker_client):
    return staging.build_ssh_image(docker_client)


@pytest.fixture
def ssh_host(docker_client, ssh_image, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    host = staging.SshStagingHost(docker_client, keys)
    yield host
    host.close()


def spawn(tmp_path: Path, *args: str, name: str = "web") -> pexpect.spawn:
    """`record start --name NAME --dir tmp_path/sessions ARGS` at a real pty, as the operator types it."""
    return pexpect.spawn(
        sys.executable,
        [*RECORD[1:], "start", "--name", name, "--dir", str(tmp_path / "sessions"), *args],
        env={**os.environ, "TERM": "xterm"},
        cwd=str(tmp_path),
        encoding="utf-8",
        codec_errors="replace",
        timeout=60,
        dimensions=(40, 160),
    )


def type_lines(child: pexpect.spawn, lines) -> None:
    """Each line at its prompt, as the operator types a deployment."""
    for line in lines:
        child.sendline(line)
        child.expect(PROMPT, timeout=600)


def exit_recording(child: pexpect.spawn) -> str:
    """`exit`, and what the recorder showed until it was gone (it must end well)."""
    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=180)
    child.close()
    shown = staging.strip_ansi(child.before)
    assert child.exitstatus == 0, shown[-2000:]
    return shown


def test_nginx_recorded_over_ssh_builds_an_image_that_answers_like_staging(ssh_host, tmp_path):
    assert ssh_host.sh("command -v python3 || ls /usr/bin/python*")[0] != 0  # nothing of ours, no python
    child = spawn(tmp_path, *ssh_host.args)
    child.expect(PROMPT)
    type_lines(child, DEPLOYMENT)
    # the channel lives on the host while recording, in a temp dir of its own
    assert ssh_host.sh("ls -d /tmp/record-ssh.*")[0] == 0
    shown = exit_recording(child)
    assert "staging answered: port 8080 accepts TCP; GET http://localhost:8080/ → 200" in shown

    # nothing is left behind on the host: no temp dir, no agent
    code, out = ssh_host.sh("ls -d /tmp/record-ssh.* 2>&1; ps -eo args | grep -c '[r]ecord-agent'")
    assert "No such file" in out and out.split()[-1] == "0", out

    session_dir = tmp_path / "sessions" / "web"
    session = read.load(session_dir)
    assert session.host.via == "ssh" and session.host.os_id == "debian"
    assert [st.exit != 0 for st in session.steps] == [False, False, False, False, True, False, False]
    apt = session.steps[1].effects.packages[0]
    assert apt.manager == "apt" and "nginx" in apt.installed
    page = (session_dir / "files/var/www/html/index.html").read_bytes()
    assert page == f"{PAGE}\n".encode()
    assert (session_dir / "files/etc/nginx/sites-available/default").exists()  # edited after the install
    assert session.steps[5].effects.env_set == {"APP_ENV": "staging"}
    assert [s.name for s in session.services] == ["nginx"]
    assert [p.port for p in session.services[0].ports] == [8080, 8080]  # IPv4 and IPv6
    assert session.fingerprint.ports[0].port == 8080 and session.fingerprint.ports[0].accepts
    assert session.fingerprint.http[0].sha256 == hashlib.sha256(page).hexdigest()

    result = record_cli("to-dockerfile", str(session_dir), "--base", staging.BASE_IMAGE)
    assert result.returncode == 0, result.stderr
    text = (session_dir / "Dockerfile").read_text()
    assert staging.FAILING_COMMAND not in text
    assert [line for line in text.splitlines() if line.startswith("EXPOSE")] == ["EXPOSE 8080"]

    tag = staging.tag("e2e-ssh-web")
    try:
        result = record_cli("build", str(session_dir), "--tag", tag, "--base", staging.BASE_IMAGE, "--verify")
        assert result.returncode == 0, result.stderr[-3000:] + result.stdout
        assert re.search(r": \d+ matched, 0 mismatched, 0 skipped: the image answers like staging\n$", result.stdout)
    finally:
        staging.client().images.remove(tag, force=True) if _exists(tag) else None


@pytest.fixture
def rhel_ssh_host(docker_client, tmp_path):
    """The migration guide's own host: CentOS 7-like (rpm, yum), reached over ssh, nothing of ours on it."""
    base, image = staging.build_rhel_ssh_image(docker_client)
    keys = tmp_path / "keys"
    keys.mkdir()
    host = staging.SshStagingHost(docker_client, keys, image=image, ports=(el7.PORT,))
    host.base = base
    yield host
    host.close()


def test_a_yum_deployment_recorded_over_ssh_replays_with_its_nevras(docker_client, rhel_ssh_host, tmp_path):
    host = rhel_ssh_host
    assert host.sh("command -v record || ls /usr/lib/record")[0] != 0  # nothing of ours on the host
    child = spawn(tmp_path, *host.args, name="el7")
    child.expect(PROMPT)
    type_lines(child, el7.DEPLOYMENT)
    shown = exit_recording(child)
    assert "hello from staging" in shown
    assert host.sh("ls -d /tmp/record-ssh.*")[0] != 0  # nothing left on the host
    facts = el7.staged(host)

    session_dir = tmp_path / "sessions" / "el7"
    session = read.load(session_dir)
    assert session.host.via == "ssh"
    el7.check_session(session_dir, facts[1])
    assert session.fingerprint.ports[0].port == el7.PORT and session.fingerprint.ports[0].accepts
    el7.check_dockerfile(session_dir, host.base)
    tag = staging.tag("e2e-ssh-el7")
    try:
        el7.check_image(docker_client, session_dir, host.base, tag, facts)
    finally:
        staging.client().images.remove(tag, force=True) if _exists(tag) else None


def _exists(tag: str) -> bool:
    try:
        staging.client().images.get(tag)
    except Exception:  # noqa: BLE001 - not built
        return False
    return True


@pytest.mark.parametrize(
    "break_it, reason",
    [
        ("Port=1", "Connection refused"),
        ("IdentityFile=/dev/null", "Permission denied"),
    ],
)
def test_a_host_that_cannot_be_reached_is_refused_in_one_line(ssh_host, tmp_path, break_it, reason):
    options = [o for o in ssh_host.options if not (o.startswith("IdentityFile=") and break_it.startswith("Ident"))]
    args = ["--ssh", ssh_host.destination, *[x for o in (*options, break_it) for x in ("--ssh-option", o)]]
    temp = Path(os.environ.get("TMPDIR", "/tmp"))
    before = set(temp.glob("record-ssh-*"))
    child = spawn(tmp_path, *args)
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    lines = [line for line in child.before.strip().splitlines() if line.strip()]
    assert child.exitstatus == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"record: error: --ssh {ssh_host.destination}: cannot connect: ") and reason in lines[0]
    assert not (tmp_path / "sessions").exists()  # nothing written
    assert set(temp.glob("record-ssh-*")) <= before  # nor the control socket's dir


def test_a_killed_recorder_leaves_nothing_on_the_host_and_resumes_over_ssh(ssh_host, tmp_path):
    child = spawn(tmp_path, *ssh_host.args)
    child.expect(PROMPT)
    for i in range(2):
        child.sendline(f"echo {i} > /srv/f{i}.txt")
        child.expect(PROMPT)
    worker = psutil.Process(child.pid).children()[0]
    worker.send_signal(signal.SIGKILL)
    child.expect(r"killed \(signal 9\); 2 finished commands are safe")
    child.expect(pexpect.EOF)
    deadline = time.monotonic() + 20
    while ssh_host.sh("ls -d /tmp/record-ssh.*")[0] == 0:  # the agent ends with its input
        assert time.monotonic() < deadline, ssh_host.sh("ls -la /tmp; ps -ef")[1]
        time.sleep(0.2)

    sessions = tmp_path / "sessions"
    here = pexpect.run(
        f"{sys.executable} -m recorder resume web --dir {sessions}", withexitstatus=True, encoding="utf-8"
    )
    assert here[1] == 2 and "made over ssh: resume it with --ssh HOST" in here[0]
    assert len(here[0].strip().splitlines()) == 1

    child = pexpect.spawn(
        sys.executable,
        ["-m", "recorder", "resume", "web", "--dir", str(sessions), *ssh_host.args],
        env={**os.environ, "TERM": "xterm"},
        encoding="utf-8",
        timeout=60,
    )
    child.expect(PROMPT)
    child.sendline("echo more > /srv/more.txt")
    child.expect(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    session = read.load(sessions / "web")
    assert [st.command for st in session.steps] == [f"echo {i} > /srv/f{i}.txt" for i in (0, 1)] + [
        "echo more > /srv/more.txt"
    ]
    assert [f.path for f in session.steps[2].effects.files] == ["/srv/more.txt"]
    assert session.host.via == "ssh"


@pytest.mark.parametrize("mode", MODES)
def test_an_operator_who_logs_in_as_themselves_and_sudo_i_is_recorded_as_root(ssh_host, tmp_path, monkeypatch, mode):
    """In both hook modes: PS0, and the DEBUG-trap fallback a CentOS 7 host's bash 4.2 needs."""
    monkeypatch.setenv(HOOKS_ENV, mode)
    args = [a.replace("root@", "ops@") for a in ssh_host.args]
    child = spawn(tmp_path, *args)
    child.expect(PROMPT)
    for line in ("echo mine > ~/note.txt", "sudo -i", "mkdir -p /srv/app && echo v1 > /srv/app/VERSION"):
        child.sendline(line)
        child.expect(PROMPT, timeout=60)
    child.sendline("exit")  # the nested root shell
    child.expect(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    session = read.load(tmp_path / "sessions" / "web")
    assert session.host.user == "ops"
    commands = {st.command: st for st in session.steps}
    assert [f.path for f in commands["echo mine > ~/note.txt"].effects.files] == ["/home/ops/note.txt"]
    inside = commands["mkdir -p /srv/app && echo v1 > /srv/app/VERSION"]
    assert inside.user == "root" and [f.path for f in inside.effects.files] == ["/srv/app", "/srv/app/VERSION"]
    assert (tmp_path / "sessions/web/files/srv/app/VERSION").read_text() == "v1\n"
    assert ssh_host.sh("ls -d /tmp/record-ssh.*")[0] != 0  # the root-written dumps went with the dir


def _tar(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(text.encode()), 0o755
        tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


def _refused(tmp_path: Path, args: list[str]) -> str:
    child = spawn(tmp_path, *args)
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    out = child.before.strip()
    assert child.exitstatus == 2, out
    assert len(out.splitlines()) == 1 and "Traceback" not in out, out
    assert not (tmp_path / "sessions").exists()
    return out


def test_a_host_whose_bash_cannot_be_followed_is_refused_in_one_line(ssh_host, tmp_path):
    # what the recorder asks the host's bash (`bash --version`) answered as bash 3.2 would
    fake = (
        '#!/bin/sh\n[ "$1" = --version ] && { echo "GNU bash, version 3.2.57(1)-release"; exit 0; }\n'
        'exec /usr/bin/bash "$@"\n'
    )
    ssh_host.container.put_archive("/usr/local/bin", _tar("bash", fake))
    out = _refused(tmp_path, ssh_host.args)
    assert f"bash on {ssh_host.destination} is bash 3.2: too old to be recorded" in out


def test_a_host_without_bash_is_refused_in_one_line(ssh_host, tmp_path):
    code, out = ssh_host.container.exec_run(["sh", "-c", "usermod -s /bin/sh root && mv /usr/bin/bash /usr/bin/gone"])
    assert code == 0, out
    out = _refused(tmp_path, ssh_host.args)
    assert f"--ssh {ssh_host.destination}: the host has no bash, which the recording needs" in out
