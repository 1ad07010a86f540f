"""The spine, end to end against the real engine: record a real nginx deployment in a staging
container, generate the Dockerfile, build the image, and check it answers like staging did."""

from __future__ import annotations

import hashlib
import re

import pytest

from recorder.model import read
from recorder.model import session as s
from tests import staging
from tests.cli import record as record_cli

pytestmark = pytest.mark.docker


def test_recorded_nginx_deployment_builds_an_image_that_answers_like_staging(staging_host, docker_client, tmp_path):
    shown = staging.strip_ansi(staging_host.record("web", staging.NGINX_DEPLOYMENT))
    assert (
        "staging answered: port 8080 accepts TCP; GET http://localhost:8080/ → 200; "
        "GET http://localhost:8080/index.html → 200"
    ) in shown
    status, staged_body = staging.http_get(staging_host.port(8080))
    assert status == 200 and staging.NGINX_PAGE.encode() in staged_body

    session_dir = staging_host.copy_out("/root/sessions/web", tmp_path)
    session = read.load(session_dir)
    assert [st.exit != 0 for st in session.steps] == [False, False, False, False, True, False, False, False]
    assert session.services[0].name == "nginx"
    # what staging served, fingerprinted when the recording ended: the page it was given, at / and at the
    # URL the operator fetched with curl in step 8
    page = hashlib.sha256((session_dir / "files/var/www/html/index.html").read_bytes()).hexdigest()
    assert session.fingerprint == s.Fingerprint(
        ports=[s.PortCheck(8080, accepts=True)],
        http=[
            s.HttpCheck("http://localhost:8080/", 200, page, len(staged_body)),
            s.HttpCheck("http://localhost:8080/index.html", 200, page, len(staged_body), step=8),
        ],
    )

    result = record_cli("to-dockerfile", str(session_dir), "--base", staging.BASE_IMAGE)
    assert result.returncode == 0, result.stderr
    text = (session_dir / "Dockerfile").read_text()
    assert staging.FAILING_COMMAND not in text and "site.conf" not in text
    assert [line for line in text.splitlines() if line.startswith("EXPOSE")] == ["EXPOSE 8080"]
    assert 'ENV APP_ENV="staging"' in text

    tag = staging.tag("e2e-web")
    result = record_cli("build", str(session_dir), "--tag", tag, "--base", staging.BASE_IMAGE, "--verify")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout
    assert re.search(r": \d+ matched, 0 mismatched, 0 skipped: the image answers like staging\n$", result.stdout)
    users = [line.split() for line in result.stdout.splitlines() if line.startswith("user ")]
    assert [u[:5] for u in users] == [["user", "nginx", "root,", "www-data", "root,"]]  # master and workers
    container = docker_client.containers.run(tag, detach=True, remove=True, ports={"8080/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = int(container.ports["8080/tcp"][0]["HostPort"])
        status, built_body = staging.http_get(port)
        assert status == 200
        assert built_body == staged_body
        assert container.attrs["Config"]["Env"].count("APP_ENV=staging") == 1
    finally:
        container.remove(force=True)
        docker_client.images.remove(tag, force=True)


def test_shipped_example_builds_and_serves_its_page(docker_client):
    """README's main job: the committed example session builds and answers as its fingerprint says."""
    tag = staging.tag("e2e-example")
    example = str(staging.ROOT / "sessions" / "web")
    result = record_cli("build", example, "--tag", tag, "--base", staging.BASE_IMAGE, "--verify")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout
    assert ", 0 mismatched, 2 skipped: the image answers like staging" in result.stdout  # 2: dropped by minimize
    container = docker_client.containers.run(tag, detach=True, remove=True, ports={"8080/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        status, body = staging.http_get(int(container.ports["8080/tcp"][0]["HostPort"]))
        assert status == 200 and staging.NGINX_PAGE.encode() in body
    finally:
        container.remove(force=True)
        docker_client.images.remove(tag, force=True)


def test_commands_typed_in_sudo_i_are_recorded_as_root(staging_host, tmp_path):
    staging_host.sh("useradd -m -s /bin/bash deploy && echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deploy")
    child = staging.pexpect.spawn(
        f"docker exec -it -u deploy -w /home/deploy {staging_host.container.id} record start --name ops",
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 160),
    )
    child.expect(staging.PROMPT)
    child.sendline("sudo -i")
    child.expect(staging.PROMPT)
    child.sendline("echo 'max_conn = 10' > /etc/app.conf")
    child.expect(staging.PROMPT)
    child.sendline("exit")
    child.expect(staging.PROMPT)
    child.sendline("exit")
    child.expect(staging.pexpect.EOF)
    session = read.load(staging_host.copy_out("/home/deploy/sessions/ops", tmp_path))
    inside = next(st for st in session.steps if st.command.startswith("echo 'max_conn"))
    assert inside.user == "root" and inside.cwd == "/root" and inside.replay == "files"
    assert [f.path for f in inside.effects.files] == ["/etc/app.conf"]
    assert session.host.user == "deploy"
