"""What a session's image is and runs, derived once: the steps it replays, the services it runs,
their public ports and data volumes, its base image, its environment and config files.

The Dockerfile, the Kubernetes manifests, the compose file and the review read these facts from here
and nowhere else, so no two outputs can disagree about the same session. Pure: only the Session is read.

Some facts are not in the Session model yet, so they are derived here from what it has:
- secrets: an environment value holding a `<redacted:NAME>` placeholder (written by the recorder's
  redaction) is a secret; the whole value is handed to the runtime's secret store, never inlined;
- stateful services: the recorded `data_dir` wins; a session without one (written by hand) falls back
  on the directory where a known daemon keeps its data (daemons.yaml, which capture uses too);
- config files: captured files under /etc, or with a config-file suffix, that are owned by root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from recorder.model import daemons
from recorder.model.placeholders import PLACEHOLDER, names_in, placeholder
from recorder.model.session import Service, Session, active_steps, running_services

CONFIG_SUFFIXES = (".conf", ".cnf", ".cfg", ".ini", ".yaml", ".yml", ".json", ".toml", ".properties", ".xml")


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    origin: str  # where it comes from: "step 4", or a service's command line that needs the secret

    @property
    def secret(self) -> bool:
        return bool(PLACEHOLDER.search(self.value))


@dataclass(frozen=True)
class ConfigFile:
    path: str
    mode: int | None
    step: int  # the step whose copy is the final content


def last_writers(session: Session) -> dict[str, int]:
    """path -> the last replayed step that wrote it: only that step's copy goes into the image."""
    last: dict[str, int] = {}
    for step in active_steps(session):
        for f in step.effects.files:
            last[f.path] = step.id
    return last


def base_image(session: Session, base: str | None = None) -> str:
    """The FROM: what the user asked for, else what the host was recorded on."""
    return base or session.host.base_image or "debian:12"


# Base images whose distribution is past its end of life: no updates, and their package mirrors are
# gone, so an image built FROM them installs nothing.
END_OF_LIFE = {
    "centos:6": "November 2020",
    "centos:7": "June 2024",
    "centos:8": "December 2021",
    "debian:9": "June 2022",
    "debian:10": "June 2024",
    "ubuntu:16.04": "April 2021",
    "ubuntu:18.04": "May 2023",
}


def end_of_life(image: str) -> str:
    """When the distribution of a base image reached its end of life; "" for a maintained one."""
    return END_OF_LIFE.get(image.removeprefix("docker.io/").removeprefix("library/"), "")


def environment(session: Session) -> list[EnvVar]:
    """The variables the image's replayed steps leave set, by name; later steps override earlier ones."""
    current: dict[str, EnvVar] = {}
    for step in active_steps(session):
        for name, value in step.effects.env_set.items():
            current[name] = EnvVar(name, value, f"step {step.id}")
        for name in step.effects.env_unset:
            current.pop(name, None)
    for service in running_services(session):  # a secret typed on a command line arrives as a variable
        for name in (n for arg in service.command for n in names_in(arg)):
            current.setdefault(name, EnvVar(name, placeholder(name), f"{service.name}'s command line"))
        for name, value in service.env.items():  # so does one in its unit's environment
            if PLACEHOLDER.search(value):
                current.setdefault(name, EnvVar(name, value, f"{service.name}'s environment"))
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
            if f.kind == "file" and not f.secret and is_config_path(f.path) and (f.owner, f.group) == ("root", "root"):
                final[f.path] = ConfigFile(f.path, f.mode, step.id)
            else:
                final[f.path] = None  # deleted, a secret (never captured), a symlink, or another owner's
    return [c for _, c in sorted(final.items()) if c is not None]


def primary(session: Session) -> Service | None:
    """The service a single-container runtime runs first: the first one the image runs."""
    services = running_services(session)
    return services[0] if services else None


def public_ports(service: Service) -> list[int]:
    """Ports reachable from outside the host; loopback-only ports stay inside the container."""
    return sorted({p.port for p in service.ports if p.public and p.protocol == "tcp"})


def exposed_udp_ports(session: Session) -> list[int]:
    """UDP ports the services answered on (dnsmasq): EXPOSE N/udp; nothing accepts UDP to check."""
    return sorted({p.port for s in running_services(session) for p in s.ports if p.public and p.protocol == "udp"})


def exposed_ports(session: Session) -> list[int]:
    """Every public port of every service the image runs."""
    return sorted({port for service in running_services(session) for port in public_ports(service)})


def data_dir(service: Service) -> str | None:
    """Where a stateful service keeps its data (recorded, else known by name), or None if stateless."""
    if service.data_dir:
        return service.data_dir
    for name in (service.name, PurePosixPath(service.command[0]).name if service.command else ""):
        if name and daemons.data_dir_of(name):
            return daemons.data_dir_of(name)
    return None


def not_run(session: Session) -> list[str]:
    """Why each recorded service the image leaves out is left out, as a note for the reviewer."""
    notes = []
    for service in session.services:
        if service.replay == "run":
            continue
        note = f"{service.name} is not run (replay: skip in session.yaml)"
        directory = data_dir(service)
        if directory:
            note += f"; it is stateful (data in {directory}): give it its own service and volume"
        notes.append(note)
    return notes


def volumes(session: Session) -> list[str]:
    """The data directories of the services the image runs: volumes, never baked into the image."""
    return sorted({directory for service in running_services(session) if (directory := data_dir(service))})


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
