"""What the image of a session holds, step effects folded in order: the common ground of show, diff and verify.

It follows the generator's rules (packages come from `run` steps, files from every replayed step,
ENV from both, the last step that touched a path wins, packages `record minimize` dropped are not
there), so what a reviewer reads is what gets built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recorder.model.image import base_image, exposed_ports, primary
from recorder.model.session import FileChange, Service, Session, active_steps


@dataclass(frozen=True)
class PackageState:
    version: str
    requested: bool  # asked for by name; False for a dependency
    step: int
    manager: str = "apt"
    site: str = ""  # where it was installed (a virtualenv's site-packages, a node_modules)


@dataclass(frozen=True)
class FileState:
    change: FileChange
    step: int


@dataclass
class Plan:
    base: str
    packages: dict[str, PackageState] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)  # package -> the step that removed it
    files: dict[str, FileState] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # an unset variable is "" (ENV cannot delete)
    service: Service | None = None
    exposed: list[int] = field(default_factory=list)
    # recommended only, left out by `record minimize` after verify passed without them: name -> version
    dropped: dict[str, str] = field(default_factory=dict)
    kept_back: dict[str, str] = field(default_factory=dict)  # recommended only, installed: name -> why


def of(session: Session, base: str | None = None) -> Plan:
    plan = Plan(base=base_image(session, base))
    for step in active_steps(session):
        if step.replay == "run":
            for change in step.effects.packages:
                for name, version in change.dependencies.items():
                    plan.packages[name] = PackageState(version, False, step.id, change.manager, change.site)
                for name, version in change.installed.items():
                    plan.packages[name] = PackageState(version, True, step.id, change.manager, change.site)
                for name in change.removed:
                    plan.packages.pop(name, None)
                    plan.removed[name] = step.id
                for name in (*change.installed, *change.dependencies):
                    plan.removed.pop(name, None)
        if step.replay in ("files", "run"):
            for f in step.effects.files:
                plan.files[f.path] = FileState(f, step.id)
        plan.env.update(step.effects.env_set)
        plan.env.update({name: "" for name in step.effects.env_unset})
    for decision in session.minimized:
        for name in decision.dropped:
            state = plan.packages.get(name)
            if state is not None and state.manager == decision.manager and not state.requested:
                plan.dropped[name] = plan.packages.pop(name).version
        plan.kept_back.update({n: why for n, why in decision.kept.items() if n in plan.packages})
    plan.service = primary(session)
    plan.exposed = exposed_ports(session)
    return plan
