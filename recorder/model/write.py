"""session.yaml written for a person as much as for the program: a stable key order, multi-line
commands as literal blocks, empty fields left out, so a re-recording reads as a small diff."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from recorder.model.session import (
    HEADER,
    MINIMIZED_NOTE,
    SESSION_FILE,
    FileChange,
    Fingerprint,
    Minimized,
    PackageChange,
    Port,
    Service,
    Session,
    Step,
)


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
            "ports": [_port(p) for p in s.ports],
            "data_dir": s.data_dir,
            "env": CommentedMap(sorted(s.env.items())) if s.env else None,
            "processes": CommentedMap((k, _flow(v)) for k, v in sorted(s.processes.items())) if s.processes else None,
            "replay": s.replay if s.replay != "run" else None,
        }
    )


def _port(p: Port) -> CommentedMap:
    out = CommentedMap(port=p.port, address=p.address)
    if p.protocol != "tcp":
        out["protocol"] = p.protocol
    return out


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
            "via": h.via,
            "needed_packages": CommentedMap(sorted(h.needed_packages.items())),
        }
    )
    doc["steps"] = [step_to_data(s) for s in session.steps]
    doc["services"] = [_service_to_yaml(s) for s in session.services]
    if session.fingerprint is not None:
        doc["fingerprint"] = _fingerprint_to_yaml(session.fingerprint)
    if session.minimized:
        doc["minimized"] = minimized_to_yaml(session.minimized)
    doc["warnings"] = list(session.warnings)
    doc.yaml_set_start_comment(HEADER)
    buf = io.StringIO()
    round_trip().dump(doc, buf)
    return buf.getvalue()


def minimized_to_yaml(decisions: list[Minimized]) -> CommentedSeq:
    seq = CommentedSeq(
        _drop_empty(
            {
                "manager": m.manager,
                "dropped": CommentedMap(sorted(m.dropped.items())),
                "kept": CommentedMap(sorted(m.kept.items())),
            }
        )
        for m in sorted(decisions, key=lambda m: m.manager)
    )
    seq.yaml_set_start_comment(MINIMIZED_NOTE, indent=2)
    return seq


def set_minimized(directory: Path, decisions: list[Minimized]) -> Path:
    """Write `record minimize`'s decision into session.yaml, everything else as it is: a person's
    comments and edits stay (round-trip), and only the `minimized` block changes."""
    target = directory / SESSION_FILE
    doc = round_trip().load(target.read_text(encoding="utf-8"))
    if decisions:
        if "minimized" in doc:
            doc["minimized"] = minimized_to_yaml(decisions)
        else:
            at = list(doc).index("warnings") if "warnings" in doc else len(doc)
            doc.insert(at, "minimized", minimized_to_yaml(decisions))
    else:
        doc.pop("minimized", None)
    buf = io.StringIO()
    round_trip().dump(doc, buf)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(target)
    return target


def save(session: Session, directory: Path) -> Path:
    """Write session.yaml atomically (a crash leaves the old file or the new one, never half)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / SESSION_FILE
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(to_yaml_text(session), encoding="utf-8")
    tmp.replace(target)
    return target


def round_trip() -> YAML:
    """ruamel's round-trip YAML as session.yaml is written (and read back, with line numbers)."""
    y = YAML(typ="rt")
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y
