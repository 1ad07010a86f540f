"""`record show`: a reviewer's summary of a session: what the image gets from each step and how, and what to watch.

The data is a plain dict (the --json output); the text is rendered from it, so both say the same.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from recorder.engine.expect import expectations
from recorder.managers import registry
from recorder.model.session import Session, Step, active_steps
from recorder.review import check, plan

SHOWN_PACKAGES = 4
TOOLS = {"apt": "apt-get"}


def _first_line(command: str) -> str:
    lines = command.strip().splitlines()
    return (lines[0] + (" …" if len(lines) > 1 else "")) if lines else ""


def _names(items: list[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def how(step: Step) -> str:
    """How a step reaches the image, in the words of the Dockerfile it generates."""
    if step.replay == "skip":
        return "left out"
    parts = []
    if step.replay == "run":
        if step.effects.packages:
            for change in step.effects.packages:
                pins = [f"{n}={v}" for n, v in sorted(change.installed.items())]
                deps = len(change.dependencies)
                tool = TOOLS.get(change.manager, change.manager)
                if not registry.replayable(change.manager):
                    parts.append(f"{change.manager} packages are not replayed yet")
                    continue
                if pins:
                    extra = f" (+{deps} dependencies)" if deps else ""
                    parts.append(f"RUN {tool} install {_names(pins, SHOWN_PACKAGES)}{extra}")
                if change.removed:
                    parts.append(f"RUN {tool} purge {_names(sorted(change.removed))}")
        elif "\n" in step.command.strip():
            parts.append(f"RUN replay/step-{step.id}.sh (the command, as recorded)")
        else:
            parts.append(f"RUN {_first_line(step.command)}")
    else:
        copied = [f.path for f in step.effects.files if f.kind == "file"]
        linked = [f"{f.path} -> {f.target}" for f in step.effects.files if f.kind == "symlink"]
        deleted = [f.path for f in step.effects.files if f.kind == "deleted"]
        made = [f.path for f in step.effects.files if f.kind == "dir"]
        if copied:
            parts.append(f"COPY {_names(copied)}")
        if made:
            parts.append(f"directory {_names(made)}")
        if linked:
            parts.append(f"link {_names(linked)}")
        if deleted:
            parts.append(f"delete {_names(deleted)}")
    names = sorted(step.effects.env_set) + sorted(step.effects.env_unset)
    if names:
        parts.append(f"ENV {_names(names)}")
    return "; ".join(parts) or "nothing to replay"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _warnings(session: Session, directory: Path, stale: list[str]) -> list[str]:
    out = list(session.warnings)
    last = plan.of(session)
    for _, state in sorted(last.files.items()):
        f = state.change
        stored = directory / f.stored_at
        if f.kind == "file" and f.sha256 and stored.is_file() and _sha256(stored) != f.sha256:
            out.append(
                f"{f.stored_at} was changed after recording (step {state.step}): "
                "the image will not hold what staging had, and verify will say so"
            )
    for step in session.steps:
        if step.needed_secret and step.replay == "run":
            out.append(f"step {step.id} asked for a secret at a prompt; the build cannot type it")
        if step.replay == "run" and not step.effects.packages and step.exit != 0:
            out.append(f"step {step.id} failed on staging (exit {step.exit}) but is replayed with `run`")
    if session.fingerprint is None:
        out.append(
            "no fingerprint of what staging served (recorded before fingerprints): "
            "verify checks that ports accept connections, and files, packages and env"
        )
    internal = sorted({p.port for s in session.services for p in s.ports if not p.public})
    exposed = set(last.exposed)
    internal = [p for p in internal if p not in exposed]
    if internal:
        out.append(f"port(s) {', '.join(map(str, internal))} listened on loopback only: not exposed, not verified")
    if stale:
        out.append(f"generated files are out of date ({', '.join(stale)}): run `record to-dockerfile {directory}`")
    return out


def describe(session: Session, directory: Path, base: str | None = None) -> dict:
    p = plan.of(session, base)
    stale = [s.path for s in check.check(session, directory, base) if s.state != check.UP_TO_DATE]
    service = None
    if p.service is not None:
        service = {
            "name": p.service.name,
            "entrypoint": list(p.service.command),
            "user": p.service.user,
            "workdir": p.service.cwd,
            "exposed": p.exposed,
        }
    kept = active_steps(session)
    return {
        "name": session.name,
        "host": session.host.pretty_name or f"{session.host.os_id} {session.host.version_id}".strip(),
        "base_image": p.base,
        "steps": [
            {
                "id": s.id,
                "command": s.command,
                "exit": s.exit,
                "replay": s.replay,
                "how": how(s),
                "why": s.why,
            }
            for s in session.steps
        ],
        "kept": len(kept),
        "packages": {name: pkg.version for name, pkg in sorted(p.packages.items()) if pkg.requested},
        "dependencies": sum(1 for pkg in p.packages.values() if not pkg.requested),
        "files": sorted(p.files),
        "minimized": [
            {
                "manager": m.manager,
                "option": registry.without_recommends(m.manager),
                "dropped": {n: v for n, v in sorted(m.dropped.items()) if n in p.dropped},
                "kept": {n: why for n, why in sorted(m.kept.items()) if n in p.kept_back},
            }
            for m in sorted(session.minimized, key=lambda m: m.manager)
        ],
        "env": dict(sorted(p.env.items())),
        "service": service,
        "verify": [{"kind": c.kind, "subject": c.subject, "expected": c.expected} for c in expectations(session)],
        "warnings": _warnings(session, directory, stale),
    }


def render(d: dict, console: Console) -> None:
    console.print(f"[bold]{d['name']}[/]: recorded on {d['host'] or 'an unknown host'}; FROM {d['base_image']}")
    console.print(f"{len(d['steps'])} steps, {d['kept']} replayed:")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("step", "replay", "command", "in the image"):
        table.add_column(column, overflow="fold")
    for s in d["steps"]:
        shown = s["how"] if s["replay"] != "skip" else f"left out: {s['why']}"
        table.add_row(str(s["id"]), s["replay"], _first_line(s["command"])[:70], shown)
    console.print(table)
    if d["packages"]:
        pins = [f"{n}={v}" for n, v in d["packages"].items()]
        console.print(f"packages: {', '.join(pins)} (+{d['dependencies']} dependencies)", markup=False)
    for m in d["minimized"]:
        dropped = [f"{n}={v}" for n, v in m["dropped"].items()]
        console.print(
            f"{m['manager']} installs {m['option']} (record minimize; the image verified this way): "
            f"{len(dropped)} recommended package(s) left out: {', '.join(dropped) or 'none'}",
            markup=False,
        )
        for name, why in m["kept"].items():
            console.print(f"  kept though only recommended: {name}: {why}", markup=False)
    if d["files"]:
        console.print(f"files: {', '.join(d['files'])}", markup=False)
    if d["env"]:
        console.print("env: " + ", ".join(f"{k}={v}" for k, v in d["env"].items()), markup=False)
    svc = d["service"]
    if svc:
        ports = ", ".join(map(str, svc["exposed"])) or "none"
        console.print(
            f"service: {svc['name']} as {svc['user']} in {svc['workdir']}, exposes {ports}: "
            f"ENTRYPOINT {svc['entrypoint']}",
            markup=False,
        )
    else:
        console.print("service: none (nothing was left listening)")
    kinds: dict[str, int] = {}
    for c in d["verify"]:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    if kinds:
        words = {"env": "env variable", "http": "HTTP answer"}
        counted = [f"{n} {words.get(k, k)}{'s' if n != 1 else ''}" for k, n in kinds.items()]
        console.print("verify will check: " + ", ".join(counted))
    for w in d["warnings"]:
        console.print(Text.assemble(("warning: ", "yellow"), w), highlight=False)
