"""What the deployment relied on but did not install: a staging host has more than a base image.

The programs that the replayed commands and the services run are looked up in the package
database (dpkg -S); their packages, when the session did not install them and a Debian base image
does not already carry them (Essential / Priority: required), are installed in the image too.
"""

from __future__ import annotations

import os
import shutil

from recorder.capture.probes import DpkgOwners, DpkgState
from recorder.managers import pip
from recorder.model import commandline
from recorder.model.session import Session

# Modules that live in their own package although the interpreter is elsewhere.
EXTRA_FOR_COMMAND = {"venv": "python3-venv"}


def _programs(session: Session, path: str, which) -> set[str]:
    programs = set()
    for step in session.steps:
        if step.replay != "run" or step.effects.packages:
            continue
        for words in commandline.commands(step.command):
            found = which(words[0], path) if "/" not in words[0] else words[0]
            if found:
                programs.add(found)
    for service in session.services:
        if service.replay == "run" and service.command:
            found = which(service.command[0], path) or service.command[0]
            programs.add(found)
    return programs


def _local_which(name: str, path: str) -> str | None:
    return shutil.which(name, path=path)


def needed_packages(
    session: Session,
    state: DpkgState,
    owners: DpkgOwners,
    path: str,
    which=_local_which,
    realpath=os.path.realpath,
) -> dict[str, str]:
    """`which(name, path)` finds a program on the host, `realpath` follows its links there."""
    installed_here = {n for s in session.steps for p in s.effects.packages for n in (*p.installed, *p.dependencies)}
    wanted: set[str] = set()
    for program in _programs(session, path, which):
        for candidate in {program, realpath(program)}:
            owner = owners.owner(candidate)
            if owner:
                wanted.add(owner)
    for step in session.steps:
        if step.replay == "run" and pip.creates_virtualenv(step.command):
            wanted.add(EXTRA_FOR_COMMAND["venv"])
    return {
        name: state.versions[name]
        for name in sorted(wanted)
        if name in state.versions and name not in installed_here and name not in state.base
    }
