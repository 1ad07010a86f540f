"""Everything a deployment changes, end to end: apt, a virtualenv with pip, npm, useradd, a vi-edited
config, a deleted file, two services (one run by a non-root user) under supervisord, and a package
the host already had (python3) that the service needs. The built image must answer like staging."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recorder.model import read
from tests import staging

pytestmark = pytest.mark.docker

APP = """\
from wsgiref.simple_server import make_server
from waitress import serve

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from the app user\\n"]

serve(app, host="0.0.0.0", port=9000)
"""

DEPLOYMENT = (
    "apt-get update",
    "apt-get install -y nginx vim-tiny npm",
    "useradd -m -s /bin/bash app",
    "mkdir -p /opt/app && python3 -m venv /opt/app/venv",
    "/opt/app/venv/bin/pip install waitress==3.0.0",
    f"cat > /opt/app/app.py <<'EOF'\n{APP}EOF",
    "npm install -g is-number@7.0.0",
    "echo '<h1>multi</h1>' > /var/www/html/index.html && rm /var/www/html/index.nginx-debian.html",
    "nginx",
    "cd /opt/app && su app -c 'nohup /opt/app/venv/bin/python app.py >/dev/null 2>&1 &'",
    # as an operator checks before leaving (no curl on a minimal host):
    "sleep 2; python3 -c \"import urllib.request as u; print(u.urlopen('http://localhost:9000').read())\"",
)


def _vi_edit(child) -> None:
    """A person changes nginx's port in vi: open, substitute twice, write, quit."""
    child.sendline("vi /etc/nginx/sites-available/default")
    child.expect("default")
    child.send(":%s/listen 80 /listen 8080 /\r")
    child.send(":%s/listen \\[::\\]:80 /listen [::]:8080 /\r")
    child.send(":wq\r")
    child.expect(staging.PROMPT)


def test_a_full_deployment_replays_and_the_image_answers_like_staging(docker_client, staging_image, tmp_path):
    # Docker's default capabilities: the second service runs as user `app`, whose fds root may not read
    host = staging.StagingHost(docker_client, ports=(8080, 9000))
    try:
        child = host.spawn_record("--name multi")
        child.expect(staging.PROMPT)
        for line in DEPLOYMENT[:3]:
            child.sendline(line)
            child.expect(staging.PROMPT, timeout=900)
        _vi_edit(child)
        for line in DEPLOYMENT[3:]:
            child.sendline(line)
            child.expect(staging.PROMPT, timeout=600)
        child.sendline("exit")
        child.expect(staging.pexpect.EOF, timeout=120)
        staged = {port: staging.http_get(host.port(port)) for port in (8080, 9000)}
        staged_npm = host.sh("npm ls -g is-number")[1]
        session_dir = host.copy_out("/root/sessions/multi", tmp_path)
    finally:
        host.close()

    session = read.load(session_dir)
    by_command = {st.command: st for st in session.steps}
    pip_step = by_command["/opt/app/venv/bin/pip install waitress==3.0.0"]
    assert pip_step.effects.packages[0].installed == {"waitress": "3.0.0"}
    assert pip_step.effects.packages[0].target == "/opt/app/venv"
    assert by_command["npm install -g is-number@7.0.0"].effects.packages[0].installed == {"is-number": "7.0.0"}
    assert by_command["useradd -m -s /bin/bash app"].replay == "run"
    vi_step = by_command["vi /etc/nginx/sites-available/default"]
    assert [f.path for f in vi_step.effects.files] == ["/etc/nginx/sites-available/default"]
    assert {"python3-venv"} <= set(session.host.needed_packages)  # the host had it before recording
    services = {svc.name: svc for svc in session.services}
    assert services["nginx"].user == "root"
    python = next(svc for name, svc in services.items() if name != "nginx")
    assert python.command == ["/opt/app/venv/bin/python", "app.py"], python
    assert python.user == "app" and python.cwd == "/opt/app"
    assert [p.port for p in python.ports] == [9000]

    tag = staging.tag("e2e-multi")
    result = subprocess.run(
        [sys.executable, "-m", "recorder", "build", str(session_dir), "--tag", tag, "--base", staging.BASE_IMAGE],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    text = (session_dir / "Dockerfile").read_text() if (session_dir / "Dockerfile").exists() else ""
    assert "/etc/passwd" not in text
    container = docker_client.containers.run(
        tag, detach=True, remove=True, ports={"8080/tcp": ("127.0.0.1", None), "9000/tcp": ("127.0.0.1", None)}
    )
    try:
        container.reload()
        for port in (8080, 9000):
            built = staging.http_get(int(container.ports[f"{port}/tcp"][0]["HostPort"]))
            assert built == staged[port], port
        code, _ = container.exec_run(["test", "-e", "/var/www/html/index.nginx-debian.html"])
        assert code == 1  # deleted on staging, deleted in the image
        code, out = container.exec_run(["npm", "ls", "-g", "is-number"])
        assert code == 0 and "is-number@7.0.0" in out.decode() and "is-number@7.0.0" in staged_npm
        owners = 'for d in /proc/[0-9]*; do tr "\\0" " " < $d/cmdline | grep -q "[a]pp.py" && stat -c %U $d; done'
        _, out = container.exec_run(["sh", "-c", owners])
        assert out.decode().split() == ["app"]  # the service runs as the user it ran as on staging
    finally:
        container.remove(force=True)
        docker_client.images.remove(tag, force=True)
