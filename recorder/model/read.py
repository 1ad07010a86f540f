"""session.yaml read and checked: every field's type and shape, with the line to fix in every error.

What lands in a Dockerfile line must stay on that line, so the shapes a generator writes unreviewed
are checked here, at load time; `load` also checks that every file the session names is inside it.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from recorder.errors import RecorderError
from recorder.model import yamlload
from recorder.model.paths import check_files, inside
from recorder.model.session import (
    MAX_SESSION_BYTES,
    MINIMIZABLE,
    REPLAY_MODES,
    SCHEMA_VERSION,
    SESSION_FILE,
    VIAS,
    Effects,
    FileChange,
    Fingerprint,
    Host,
    HttpCheck,
    Minimized,
    PackageChange,
    Port,
    PortCheck,
    Service,
    Session,
    Step,
)
from recorder.model.write import round_trip

# What lands in a Dockerfile line must stay on that line: these shapes are checked at load time, so a
# generator never writes an instruction nobody reviewed.
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ACCOUNT = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]*")  # a user or group name, or a number
PACKAGE = re.compile(r"@?[A-Za-z0-9][A-Za-z0-9+.:_~/-]*")  # npm's scoped names: @types/node
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.:_~-]*")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
PROTOCOL = re.compile(r"tcp|udp")
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
    if kind not in ("file", "symlink", "dir", "deleted"):
        raise r.fail(f"{where}.kind", node, "kind", f"`{_show(kind)}` is not one of file, symlink, dir, deleted")
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
        protocol = r.text(p, "protocol", pw, default="tcp", shape=PROTOCOL, what="tcp or udp")
        ports.append(Port(port=number, address=address, protocol=protocol))
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
        env=r.str_map(node, "env", where, ENV_NAME, "a variable name"),
        processes=_processes(r, node, where),
        replay=_service_replay(r, node, where),
    )


def _processes(r: _Reader, node: dict, where: str) -> dict[str, list[str]]:
    """program -> the users it ran as: lists of user names or ids."""
    out = {}
    for program, users in r.get(node, "processes", dict, where, default={}).items():
        w = f"{where}.processes.{program}"
        if not isinstance(users, list) or not all(isinstance(u, str) and ACCOUNT.fullmatch(u) for u in users):
            raise r.fail(w, node, "processes", "expected a list of user names")
        out[str(program)] = [str(u) for u in users]
    return out


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


def _read_minimized(r: _Reader, doc: dict) -> list[Minimized]:
    out: list[Minimized] = []
    for i, node in enumerate(r.get(doc, "minimized", list, "session", default=[])):
        where = f"minimized[{i}]"
        r.mapping(node, where, doc["minimized"], i)
        manager = r.text(node, "manager", where, required=True)
        if manager not in MINIMIZABLE:
            known = ", ".join(MINIMIZABLE)
            raise r.fail(f"{where}.manager", node, "manager", f"`{_show(manager)}` is not one of {known}")
        if any(m.manager == manager for m in out):
            raise r.fail(f"{where}.manager", node, "manager", f"{manager} is minimized twice; keep one entry")
        kept = r.str_map(node, "kept", where, PACKAGE, "a package name")
        for name, why in kept.items():
            if CONTROL.search(why):
                raise r.fail(f"{where}.kept.{name}", node["kept"], name, "must be one line, without control characters")
        dropped = _packages(r, node, "dropped", where)
        both = sorted(set(kept) & set(dropped))
        if both:
            raise r.fail(f"{where}.kept", node, "kept", f"{both[0]} is both kept and dropped")
        out.append(Minimized(manager=manager, dropped=dropped, kept=kept))
    return out


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
        return round_trip().load(text)
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
        via=r.text(host_node, "via", "host"),
        needed_packages=_packages(r, host_node, "needed_packages", "host"),
    )
    if host.via not in VIAS:
        raise r.fail(
            "host.via", host_node, "via", f"{_show(host.via)}: use `ssh`, or leave it out (recorded at the console)"
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
        minimized=_read_minimized(r, doc),
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
