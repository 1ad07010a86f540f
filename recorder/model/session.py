"""The Session: the typed record of a deployment, and the only thing capture and generators share.

The types live here with the two filters every reader of a session needs (the steps and services
the image keeps); `read.py` loads and checks session.yaml, `write.py` writes it, `paths.py` keeps
what a session names inside its directory, `image.py` derives what the image is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

SCHEMA_VERSION = 1
SESSION_FILE = "session.yaml"
FILES_DIR = "files"
REPLAY_MODES = ("run", "files", "skip")
MINIMIZABLE = ("apt", "dnf")  # managers that can install without recommended (weak) packages
VIAS = ("", "ssh")  # how a host was recorded: at its console, or from a workstation over ssh
MAX_SESSION_BYTES = 16 << 20  # a hand-written plan is kilobytes; more is a mistake (a log pasted in)

HEADER = """\
Recorded by `record start`. This is the plan the Dockerfile is generated from: edit it freely.
Each step's `replay` says how it is rebuilt: run (the command runs in the image), files (the files
it changed are copied from files/), skip (left out). `why` says why the recorder chose it.
`fingerprint` is what the staging host answered when the recording ended; `record verify` asks
the image the same (delete an entry to stop checking it).
"""

MINIMIZED_NOTE = """\
Written by `record minimize` after `record verify` passed on the image built this way: these
managers install without recommended packages; `dropped` were recommended only and are left out,
`kept` are recommended only but the deployment needs them. Delete an entry to install as recorded.
"""


@dataclass
class FileChange:
    """A path under a watched root that a step created, changed or deleted."""

    path: str
    kind: str  # file | symlink | dir (new, or its mode or owner changed) | deleted
    mode: int | None = None  # permission bits, e.g. 0o644
    owner: str = "root"
    group: str = "root"
    sha256: str | None = None
    target: str | None = None  # symlink target
    secret: str = ""  # why its content is a secret: then it is neither copied into files/ nor into the image

    @property
    def stored_at(self) -> str:
        """Where the content lives inside the session directory."""
        return f"{FILES_DIR}{self.path}"


@dataclass
class PackageChange:
    """What one package manager did in a step, as its package database saw it."""

    manager: str  # apt | yum | dnf | apk | pip | npm | gem
    installed: dict[str, str] = field(default_factory=dict)  # asked for by name: name -> version
    dependencies: dict[str, str] = field(default_factory=dict)  # pulled in automatically
    removed: list[str] = field(default_factory=list)
    target: str = ""  # pip: the virtualenv ("" = system); npm: the project directory ("" = global)
    options: list[str] = field(default_factory=list)  # options the replay keeps (--enablerepo=epel, -i URL)
    site: str = ""  # where the packages landed (site-packages, node_modules); their files are not copied


@dataclass
class Effects:
    packages: list[PackageChange] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    env_set: dict[str, str] = field(default_factory=dict)
    env_unset: list[str] = field(default_factory=list)
    ports_opened: list[int] = field(default_factory=list)


@dataclass
class Step:
    id: int
    command: str
    cwd: str
    exit: int
    replay: str = "skip"
    why: str = ""
    effects: Effects = field(default_factory=Effects)
    user: str = ""  # who ran it, when not the user who started the recording (a nested root shell)
    expanded: str = ""  # what bash ran, when the first word was an alias
    needed_secret: bool = False  # input was typed with echo off (a password prompt); it is never recorded


@dataclass
class Port:
    port: int
    address: str
    protocol: str = "tcp"  # tcp | udp

    @property
    def public(self) -> bool:
        """Ports bound only to loopback are internal to the host and are not exposed."""
        return not (self.address.startswith("127.") or self.address == "::1")


@dataclass
class Service:
    """A process that was listening when the session ended, and how the image runs it."""

    name: str
    command: list[str]  # what the image runs, in the foreground
    observed: list[str] = field(default_factory=list)  # the process's command line on the host
    cwd: str = "/"
    user: str = "root"
    ports: list[Port] = field(default_factory=list)
    data_dir: str = ""  # a stateful daemon's data: a VOLUME in the image, never baked in
    env: dict[str, str] = field(default_factory=dict)  # its own variables (a unit's Environment=)
    # the users its processes ran as on staging, by program (lighttpd: [www-data] after it dropped root)
    processes: dict[str, list[str]] = field(default_factory=dict)
    replay: str = "run"  # run | skip: `skip` leaves the service out of the image


@dataclass
class PortCheck:
    """Whether a recorded port accepted a TCP connection on the staging host."""

    port: int
    accepts: bool = True


@dataclass
class HttpCheck:
    """One GET on a recorded port: the URL as asked (its host:port is the Host header), and the answer."""

    url: str
    status: int
    sha256: str  # of the body
    size: int = 0
    step: int = 0  # the step in which the operator fetched it with curl/wget; 0 when the recorder chose it

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def target(self) -> str:
        """The request target: path and query."""
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass
class Fingerprint:
    """What the staging host served when the recording ended (files and packages are in the steps)."""

    ports: list[PortCheck] = field(default_factory=list)
    http: list[HttpCheck] = field(default_factory=list)

    def sort(self) -> Fingerprint:
        self.ports.sort(key=lambda p: p.port)
        self.http.sort(key=lambda h: (h.port, h.url))
        return self


@dataclass
class Host:
    os_id: str = ""
    version_id: str = ""
    pretty_name: str = ""
    base_image: str = ""
    user: str = "root"
    via: str = ""  # how it was recorded: "" at its own console, "ssh" from a workstation over ssh
    # packages the host had before recording that the replayed commands or the services run
    needed_packages: dict[str, str] = field(default_factory=dict)


@dataclass
class Minimized:
    """A manager's installs without recommended packages, written by `record minimize` only after
    `record verify` passed on that image: a smaller image proven to behave the same, reviewable in a PR."""

    manager: str  # apt | dnf: the manager whose installs leave out recommended (weak) packages
    dropped: dict[str, str] = field(default_factory=dict)  # recommended only, not in the image: name -> version
    kept: dict[str, str] = field(default_factory=dict)  # recommended only, yet installed: name -> why


@dataclass
class Session:
    name: str
    host: Host = field(default_factory=Host)
    steps: list[Step] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    fingerprint: Fingerprint | None = None  # None: recorded before fingerprints existed
    minimized: list[Minimized] = field(default_factory=list)  # proven smaller installs, one per manager


def minimized(session: Session, manager: str) -> Minimized | None:
    """The decision `record minimize` wrote for a manager's installs; None: they keep their recommends."""
    return next((m for m in session.minimized if m.manager == manager), None)


def running_services(session: Session) -> list[Service]:
    """The services the image runs: those recorded, less any a reviewer set to `replay: skip`."""
    return [service for service in session.services if service.replay == "run"]


def active_steps(session: Session) -> list[Step]:
    """The steps the image replays (run or copied); a reviewer's `replay: skip` leaves one out."""
    return [step for step in session.steps if step.replay != "skip"]
