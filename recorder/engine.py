"""The Docker engine, at the edge: build a session's image through the docker SDK's streaming API.

The build context is made here as a tar, from the session alone: the generated files and the
captured files each copy step needs, with the modes recorded in session.yaml (git keeps only the
executable bit, so the checkout's modes cannot be trusted).
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import APIError, DockerException

from generators import dockerfile
from recorder.errors import EngineError
from recorder.session import Session

STEP_LINE = re.compile(r"^Step (\d+)/(\d+) : (.*)")


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
    """The build context as an uncompressed tar, deterministic in content and order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in sorted(generated.items()):
            _add(tar, name, text.encode("utf-8"), 0o755 if name.endswith(".sh") else 0o644)
        added: set[str] = set()
        for step in session.steps:
            if step.replay == "skip":
                continue
            for f in step.effects.files:
                if f.kind == "file" and f.stored_at not in added:
                    added.add(f.stored_at)
                    data = (directory / f.stored_at).read_bytes()
                    _add(tar, f.stored_at, data, f.mode if f.mode is not None else 0o644)
    buf.seek(0)
    return buf


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


def build(
    session: Session,
    directory: Path,
    tag: str,
    base: str | None,
    emit: Callable[[str], None],
    no_cache: bool = False,
    relaxed: bool = False,
) -> str:
    """Build the session's image; returns the image id. Output lines go to `emit` as they arrive."""
    generated = dockerfile.generate(session, base, relaxed)
    origins = instruction_origins(generated[dockerfile.DOCKERFILE])
    client = connect()
    current = 0
    tail: list[str] = []
    image_id = ""
    try:
        stream = client.api.build(
            fileobj=context(session, directory, generated),
            custom_context=True,
            tag=tag,
            decode=True,
            rm=True,
            forcerm=True,
            nocache=no_cache,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    match = STEP_LINE.match(line)
                    if match:
                        current, tail = int(match.group(1)), []
                    elif line.strip():
                        tail = (tail + [line])[-10:]
                    if line.strip():
                        emit(line)
            elif "error" in chunk:
                origin = origins[current - 1] if 0 < current <= len(origins) else ""
                where = f" at instruction {current}" + (f" ({origin})" if origin else "")
                raise EngineError(f"build of {directory} failed{where}: {chunk['error'].strip()}")
            elif "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except APIError as exc:
        raise EngineError(f"the Docker engine refused the build of {directory}: {exc.explanation}") from None
    return image_id
