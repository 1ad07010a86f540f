"""The order of a Dockerfile's layers: expensive, stable steps early, files that change often late,
without breaking an order that matters.

Docker rebuilds every layer after the first one that changed. So installs, users and environment
go first and captured config and application files last; a change to a config file then rebuilds
only the copies after it. What must stay before an install: the package-manager configuration it
uses (a mirror repo file, pip.conf), and any file a command replayed verbatim might read — so files
before such a command keep their place. Consecutive installs by one manager into one place merge
into one RUN, and the packages the host already had that the replay needs, and supervisor when it
runs several services, join the first apt install when nothing is run before it: one apt layer, one
download of the package lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generators.dockerfile.recommends import applied
from recorder.managers import pip, registry, users
from recorder.model.session import PackageChange, Session, Step, active_steps, running_services

SUPERVISOR = "supervisor"


@dataclass
class Layer:
    """One block of the Dockerfile: usually one step, or several installs merged."""

    steps: list[Step]
    merged: list[PackageChange] = field(default_factory=list)  # set when installs were merged
    host_packages: bool = False  # the packages the host already had are installed here too
    supervisor: bool = False  # supervisor (not on the host: unpinned) is installed here too


def _configures_packages(step: Step) -> bool:
    return any(registry.configures(f.path) for f in step.effects.files)


def _reads_files(step: Step) -> bool:
    """A command replayed as typed might read any file copied before it; installs pinned by
    version, virtualenv creation and useradd do not."""
    if step.replay != "run" or step.effects.packages:
        return False
    return not (pip.creates_virtualenv(step.command) or users.manages_users(step.command))


def _early(step: Step) -> bool:
    return step.replay == "run" or bool(step.effects.env_set or step.effects.env_unset) or _configures_packages(step)


def order(session: Session) -> list[Step]:
    active = active_steps(session)
    last_reader = max((i for i, s in enumerate(active) if _reads_files(s)), default=-1)
    early = [s for i, s in enumerate(active) if _early(s) or i < last_reader]
    late = [s for i, s in enumerate(active) if not (_early(s) or i < last_reader)]
    return early + late


def _pure_install(session: Session, step: Step) -> PackageChange | None:
    e = step.effects
    if step.replay != "run" or len(e.packages) != 1 or e.files or e.env_set or e.env_unset or e.packages[0].removed:
        return None
    return applied(session, e.packages[0])


def group(session: Session) -> list[Layer]:
    layers: list[Layer] = []
    for step in order(session):
        change = _pure_install(session, step)
        previous = layers[-1] if layers else None
        if change is not None and previous is not None and previous.merged:
            last = previous.merged[-1]
            if (last.manager, last.target, last.options) == (change.manager, change.target, change.options):
                previous.steps.append(step)
                previous.merged[-1] = PackageChange(
                    manager=last.manager,
                    installed={**last.installed, **change.installed},
                    dependencies={**last.dependencies, **change.dependencies},
                    target=last.target,
                    options=list(last.options),
                    site=last.site,
                )
                continue
        layers.append(Layer([step], [change] if change is not None else []))
    _fold_host_packages(session, layers)
    return layers


def needs_supervisor(session: Session) -> bool:
    """Several services run under supervisord, which the session did not install itself."""
    installed = {n for st in session.steps for p in st.effects.packages for n in (*p.installed, *p.dependencies)}
    return len(running_services(session)) > 1 and SUPERVISOR not in installed


def _fold_host_packages(session: Session, layers: list[Layer]) -> None:
    """The host's own packages that the replay needs, and supervisor, go into the first layer that runs
    anything when it is an apt install (else the host's packages get a layer of their own, first: what
    runs may need them; supervisor one of its own, last)."""
    first = next((layer for layer in layers if layer.steps[0].replay == "run"), None)
    needed = session.host.needed_packages
    supervisor = needs_supervisor(session) and registry.system_manager(session.host.os_id) == "apt"
    if not (needed or supervisor) or first is None or len(first.merged) != 1 or first.merged[0].manager != "apt":
        return
    change = first.merged[0]
    extra = {**needed, **({SUPERVISOR: ""} if supervisor else {})}  # "": not on the host, nothing to pin
    first.merged[0] = PackageChange(
        manager="apt",
        installed={**extra, **change.installed},
        dependencies={n: v for n, v in change.dependencies.items() if n not in extra},
        options=list(change.options),
    )
    first.host_packages = bool(needed)
    first.supervisor = supervisor
