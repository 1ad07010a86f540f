"""The rpm world's deployment and what must hold of it, shared by the test that records it at the
console of a CentOS 7-like staging host (test_rpm_world.py) and the one that records it over ssh
(test_ssh.py): a mirror .repo file written with a heredoc, `yum install` of a service that pulls a
dependency (with an epoch), a package from a disabled repository with `--enablerepo=`, one from a
repository added by `yum-config-manager --add-repo` in the same line, one by URL with `rpm -Uvh`, a
package of the base removed, the service's %config file edited, the service started."""

from __future__ import annotations

import re
from pathlib import Path

from recorder.model import read
from tests import staging
from tests.cli import record as record_cli
from tests.tools import hadolint_findings

REPO_FILE = """cat > /etc/yum.repos.d/mirror.repo <<'EOF'
[bench-base]
name=Bench base - internal mirror
baseurl=file:///srv/repos/base
gpgcheck=0
metadata_expire=0

[bench-extra]
name=Bench extra - like EPEL, off unless asked for
baseurl=file:///srv/repos/extra
gpgcheck=0
enabled=0
metadata_expire=0
EOF"""
ADD_REPO = "yum-config-manager --add-repo file:///srv/repos/tools && yum install -y --nogpgcheck greeter-tools"
MOTD_URL = "file:///srv/rpms/greeter-motd-1.0-1.el7.noarch.rpm"  # in no repository, as EPEL's release RPM
DEPLOYMENT = (
    REPO_FILE,
    "yum install -y greeter",
    "yum install -y --enablerepo=bench-extra greeter-extras",
    ADD_REPO,
    f"rpm -Uvh {MOTD_URL}",
    "sed -i 's/^greeting = .*/greeting = hello from staging/; s/^port = .*/port = 8090/' /etc/greeter.conf",
    "yum remove -y legacy-agent",
    "nohup greeter >/var/log/greeter.log 2>&1 &",
    "sleep 1; curl -s http://localhost:8090/",
)
PORT = 8090
QUERY = ["rpm", "-q", "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n", "greeter", "greeter-common"]
INSTALLED = ("greeter-extras", "greeter-tools", "greeter-motd")
NEVRAS = [
    "greeter-0:2.1-1.el7.noarch",
    "greeter-common-2:1.4-3.el7.noarch",
    "greeter-extras-0:0.9-2.el7.noarch",
    "greeter-tools-0:1.0-5.el7.noarch",
    "greeter-motd-0:1.0-1.el7.noarch",
]


def staged(host) -> tuple[tuple[int, bytes], str, str]:
    """What the staging host answers after the deployment: GET / on the service, the edited config,
    and rpm's NEVRAs of what was installed."""
    answer = staging.http_get(host.port(PORT))
    conf = host.sh("cat /etc/greeter.conf")[1]
    nevras = host.sh(" ".join(f"'{w}'" for w in (*QUERY, *INSTALLED)))[1]
    assert answer[0] == 200 and answer[1].startswith(b"hello from staging\nserved by greeter-common\n")
    assert all(f"greeter-{p}".encode() in answer[1] for p in ("extras", "tools", "motd"))
    assert nevras.split() == NEVRAS
    return answer, conf, nevras


def check_session(session_dir: Path, staged_conf: str) -> None:
    """Each step's effects as the recorder observed them on the host."""
    session = read.load(session_dir)
    steps = {st.command: st for st in session.steps}
    assert [f.path for f in steps[REPO_FILE].effects.files] == ["/etc/yum.repos.d/mirror.repo"]
    install = steps["yum install -y greeter"].effects.packages
    assert [(p.manager, p.installed, p.dependencies, p.options) for p in install] == [
        ("yum", {"greeter": "2.1-1.el7.noarch"}, {"greeter-common": "2:1.4-3.el7.noarch"}, [])
    ]
    extra = steps["yum install -y --enablerepo=bench-extra greeter-extras"].effects.packages
    assert [(p.installed, p.options) for p in extra] == [
        ({"greeter-extras": "0.9-2.el7.noarch"}, ["--enablerepo=bench-extra"])
    ]
    added = steps[ADD_REPO].effects
    assert [(p.installed, p.options) for p in added.packages] == [
        ({"greeter-tools": "1.0-5.el7.noarch"}, ["--nogpgcheck"])
    ]
    assert [f.path for f in added.files] == ["/etc/yum.repos.d/srv_repos_tools.repo"]
    by_url = steps[f"rpm -Uvh {MOTD_URL}"].effects.packages  # replayed by yum, from the URL
    assert [(p.manager, p.installed, p.options) for p in by_url] == [
        ("yum", {"greeter-motd": "1.0-1.el7.noarch"}, ["--nogpgcheck", MOTD_URL])
    ]
    removal = steps["yum remove -y legacy-agent"].effects.packages
    assert [(p.manager, p.removed, p.installed) for p in removal] == [("yum", ["legacy-agent"], {})]
    edit = steps[DEPLOYMENT[5]]
    assert [f.path for f in edit.effects.files] == ["/etc/greeter.conf"]  # rpm -V: no longer as shipped
    assert (session_dir / "files/etc/greeter.conf").read_text() == staged_conf
    assert not steps[DEPLOYMENT[7]].effects.packages and not steps[DEPLOYMENT[8]].effects.packages


def check_dockerfile(session_dir: Path, base: str) -> None:
    """to-dockerfile FROM the RHEL-like base: lint-clean yum lines pinned to the staging NEVRAs."""
    result = record_cli("to-dockerfile", str(session_dir), "--base", base)
    assert result.returncode == 0, result.stderr
    text = (session_dir / "Dockerfile").read_text()
    assert hadolint_findings(text) == ""  # yum -y, pins, clean all in the same RUN (DL3030/32/33)
    repo = text.index("COPY files/etc/yum.repos.d/mirror.repo /etc/yum.repos.d/mirror.repo")
    first_install = text.index("RUN yum install -y")
    assert repo < first_install  # the mirror is there before the install that needs it
    assert "greeter-common-2:1.4-3.el7.noarch" in text and "greeter-2.1-1.el7.noarch" in text
    assert re.search(r"RUN yum install -y --enablerepo=bench-extra \\\n\s+greeter-extras-0.9-2.el7.noarch", text)
    assert (
        f"RUN yum install -y --nogpgcheck {MOTD_URL} \\\n      greeter-motd-1.0-1.el7.noarch \\\n && yum clean all"
        in text
    )
    assert text.count("yum clean all") == 5 and "RUN yum remove -y legacy-agent && yum clean all" in text
    added_repo = "COPY files/etc/yum.repos.d/srv_repos_tools.repo /etc/yum.repos.d/srv_repos_tools.repo"
    assert text.index(added_repo) < text.index("RUN yum install -y --nogpgcheck")  # its own step, first


def check_image(docker_client, session_dir: Path, base: str, tag: str, staged_facts) -> None:
    """`record build --verify` FROM the base, then the image run: same NEVRAs, config byte for byte,
    the same answer as staging. The image is left for the caller to remove."""
    answer, conf, nevras = staged_facts
    result = record_cli("build", str(session_dir), "--tag", tag, "--base", base, "--verify")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout
    assert re.search(r": \d+ matched, 0 mismatched, 0 skipped: the image answers like staging\n$", result.stdout)
    packages = [line for line in result.stdout.splitlines() if line.startswith("package ")]
    assert len(packages) == 6, result.stdout  # the five installed, and legacy-agent: absent, says rpm
    container = docker_client.containers.run(tag, detach=True, remove=True, ports={f"{PORT}/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        assert staging.http_get(int(container.ports[f"{PORT}/tcp"][0]["HostPort"])) == answer
        _, built_conf = container.exec_run(["cat", "/etc/greeter.conf"])
        assert built_conf.decode() == conf
        _, rpm = container.exec_run([*QUERY, *INSTALLED])
        assert rpm.decode() == nevras
    finally:
        container.remove(force=True)
