"""What a running container of a session needs, derived once for every runtime generator.

Kubernetes manifests and compose files describe the same thing (the service, its ports, its
environment, its config files, its data), so both read it from here and cannot disagree. Pure:
only the Session is read.

Some facts are not in the Session model yet, so they are derived here from what it has:
- secrets: an environment value holding a `<redacted:NAME>` placeholder (written by the recorder's
  redaction) is a secret; the whole value is handed to the runtime's secret store, never inlined;
- stateful services: a known daemon name maps to the directory that holds its data
  (STATEFUL_DATA_DIRS); anything else is treated as stateless;
- config files: captured files under /etc, or with a config-file suffix, that are owned by root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from recorder.model.session import Service, Session

REDACTED = re.compile(r"<redacted:[^<>\s]+>")

# Daemons whose state lives on disk, and where Debian-family and RHEL-family packages keep it.
STATEFUL_DATA_DIRS = {
    "mysqld": "/var/lib/mysql",
    "mariadbd": "/var/lib/mysql",
    "postgres": "/var/lib/postgresql",
    "redis-server": "/var/lib/redis",
    "mongod": "/var/lib/mongodb",
}

CONFIG_SUFFIXES = (".conf", ".cnf", ".cfg", ".ini", ".yaml", ".yml", ".json", ".toml", ".properties", ".xml")


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    step: int  # the step that last set it

    @property
    def secret(self) -> bool:
        return bool(REDACTED.search(self.value))


@dataclass(frozen=True)
class ConfigFile:
    path: str
    mode: int | None
    step: int  # the step whose copy is the final content


def environment(session: Session) -> list[EnvVar]:
    """The variables the image's replayed steps leave set, by name; later steps override earlier ones."""
    current: dict[str, EnvVar] = {}
    for step in session.steps:
        if step.replay == "skip":
            continue
        for name, value in step.effects.env_set.items():
            current[name] = EnvVar(name, value, step.id)
        for name in step.effects.env_unset:
            current.pop(name, None)
    return [current[name] for name in sorted(current)]


def is_config_path(path: str) -> bool:
    return path.startswith("/etc/") or PurePosixPath(path).name.endswith(CONFIG_SUFFIXES)


def config_files(session: Session) -> list[ConfigFile]:
    """Captured config files in their final state, sorted by path.

    Only root-owned files qualify: a ConfigMap or a bind mount cannot give a file another owner,
    so a file the service owns stays in the image, where the Dockerfile gives it its owner.
    """
    final: dict[str, ConfigFile | None] = {}
    for step in session.steps:
        if step.replay != "files":
            continue
        for f in step.effects.files:
            if f.kind == "file" and is_config_path(f.path) and (f.owner, f.group) == ("root", "root"):
                final[f.path] = ConfigFile(f.path, f.mode, step.id)
            else:
                final[f.path] = None  # deleted, replaced by a symlink, or handed to another owner
    return [c for _, c in sorted(final.items()) if c is not None]


def primary(session: Session) -> Service | None:
    """The service the image runs (the Dockerfile's ENTRYPOINT): the first one recorded."""
    return session.services[0] if session.services else None


def public_ports(service: Service) -> list[int]:
    """Ports reachable from outside the host; loopback-only ports stay inside the container."""
    return sorted({p.port for p in service.ports if p.public})


def data_dir(service: Service) -> str | None:
    """Where a known stateful daemon keeps its data, or None for a stateless service."""
    for name in (service.name, PurePosixPath(service.command[0]).name if service.command else ""):
        if name in STATEFUL_DATA_DIRS:
            return STATEFUL_DATA_DIRS[name]
    return None


def dns_label(text: str, limit: int = 63, fallback: str = "app") -> str:
    """A name Kubernetes and compose accept everywhere: lowercase, [a-z0-9-], starting with a letter."""
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not label or not label[0].isalpha():
        label = f"{fallback}-{label}" if label else fallback
    return label[:limit].rstrip("-")


def escape_dollars(value: str) -> str:
    """Kubernetes (`$(VAR)`) and compose (`${VAR}`) both expand `$` and read `$$` as one `$`:
    doubling every `$` makes a recorded value arrive exactly as it was typed."""
    return value.replace("$", "$$")
