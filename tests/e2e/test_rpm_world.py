"""The rpm world end to end, on a CentOS 7-like staging host made of Debian packages (tests/rpmbench),
recorded at its console: the deployment of el7.py typed into `record start`; the image built FROM the
same base must hold the same NEVRAs, the edited config byte for byte, and answer like staging;
`record verify` checks the packages through rpm."""

from __future__ import annotations

import contextlib

import docker
import pytest

from tests import staging
from tests.cli import record as record_cli
from tests.e2e import el7

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def rhel(docker_client):
    return staging.build_rhel_staging_image(docker_client)


def test_a_yum_deployment_replays_with_its_nevras_and_answers_like_staging(docker_client, rhel, tmp_path):
    base, image = rhel
    host = staging.StagingHost(docker_client, ports=(el7.PORT,), image=image)
    try:
        shown = staging.strip_ansi(host.record("el7", el7.DEPLOYMENT))
        assert "hello from staging" in shown
        facts = el7.staged(host)
        session_dir = host.copy_out("/root/sessions/el7", tmp_path)
    finally:
        host.close()

    el7.check_session(session_dir, facts[1])
    el7.check_dockerfile(session_dir, base)
    tag = staging.tag("e2e-el7")
    justdb = staging.tag("e2e-el7-justdb")
    try:
        el7.check_image(docker_client, session_dir, base, tag, facts)

        # the same image with greeter-extras gone from rpm's database (its files stay, it answers the same)
        # and legacy-agent back: verify hears both from the image's rpm
        changed = docker_client.containers.run(
            tag,
            entrypoint=[
                "sh",
                "-c",
                "rpm -e --nodeps --justdb greeter-extras && yum install -q -y --nogpgcheck legacy-agent",
            ],
            detach=True,
        )
        try:
            assert changed.wait()["StatusCode"] == 0, changed.logs()
            changed.commit(*justdb.split(":"), changes=['ENTRYPOINT ["/usr/bin/greeter"]'])
            result = record_cli("verify", str(session_dir), "--tag", justdb)
            mismatches = [line for line in result.stdout.splitlines() if line.startswith("mismatch:")]
            assert result.returncode == 1 and sorted(mismatches) == [
                "mismatch: package greeter-extras: staging 0.9-2.el7.noarch, image absent",
                "mismatch: package legacy-agent: staging absent, image 3.2-1.el7.noarch",
            ], result.stdout
        finally:
            changed.remove(force=True)
    finally:
        for image_tag in (justdb, tag):
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(image_tag, force=True)
