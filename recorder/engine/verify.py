"""`record verify`: run the image, ask it what the staging host was asked, and compare. At the engine's edge.

The container's ports are published on 127.0.0.1 only and nothing else is ever contacted. Files and
the package database are read out of the container through the engine (`docker cp`'s API), so the
image needs no tools of its own; each package manager's database (dpkg's status file, a virtualenv's
dist-info directories, a node_modules' package.json files) is read by that manager's own reader. rpm's
database is asked through the image's own rpm (`rpm -qa`), which reads whichever format it wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import tarfile
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from recorder.capture.fingerprint import accepts, fetch
from recorder.engine import build as engine
from recorder.engine.expect import MISMATCH, Check, answer, expectations, fingerprint, process_users
from recorder.errors import EngineError, RecorderError
from recorder.managers import registry
from recorder.model.session import FileChange, Fingerprint, HttpCheck, Session
from recorder.review import plan

LOOPBACK = "127.0.0.1"
LOCAL_ENGINES = ("", "localhost", "127.0.0.1", "::1", "[::1]")


def require_local_engine(docker_host: str | None = None) -> None:
    """Published ports live on the engine's machine; probing 127.0.0.1 only reaches a local one."""
    value = os.environ.get("DOCKER_HOST", "") if docker_host is None else docker_host
    if not value or value.startswith(("unix://", "npipe://", "fd://")):
        return
    host = urlsplit(value if "://" in value else f"tcp://{value}").hostname or ""
    if host.lower() not in LOCAL_ENGINES:
        raise RecorderError(
            f"DOCKER_HOST={value}: verify publishes the image's ports on 127.0.0.1 of the engine's machine "
            "and asks them from here, so it needs an engine on this machine; run verify there"
        )


# ---------------------------------------------------------------- reading the container


class _Chunks(io.RawIOBase):
    """The engine's archive stream as a file, read only as far as the reader asks."""

    def __init__(self, chunks):
        self._chunks, self._pending = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n], self._pending = self._pending[:n], self._pending[n:]
        return n


def _archive(container, path: str) -> tarfile.TarInfo | tuple[tarfile.TarInfo, bytes] | None:
    """The path's first archive member (a directory's own entry: its tree is never downloaded)."""
    try:
        stream, _ = container.get_archive(path)
    except NotFound:
        return None
    try:
        with tarfile.open(fileobj=io.BufferedReader(_Chunks(stream)), mode="r|") as tar:
            member = tar.next()
            if member is None:
                return None
            if member.isfile():
                extracted = tar.extractfile(member)
                return member, extracted.read() if extracted else b""
            return member
    finally:
        with contextlib.suppress(Exception):  # the rest of a directory's tree is not read
            stream.close()


def _observe_file(container, path: str, expected: FileChange) -> str:
    found = _archive(container, path)
    if found is None:
        return "absent"
    if isinstance(found, tuple):
        member, content = found
        mode = f" mode {member.mode & 0o7777:04o}" if expected.mode is not None else ""
        return f"sha256:{hashlib.sha256(content).hexdigest()[:12]}{mode}"
    if found.issym():
        return f"symlink -> {found.linkname}"
    if found.isdir():
        mode = f" mode {found.mode & 0o7777:04o}" if expected.kind == "dir" and expected.mode is not None else ""
        return "a directory" + mode
    return "not a regular file"


def _installed(container, manager: str, site: str) -> dict[str, str] | None:
    """What the image's database of `manager` says is installed at `site` (nothing when the image has
    no such database); None when the recorder cannot read that manager's database."""
    path = registry.database(manager, site)
    if path is None:
        return _queried(container, manager)
    try:
        stream, _ = container.get_archive(path)
    except NotFound:
        return {}
    parent = posixpath.dirname(path.rstrip("/"))
    found: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BufferedReader(_Chunks(stream)), mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    read = lambda m=member: (tar.extractfile(m) or io.BytesIO()).read()  # noqa: E731
                    found.update(registry.versions(manager, posixpath.join(parent, member.name), read))
    finally:
        with contextlib.suppress(Exception):
            stream.close()
    return found


def installed(container, manager: str, site: str) -> dict[str, str] | None:
    """What an image's database of `manager` says is installed (the container need not be running)."""
    return _installed(container, manager, site)


def _queried(container, manager: str) -> dict[str, str] | None:
    """What the manager's own query says is installed in the running container (rpm's database is
    Berkeley DB or sqlite, by rpm's version: the image's rpm reads it); {} when the image cannot answer."""
    found = registry.query(manager)
    if found is None:
        return None
    command, read = found
    try:
        code, output = container.exec_run(list(command), stdout=True, stderr=False)
    except APIError:  # it is no longer running, or has no such program
        return {}
    return read(output.decode("utf-8", "replace")) if code == 0 else {}


def _process_users(container) -> dict[str, str]:
    """program -> the users its processes run as in the container, named by the image's own passwd."""
    found = _archive(container, "/etc/passwd")
    text = found[1].decode("utf-8", "replace") if isinstance(found, tuple) else ""
    names = {f[2]: f[0] for f in (line.split(":") for line in text.splitlines()) if len(f) > 2}
    users: dict[str, set[str]] = {}
    try:
        rows = container.top(ps_args="-eo pid,uid,comm")["Processes"] or []
    except APIError:  # it is no longer running
        rows = []
    for uid, comm in (row[1:3] for row in rows):
        users.setdefault(comm, set()).add(names.get(uid, uid))
    return {comm: process_users(u) for comm, u in users.items()}


def _ask_users(container, checks: list[Check], settle: float = 5.0) -> None:
    """Each program runs as the users it ran as on staging; workers may still be starting: a few looks."""
    deadline = time.monotonic() + settle
    while checks:
        running = _process_users(container)
        for c in checks:
            c.judge(running.get(c.subject, "not running"))
        if all(c.result == "match" for c in checks) or time.monotonic() > deadline:
            return
        time.sleep(0.5)


# ---------------------------------------------------------------- the run


def last_lines(container, lines: int = 3) -> str:
    """The container's last lines of output, on one line."""
    try:
        text = container.logs(tail=lines).decode("utf-8", "replace").strip()
    except DockerException:
        return ""
    return " | ".join(text.splitlines()[-lines:])


def host_port(container, port: int) -> int | None:
    """Where the engine published a container's TCP port on this machine, once it has."""
    container.reload()
    bound = (container.ports or {}).get(f"{port}/tcp") or []
    return int(bound[0]["HostPort"]) if bound else None


def _exited(container) -> str:
    container.reload()
    if container.status in ("exited", "dead"):
        code = container.attrs.get("State", {}).get("ExitCode")
        logs = last_lines(container)
        return f"the container exited (code {code})" + (f": {logs}" if logs else "")
    return ""


def _wait_for_ports(container, checks: list[Check], timeout: float, emit: Callable[[str], None]) -> dict[int, int]:
    """Wait for each port staging accepted on, up to `timeout` in all; host port of each that answers."""
    reachable: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    for c in checks:
        if c.kind != "port" or c.skip:
            continue
        port = int(c.subject)
        emit(f"waiting for port {port} (up to {max(0.0, deadline - time.monotonic()):.0f}s)")
        ok, why = False, ""
        while True:
            published = host_port(container, port)
            if published is not None and accepts(LOOPBACK, published):
                ok = True
                break
            why = _exited(container)
            if why or time.monotonic() > deadline or c.expected == "refuses TCP":
                break
            time.sleep(0.25)
        c.judge("accepts TCP" if ok else "refuses TCP")
        if not ok and c.expected == "accepts TCP":
            c.note = why or f"nothing accepted a connection within {timeout:.0f}s"
        if ok:
            reachable[port] = published
    return reachable


def _database_of(session: Session, p: plan.Plan, name: str) -> tuple[str, str]:
    """(manager, site) whose database says whether `name` is installed: the one that installed it, or
    the one that removed it (`yum remove` is rpm's to answer, not dpkg's)."""
    state = p.packages.get(name)
    if state is not None:
        return state.manager, state.site
    for step in session.steps:
        if step.id == p.removed.get(name):
            for change in step.effects.packages:
                if name in change.removed:
                    return change.manager, change.site
    return "apt", ""


def _ask_http(checks: list[Check], fp: Fingerprint, reachable: dict[int, int]) -> None:
    by_subject: dict[str, HttpCheck] = {f"GET {h.url}": h for h in fp.http}
    for c in checks:
        if c.kind != "http" or c.skip:
            continue
        h = by_subject[c.subject]
        if h.port not in reachable:
            c.observed, c.result = "port not reachable", MISMATCH
            continue
        got = None
        for _ in range(3):  # the port is open; the server may still be warming up
            got = fetch(h.url, LOOPBACK, reachable[h.port])
            if got is not None:
                break
            time.sleep(0.5)
        c.judge("no HTTP answer" if got is None else answer(got.status, got.sha256, got.size))


def run(session: Session, tag: str, timeout: float = 30.0, emit: Callable[[str], None] = lambda _: None) -> list[Check]:
    """Run `tag`, make every check, remove the container; returns the checks with what the image showed."""
    require_local_engine()
    client = engine.connect()
    try:
        image = client.images.get(tag)
    except ImageNotFound:
        raise RecorderError(f"image {tag}: not found; build it first (`record build SESSION --tag {tag}`)") from None
    checks = expectations(session)
    fp = fingerprint(session)
    ports = sorted({int(c.subject) for c in checks if c.kind == "port" and not c.skip})
    p = plan.of(session)
    try:
        container = client.containers.run(
            image.id,
            detach=True,
            ports={f"{port}/tcp": (LOOPBACK, None) for port in ports},
            labels={"io.record.verify": session.name},
        )
    except APIError as exc:
        raise EngineError(f"could not start {tag}: {exc.explanation}") from None
    try:
        emit(f"started {tag} as {container.short_id}; ports published on {LOOPBACK} only")
        reachable = _wait_for_ports(container, checks, timeout, emit)
        _ask_http(checks, fp, reachable)
        databases: dict[tuple[str, str], dict[str, str] | None] = {}
        env = dict(item.partition("=")[::2] for item in image.attrs.get("Config", {}).get("Env") or [])
        for c in checks:
            if c.skip:
                continue
            if c.kind == "file":
                c.judge(_observe_file(container, c.subject, p.files[c.subject].change))
            elif c.kind == "package":
                where = _database_of(session, p, c.subject)
                if where not in databases:
                    databases[where] = _installed(container, *where)
                installed = databases[where]
                if installed is None:
                    c.skip = f"{where[0]} packages are not read from images"
                else:
                    c.judge(installed.get(c.subject, "absent"))
            elif c.kind == "env":
                c.judge(env.get(c.subject, "not set"))
        _ask_users(container, [c for c in checks if c.kind == "user" and not c.skip])
    except DockerException as exc:
        raise EngineError(f"verify of {tag} lost the Docker engine: {str(exc).splitlines()[0]}") from None
    finally:
        with contextlib.suppress(DockerException):
            container.remove(force=True)
    return checks
