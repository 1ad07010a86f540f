"""`record build --verify` through podman's Docker-compatible API: RHEL 8+ hosts have podman, not docker.

The engine is Debian's podman (`podman system service` on a private socket, its storage in a temp dir,
so nothing is left on the machine), reached the way a user would: DOCKER_HOST=unix://... Nothing in
the recorder knows it is podman; the test proves the SDK calls we make (build with progress, run,
publish on 127.0.0.1, exec, archive reads, logs) mean the same there.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import pytest

from tests import staging
from tests.cli import record

EXAMPLE = staging.ROOT / "sessions" / "web"


def _containers_conf(path: Path) -> Path:
    """Limits podman may set here. It asks for more open files and processes than a host without
    CAP_SYS_RESOURCE (a container, as CI is) can grant, and runc then refuses every container; docker
    leaves them as they are. A process limit above pid_max is refused too."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else nofile
    path.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    return path


@pytest.fixture(scope="module")
def podman(docker_client, tmp_path_factory):
    """A podman API service with the base image in it; yields its DOCKER_HOST."""
    if not shutil.which("podman"):
        pytest.fail("podman is missing; scripts/test installs it", pytrace=False)
    top = tmp_path_factory.mktemp("podman")
    run = Path(tempfile.mkdtemp(prefix="record-podman-", dir="/tmp"))  # podman wants a runroot under 50 characters
    socket = run / "podman.sock"
    storage = ["--root", str(top / "root"), "--runroot", str(run / "state")]
    env = {**os.environ, "CONTAINERS_CONF": str(_containers_conf(top / "containers.conf"))}
    log = open(top / "service.log", "wb")  # noqa: SIM115 - closed at teardown
    service = subprocess.Popen(
        ["podman", *storage, "system", "service", "--time=0", f"unix://{socket}"], env=env, stdout=log, stderr=log
    )
    host = f"unix://{socket}"
    try:
        client = _wait_for(host, service, top / "service.log")
        client.images.load(docker_client.images.get(staging.BASE_IMAGE).save(named=True))
        yield host, client
    finally:
        service.terminate()
        service.wait(timeout=30)
        log.close()
        subprocess.run(["podman", *storage, "system", "reset", "--force"], env=env, capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)


def _wait_for(host: str, service: subprocess.Popen, log: Path) -> docker.DockerClient:
    deadline = time.monotonic() + 30
    while True:
        if service.poll() is not None:
            pytest.fail(f"podman system service exited: {log.read_text()[-2000:]}", pytrace=False)
        try:
            client = docker.DockerClient(base_url=host)
            client.ping()
            return client
        except docker.errors.DockerException:
            if time.monotonic() > deadline:
                pytest.fail(f"podman system service did not answer in 30 s: {log.read_text()[-2000:]}", pytrace=False)
            time.sleep(0.3)


@pytest.mark.docker
def test_the_example_builds_and_verifies_through_podmans_docker_api(podman, tmp_path):
    host, client = podman
    d = tmp_path / "web"
    shutil.copytree(EXAMPLE, d)
    tag = staging.tag("podman-web")
    result = record(
        "build", str(d), "--tag", tag, "--base", staging.BASE_IMAGE, "--verify", env={**os.environ, "DOCKER_HOST": host}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"smoke run: {tag} stayed up and accepted on 8080" in result.stderr
    assert "the image answers like staging" in result.stdout + result.stderr
    assert "0 mismatched" in result.stdout + result.stderr
    image = client.images.get(tag)  # built by podman, not by the docker engine the other tests use
    assert image.labels.get("io.record.session") == "web"
    assert not client.containers.list(all=True), "build and verify leave no container behind"
