"""Every package manager, and the questions the rest of the code asks of them: which requests a
command line makes, how a change is replayed, whether a file configures a manager, how the system's
manager installs a program. Adding a manager is one module and one line here."""

from __future__ import annotations

from collections.abc import Callable

from recorder.managers import apk, apt, gem, npm, pip, yum
from recorder.managers.base import Manager, Request
from recorder.model.commandline import basename, commands
from recorder.model.session import PackageChange

MANAGERS: tuple[Manager, ...] = (apt.MANAGER, yum.YUM, yum.DNF, apk.MANAGER, pip.MANAGER, npm.MANAGER, gem.MANAGER)
PARSERS = {program: parser for m in MANAGERS for program, parser in m.parsers.items()}
REPLAYS = {name: m for m in MANAGERS for name in m.replays}
# conda is not replayed, but a step that configures it still comes before the installs it affects
CONFIG_NAMES = tuple(n for m in MANAGERS for n in m.config_names) + (".condarc",)
CONFIG_PATHS = tuple(p for m in MANAGERS for p in m.config_paths)
CACHES = tuple(c for m in MANAGERS for c in m.caches)


def parse(command: str) -> list[Request]:
    """Every package-manager request in a command line, in order."""
    out = []
    for found in commands(command):
        program, args = found[0], found[1:]
        name = basename(program)
        through_python = pip.via_python(found)
        if through_python is not None:
            request = pip.parse(*through_python)
        elif pip.PROGRAM.fullmatch(name):
            request = pip.parse(program, args)
        elif name in PARSERS:
            request = PARSERS[name](program, args)
        else:
            request = None
        if request is not None:
            out.append(request)
    return out


def replayable(manager: str) -> bool:
    return manager in REPLAYS


def install(change: PackageChange, relaxed: bool = False) -> list[str]:
    """The Dockerfile lines that replay a change, pinned to what the host had unless `relaxed`."""
    if change.manager not in REPLAYS:
        names = " ".join(sorted(change.installed or change.dependencies))
        return [f"# packages from `{change.manager}` are not replayed: {names}"]
    return REPLAYS[change.manager].replay(change, relaxed)


def configures(path: str) -> bool:
    """Whether a file configures a package manager (its sources, keys, indexes)."""
    return path.startswith(CONFIG_PATHS) or path.rsplit("/", 1)[-1] in CONFIG_NAMES


def _system(os_id: str) -> Manager:
    return next((m for m in MANAGERS if os_id in m.families and m.install_unpinned), apt.MANAGER)


def system_manager(os_id: str) -> str:
    """The system's own package manager on an image of `os_id` (Debian's apt when unknown)."""
    return _system(os_id).replays[0]


def install_unpinned(os_id: str, names: list[str]) -> list[str]:
    """How the system's own manager installs `names` on an image of `os_id` (Debian's apt when unknown)."""
    system = _system(os_id)
    assert system.install_unpinned is not None
    return system.install_unpinned(names)


def database(manager: str, site: str) -> str | None:
    """The path in an image that says what `manager` installed at `site`; None where that is unknown."""
    found = REPLAYS.get(manager)
    return found.database(site) if found and found.database and found.versions else None


def versions(manager: str, path: str, read) -> dict[str, str]:
    """What one file of `manager`'s database, read out of an image, says is installed."""
    found = REPLAYS[manager]
    return found.versions(path, read) if found.versions else {}


def without_recommends(manager: str) -> str:
    """The install option of `manager` that leaves out recommended (weak) packages; "" when it has none."""
    found = REPLAYS.get(manager)
    return found.without_recommends if found else ""


def query(manager: str) -> tuple[tuple[str, ...], Callable[[str], dict[str, str]]] | None:
    """The command that lists what `manager` installed, run inside an image, and the reader of its
    output; None where the manager's database is read as files (`database`) or not at all."""
    found = REPLAYS.get(manager)
    return (found.query, found.query_versions) if found and found.query and found.query_versions else None
