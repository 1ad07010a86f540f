"""The Session: the typed record of a deployment, and the only thing capture and generators share.

`session.yaml` is a person's document as much as the program's: it is written in a stable key order,
with multi-line commands as literal blocks, and loaded with line numbers so every error names the
place to fix.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from recorder.errors import RecorderError

SCHEMA_VERSION = 1
SESSION_FILE = "session.yaml"
FILES_DIR = "files"
REPLAY_MODES = ("run", "files", "skip")

HEADER = """\
Recorded by `record start`. This is the plan the Dockerfile is generated from: edit it freely.
Each step's `replay` says how it is rebuilt: run (the command runs in the image), files (the files
it changed are copied from files/), skip (left out). `why` says why the recorder chose it.
"""


@dataclass
class FileChange:
    """A path under a watched root that a step created, changed or deleted."""

    path: str
    kind: str  # file | symlink | deleted
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

    manager: str  # apt
    installed: dict[str, str] = field(default_factory=dict)  # asked for by name: name -> version
    dependencies: dict[str, str] = field(default_factory=dict)  # pulled in automatically
    removed: list[str] = field(default_factory=list)


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


@dataclass
class Host:
    os_id: str = ""
    version_id: str = ""
    pretty_name: str = ""
    base_image: str = ""
    user: str = "root"


@dataclass
class Session:
    name: str
    host: Host = field(default_factory=Host)
    steps: list[Step] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION


# ---------------------------------------------------------------- writing


def _block(text: str) -> str | LiteralScalarString:
    return LiteralScalarString(text) if "\n" in text else text


def _drop_empty(mapping: dict[str, Any]) -> CommentedMap:
    out = CommentedMap()
    for key, value in mapping.items():
        if value in (None, "", [], {}):
            continue
        out[key] = value
    return out


def _flow(items: list) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _file_to_yaml(f: FileChange) -> CommentedMap:
    return _drop_empty(
        {
            "path": f.path,
            "kind": f.kind,
            "mode": None if f.mode is None else f"{f.mode:04o}",
            "owner": f.owner if f.kind != "deleted" else None,
            "group": f.group if f.kind != "deleted" else None,
            "sha256": f.sha256,
            "target": f.target,
            "secret": f.secret,
        }
    )


def _package_to_yaml(p: PackageChange) -> CommentedMap:
    return _drop_empty(
        {
            "manager": p.manager,
            "installed": CommentedMap(sorted(p.installed.items())),
            "dependencies": CommentedMap(sorted(p.dependencies.items())),
            "removed": sorted(p.removed),
        }
    )


def step_to_data(s: Step) -> CommentedMap:
    """A step as session.yaml (and the journal) hold it."""
    e = s.effects
    effects = _drop_empty(
        {
            "packages": [_package_to_yaml(p) for p in e.packages],
            "files": [_file_to_yaml(f) for f in e.files],
            "env_set": CommentedMap(e.env_set),
            "env_unset": list(e.env_unset),
            "ports_opened": _flow(list(e.ports_opened)) if e.ports_opened else None,
        }
    )
    out = CommentedMap()
    out["id"] = s.id
    out["command"] = _block(s.command)
    if s.expanded:
        out["expanded"] = _block(s.expanded)
    out["cwd"] = s.cwd
    if s.user:
        out["user"] = s.user
    out["exit"] = s.exit
    if s.needed_secret:
        out["needed_secret"] = True
    out["replay"] = s.replay
    out["why"] = s.why
    if effects:
        out["effects"] = effects
    return out


def _service_to_yaml(s: Service) -> CommentedMap:
    return _drop_empty(
        {
            "name": s.name,
            "command": _flow(list(s.command)),
            "observed": _flow(list(s.observed)) if s.observed else None,
            "cwd": s.cwd,
            "user": s.user,
            "ports": [CommentedMap(port=p.port, address=p.address) for p in s.ports],
        }
    )


def to_yaml_text(session: Session) -> str:
    doc = CommentedMap()
    doc["schema"] = session.schema
    doc["name"] = session.name
    h = session.host
    doc["host"] = _drop_empty(
        {
            "os_id": h.os_id,
            "version_id": h.version_id,
            "pretty_name": h.pretty_name,
            "base_image": h.base_image,
            "user": h.user,
        }
    )
    doc["steps"] = [step_to_data(s) for s in session.steps]
    doc["services"] = [_service_to_yaml(s) for s in session.services]
    doc["warnings"] = list(session.warnings)
    doc.yaml_set_start_comment(HEADER)
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


def save(session: Session, directory: Path) -> Path:
    """Write session.yaml atomically (a crash leaves the old file or the new one, never half)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / SESSION_FILE
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(to_yaml_text(session), encoding="utf-8")
    tmp.replace(target)
    return target


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


# ---------------------------------------------------------------- reading


class _Reader:
    """Walks a loaded YAML document and turns wrong shapes into one-line errors with line numbers."""

    def __init__(self, file: Path):
        self.file = file

    def fail(self, where: str, node: Any, key: Any, message: str) -> RecorderError:
        line = ""
        try:
            if isinstance(node, CommentedMap) and key is not None and key in node:
                line = f":{node.lc.key(key)[0] + 1}"
            elif isinstance(node, CommentedSeq) and key is not None:
                line = f":{node.lc.item(key)[0] + 1}"
            elif hasattr(node, "lc"):
                line = f":{node.lc.line + 1}"
        except (AttributeError, KeyError, IndexError, TypeError):
            line = ""
        return RecorderError(f"{self.file}{line}: {where}: {message}")

    def mapping(self, node: Any, where: str, parent: Any = None, key: Any = None) -> dict:
        if not isinstance(node, dict):
            raise self.fail(where, parent, key, "expected a mapping")
        return node

    def get(
        self, node: dict, key: str, kind: type | tuple, where: str, required: bool = False, default: Any = None
    ) -> Any:
        if key not in node or node[key] is None:
            if required:
                raise self.fail(where, node, None, f"missing required key `{key}`")
            return default
        value = node[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool in (type(value),) and bool not in kinds:
            raise self.fail(f"{where}.{key}", node, key, f"expected {_names(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.fail(f"{where}.{key}", node, key, f"expected {_names(kinds)}, got {type(value).__name__}")
        return value

    def str_list(self, node: dict, key: str, where: str) -> list[str]:
        items = self.get(node, key, list, where, default=[])
        for i, item in enumerate(items):
            if not isinstance(item, str | int) or isinstance(item, bool):
                raise self.fail(f"{where}.{key}[{i}]", items, i, "expected a string")
        return [str(i) for i in items]

    def str_map(self, node: dict, key: str, where: str) -> dict[str, str]:
        items = self.get(node, key, dict, where, default={})
        out = {}
        for k, v in items.items():
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                raise self.fail(f"{where}.{key}.{k}", items, k, "expected a string value")
            out[str(k)] = str(v)
        return out


def _names(kinds: tuple) -> str:
    words = {str: "a string", int: "an integer", list: "a list", dict: "a mapping", bool: "true/false"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _absolute(r: _Reader, value: str, where: str, node: Any, key: str) -> str:
    p = PurePosixPath(value)
    if not p.is_absolute() or ".." in p.parts:
        raise r.fail(where, node, key, f"`{value}` must be an absolute path without `..`")
    return value


def _read_file_change(r: _Reader, node: Any, where: str) -> FileChange:
    r.mapping(node, where)
    path = _absolute(r, r.get(node, "path", str, where, required=True), f"{where}.path", node, "path")
    kind = r.get(node, "kind", str, where, required=True)
    if kind not in ("file", "symlink", "deleted"):
        raise r.fail(f"{where}.kind", node, "kind", f"`{kind}` is not one of file, symlink, deleted")
    mode_text = r.get(node, "mode", (str, int), where)
    mode = None
    if mode_text is not None:
        try:
            mode = int(str(mode_text), 8)
        except ValueError:
            raise r.fail(f"{where}.mode", node, "mode", f"`{mode_text}` is not an octal mode") from None
    target = r.get(node, "target", str, where)
    if kind == "symlink" and target is None:
        raise r.fail(where, node, None, "a symlink needs `target`")
    return FileChange(
        path=path,
        kind=kind,
        mode=mode,
        owner=str(r.get(node, "owner", (str, int), where, default="root")),
        group=str(r.get(node, "group", (str, int), where, default="root")),
        sha256=r.get(node, "sha256", str, where),
        target=target,
        secret=str(r.get(node, "secret", (str, bool), where, default="")),
    )


def _read_package(r: _Reader, node: Any, where: str) -> PackageChange:
    r.mapping(node, where)
    return PackageChange(
        manager=r.get(node, "manager", str, where, required=True),
        installed=r.str_map(node, "installed", where),
        dependencies=r.str_map(node, "dependencies", where),
        removed=r.str_list(node, "removed", where),
    )


def _read_step(r: _Reader, node: Any, where: str) -> Step:
    r.mapping(node, where)
    replay = r.get(node, "replay", str, where, default="skip")
    if replay not in REPLAY_MODES:
        raise r.fail(f"{where}.replay", node, "replay", f"`{replay}` is not one of {', '.join(REPLAY_MODES)}")
    eff = r.get(node, "effects", dict, where, default={})
    w = f"{where}.effects"
    ports = r.get(eff, "ports_opened", list, w, default=[])
    for i, p in enumerate(ports):
        if not isinstance(p, int) or isinstance(p, bool) or not 0 < p < 65536:
            raise r.fail(f"{w}.ports_opened[{i}]", ports, i, "expected a port number")
    effects = Effects(
        packages=[
            _read_package(r, p, f"{w}.packages[{i}]") for i, p in enumerate(r.get(eff, "packages", list, w, default=[]))
        ],
        files=[
            _read_file_change(r, f, f"{w}.files[{i}]") for i, f in enumerate(r.get(eff, "files", list, w, default=[]))
        ],
        env_set=r.str_map(eff, "env_set", w),
        env_unset=r.str_list(eff, "env_unset", w),
        ports_opened=list(ports),
    )
    return Step(
        id=r.get(node, "id", int, where, required=True),
        command=str(r.get(node, "command", str, where, required=True)),
        cwd=r.get(node, "cwd", str, where, default="/"),
        exit=r.get(node, "exit", int, where, required=True),
        replay=replay,
        why=str(r.get(node, "why", str, where, default="")),
        effects=effects,
        user=str(r.get(node, "user", (str, int), where, default="")),
        expanded=str(r.get(node, "expanded", str, where, default="")),
        needed_secret=r.get(node, "needed_secret", bool, where, default=False),
    )


def step_from_data(data: Any, file: Path, where: str = "step") -> Step:
    """A step from its session.yaml/journal form, with the same checks as a whole session."""
    return _read_step(_Reader(file), data, where)


def _read_service(r: _Reader, node: Any, where: str) -> Service:
    r.mapping(node, where)
    command = r.str_list(node, "command", where)
    if not command:
        raise r.fail(where, node, None, "a service needs a non-empty `command`")
    ports = []
    for i, p in enumerate(r.get(node, "ports", list, where, default=[])):
        pw = f"{where}.ports[{i}]"
        r.mapping(p, pw)
        number = r.get(p, "port", int, pw, required=True)
        if not 0 < number < 65536:
            raise r.fail(f"{pw}.port", p, "port", f"{number} is not a port number")
        ports.append(Port(port=number, address=r.get(p, "address", str, pw, default="0.0.0.0")))
    return Service(
        name=r.get(node, "name", str, where, required=True),
        command=command,
        observed=r.str_list(node, "observed", where),
        cwd=r.get(node, "cwd", str, where, default="/"),
        user=str(r.get(node, "user", (str, int), where, default="root")),
        ports=ports,
    )


def from_yaml_text(text: str, file: Path) -> Session:
    r = _Reader(file)
    try:
        doc = _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecorderError(f"{file}{line}: not valid YAML: {problem}") from None
    if not isinstance(doc, dict):
        raise RecorderError(f"{file}: expected a mapping with `schema`, `name` and `steps`")
    schema = r.get(doc, "schema", int, "session", required=True)
    if schema != SCHEMA_VERSION:
        raise r.fail("schema", doc, "schema", f"version {schema} is not supported (this tool reads {SCHEMA_VERSION})")
    host_node = r.get(doc, "host", dict, "session", default={})
    host = Host(
        **{
            k: str(r.get(host_node, k, (str, int, float), "host", default=""))
            for k in ("os_id", "version_id", "pretty_name", "base_image")
        },
        user=str(r.get(host_node, "user", (str, int), "host", default="root")),
    )
    steps = [_read_step(r, s, f"steps[{i}]") for i, s in enumerate(r.get(doc, "steps", list, "session", default=[]))]
    seen: set[int] = set()
    for i, s in enumerate(steps):
        if s.id in seen:
            raise r.fail(f"steps[{i}].id", doc["steps"][i], "id", f"step id {s.id} is used twice")
        seen.add(s.id)
    services = [
        _read_service(r, s, f"services[{i}]") for i, s in enumerate(r.get(doc, "services", list, "session", default=[]))
    ]
    return Session(
        name=r.get(doc, "name", str, "session", required=True),
        host=host,
        steps=steps,
        services=services,
        warnings=r.str_list(doc, "warnings", "session"),
        schema=schema,
    )


def load(directory: Path) -> Session:
    """Load a session directory, checking that every file it refers to is there and inside it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RecorderError(f"{directory}: no such session directory")
    file = directory / SESSION_FILE
    if not file.is_file():
        raise RecorderError(f"{file}: missing; is {directory} a session recorded by `record start`?")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecorderError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    session = from_yaml_text(text, file)
    check_files(session, directory)
    return session


def check_files(session: Session, directory: Path) -> None:
    root = directory.resolve()
    for step in session.steps:
        if step.replay != "files":
            continue
        for f in step.effects.files:
            if f.kind != "file":
                continue
            stored = directory / f.stored_at
            if not stored.resolve().is_relative_to(root):
                raise RecorderError(f"{stored}: points outside the session directory (step {step.id})")
            if not stored.is_file():
                raise RecorderError(f"{stored}: missing; step {step.id} copies it into the image")
