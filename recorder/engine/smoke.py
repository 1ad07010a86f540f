"""The smoke run that ends `record build`: an image that builds but does not serve is not done.

The container must stay up for a few seconds and every public TCP port its services listened on
must accept a connection; otherwise the build fails naming the service, its ENTRYPOINT and the
container's last lines. `record verify` is the full comparison; this is the floor.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

from docker.errors import APIError, DockerException

from recorder.capture.fingerprint import accepts
from recorder.engine import build as engine
from recorder.engine.verify import LOOPBACK, host_port, last_lines
from recorder.errors import EngineError
from recorder.model import image
from recorder.model.session import Session

STAY_UP = 3.0  # seconds the container must still run once its ports answer


class SmokeFailed(EngineError):
    """The image was built but does not run its services."""


def run(session: Session, tag: str, timeout: float = 30.0, emit: Callable[[str], None] = lambda _: None) -> str:
    """Start the image, wait for its ports, check it stays up; a one-line summary of what passed."""
    services = image.running_services(session)
    if not services:
        return "no service to run: nothing to smoke-test"
    ports = image.exposed_ports(session)
    client = engine.connect()
    try:
        container = client.containers.create(
            tag, ports={f"{p}/tcp": (LOOPBACK, None) for p in ports}, labels={"io.record.smoke": tag}
        )
    except APIError as exc:
        raise EngineError(f"could not start {tag}: {exc.explanation}") from None
    try:
        try:
            container.start()
        except APIError as exc:  # the engine could not even start it: no such program, say
            entrypoint = container.attrs.get("Config", {}).get("Entrypoint") or []
            raise _says(session, tag, f"it could not start ({exc.explanation})", entrypoint, "no output") from None
        deadline = time.monotonic() + timeout
        for port in ports:
            emit(f"smoke run: waiting for port {port}")
            while not _accepts(container, port):
                if _stopped(container) or time.monotonic() > deadline:
                    raise _failure(session, tag, container, f"port {port} did not accept within {timeout:.0f}s")
                time.sleep(0.25)
        time.sleep(STAY_UP)
        if _stopped(container):
            raise _failure(session, tag, container, f"the container stopped within {STAY_UP:.0f}s")
        shown = ", ".join(str(p) for p in ports) or "no public port"
        return f"smoke run: {tag} stayed up and accepted on {shown}"
    except DockerException as exc:
        raise EngineError(f"smoke run of {tag} lost the Docker engine: {str(exc).splitlines()[0]}") from None
    finally:
        with contextlib.suppress(DockerException):
            container.remove(force=True)


def _accepts(container, port: int) -> bool:
    published = host_port(container, port)
    return published is not None and accepts(LOOPBACK, published, connect_timeout=1.0)


def _stopped(container) -> bool:
    container.reload()
    return container.status in ("exited", "dead")


def _failure(session: Session, tag: str, container, what: str) -> SmokeFailed:
    code = container.attrs.get("State", {}).get("ExitCode") if _stopped(container) else None
    entrypoint = container.attrs.get("Config", {}).get("Entrypoint") or []
    exited = f" (exit {code})" if code is not None else ""
    return _says(session, tag, what + exited, entrypoint, last_lines(container, 5) or "no output")


def _says(session: Session, tag: str, what: str, entrypoint: list[str], last: str) -> SmokeFailed:
    service = image.primary(session)
    return SmokeFailed(
        f"{tag} does not serve: {what}; service {service.name if service else '?'}, "
        f"ENTRYPOINT {json.dumps(entrypoint)}; last lines: {last} (`--no-smoke` skips this check)"
    )
