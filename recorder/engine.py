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
from pathlib import Path

import docker
import requests
import urllib3
from docker.errors import APIError, DockerException

from generators import dockerfile
from recorder.errors import EngineError, RecorderError
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
    """The build context as an uncompressed tar, deterministic in content and order. Captured files
    that hold a secret are not in it: they never leave the host."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in sorted(generated.items()):
            _add(tar, name, text.encode("utf-8"), 0o755 if name.endswith(".sh") else 0o644)
        added: set[str] = set()
        for step in session.steps:
            if step.replay != "files":
                continue
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


PULL_FAILED = re.compile(
    r"pull access denied|manifest unknown|no such host|not found|dial tcp|TLS handshake|i/o timeout|repository"
)


def build(
    session: Session, directory: Path, tag: str, base: str | None, emit: Callable[[str], None], no_cache: bool = False
) -> str:
    """Build the session's image; returns the image id. Output lines go to `emit` as they arrive."""
    generated = dockerfile.generate(session, base)
    origins = instruction_origins(generated[dockerfile.DOCKERFILE])
    build_context = context(session, directory, generated)
    client = connect()
    current = 0
    image_id = ""

    def where() -> str:
        origin = origins[current - 1] if 0 < current <= len(origins) else ""
        return f" at instruction {current}" + (f" ({origin})" if origin else "") if current else ""

    try:
        stream = client.api.build(
            fileobj=build_context,
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
                        current = int(match.group(1))
                    if line.strip():
                        emit(line)
            elif "error" in chunk:
                error = " ".join(str(chunk["error"]).split())
                hint = ""
                if current <= 1 and PULL_FAILED.search(error):
                    image = dockerfile.base_image(session, base)
                    hint = (
                        f"; the base image {image} is not in the engine and cannot be pulled (no registry "
                        "reachable?): import one (`docker import`, as scripts/testbench does) or pass --base IMAGE"
                    )
                raise EngineError(f"build of {directory} failed{where()}: {error}{hint}")
            elif "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except APIError as exc:
        raise EngineError(f"the Docker engine refused the build of {directory}: {exc.explanation}") from None
    except (DockerException, requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise EngineError(
            f"the Docker engine went away during the build of {directory}{where()} ({reason}); "
            "nothing was tagged: start the engine again and rerun the build"
        ) from None
    if not image_id:
        raise EngineError(f"the build of {directory} ended without an image{where()}: the engine stopped answering")
    return image_id
