"""Acceptance for "no secret leaves the staging host": fourteen secrets of different kinds, typed into a
real recording in a staging container (as commands, exported variables, config files, a key, a
password at a no-echo prompt, a service's command line), then searched for in the session directory,
the generated files, the build's output, and `docker save` of the image built from it: none found.
The image still works: given the secret at run time, its service answers with it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import time

import pytest

from tests import fakes, staging
from tests.cli import record as record_cli

pytestmark = pytest.mark.docker

SERVER = """import hashlib, http.server, sys
token = sys.argv[sys.argv.index("--token") + 1]
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(hashlib.sha256(token.encode()).hexdigest().encode())
http.server.HTTPServer(("0.0.0.0", 8080), Answer).serve_forever()"""


def image_bytes(client, tag: str) -> bytes:
    """Everything `docker save` writes for the image: config, manifests and every layer, unpacked
    when a layer is compressed, so a search sees the files' bytes."""
    saved = b"".join(client.images.get(tag).save(named=True))
    out = [saved]
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        for member in tar:
            if member.isfile():
                data = tar.extractfile(member).read()
                out.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return b"\n".join(out)


def test_no_seeded_secret_reaches_the_session_the_generated_files_or_the_image(staging_host, docker_client, tmp_path):
    s = {
        "password by name": fakes.password(),
        "AWS access key id": fakes.aws_access_key_id(),
        "AWS secret key in a file": fakes.aws_secret_access_key(),
        "GitHub token in a URL": fakes.github_token(),
        "curl -u password": fakes.password(),
        "mysql -p password": fakes.password(),
        "docker login -p password": fakes.password(),
        "Slack token": fakes.slack_token(),
        "JWT": fakes.jwt(),
        "private key": fakes.private_key(),
        "GitLab token in a config file": fakes.gitlab_token(),
        "typed at a no-echo prompt": fakes.password(),
        "high-entropy string": fakes.high_entropy(),
        "service token": fakes.github_token(),
    }
    commands = [
        f"export DB_PASSWORD={s['password by name']} APP_ENV=staging",
        f"export AWS_ACCESS_KEY_ID={s['AWS access key id']}",
        "mkdir -p /root/.aws && printf '[default]\\naws_secret_access_key = %s\\n' "
        f"{s['AWS secret key in a file']} > /root/.aws/credentials",
        f"git clone https://deploy:{s['GitHub token in a URL']}@github.example/org/app.git /opt/app || true",
        f"curl -fsS -u admin:{s['curl -u password']} http://127.0.0.1:9/ || true",
        f"mysql -uroot -p{s['mysql -p password']} -e 'select 1'",
        f"docker login -u ci -p {s['docker login -p password']} registry.example",
        f"export NOTIFY={s['Slack token']}",
        f"export SESSION={s['JWT']}",
        f"mkdir -p /etc/ssl/private && cat > /etc/ssl/private/app.key <<'EOF'\n{s['private key']}\nEOF",
        f"mkdir -p /etc/app && printf 'gitlab_token = %s\\n' {s['GitLab token in a config file']} > /etc/app/ci.ini",
        f'export BUILD_SALT="{s["high-entropy string"]}"',
        f"echo {s['password by name']} | wc -c",  # a known secret, used again
        "echo 'log_level = info' > /etc/app/app.conf",
        f"cat > /opt/srv.py <<'EOF'\n{SERVER}\nEOF",
        f"nohup python3 /opt/srv.py --token {s['service token']} >/dev/null 2>&1 &",
        "sleep 1",
    ]
    child = staging_host.spawn_record("--name trust")
    child.expect(staging.PROMPT)
    for command in commands:
        child.sendline(command)
        child.expect(staging.PROMPT, timeout=120)
    child.sendline('read -s -p \'Password: \' P && export ADMIN_CODE="$P" && echo "code is $P"')
    child.expect("Password: ")
    time.sleep(0.3)
    child.sendline(s["typed at a no-echo prompt"])
    child.expect(staging.PROMPT)
    child.sendline("exit")
    child.expect("Recorded")
    child.expect(staging.pexpect.EOF, timeout=120)
    summary = child.before

    # nothing is left behind on the staging host either: no raw cast, no store of secret values
    left = "/root/sessions/trust/terminal.cast.* /root/sessions/trust/secrets.* /tmp/record-*"
    code, leftovers = staging_host.sh(f'for f in {left}; do [ -e "$f" ] && echo "$f"; done; true')
    assert code == 0 and leftovers == "", leftovers

    session_dir = staging_host.copy_out("/root/sessions/trust", tmp_path)
    generated = record_cli("to-dockerfile", str(session_dir))
    assert generated.returncode == 0, generated.stderr
    tag = staging.tag("trust")
    built = record_cli("build", str(session_dir), "--tag", tag, "--base", staging.STAGING_IMAGE)
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        everything = {
            f"session file {p.relative_to(session_dir)}": p.read_bytes() for p in session_dir.rglob("*") if p.is_file()
        }
        everything["summary on screen"] = summary.encode()
        everything["to-dockerfile output"] = generated.stderr.encode()
        everything["build output"] = built.stderr.encode()
        everything["image (docker save)"] = image_bytes(docker_client, tag)
        everything["image config"] = json.dumps(docker_client.api.inspect_image(tag)).encode()
        assert len(s) >= 8 and len({*s.values()}) == len(s)
        for kind, secret in s.items():
            # each line of the key on its own; its BEGIN/END lines are no secret (the base image's
            # Python packages contain them), the lines between are
            for piece in (line for line in secret.splitlines() if not line.startswith("-----")):
                for where, data in everything.items():
                    assert piece.encode() not in data, f"the {kind} was found in the {where}"

        # and what was kept is still there: the redaction took secrets, not the deployment
        text = (session_dir / "Dockerfile").read_text()
        assert 'ENV APP_ENV="staging"' in text
        assert "COPY files/etc/app/app.conf /etc/app/app.conf" in text and "files/opt/srv.py" in text
        assert not any(line.startswith(("ENV DB_PASSWORD", "ENV ADMIN_CODE", "ARG")) for line in text.splitlines())
        example = (session_dir / ".env.example").read_text().splitlines()
        for name in ("DB_PASSWORD", "AWS_ACCESS_KEY_ID", "NOTIFY", "SESSION", "BUILD_SALT", "ADMIN_CODE", "TOKEN"):
            assert f"{name}=" in example
        for path in ("/root/.aws/credentials", "/etc/ssl/private/app.key", "/etc/app/ci.ini"):
            assert any(line.startswith(f"# {path} holds a secret") for line in example)
            assert not (session_dir / "files" / path.lstrip("/")).exists()
        cast = (session_dir / "terminal.cast").read_text()
        assert "code is <redacted:ADMIN_CODE>" in cast  # the typed secret, echoed by a program, redacted

        # given at run time, the secret reaches the service, which answers with its digest
        container = docker_client.containers.run(
            tag,
            detach=True,
            remove=True,
            environment={"TOKEN": s["service token"]},
            ports={"8080/tcp": ("127.0.0.1", None)},
        )
        try:
            container.reload()
            status, body = staging.http_get(int(container.ports["8080/tcp"][0]["HostPort"]))
            assert status == 200 and body.decode() == hashlib.sha256(s["service token"].encode()).hexdigest()
        finally:
            container.remove(force=True)
    finally:
        docker_client.images.remove(tag, force=True)
