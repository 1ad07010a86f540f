"""The ssh agent answers as the local probes do: its bash (find, /proc, base64) runs here in a real
bash, with the same protocol as over ssh, and what the Python side makes of its answers is compared
with what LocalHost's probes see of the same machine at the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from recorder.capture import probes, processes
from recorder.capture.filewatch import FileWatcher, SystemDirs
from recorder.capture.ssh import AGENT, SshHost, _ns
from tests import staging


@pytest.fixture
def agent():
    host = SshHost("local-agent")
    host.attach(["bash", "-c", AGENT, "record-agent"])
    yield host
    channel = Path(str(host.channel))
    host.close()
    assert not channel.exists()  # the agent removed its dir when its input ended


def _tree(root: Path) -> None:
    (root / "etc/app").mkdir(parents=True)
    (root / "etc/app/app.conf").write_text("port = 80\n")
    (root / "etc/app/with space\nand newline").write_text("x")
    (root / "etc/link").symlink_to("app/app.conf")
    (root / "etc/__pycache__").mkdir()
    (root / "etc/__pycache__/x.pyc").write_bytes(b"\0")
    os.mkfifo(root / "etc/fifo")  # neither file, dir nor link: not listed


def test_the_listing_is_the_local_probe_snapshot(agent, tmp_path):
    _tree(tmp_path)
    probe = probes.FileProbe(roots=(str(tmp_path / "etc"),))
    watcher = agent.file_watcher(probe)
    root = str(tmp_path / "etc")  # listed too: a chmod of a root is a change, as the inotify watcher says
    assert watcher.entries.pop(root).kind == "dir"
    assert watcher.entries == probe.snapshot()
    assert watcher.known == {p for p, e in probe.snapshot().items() if e.kind != "dir"}


def test_changes_are_what_the_inotify_watcher_reports(agent, tmp_path):
    _tree(tmp_path)
    probe = probes.FileProbe(roots=(str(tmp_path / "etc"),))
    remote, local = agent.file_watcher(probe), FileWatcher(probe)
    try:
        steps = [
            "echo 'port = 8080' > etc/app/app.conf",
            "mkdir -p etc/new/deeper && echo y > etc/new/deeper/f",
            "chmod 700 etc/app",
            "rm -r etc/new && rm etc/link && ln -s elsewhere etc/link2",
            "ls etc >/dev/null",  # reads only
            "echo z > etc/__pycache__/y.pyc",  # ignored
        ]
        for step in steps:
            time.sleep(0.01)  # a new mtime tick
            subprocess.run(["bash", "-c", step], cwd=tmp_path, check=True)
            agent.observe(0)
            assert remote.changes() == local.changes(), step
    finally:
        local.close()


def test_processes_ports_and_sockets_are_the_local_ones(agent):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        agent.observe(0)
        table = agent.processes()
        assert table[sleeper.pid] == processes.read(sleeper.pid)
        assert table[os.getpid()] == processes.read(os.getpid())
        assert agent.agent_pid in table
        assert not any(p.ppid == agent.agent_pid for p in table.values())  # what it ran to answer
        assert set(agent.sockets()) == set(processes.sockets())
        assert agent.ports() == probes.listening_ports()
        assert agent.alive(sleeper.pid) and not agent.alive(2**22 + 1)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_files_names_and_the_clock_come_from_the_host(agent, tmp_path):
    (tmp_path / "a").write_bytes(b"\0binary\xff")
    assert agent.read_file(str(tmp_path / "a"), 100) == b"\0binary\xff"
    assert agent.read_file(str(tmp_path / "a"), 3) is None  # too large to scan
    with pytest.raises(OSError):
        agent.read_file(str(tmp_path / "missing"), 100)
    assert agent.user_name(0) == probes.user_name(0) and agent.group_name(0) == probes.group_name(0)
    assert agent.os_release() == probes.os_release()
    assert abs(agent.now() - processes.now()) < 0.05  # one machine: the same boot clock
    assert (
        agent.which("bash", os.environ["PATH"])
        == subprocess.run(["bash", "-c", "command -v bash"], capture_output=True, text=True).stdout.strip()
    )


def test_system_dirs_are_the_local_walk(agent):
    """The same directories as SystemDirs' walk, each root to its own depth (the machine may be busy:
    a look is compared only between two equal local ones)."""
    ignored = probes.FileProbe().ignored
    for _ in range(5):
        before = SystemDirs(ignored=ignored).states
        remote = agent.system_dirs(ignored).states
        if SystemDirs(ignored=ignored).states == before:
            assert remote == before
            return
    pytest.fail("the system directories never stood still")


def test_packages_and_their_files_are_what_dpkg_says_here(agent, tmp_path):
    probe = probes.FileProbe(roots=(str(tmp_path),))
    agent.file_watcher(probe)  # dpkg's stamps come with the listing
    assert agent.dpkg().snapshot() == probes.DpkgProbe().snapshot()
    remote, local = agent.owners(), probes.DpkgOwners()
    (tmp_path / "mine").write_text("x")
    for path in ("/etc/bash.bashrc", "/usr/bin/bash", "/etc/debian_version", str(tmp_path / "mine")):
        assert remote.owner(path) == local.owner(path), path
        assert remote.unchanged_from_package(path) == local.unchanged_from_package(path), path
    assert remote.unchanged_from_package("/etc/bash.bashrc")  # a conffile as its package shipped it


RPM_LOCAL = """
import json, sys
from recorder.capture import probes
probe = probes.RpmProbe()
owners = probes.RpmOwners(probe)
paths = sys.argv[1:]
print(json.dumps({
    "rpm": probe.rpm,
    "stamp": probe.stamp(),
    "snapshot": probe.snapshot(),
    "owners": [owners.owner(p) for p in paths],
    "unchanged": [owners.unchanged_from_package(p) for p in paths],
}))
"""
RPM_PATHS = ("/etc/greeter.conf", "/usr/bin/greeter", "/usr/share/legacy-agent/README", "/etc/hostname")


@pytest.fixture(scope="module")
def rhel_host(docker_client):
    """The RHEL-like staging host (rpm's database, dnf as yum), with python3 and this project in it."""
    _, image = staging.build_rhel_staging_image(docker_client)
    host = staging.StagingHost(docker_client, ports=(), image=image)
    yield host
    host.close()


def _as_local(stamp: bytes | None):
    """The agent's "size mtime inode" as RpmProbe.stamp has it: (mtime_ns, size, inode)."""
    if stamp is None:
        return None
    size, mtime, inode = stamp.decode().split()
    return [_ns(mtime), int(size), int(inode)]


@pytest.mark.docker
def test_rpm_stamps_and_queries_through_the_agent_are_the_local_rpm_probes(rhel_host):
    """The agent in a bash of the RHEL-like host, RpmProbe and RpmOwners run there by its python: one
    machine, before and after a yum install and an edit of a %config file. A command that wrote no
    package asks the host nothing more than its observation."""
    agent = SshHost("rhel-agent")
    agent.attach(["docker", "exec", "-i", rhel_host.container.id, "bash", "-c", AGENT, "record-agent"])
    try:
        remote = agent.rpm()
        remote_owners = probes.RpmOwners(remote)

        def local() -> dict:
            code, out = rhel_host.container.exec_run(["/usr/lib/record/bin/python", "-c", RPM_LOCAL, *RPM_PATHS])
            assert code == 0, out
            return json.loads(out)

        def compare() -> dict:
            here = local()
            assert remote.rpm == here["rpm"] == "/usr/bin/rpm"
            assert [_as_local(s) for s in remote.stamp()] == here["stamp"]
            assert remote.snapshot() == here["snapshot"]
            assert [remote_owners.owner(p) for p in RPM_PATHS] == here["owners"]
            assert [remote_owners.unchanged_from_package(p) for p in RPM_PATHS] == here["unchanged"]
            return here

        before = compare()  # asked for a listing of its own: no file watcher yet
        agent.file_watcher(probes.FileProbe(roots=("/srv",)))
        assert "legacy-agent" in before["snapshot"] and "greeter" not in before["snapshot"]
        steps = (
            "printf '[b]\\nbaseurl=file:///srv/repos/base\\ngpgcheck=0\\n' > /etc/yum.repos.d/b.repo"
            " && yum install -q -y greeter",
            "sed -i 's/^port = .*/port = 8091/' /etc/greeter.conf",
        )
        for step in steps:
            assert rhel_host.sh(step)[0] == 0, step
            agent.observe(0)
            after = compare()
        assert after["snapshot"]["greeter"] == "2.1-1.el7.noarch" and after["stamp"] != before["stamp"]
        assert after["owners"] == ["greeter", "greeter", "legacy-agent", None]
        assert after["unchanged"] == [False, True, True, False]

        asked = []
        ask = agent._request
        agent._request = lambda *words: asked.append(words[0]) or ask(*words)
        assert rhel_host.sh("echo x > /srv/note.txt")[0] == 0
        agent.observe(0)
        assert remote.snapshot() == after["snapshot"] and remote_owners.owner("/usr/bin/greeter") == "greeter"
        assert asked == ["observe"]  # the stamps came with it; rpm was not run
    finally:
        agent.close()
