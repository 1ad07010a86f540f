"""rpm's probes on a real rpm database: the RHEL-like bench (tests/rpmbench) with this project in it,
asked from inside its container as `record start` asks it on a CentOS host."""

from __future__ import annotations

import json

import pytest

from tests import staging

pytestmark = pytest.mark.docker

REPO = "[base]\\nname=base\\nbaseurl=file:///srv/repos/base\\ngpgcheck=0\\nmetadata_expire=0\\n"
SCRIPT = """
import json, subprocess
from recorder.capture import probes

queries = []
real = probes._run
probes._run = lambda argv: (queries.append(argv[1]), real(argv))[1]  # counts the rpm commands, runs them
probe = probes.RpmProbe()
owners = probes.RpmOwners(probe)
first = probe.snapshot()
probe.snapshot()
unchanged_queries = queries.count("-qa")
subprocess.run(["yum", "install", "-q", "-y", "greeter"], check=True, capture_output=True)
after = probe.snapshot()
subprocess.run(["sed", "-i", "s/^greeting = .*/greeting = edited/", "/etc/greeter.conf"], check=True)
subprocess.run(["touch", "/usr/share/greeter/banner.txt"], check=True)
paths = ["/etc/greeter.conf", "/usr/share/greeter/banner.txt", "/usr/bin/greeter", "/etc/passwd"]
print(json.dumps({
    "available": probe.available,
    "first": first,
    "unchanged_queries": unchanged_queries,
    "after": after,
    "queries": queries.count("-qa"),
    "owners": [owners.owner(p) for p in paths],
    "as_shipped": [owners.unchanged_from_package(p) for p in paths],
    "listings": queries.count("-qa") - 2,
}))
"""


def test_rpm_probe_reads_nevras_when_the_database_changed_and_rpm_v_tells_edited_files(docker_client):
    _, image = staging.build_rhel_staging_image(docker_client)
    container = docker_client.containers.run(image, ["sleep", "infinity"], detach=True, remove=True)
    try:
        code, out = container.exec_run(["sh", "-c", f"printf '{REPO}' > /etc/yum.repos.d/base.repo"])
        assert code == 0, out
        code, out = container.exec_run(["/usr/lib/record/bin/python", "-c", SCRIPT])
        assert code == 0, out.decode()
        found = json.loads(out.decode().splitlines()[-1])
    finally:
        container.remove(force=True)
    assert found["available"] is True
    assert found["first"] == {"bench-release": "7-1.noarch", "legacy-agent": "3.2-1.el7.noarch"}
    assert found["unchanged_queries"] == 1  # the database's files did not change: rpm is not asked again
    assert found["after"] == {
        "bench-release": "7-1.noarch",
        "greeter": "2.1-1.el7.noarch",
        "greeter-common": "2:1.4-3.el7.noarch",
        "legacy-agent": "3.2-1.el7.noarch",
    }
    assert found["queries"] == 2
    assert found["owners"] == ["greeter", "greeter-common", "greeter", None]
    # edited: copied into the session; only touched, or untouched: the package brings it back
    assert found["as_shipped"] == [False, True, True, False]
    assert found["listings"] == 1  # whose files are whose: asked once for all eight questions


def test_a_debian_host_has_no_rpm_database_to_read(docker_client, staging_image):
    container = docker_client.containers.run(staging_image, ["sleep", "infinity"], detach=True, remove=True)
    try:
        script = "from recorder.capture import probes; p = probes.RpmProbe(); print(p.available, p.snapshot())"
        code, out = container.exec_run(["/usr/lib/record/bin/python", "-c", script])
    finally:
        container.remove(force=True)
    assert code == 0 and out.decode().split() == ["False", "{}"]
