"""The Session: the typed record of a deployment, and the only thing capture and generators share.

`session.yaml` is a person's document as much as the program's: it is written in a stable key order,
with multi-line commands as literal blocks, and loaded with line numbers so every error names the
place to fix.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from recorder.errors import RecorderError
from recorder.model import yamlload

SCHEMA_VERSION = 1
SESSION_FILE = "session.yaml"
FILES_DIR = "files"
REPLAY_MODES = ("run", "files", "skip")
MAX_SESSION_BYTES = 16 << 20  # a hand-written plan is kilobytes; more is a mistake (a log pasted in)

HEADER = """\
Recorded by `record start`. This is the plan the Dockerfile is generated from: edit it freely.
Each step's `replay` says how it is rebuilt: run (the command runs in the image), files (the files
it changed are copied from files/), skip (left out). `why` says why the recorder chose it.
`fingerprint` is what the staging host answered when the recording ended; `record verify` asks
the image the same (delete an entry to stop checking it).
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
    # packages the host had before recording that the replayed commands or the services run
    needed_packages: dict[str, str] = field(default_factory=dict)


@dataclass
class Session:
    name: str
    host: Host = field(default_factory=Host)
    steps: list[Step] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    fingerprint: Fingerprint | None = None  # None: recorded before fingerprints existed


# ---------------------------------------------------------------- writing


def _block(text: str) -> str | LiteralScalarString:
    """Multi-line text as a literal block, as a person wrote it; text a block cannot hold exactly
    (control characters, trailing blanks) is left to the dumper, which quotes and escapes it."""
    if "\n" not in text or text[:1].isspace() or any(line != line.rstrip() for line in text.split("\n")):
        return text
    if any(not (ch.isprintable() or ch == "\n") or ch in "\x85\u2028\u2029\ufeff" for ch in text):
        return text
    return LiteralScalarString(text)


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
            "target": p.target,
            "options": _flow(list(p.options)) if p.options else None,
            "site": p.site,
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
            "data_dir": s.data_dir,
            "replay": s.replay if s.replay != "run" else None,
        }
    )


def _fingerprint_to_yaml(f: Fingerprint) -> CommentedMap:
    f = Fingerprint(list(f.ports), list(f.http)).sort()
    out = CommentedMap()
    out["ports"] = [CommentedMap(port=p.port, accepts=p.accepts) for p in f.ports]
    out["http"] = [
        _drop_empty({"url": h.url, "status": h.status, "sha256": h.sha256, "size": h.size, "step": h.step or None})
        for h in f.http
    ]
    return out


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
            "needed_packages": CommentedMap(sorted(h.needed_packages.items())),
        }
    )
    doc["steps"] = [step_to_data(s) for s in session.steps]
    doc["services"] = [_service_to_yaml(s) for s in session.services]
    if session.fingerprint is not None:
        doc["fingerprint"] = _fingerprint_to_yaml(session.fingerprint)
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

# What lands in a Dockerfile line must stay on that line: these shapes are checked at load time, so a
# generator never writes an instruction nobody reviewed.
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ACCOUNT = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]*")  # a user or group name, or a number
PACKAGE = re.compile(r"@?[A-Za-z0-9][A-Za-z0-9+.:_~/-]*")  # npm's scoped names: @types/node
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.:_~-]*")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
ADDRESS = re.compile(r"[0-9A-Fa-f.:%a-z*]+")
SHA256 = re.compile(r"[0-9a-f]{64}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    for kind, words in ((int, "an integer"), (float, "a number with a fraction"), (str, "a string")):
        if isinstance(value, kind):
            return words
    for kind, words in ((dict, "a mapping"), (list, "a list"), (bytes, "binary data"), (set, "a set")):
        if isinstance(value, kind):
            return words
    return "a tagged value" if hasattr(value, "tag") else type(value).__name__


def _show(value: Any, limit: int = 60) -> str:
    """A value quoted in an error message: one line, short."""
    text = CONTROL.sub("?", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
            raise self.fail(where, parent, key, f"expected a mapping, got {_kind(node)}")
        return node

    def get(
        self, node: dict, key: str, kind: type | tuple, where: str, required: bool = False, default: Any = None
    ) -> Any:
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(where, node, None, f"missing required key `{key}`")
            return default
        if value.__class__ is kind or (kind.__class__ is tuple and value.__class__ in kind):
            return value  # exactly a wanted type (a bool's class is bool, never int): nearly every value
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(f"{where}.{key}", node, key, f"expected {_names(kinds)}, got true/false")
        if not isinstance(value, kinds):
            raise self.fail(f"{where}.{key}", node, key, f"expected {_names(kinds)}, got {_kind(value)}")
        return value

    def text(
        self,
        node: dict,
        key: str,
        where: str,
        required: bool = False,
        default: str = "",
        shape: re.Pattern | None = None,
        what: str = "",
    ) -> str:
        """A one-line string (numbers are taken as written); `shape` when it must match a pattern."""
        value = self.get(node, key, (str, int, float), where, required=required, default=None)
        if value is None:
            return default
        value = str(value)
        if CONTROL.search(value):
            raise self.fail(f"{where}.{key}", node, key, "must be one line, without control characters")
        if shape is not None and not shape.fullmatch(value):
            raise self.fail(f"{where}.{key}", node, key, f"`{_show(value)}` is not {what}")
        return value

    def integer(self, node: dict, key: str, where: str, low: int, high: int, **kw: Any) -> int:
        value = self.get(node, key, int, where, **kw)
        if value is not None and not low <= value <= high:
            raise self.fail(f"{where}.{key}", node, key, f"{_show(value)} is out of range ({low} to {high})")
        return value

    def str_list(self, node: dict, key: str, where: str, one_line: bool = False) -> list[str]:
        items = self.get(node, key, list, where, default=[])
        for i, item in enumerate(items):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise self.fail(f"{where}.{key}[{i}]", items, i, f"expected a string, got {_kind(item)}")
            if one_line and CONTROL.search(str(item)):
                raise self.fail(f"{where}.{key}[{i}]", items, i, "must be one line, without control characters")
        return [str(i) for i in items]

    def str_map(self, node: dict, key: str, where: str, keys: re.Pattern, what: str) -> dict[str, str]:
        items = self.get(node, key, dict, where, default={})
        out = {}
        for k, v in items.items():
            if not isinstance(k, str | int) or isinstance(k, bool) or not keys.fullmatch(str(k)):
                raise self.fail(f"{where}.{key}", items, k, f"`{_show(k)}` is not {what}")
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                raise self.fail(f"{where}.{key}.{k}", items, k, f"expected a string value, got {_kind(v)}")
            out[str(k)] = str(v)
        return out


def _names(kinds: tuple) -> str:
    words = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}
    words[bool] = "true/false"
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _absolute(r: _Reader, node: dict, key: str, where: str, required: bool = False, default: str = "/") -> str:
    value = r.text(node, key, where, required=required, default=default)
    if not value.startswith("/") or ".." in value.split("/"):
        raise r.fail(f"{where}.{key}", node, key, f"`{_show(value)}` must be an absolute path without `..`")
    return value


def _read_file_change(r: _Reader, node: Any, where: str) -> FileChange:
    r.mapping(node, where)
    path = _absolute(r, node, "path", where, required=True)
    kind = r.text(node, "kind", where, required=True)
    if kind not in ("file", "symlink", "deleted"):
        raise r.fail(f"{where}.kind", node, "kind", f"`{_show(kind)}` is not one of file, symlink, deleted")
    mode_text = r.get(node, "mode", (str, int), where)
    mode = None
    if mode_text is not None:
        try:
            mode = int(str(mode_text), 8)
        except ValueError:
            raise r.fail(f"{where}.mode", node, "mode", f"`{_show(mode_text)}` is not an octal mode") from None
        if not 0 <= mode <= 0o7777:
            raise r.fail(f"{where}.mode", node, "mode", f"`{_show(mode_text)}` is not a file mode (0000 to 7777)")
    target = r.text(node, "target", where, default="") or None
    if kind == "symlink" and target is None:
        raise r.fail(where, node, None, "a symlink needs `target`")
    secret = r.get(node, "secret", (str, bool), where, default="")
    alive = kind != "deleted"  # a deleted file has no owner
    sha = r.text(node, "sha256", where, default="", shape=SHA256, what="a sha256 in hex")
    return FileChange(
        path=path,
        kind=kind,
        mode=mode,
        owner=r.text(node, "owner", where, default="root", shape=ACCOUNT, what="a user name") if alive else "root",
        group=r.text(node, "group", where, default="root", shape=ACCOUNT, what="a group name") if alive else "root",
        sha256=sha or None,
        target=target,
        secret=("marked secret by hand" if secret is True else "") if isinstance(secret, bool) else _show(secret, 500),
    )


def _read_package(r: _Reader, node: Any, where: str) -> PackageChange:
    r.mapping(node, where)
    removed = r.str_list(node, "removed", where)
    for i, name in enumerate(removed):
        if not PACKAGE.fullmatch(name):
            raise r.fail(f"{where}.removed[{i}]", node["removed"], i, f"`{_show(name)}` is not a package name")
    return PackageChange(
        manager=r.text(node, "manager", where, required=True, shape=ENV_NAME, what="a package manager's name"),
        installed=_packages(r, node, "installed", where),
        dependencies=_packages(r, node, "dependencies", where),
        removed=sorted(removed),
        target=r.text(node, "target", where),
        options=r.str_list(node, "options", where, one_line=True),
        site=r.text(node, "site", where),
    )


def _packages(r: _Reader, node: dict, key: str, where: str) -> dict[str, str]:
    packages = r.str_map(node, key, where, PACKAGE, "a package name")
    for name, version in packages.items():
        if not VERSION.fullmatch(version):
            raise r.fail(f"{where}.{key}.{name}", node[key], name, f"`{_show(version)}` is not a package version")
    return packages


def _read_effects(r: _Reader, eff: dict, w: str) -> Effects:
    ports = r.get(eff, "ports_opened", list, w, default=[])
    for i, p in enumerate(ports):
        if not isinstance(p, int) or isinstance(p, bool) or not 0 < p < 65536:
            raise r.fail(f"{w}.ports_opened[{i}]", ports, i, "expected a port number")
    unset = r.str_list(eff, "env_unset", w)
    for i, name in enumerate(unset):
        if not ENV_NAME.fullmatch(name):
            raise r.fail(f"{w}.env_unset[{i}]", eff["env_unset"], i, f"`{_show(name)}` is not a variable name")
    packages = r.get(eff, "packages", list, w, default=[])
    files = r.get(eff, "files", list, w, default=[])
    return Effects(
        packages=[_read_package(r, p, f"{w}.packages[{i}]") for i, p in enumerate(packages)],
        files=[_read_file_change(r, f, f"{w}.files[{i}]") for i, f in enumerate(files)],
        env_set=r.str_map(eff, "env_set", w, ENV_NAME, "a variable name"),
        env_unset=unset,
        ports_opened=list(ports),
    )


def _read_step(r: _Reader, node: Any, where: str) -> Step:
    r.mapping(node, where)
    replay = r.text(node, "replay", where, default="skip")
    if replay not in REPLAY_MODES:
        raise r.fail(f"{where}.replay", node, "replay", f"`{_show(replay)}` is not one of {', '.join(REPLAY_MODES)}")
    eff = r.get(node, "effects", dict, where, default={})
    effects = _read_effects(r, eff, f"{where}.effects") if eff else Effects()
    command = r.get(node, "command", (str, int, float), where, required=True)
    return Step(
        id=r.integer(node, "id", where, 1, 10**9, required=True),
        command=str(command),
        cwd=_absolute(r, node, "cwd", where),
        exit=r.integer(node, "exit", where, -(2**31), 2**31, required=True),
        replay=replay,
        why=str(r.get(node, "why", (str, int, float), where, default="")),
        effects=effects,
        user=r.text(node, "user", where, shape=ACCOUNT, what="a user name or id"),
        expanded=str(r.get(node, "expanded", (str, int, float), where, default="")),
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
        number = _port_number(r, node, i, pw)
        address = r.text(p, "address", pw, default="0.0.0.0", shape=ADDRESS, what="an IP address")
        ports.append(Port(port=number, address=address))
    name = r.text(node, "name", where, required=True)
    if not name.strip():
        raise r.fail(f"{where}.name", node, "name", "a service needs a name")
    return Service(
        name=name,
        command=command,
        observed=r.str_list(node, "observed", where),
        cwd=_absolute(r, node, "cwd", where),
        user=r.text(node, "user", where, default="root", shape=ACCOUNT, what="a user name or id"),
        ports=ports,
        data_dir=r.get(node, "data_dir", str, where, default=""),
        replay=_service_replay(r, node, where),
    )


def _port_number(r: _Reader, node: dict, i: int, pw: str) -> int:
    """`port` of the i-th entry of node's `ports`, which must be a mapping."""
    p = r.mapping(node["ports"][i], pw, node["ports"], i)
    number = r.get(p, "port", int, pw, required=True)
    if not 0 < number < 65536:
        raise r.fail(f"{pw}.port", p, "port", f"{_show(number)} is not a port number")
    return number


def _service_replay(r: _Reader, node: dict, where: str) -> str:
    replay = r.get(node, "replay", str, where, default="run")
    if replay not in ("run", "skip"):
        raise r.fail(f"{where}.replay", node, "replay", f"`{replay}` is not one of run, skip")
    return replay


def _read_fingerprint(r: _Reader, doc: dict, step_ids: set[int]) -> Fingerprint:
    where = "fingerprint"
    node = r.mapping(doc["fingerprint"], where, doc, where)
    ports = []
    for i, p in enumerate(r.get(node, "ports", list, where, default=[])):
        pw = f"{where}.ports[{i}]"
        number = _port_number(r, node, i, pw)
        ports.append(PortCheck(port=number, accepts=r.get(p, "accepts", bool, pw, default=True)))
    checks = []
    for i, h in enumerate(r.get(node, "http", list, where, default=[])):
        hw = f"{where}.http[{i}]"
        r.mapping(h, hw, node["http"], i)
        url = r.get(h, "url", str, hw, required=True)
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise r.fail(f"{hw}.url", h, "url", f"`{url}` is not a URL") from None
        if parts.scheme != "http" or not parts.hostname:
            raise r.fail(f"{hw}.url", h, "url", f"`{url}` is not an http:// URL with a host")
        status = r.get(h, "status", int, hw, required=True)
        if not 100 <= status <= 599:
            raise r.fail(f"{hw}.status", h, "status", f"{status} is not an HTTP status")
        digest = r.get(h, "sha256", str, hw, required=True)
        if not SHA256.fullmatch(digest):
            raise r.fail(f"{hw}.sha256", h, "sha256", "expected 64 lowercase hex digits")
        step = r.get(h, "step", int, hw, default=0)
        if step and step not in step_ids:
            raise r.fail(f"{hw}.step", h, "step", f"there is no step {step}")
        size = r.get(h, "size", int, hw, default=0)
        checks.append(HttpCheck(url=url, status=status, sha256=digest, size=size, step=step))
    return Fingerprint(ports, checks).sort()


def from_yaml_text(text: str, file: Path) -> Session:
    """Parse and check a session. The fast loader goes first; what it leaves to ruamel (tags, aliases)
    is loaded by ruamel's safe loader, which types values the same way. Only when something is wrong
    is the text parsed again with the round-trip loader, for the line numbers the error names."""
    for loader in (yamlload.load, YAML(typ="safe", pure=False).load):
        try:
            return _from_document(loader(text), file)
        except Exception:  # noqa: BLE001 - any doubt: the next loader, and the last says what is wrong, where
            continue
    return _from_document(_load_with_lines(text, file), file)


def _load_with_lines(text: str, file: Path) -> Any:
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecorderError(f"{file}{line}: not valid YAML: {_show(problem, 200)}") from None
    except RecursionError:
        raise RecorderError(f"{file}: not valid YAML: nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - the parser raises assorted errors on odd values (a 13th month)
        raise RecorderError(f"{file}: not valid YAML: {_show(exc, 200)}") from None


def _from_document(doc: Any, file: Path) -> Session:
    r = _Reader(file)
    if not isinstance(doc, dict):
        raise RecorderError(f"{file}: expected a mapping with `schema`, `name` and `steps`, got {_kind(doc)}")
    schema = r.get(doc, "schema", int, "session", required=True)
    if schema != SCHEMA_VERSION:
        supported = f"this tool reads {SCHEMA_VERSION}"
        raise r.fail("schema", doc, "schema", f"version {_show(schema)} is not supported ({supported})")
    host_node = r.get(doc, "host", dict, "session", default={})
    host = Host(
        os_id=r.text(host_node, "os_id", "host"),
        version_id=r.text(host_node, "version_id", "host"),
        pretty_name=r.text(host_node, "pretty_name", "host"),
        base_image=r.text(host_node, "base_image", "host", shape=IMAGE, what="an image name"),
        user=r.text(host_node, "user", "host", default="root", shape=ACCOUNT, what="a user name or id"),
        needed_packages=_packages(r, host_node, "needed_packages", "host"),
    )
    steps_node = r.get(doc, "steps", list, "session", default=[])
    steps = [_read_step(r, s, f"steps[{i}]") for i, s in enumerate(steps_node)]
    seen: set[int] = set()
    for i, s in enumerate(steps):
        if s.id in seen:
            raise r.fail(f"steps[{i}].id", steps_node[i], "id", f"step id {s.id} is used twice; ids must be unique")
        seen.add(s.id)
    services = [
        _read_service(r, s, f"services[{i}]") for i, s in enumerate(r.get(doc, "services", list, "session", default=[]))
    ]
    name = r.text(doc, "name", "session", required=True)
    if not name.strip() or len(name) > 200:
        raise r.fail("session.name", doc, "name", "must be a short name such as `web`")
    return Session(
        name=name,
        host=host,
        steps=steps,
        services=services,
        warnings=r.str_list(doc, "warnings", "session"),
        schema=schema,
        fingerprint=None if doc.get("fingerprint") is None else _read_fingerprint(r, doc, seen),
    )


def load(directory: Path) -> Session:
    """Load a session directory, checking that every file it refers to is there and inside it."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "no such session directory"
        raise RecorderError(f"{directory}: {what}")
    file = directory / SESSION_FILE
    if not file.exists() and not file.is_symlink():
        raise RecorderError(f"{file}: missing; is {directory} a session recorded by `record start`?")
    inside(directory, file, "session.yaml must be a file in the session directory")
    if not file.is_file():
        raise RecorderError(f"{file}: not a regular file")
    try:
        size = file.stat().st_size
        if size > MAX_SESSION_BYTES:
            raise RecorderError(
                f"{file}: {size >> 20} MiB is too large for a session (limit {MAX_SESSION_BYTES >> 20} MiB); "
                "is something else pasted into it?"
            )
        data = file.read_bytes()
    except OSError as exc:
        raise RecorderError(f"{file}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecorderError(f"{file}:{line}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    with _collector_paused():
        session = from_yaml_text(text, file)
    check_files(session, directory)
    return session


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A loaded session is a tree of a few hundred thousand objects and no cycles: while it is built,
    the cycle collector would only walk it again and again (a tenth of a large session's load)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def running_services(session: Session) -> list[Service]:
    """The services the image runs: those recorded, less any a reviewer set to `replay: skip`."""
    return [service for service in session.services if service.replay == "run"]


def active_steps(session: Session) -> list[Step]:
    """The steps the image replays (run or copied); a reviewer's `replay: skip` leaves one out."""
    return [step for step in session.steps if step.replay != "skip"]


def inside(directory: Path, path: Path, what: str) -> None:
    """Refuse a path that leads out of the session directory (through `..` or a symlink)."""
    try:
        resolved = path.resolve()
        root = directory.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise RecorderError(f"{path}: cannot be resolved ({exc}); {what}") from None
    if not resolved.is_relative_to(root):
        raise RecorderError(f"{path}: points outside the session directory ({resolved}); {what}")


def check_files(session: Session, directory: Path) -> None:
    plain = _plain_files(directory / FILES_DIR)
    for step in active_steps(session):
        for f in step.effects.files:
            if f.kind != "file" or f.secret:
                continue
            stored = directory / f.stored_at
            if str(stored) in plain:
                continue
            inside(directory, stored, f"step {step.id} copies it into the image; put the file itself there")
            if not stored.exists():
                raise RecorderError(f"{stored}: missing; step {step.id} copies it into the image")
            if not stored.is_file():
                raise RecorderError(f"{stored}: not a regular file; step {step.id} copies it into the image")


def _plain_files(top: Path) -> set[str]:
    """Regular files under `top` reached without following a symlink: inside the session directory
    whatever they are called, so they need no resolving one by one (thousands in a long session)."""
    found: set[str] = set()
    if top.is_symlink() or not top.is_dir():
        return found
    pending = [str(top)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    found.add(entry.path)
    return found
