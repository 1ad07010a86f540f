"""`record verify` against the real engine: the shipped example's image, changed after recording in the
ways a reviewer must hear about, is run and asked what staging was asked."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from recorder.engine.verify import _installed
from recorder.model import read, write
from recorder.model.session import FileChange
from tests import staging
from tests.cli import record

EXAMPLE = staging.ROOT / "sessions" / "web"
SITE = "files/etc/nginx/sites-available/default"


def example_copy(tmp_path: Path) -> Path:
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    return d


def build(d: Path, tag: str) -> None:
    """Built without the smoke run: these images are broken on purpose, for verify to say how."""
    result = record("build", str(d), "--tag", tag, "--base", staging.BASE_IMAGE, "--quiet", "--no-smoke")
    assert result.returncode == 0, result.stderr


@pytest.mark.docker
def test_a_config_file_changed_after_recording_is_named(docker_client, tmp_path):
    d = example_copy(tmp_path)
    with open(d / SITE, "a") as f:
        f.write("# tuned by hand after the recording\n")
    tag = staging.tag("verify-config")
    build(d, tag)
    try:
        result = record("verify", str(d), "--tag", tag)
        assert result.returncode == 1, result.stdout + result.stderr
        mismatches = [line for line in result.stdout.splitlines() if line.startswith("mismatch:")]
        assert len(mismatches) == 1
        assert mismatches[0].startswith(
            "mismatch: file /etc/nginx/sites-available/default: staging sha256:1d1e6456256c"
        )
        assert result.stdout.splitlines()[-1] == (
            f"verify {tag}: 14 matched, 1 mismatched, 2 skipped: the image differs from staging"
        )
        assert "ports published on 127.0.0.1 only" in result.stderr
        assert not docker_client.containers.list(all=True, filters={"label": "io.record.verify=web"})
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_a_port_that_no_longer_listens_is_named_and_json_says_so(docker_client, tmp_path):
    d = example_copy(tmp_path)
    conf = d / SITE
    conf.write_text(conf.read_text().replace("listen 8080 default_server;", "listen 8081 default_server;"))
    conf.write_text(conf.read_text().replace("listen [::]:8080 default_server;", "listen [::]:8081 default_server;"))
    tag = staging.tag("verify-port")
    build(d, tag)
    try:
        result = record("verify", str(d), "--tag", tag, "--timeout", "5", "--json")
        assert result.returncode == 1, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["ok"] is False and report["image"] == tag
        wrong = {(c["kind"], c["subject"]): c for c in report["checks"] if c["result"] == "mismatch"}
        assert set(wrong) == {
            ("port", "8080"),
            ("http", "GET http://localhost:8080/"),
            ("http", "GET http://localhost:8080/index.html"),
            ("file", "/etc/nginx/sites-available/default"),
        }
        port = wrong[("port", "8080")]
        assert (port["expected"], port["observed"]) == ("accepts TCP", "refuses TCP")
        assert port["note"] == "nothing accepted a connection within 5s"
        assert wrong[("http", "GET http://localhost:8080/index.html")]["note"] == "fetched in step 8"
        assert report["counts"] == {"match": 11, "mismatch": 4, "skipped": 2}  # 2: dropped by record minimize
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_a_service_that_dies_is_named_with_its_last_words(docker_client, tmp_path):
    d = example_copy(tmp_path)
    (d / SITE).write_text("server { listen 8080; broken\n")
    tag = staging.tag("verify-dies")
    build(d, tag)
    try:
        result = record("verify", str(d), "--tag", tag)
        assert result.returncode == 1
        port = next(line for line in result.stdout.splitlines() if line.startswith("mismatch: port 8080"))
        assert "the container exited (code 1)" in port and "[emerg]" in port and "unexpected end of file" in port
    finally:
        docker_client.images.remove(tag, force=True)


def test_an_engine_on_another_machine_is_refused_before_any_traffic(tmp_path):
    # 192.0.2.1 is TEST-NET-1: nothing may be sent there, and nothing is
    result = record(
        "verify", str(EXAMPLE), "--tag", "web:1", env={"DOCKER_HOST": "tcp://192.0.2.1:2375", "PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "DOCKER_HOST=tcp://192.0.2.1:2375: verify publishes the image's ports on 127.0.0.1" in result.stderr


@pytest.mark.docker
def test_an_image_that_is_not_there_is_one_line_exit_2(docker_client):
    tag = staging.tag("never-built")
    result = record("verify", str(EXAMPLE), "--tag", tag)
    assert result.returncode == 2
    assert (
        result.stderr == f"record: error: image {tag}: not found; build it first (`record build SESSION --tag {tag}`)\n"
    )


@pytest.mark.docker
def test_directories_are_rebuilt_with_their_mode_and_owner_and_verified(docker_client, tmp_path):
    """A directory a step made (empty, owned by the service's user) and one whose mode it set: built
    with install -d, and verify compares each one's mode without downloading its tree."""
    d = example_copy(tmp_path)
    session = read.load(d)
    step = next(st for st in session.steps if st.replay == "files" and st.effects.files)
    step.effects.files += [
        FileChange(path="/var/lib/web-cache", kind="dir", mode=0o750, owner="www-data", group="www-data"),
        FileChange(path="/var/www/html", kind="dir", mode=0o755),  # its files are copied: COPY makes it
    ]
    write.save(session, d)
    assert record("to-dockerfile", str(d)).returncode == 0
    text = (d / "Dockerfile").read_text()
    assert "install -d -m 0750 -o www-data -g www-data /var/lib/web-cache" in text
    assert "/var/www/html" not in text.split("install -d", 1)[1]  # made by its COPY, no line of its own
    tag = staging.tag("verify-dirs")
    build(d, tag)
    try:
        result = record("verify", str(d), "--tag", tag, "--json")
        report = json.loads(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr
        checks = {c["subject"]: c for c in report["checks"] if c["kind"] == "file"}
        assert checks["/var/lib/web-cache"]["expected"] == checks["/var/lib/web-cache"]["observed"]
        assert checks["/var/lib/web-cache"]["observed"] == "a directory mode 0750"
        owner = docker_client.containers.run(
            tag, ["stat", "-c", "%U:%G %a", "/var/lib/web-cache"], entrypoint=[], remove=True
        )
        assert owner.decode().strip() == "www-data:www-data 750"
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_each_manager_s_packages_are_read_from_the_image_by_that_manager_s_reader(docker_client):
    """A virtualenv's distributions, a project's node_modules and dpkg's database, as an image holds them."""
    site = "/srv/api/venv/lib/python3.11/site-packages"
    dockerfile = (
        f"FROM {staging.BASE_IMAGE}\n"
        f"RUN mkdir -p {site}/gunicorn-22.0.0.dist-info {site}/gunicorn {site}/packaging-26.4.dist-info"
        f" /opt/app/node_modules/express /opt/app/node_modules/express/node_modules/qs"
        f" && touch {site}/gunicorn-22.0.0.dist-info/METADATA {site}/packaging-26.4.dist-info/METADATA"
        f" {site}/gunicorn/__init__.py"
        """ && echo '{"name": "express", "version": "4.19.2"}' > /opt/app/node_modules/express/package.json"""
        """ && echo '{"name": "qs", "version": "6.11.0"}'"""
        " > /opt/app/node_modules/express/node_modules/qs/package.json\n"
    )
    tag = staging.tag("verify-databases")
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    container = docker_client.containers.create(tag, ["true"])
    try:
        assert _installed(container, "pip", site) == {"gunicorn": "22.0.0", "packaging": "26.4"}
        assert _installed(container, "npm", "/opt/app/node_modules") == {"express": "4.19.2"}  # qs is nested
        assert _installed(container, "pip", "/opt/other/lib/python3.11/site-packages") == {}
        dpkg = _installed(container, "apt", "")
        assert dpkg["bash"] and dpkg["dpkg"]
        assert _installed(container, "gem", "") is None  # gem's database is not read: such checks are skipped
    finally:
        container.remove(force=True)
        docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_each_program_runs_as_the_users_it_ran_as_on_staging(docker_client, tmp_path):
    """nginx's master as root and its workers as www-data, as on staging; a program recorded as running
    as another user is named."""
    d = example_copy(tmp_path)
    session = read.load(d)
    session.services[0].processes = {"nginx": ["root", "www-data"]}
    write.save(session, d)
    tag = staging.tag("verify-users")
    build(d, tag)
    try:
        result = record("verify", str(d), "--tag", tag, "--json")
        users = [c for c in json.loads(result.stdout)["checks"] if c["kind"] == "user"]
        assert [(c["subject"], c["expected"], c["observed"], c["result"]) for c in users] == [
            ("nginx", "root, www-data", "root, www-data", "match")
        ]
        session.services[0].processes = {"nginx": ["root", "nginx-worker"]}
        write.save(session, d)
        result = record("verify", str(d), "--tag", tag)
        assert result.returncode == 1
        assert "mismatch: user nginx: staging nginx-worker, root, image root, www-data (the users its" in result.stdout
    finally:
        docker_client.images.remove(tag, force=True)
