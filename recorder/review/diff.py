"""`record diff A B`: what changes in the image between two sessions, in words a PR comment can hold.

It compares what each image holds (recorder/review/plan.py), not the YAML text: a re-recording that only
renumbered steps is no difference; a dependency that moved to a new version is one. A captured
file's content is compared as it is in files/ now, so an edit made after recording shows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from recorder.model.session import FileChange, Session
from recorder.review import plan

PURGED = "purged"
SECTIONS = ("base", "packages", "files", "ports", "env", "entrypoint")


def _file_identity(f: FileChange, directory: Path) -> dict[str, str]:
    if f.kind == "deleted":
        return {"kind": "deleted"}
    if f.kind == "symlink":
        return {"kind": "symlink", "target": f.target or ""}
    stored = directory / f.stored_at
    content = hashlib.sha256(stored.read_bytes()).hexdigest() if stored.is_file() else (f.sha256 or "")
    return {
        "kind": "file",
        "content": content,
        "mode": "" if f.mode is None else f"{f.mode:04o}",
        "owner": f"{f.owner}:{f.group}",
    }


def _keyed(before: dict[str, str], after: dict[str, str]) -> dict[str, list]:
    return {
        "added": [{"name": k, "after": after[k]} for k in sorted(after.keys() - before.keys())],
        "removed": [{"name": k, "before": before[k]} for k in sorted(before.keys() - after.keys())],
        "changed": [
            {"name": k, "before": before[k], "after": after[k]}
            for k in sorted(before.keys() & after.keys())
            if before[k] != after[k]
        ],
    }


def _packages(p: plan.Plan) -> dict[str, str]:
    out = {name: state.version for name, state in p.packages.items()}
    out.update({name: PURGED for name in p.removed})
    return out


def _ports(session: Session) -> dict[str, str]:
    return {
        str(port.port): ", ".join(sorted({q.address for s in session.services for q in s.ports if q.port == port.port}))
        for s in session.services
        for port in s.ports
    }


def _entrypoint(p: plan.Plan) -> dict[str, str]:
    if p.service is None:
        return {}
    return {
        "command": " ".join(p.service.command),
        "user": p.service.user,
        "workdir": p.service.cwd,
    }


def compare(a: Session, a_dir: Path, b: Session, b_dir: Path) -> dict:
    """Every difference, section by section; a section without differences has empty lists."""
    pa, pb = plan.of(a), plan.of(b)
    files = _keyed(
        {path: _file_identity(s.change, a_dir) for path, s in pa.files.items()},
        {path: _file_identity(s.change, b_dir) for path, s in pb.files.items()},
    )
    for item in files["changed"]:
        item["what"] = sorted(
            k for k in item["after"].keys() | item["before"].keys() if item["before"].get(k) != item["after"].get(k)
        )
    base = _keyed({"FROM": pa.base}, {"FROM": pb.base})
    result = {
        "base": base,
        "packages": _keyed(_packages(pa), _packages(pb)),
        "files": files,
        "ports": _keyed(_ports(a), _ports(b)),
        "env": _keyed(pa.env, pb.env),
        "entrypoint": _keyed(_entrypoint(pa), _entrypoint(pb)),
    }
    result["same"] = not any(v for section in SECTIONS for v in result[section].values())
    return result


def _file_words(d: dict[str, str]) -> str:
    if d["kind"] == "file":
        return f"file, sha256 {d['content'][:12]}, mode {d['mode'] or '?'}, {d['owner']}"
    if d["kind"] == "symlink":
        return f"symlink -> {d['target']}"
    return "deleted"


TITLES = {
    "base": "Base image",
    "packages": "Packages",
    "files": "Files",
    "ports": "Ports",
    "env": "Environment",
    "entrypoint": "Entrypoint",
}


def _value(section: str, value) -> str:
    if section == "files":
        return _file_words(value)
    return f"`{value}`" if value != "" else '`""`'


def _line(section: str, kind: str, item: dict) -> str:
    name = f"`{item['name']}`"
    if section == "packages" and PURGED in (item.get("before"), item.get("after")):
        if kind == "added":
            return f"- now purges {name}"
        if kind == "removed":
            return f"- no longer purges {name}"
    if kind == "added":
        return f"- added {name}: {_value(section, item['after'])}"
    if kind == "removed":
        return f"- removed {name} (was {_value(section, item['before'])})"
    what = f" ({', '.join(item['what'])})" if "what" in item else ""
    return f"- changed {name}{what}: {_value(section, item['before'])} → {_value(section, item['after'])}"


def markdown(result: dict, a_name: str, b_name: str) -> str:
    """The diff as Markdown: readable in a terminal, and as a PR comment."""
    lines = [f"### record diff: `{a_name}` → `{b_name}`", ""]
    if result["same"]:
        return "\n".join([*lines, "No differences in what the image holds.", ""])
    for section in SECTIONS:
        d = result[section]
        if not any(d.values()):
            continue
        lines += [f"**{TITLES[section]}**", ""]
        lines += [_line(section, kind, item) for kind in ("added", "removed", "changed") for item in d[kind]]
        lines.append("")
    return "\n".join(lines)
