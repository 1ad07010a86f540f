"""A staging host for tests and examples: a container from the local base image with this project in it.

`record start` is driven inside it through `docker exec -it`, by pexpect, typing as a person would:
wait for each prompt, then type the next command. Also runnable as a script to (re)record the shipped
example session: `python -m tests.staging record-example sessions/web`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import docker
import pexpect
from docker.errors import ImageNotFound

from tests.cli import PROMPT

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = os.environ.get("RECORD_BASE_IMAGE", "record-base:bookworm")
# Tags are per checkout, so two clones can run their suites against one engine at the same time.
CHECKOUT = hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
STAGING_IMAGE = f"record-staging:{CHECKOUT}"
SYSTEMD_IMAGE = f"record-staging-systemd:{CHECKOUT}"
RHEL_STAGING_IMAGE = f"record-staging-rhel:{CHECKOUT}"
RPM_BENCH = ROOT / "tests" / "rpmbench"  # the RHEL-like base: its Dockerfile, RPM specs and their sources
SSH_IMAGE = f"record-staging-ssh:{CHECKOUT}"
RHEL_SSH_IMAGE = f"record-staging-rhel-ssh:{CHECKOUT}"


def tag(name: str) -> str:
    """An image tag owned by this checkout's tests."""
    return f"record-test-{name}:{CHECKOUT}"


PROJECT_FILES = ("pyproject.toml", "README.md", "recorder", "generators")

# The deployment the spine's acceptance test types, and the shipped example was recorded from.
NGINX_PAGE = "<h1>hello from staging</h1>"
NGINX_DEPLOYMENT = (
    "apt-get update",
    "apt-get install -y nginx",
    f"cat > /var/www/html/index.html <<'EOF'\n{NGINX_PAGE}\n<p>recorded by record start</p>\nEOF",
    "sed -i 's/listen 80 default_server;/listen 8080 default_server;/;"
    " s/listen \\[::\\]:80 default_server;/listen [::]:8080 default_server;/' /etc/nginx/sites-available/default",
    "cp /srv/release/site.conf /etc/nginx/conf.d/",
    "export APP_ENV=staging",
    "nginx",
    "curl -s http://localhost:8080/index.html",
)
FAILING_COMMAND = "cp /srv/release/site.conf /etc/nginx/conf.d/"


def client() -> docker.DockerClient:
    c = docker.from_env()
    c.ping()
    return c


def _staging_dockerfile(base: str = BASE_IMAGE) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    quoted = " ".join(f"'{d}'" for d in deps)
    return f"""FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv sudo curl \\
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /usr/lib/record && /usr/lib/record/bin/pip install --no-cache-dir -q {quoted}
COPY project /src
RUN /usr/lib/record/bin/pip install --no-cache-dir -q --no-deps /src \\
 && ln -sf /usr/lib/record/bin/record /usr/local/bin/record && rm -rf /src
WORKDIR /root
"""


def _project_tar(base: str = BASE_IMAGE) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = _staging_dockerfile(base).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in PROJECT_FILES:
            tar.add(
                ROOT / name,
                arcname=f"project/{name}",
                filter=lambda t: None if "__pycache__" in t.name or t.name.endswith(".egg-info") else t,
            )
    buf.seek(0)
    return buf


def build_staging_image(c: docker.DockerClient, base: str = BASE_IMAGE, tag: str = STAGING_IMAGE) -> str:
    """Base image + python3 + this project, as installed on a real staging host."""
    for chunk in c.api.build(
        fileobj=_project_tar(base), custom_context=True, tag=tag, decode=True, rm=True, forcerm=True
    ):
        if "error" in chunk:
            raise RuntimeError(f"staging image build failed: {chunk['error']}")
    return tag


def rhel_base_tag(c: docker.DockerClient) -> str:
    """The RHEL-like base's tag, derived from what it is made of (tests/rpmbench and the base image it
    starts from): a rerun finds it built, a change to a spec builds it again."""
    digest = hashlib.sha256(c.images.get(BASE_IMAGE).id.encode())
    for path in sorted(RPM_BENCH.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"record-rhel-base:{digest.hexdigest()[:12]}"


def build_rhel_base(c: docker.DockerClient) -> str:
    """An EL 7-like host made only of Debian packages, with two local repositories of tiny RPMs
    (/srv/repos/base, /srv/repos/extra) that a `docker build` FROM it reaches too."""
    tag = rhel_base_tag(c)
    try:
        c.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    for chunk in c.api.build(
        path=str(RPM_BENCH), tag=tag, buildargs={"BASE": BASE_IMAGE}, decode=True, rm=True, forcerm=True
    ):
        if "error" in chunk:
            raise RuntimeError(f"RHEL-like base image build failed: {chunk['error']}")
    return tag


def build_rhel_staging_image(c: docker.DockerClient) -> tuple[str, str]:
    """(the RHEL-like base, a staging image of it with python3 and this project): a CentOS 7-like
    staging host, and the base its recorded image is built FROM."""
    base = build_rhel_base(c)
    return base, build_staging_image(c, base=base, tag=RHEL_STAGING_IMAGE)


def build_systemd_image(c: docker.DockerClient) -> str:
    """The staging image with systemd as its init, for a staging host whose PID 1 is systemd."""
    dockerfile = (
        f"FROM {STAGING_IMAGE}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv dbus"
        " && rm -rf /var/lib/apt/lists/*\n"
        'CMD ["/sbin/init"]\n'
    )
    c.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=SYSTEMD_IMAGE, rm=True, forcerm=True)
    return SYSTEMD_IMAGE


def _systemd_needs() -> dict:
    """What systemd needs to be PID 1 in a container, and nothing more: tmpfs on /run and /run/lock,
    and the cgroup tree (cgroup v1: the host's, read-only; v2: its own namespace's, writable)."""
    needs: dict = {"tmpfs": {"/run": "", "/run/lock": ""}}
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        needs["cgroupns"] = "private"
        needs["volumes"] = {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}}
    else:
        needs["volumes"] = {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}}
    return needs


class _Container:
    """What every bench host does with its container: run a command in it, find a published port, go."""

    container: docker.models.containers.Container

    def sh(self, command: str) -> tuple[int, str]:
        code, out = self.container.exec_run(["bash", "-c", command])
        return code, out.decode("utf-8", "replace")

    def port(self, port: int) -> int:
        """The loopback port here that a published port of the host is reached on."""
        self.container.reload()
        return int(self.container.ports[f"{port}/tcp"][0]["HostPort"])

    def close(self) -> None:
        self.container.remove(force=True)


class StagingHost(_Container):
    """One staging container; `record(...)` types a deployment into `record start` inside it."""

    def __init__(
        self,
        c: docker.DockerClient,
        ports: Iterable[int] = (8080,),
        cap_add: Iterable[str] = (),
        systemd: bool = False,
        image: str | None = None,
    ):
        self.client = c
        self.container = c.containers.run(
            image or (SYSTEMD_IMAGE if systemd else STAGING_IMAGE),
            None if systemd else ["sleep", "infinity"],
            detach=True,
            remove=True,
            ports={f"{p}/tcp": ("127.0.0.1", None) for p in ports},
            # Docker's default capabilities, as a user's staging container has them: no ptrace capability, so
            # the recorder may not read the /proc/PID/fd of another user's or a non-dumpable process.
            cap_add=list(cap_add),
            **(_systemd_needs() if systemd else {}),
        )
        if systemd:
            self._wait_for_systemd()

    def _wait_for_systemd(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            _, state = self.sh("systemctl is-system-running")
            if state.strip() in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"systemd did not come up in the staging container: {state.strip()}")

    def spawn_record(self, args: str, log: io.TextIOBase | None = None) -> pexpect.spawn:
        child = pexpect.spawn(
            f"docker exec -it -w /root {self.container.id} record start {args}",
            encoding="utf-8",
            codec_errors="replace",
            timeout=60,
            dimensions=(40, 160),
        )
        child.logfile_read = log
        return child

    def record(self, name: str, commands: Iterable[str], timeout: int = 600, log: io.TextIOBase | None = None) -> str:
        """Type each command at the recorder's prompt, then exit; returns everything the terminal showed."""
        child = self.spawn_record(f"--name {name}", log)
        child.expect(PROMPT)
        for command in commands:
            child.sendline(command)
            child.expect(PROMPT, timeout=timeout)
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=120)
        child.close()
        return child.before

    def copy_out(self, path: str, destination: Path) -> Path:
        """Copy a directory out of the container; returns the local copy."""
        return copy_out(self.container, path, destination)


def zoo() -> list[dict]:
    """The deployments of tests/e2e/zoo.yaml, each as {name, typed, answers, ...}."""
    from ruamel.yaml import YAML

    return YAML(typ="safe").load((ROOT / "tests" / "e2e" / "zoo.yaml").read_text())


def record_deployment(c: docker.DockerClient, entry: dict, workdir: Path, commit_as: str = "") -> Path:
    """Type a deployment of the zoo's shape ({name, typed, systemd?}: tests/e2e/zoo.yaml) into `record
    start` in its own staging container, as an operator would; returns the session copied to workdir.
    `commit_as` also commits the staging container as that image (what `docker commit` would ship).
    The one runner the zoo, the minimize tests and bench/image.py share."""
    host = StagingHost(c, ports=(), systemd=entry.get("systemd", False))
    log = (workdir / "terminal.log").open("w")
    try:
        child = host.spawn_record(f"--name {entry['name']}", log)
        child.expect(PROMPT)
        for line in entry["typed"]:
            child.sendline(line)
            child.expect(PROMPT, timeout=900)
        time.sleep(1)  # a server started with `&` binds a moment after its prompt
        child.sendline("exit")
        child.expect(pexpect.EOF, timeout=180)
        if commit_as:
            repository, _, version = commit_as.partition(":")
            host.container.commit(repository=repository, tag=version or "latest")
        return host.copy_out(f"/root/sessions/{entry['name']}", workdir)
    finally:
        log.close()
        host.close()


def copy_out(container, path: str, destination: Path) -> Path:
    """Copy a directory out of a container (running or stopped) through the engine; returns the local copy."""
    stream, _ = container.get_archive(path)
    buf = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=buf) as tar:
        # the "tar" filter where Python has it (3.11.4 on); the container is ours either way
        tar.extractall(destination, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
    return destination / Path(path).name


def _ssh_dockerfile(base: str, check: str) -> str:
    """sshd, procps, iproute2, curl (an operator tries the service with it), and sudo for the operator's
    account `ops`, on `base`; `check` is a shell test the image must pass (what must not be on it)."""
    return (
        f"FROM {base}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends openssh-server procps iproute2 sudo curl"
        " && rm -rf /var/lib/apt/lists/* && mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh\n"
        # an operator's own account, who becomes root with sudo as on most staging hosts
        "RUN useradd -m -s /bin/bash ops && mkdir -m 700 /home/ops/.ssh && chown ops: /home/ops/.ssh"
        " && echo 'ops ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/ops\n"
        f"RUN {check}\n"
        'CMD ["/usr/sbin/sshd", "-D", "-e"]\n'
    )


def build_ssh_image(c: docker.DockerClient) -> str:
    """A staging host reached only over ssh, with nothing of ours and no python at all: Debian minbase,
    sshd, bash, coreutils, procps, iproute2 and curl, and sudo for the operator's account `ops`."""
    dockerfile = _ssh_dockerfile(BASE_IMAGE, "! command -v python3")
    c.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=SSH_IMAGE, rm=True, forcerm=True)
    return SSH_IMAGE


def build_rhel_ssh_image(c: docker.DockerClient) -> tuple[str, str]:
    """(the RHEL-like base, an ssh staging host made of it): the same sshd and accounts as the Debian
    one, and nothing of ours. Its only python is dnf's own, as a CentOS 7 host's is yum's."""
    base = build_rhel_base(c)
    check = "! command -v record && ! test -e /usr/lib/record && command -v rpm yum"
    c.images.build(fileobj=io.BytesIO(_ssh_dockerfile(base, check).encode()), tag=RHEL_SSH_IMAGE, rm=True, forcerm=True)
    return base, RHEL_SSH_IMAGE


class SshStagingHost(_Container):
    """A staging container with sshd, reached by its bridge address with a key made for this test run.
    `options` are the --ssh-option values that reach it (key, known hosts file in `keys`)."""

    def __init__(self, c: docker.DockerClient, keys: Path, image: str = SSH_IMAGE, ports: Iterable[int] = ()):
        self.container = c.containers.run(
            image, detach=True, remove=True, ports={f"{p}/tcp": ("127.0.0.1", None) for p in ports}
        )
        key = keys / "id_ed25519"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        public = key.with_suffix(".pub").read_text().strip()
        for home in ("/root", "/home/ops"):
            self.sh(f"printf '%s' '{public}' > {home}/.ssh/authorized_keys && chown --reference={home} -R {home}/.ssh")
        self.container.reload()
        self.address = self.container.attrs["NetworkSettings"]["IPAddress"]
        self.destination = f"root@{self.address}"
        self.options = (
            f"IdentityFile={key}",
            "IdentitiesOnly=yes",
            f"UserKnownHostsFile={keys / 'known_hosts'}",
            "StrictHostKeyChecking=accept-new",
            "BatchMode=yes",
        )
        deadline = time.monotonic() + 30
        while self.sh("ss -ltn | grep -q ':22 '")[0] != 0:
            assert time.monotonic() < deadline, "sshd did not start in the staging container"
            time.sleep(0.2)

    @property
    def args(self) -> list[str]:
        """`record start` arguments that record this host."""
        return ["--ssh", self.destination, *[x for o in self.options for x in ("--ssh-option", o)]]

    def ssh(self, command: str) -> subprocess.CompletedProcess:
        """Run a command on the host over ssh, as the operator's own client would."""
        options = [x for o in self.options for x in ("-o", o)]
        return subprocess.run(["ssh", *options, self.destination, command], capture_output=True, text=True, timeout=60)


def http_get(port: int, timeout: float = 60.0) -> tuple[int, bytes]:
    """GET / on a loopback port, retrying until the server answers or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                return response.status, response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", text)


def record_example(target: Path) -> None:
    """Record the nginx deployment in a fresh staging container and put the session at `target`."""
    c = client()
    build_staging_image(c)
    host = StagingHost(c)
    try:
        host.record(target.name, NGINX_DEPLOYMENT, log=sys.stdout)
        tmp = Path(f"/tmp/record-example-{os.getpid()}")
        copied = host.copy_out(f"/root/sessions/{target.name}", tmp)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(copied, target)
        shutil.rmtree(tmp)
    finally:
        host.close()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "record-example":
        sys.exit("usage: python -m tests.staging record-example sessions/NAME")
    record_example(Path(sys.argv[2]))
