"""Installs as `record minimize` proved them: without recommended packages, and with those the
deployment needs pinned back by name.

A session without a `minimized` entry for a manager installs as the host did, recommends and all
(faithful by default); the entry exists only after `record verify` passed on the smaller image.
"""

from __future__ import annotations

from recorder.managers import registry
from recorder.model.session import PackageChange, Session, minimized


def applied(session: Session, change: PackageChange) -> PackageChange:
    """The change as the image installs it: unchanged unless its manager was minimized."""
    decision = minimized(session, change.manager)
    option = registry.without_recommends(change.manager)
    if decision is None or not option or not (change.installed or change.dependencies):
        return change
    recorded = {**change.dependencies, **change.installed}
    installed = dict(change.installed) or {n: v for n, v in change.dependencies.items() if n not in decision.dropped}
    installed.update({name: recorded[name] for name in decision.kept if name in recorded})
    return PackageChange(
        manager=change.manager,
        installed=installed,
        dependencies={n: v for n, v in change.dependencies.items() if n not in installed and n not in decision.dropped},
        removed=list(change.removed),
        target=change.target,
        options=list(change.options) + ([] if option in change.options else [option]),
        site=change.site,
    )
