"""The deployment zoo (zoo.yaml): each entry typed into its own staging container with Docker's
default capabilities, recorded, its Dockerfile linted at every level, built with the smoke run, checked
by `record verify`, then run and asked what zoo.yaml says it must answer, with each program running as
the user it ran as on staging.

Entries run in parallel containers (ZOO_WORKERS, default 3): most of the time is apt and the engine."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generators import dockerfile
from recorder.model import read
from tests import staging
from tests.tools import hadolint_findings

pytestmark = pytest.mark.docker

ZOO = staging.zoo()
WORKERS = int(os.environ.get("ZOO_WORKERS", "3"))
ONLY = set(filter(None, os.environ.get("ZOO_ONLY", "").split(",")))
ENTRIES = [e for e in ZOO if not ONLY or e["name"] in ONLY]


@dataclass
class Outcome:
    name: str
    problems: list[str] = field(default_factory=list)
    log: str = ""


def _build(session_dir: Path, tag: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recorder", "build", str(session_dir), "--tag", tag, "--base", staging.BASE_IMAGE],
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _verify(session_dir: Path, tag: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recorder", "verify", str(session_dir), "--tag", tag],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _ask(address: str, answer: dict) -> str:
    """'' when the image answered as zoo.yaml says, else what it did."""
    deadline = time.monotonic() + 30
    last = ""
    while time.monotonic() < deadline:
        try:
            if "udp" in answer:
                got = _dns(address, answer["udp"], answer["dns"])
                if got == answer["address"]:
                    return ""
                last = f"UDP {answer['udp']}: DNS {answer['dns']} -> {got!r}"
            else:
                with socket.create_connection((address, answer["port"]), timeout=5) as conn:
                    if "get" in answer:
                        conn.sendall(f"GET {answer['get']} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
                        body = _read_all(conn)
                        if answer["contains"].encode() in body:
                            return ""
                        last = f"GET {answer['get']} on {answer['port']}: {body[:200]!r}"
                    elif "send" in answer:
                        conn.sendall(answer["send"].encode())
                        reply = conn.recv(256)
                        if reply.startswith(answer["expect"].encode()):
                            return ""
                        last = f"port {answer['port']} replied {reply[:100]!r}"
                    else:
                        conn.settimeout(3)
                        banner = conn.recv(64) if answer["banner"] else b""
                        if banner.startswith(answer["banner"].encode()):
                            return ""
                        last = f"port {answer['port']} said {banner!r}"
        except OSError as exc:
            last = f"{answer}: {exc}"
        time.sleep(1)
    return last


def _read_all(conn: socket.socket) -> bytes:
    out = b""
    while chunk := conn.recv(65536):
        out += chunk
    return out


def _dns(address: str, port: int, name: str) -> str:
    query = struct.pack(">HHHHHH", 0x2A2A, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(query, (address, port))
        reply = sock.recv(512)
    return ".".join(str(b) for b in reply[-4:]) if struct.unpack(">H", reply[6:8])[0] else "no answer"


def _users(container, wanted: dict[str, str]) -> list[str]:
    """Each program of zoo.yaml's `users` runs in the image as that user (names from the image's passwd)."""
    problems = []
    code, passwd = container.exec_run(["cat", "/etc/passwd"])
    names = {int(f[2]): f[0] for f in (line.split(":") for line in passwd.decode().splitlines()) if len(f) > 2}
    deadline = time.monotonic() + 20
    while True:
        running: dict[str, set[str]] = {}
        for row in container.top(ps_args="-eo pid,uid,comm")["Processes"]:
            running.setdefault(row[2], set()).add(names.get(int(row[1]), row[1]))
        problems = [
            f"{program} runs as {sorted(running.get(program, set())) or 'nobody: not running'}, not {user}"
            for program, user in wanted.items()
            if user not in running.get(program, set())
        ]
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(1)


def run_entry(c, entry: dict, root: Path) -> Outcome:
    outcome = Outcome(entry["name"])
    workdir = root / entry["name"]
    workdir.mkdir(parents=True)
    tag = staging.tag(f"zoo-{entry['name']}")
    try:
        session_dir = staging.record_deployment(c, entry, workdir)
        findings = hadolint_findings(dockerfile.render(read.load(session_dir), staging.BASE_IMAGE))
        if findings:
            outcome.problems.append(f"hadolint: {findings}")
        built = _build(session_dir, tag)
        outcome.log = built.stderr[-3000:]
        if built.returncode != 0:
            outcome.problems.append(f"build failed: {built.stderr.strip().splitlines()[-1:]}")
            return outcome
        verified = _verify(session_dir, tag)
        if verified.returncode != 0:
            outcome.problems.append(f"verify failed: {verified.stdout[-1500:]}")
        session = read.load(session_dir)
        if entry.get("stateful"):
            dirs = [s.data_dir for s in session.services]
            volumes = c.images.get(tag).attrs["Config"].get("Volumes") or {}
            if entry["stateful"] not in dirs or entry["stateful"] not in volumes:
                outcome.problems.append(f"no VOLUME for {entry['stateful']}: recorded {dirs}, image {sorted(volumes)}")
        container = c.containers.run(tag, detach=True)
        try:
            container.reload()
            address = container.attrs["NetworkSettings"]["IPAddress"]
            for answer in entry["answers"]:
                wrong = _ask(address, answer)
                if wrong:
                    outcome.problems.append(wrong)
            outcome.problems += _users(container, entry.get("users", {}))
            if outcome.problems:
                outcome.log += "\n" + container.logs(tail=20).decode(errors="replace")
        finally:
            container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - one entry's failure is reported with its name, the rest go on
        outcome.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(Exception):  # its layers stay: another entry's build may be using them
            c.images.remove(tag, force=True, noprune=True)
    return outcome


@pytest.fixture(scope="module")
def zoo(docker_client, staging_image, tmp_path_factory):
    if any(e.get("systemd") for e in ENTRIES):
        staging.build_systemd_image(docker_client)
    root = tmp_path_factory.mktemp("zoo")
    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(lambda e: run_entry(docker_client, e, root), ENTRIES))
    passed = sum(not o.problems for o in outcomes)
    print(f"\nzoo: {passed} of {len(outcomes)} deployments built, verified and answered like staging")
    return {o.name: o for o in outcomes}


@pytest.mark.parametrize("name", [e["name"] for e in ENTRIES])
def test_zoo_deployment_builds_verifies_and_answers_like_staging(zoo, name):
    outcome = zoo[name]
    assert not outcome.problems, "\n".join(outcome.problems) + "\n--- build/logs ---\n" + outcome.log
