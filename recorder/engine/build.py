"""The Docker engine, at the edge: build a session's image through the docker SDK's streaming API.

The build context is made here as a tar, from the session alone: the generated files and the
captured files each copy step needs, with the modes recorded in session.yaml (git keeps only the
executable bit, so the checkout's modes cannot be trusted).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests
import urllib3
from docker.errors import APIError, DockerException, InvalidVersion

from generators import dockerfile
from recorder.errors import EngineError, RecorderError
from recorder.model import image as runtime
from recorder.model.session import Session, Step, active_steps

STEP_LINE = re.compile(r"^Step (\d+)/(\d+) : (.*)")
# The classic builder's own bookkeeping between instructions; not output of the instruction.
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the engine colours a RUN's stderr
BOOKKEEPING = re.compile(r"^ ---> |^Removing intermediate container |^Successfully (built|tagged) ")


def connect() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        reason = str(exc).splitlines()[0][:200]
        raise EngineError(
            f"cannot reach the Docker engine ({reason}); start it (e.g. `scripts/testbench` or `dockerd &`) "
            "or point DOCKER_HOST at one"
        ) from None
    return client


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def context(session: Session, directory: Path, generated: dict[str, str]) -> io.BytesIO:
    """The build context as an uncompressed tar, deterministic in content and order. Captured files
    that hold a secret are not in it: they never leave the host."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in sorted(generated.items()):
            _add(tar, name, text.encode("utf-8"), 0o755 if name.endswith(".sh") else 0o644)
        added: set[str] = set()
        for step in active_steps(session):
            for f in step.effects.files:
                if f.kind == "file" and not f.secret and f.stored_at not in added:
                    added.add(f.stored_at)
                    _add_file(tar, directory / f.stored_at, f.stored_at, f.mode if f.mode is not None else 0o644)
    buf.seek(0)
    return buf


def _add_file(tar: tarfile.TarFile, source: Path, name: str, mode: int) -> None:
    """Streamed from disk, not read whole into memory: a captured file may be large."""
    try:
        with open(source, "rb") as data:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = os.fstat(data.fileno()).st_size, mode, 0
            tar.addfile(info, data)
    except OSError as exc:
        raise RecorderError(f"{source}: cannot be read ({exc.strerror})") from None


def instruction_origins(text: str) -> list[str]:
    """For each instruction of a generated Dockerfile, the provenance comment above it."""
    origins, comment, continued = [], "", False
    for line in text.splitlines():
        stripped = line.strip()
        if continued:
            continued = stripped.endswith("\\")
            continue
        if stripped.startswith("# step ") or stripped.startswith("# service"):
            comment = stripped[2:]
        elif stripped and not stripped.startswith("#"):
            origins.append(comment)
            continued = stripped.endswith("\\")
    return origins


@dataclass(frozen=True)
class BuildOptions:
    """What `docker build` users expect to pass, as the engine's build API takes it."""

    no_cache: bool = False
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    platform: str | None = None
    relaxed: bool = False  # no version pins (the mirror moved on since recording)


@dataclass(frozen=True)
class StepStarted:
    number: int
    total: int
    instruction: str
    origin: str  # the provenance comment: "step 4: sed -i ..." or "service: nginx, in the foreground"


@dataclass(frozen=True)
class Output:
    line: str


class BuildFailed(EngineError):
    """A build stopped at an instruction; `tail` is that instruction's last lines of output."""

    def __init__(self, message: str, tail: list[str], step: Step | None):
        super().__init__(message)
        self.tail, self.step = tail, step


TAIL_LINES = 12
STEP_ID = re.compile(r"^step (\d+):")


class _Stream:
    """The engine's build stream as events: whole lines (chunks split lines anywhere), instruction by instruction."""

    def __init__(self, origins: list[str], on_event: Callable[[StepStarted | Output], None]):
        self.origins, self.on_event = origins, on_event
        self.number, self.total = 0, len(origins)
        self.tail: list[str] = []
        self.pending = ""

    def feed(self, text: str) -> None:
        self.pending += COLOUR.sub("", text).replace("\r\n", "\n")
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._line(line)

    def flush(self) -> None:
        if self.pending:
            self._line(self.pending)
            self.pending = ""

    def failed(self, session: Session, directory: Path, error: str) -> BuildFailed:
        """The failure, named by the instruction it stopped at and the session step that instruction replays."""
        where, step = self.where(session)
        return BuildFailed(f"build of {directory} failed at {where}: {error.strip()}", self.tail, step)

    def where(self, session: Session) -> tuple[str, Step | None]:
        """The instruction the build has reached, and the session step it replays (if any)."""
        self.flush()
        origin = self.origins[self.number - 1] if 0 < self.number <= len(self.origins) else ""
        match = STEP_ID.match(origin)
        step = next((s for s in session.steps if match and s.id == int(match.group(1))), None)
        where = f"instruction {self.number}/{self.total}" if self.number else "the start"
        if step is not None:
            first = step.command.strip().splitlines()[0]
            more = " …" if "\n" in step.command.strip() else ""
            where += f", from step {step.id} (replay: {step.replay}), which ran `{first}{more}` on staging"
        elif origin:
            where += f", from {origin}"
        return where, step

    def _line(self, line: str) -> None:
        match = STEP_LINE.match(line)
        if match:
            self.number, self.total, self.tail = int(match.group(1)), int(match.group(2)), []
            origin = self.origins[self.number - 1] if self.number <= len(self.origins) else ""
            self.on_event(StepStarted(self.number, self.total, match.group(3), origin))
        elif line.strip() and not BOOKKEEPING.match(line):
            self.tail = (self.tail + [line])[-TAIL_LINES:]
            self.on_event(Output(line))


PULL_FAILED = re.compile(
    r"pull access denied|manifest unknown|no such host|not found|dial tcp|TLS handshake|i/o timeout|repository"
)


def build(
    session: Session,
    directory: Path,
    tag: str,
    base: str | None,
    on_event: Callable[[StepStarted | Output], None],
    options: BuildOptions = BuildOptions(),
) -> str:
    """Build the session's image; returns the image id. Progress goes to `on_event` as it arrives."""
    generated = dockerfile.generate(session, base, options.relaxed)
    origins = instruction_origins(generated[dockerfile.DOCKERFILE])
    build_context = context(session, directory, generated)
    client = connect()
    lines = _Stream(origins, on_event)
    image_id = ""

    try:
        stream = client.api.build(
            fileobj=build_context,
            custom_context=True,
            tag=tag,
            decode=True,
            rm=True,
            forcerm=True,
            nocache=options.no_cache,
            buildargs=dict(options.build_args) or None,
            labels=dict(options.labels) or None,
            network_mode=options.network,
            platform=options.platform,
        )
        for chunk in stream:
            if "stream" in chunk:
                lines.feed(chunk["stream"])
            elif "error" in chunk:
                error = " ".join(str(chunk["error"]).split())
                if lines.number <= 1 and PULL_FAILED.search(error):
                    missing = runtime.base_image(session, base)
                    error += (
                        f"; the base image {missing} is not in the engine and cannot be pulled (no registry "
                        "reachable?): import one (`docker import`, as scripts/testbench does) or pass --base IMAGE"
                    )
                raise lines.failed(session, directory, error)
            elif "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
        lines.flush()
    except InvalidVersion as exc:
        raise EngineError(f"this Docker engine cannot do that: {exc}") from None
    except APIError as exc:
        raise EngineError(f"the Docker engine refused the build of {directory}: {exc.explanation}") from None
    except (DockerException, requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise EngineError(
            f"the Docker engine went away during the build of {directory} at {lines.where(session)[0]} ({reason}); "
            "nothing was tagged: start the engine again and rerun the build"
        ) from None
    if not image_id:
        raise EngineError(f"the build of {directory} ended without an image: the engine stopped answering")
    return image_id
