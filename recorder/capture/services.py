"""The services a recording started, and how the image runs each one in the foreground.

A service is what the operator started: a process that outlived its step, found by lineage (the
topmost process started during the recording, below the recorder's shells) and by start time
(the step whose window it started in). Its sockets are matched to it by inode where its fds are
readable, and by what everyone may read where they are not (another user's process without
SYS_PTRACE). Its command is the one the operator typed, less the wrappers (su, nohup, setsid) and
the options that made it a daemon (daemons.yaml); what the process shows is the fallback and the
cross-check (rewritten titles are read as daemons.yaml says).
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from recorder.capture import launch as launching
from recorder.capture import probes
from recorder.capture.processes import Proc, Socket
from recorder.model import daemons
from recorder.model.commandline import basename
from recorder.model.session import Port, Service

WRAPPERS = {"su", "runuser", "sudo", "nohup", "setsid", "timeout", "start-stop-daemon", "script", "env", "daemon"}
SHELLS = launching.SHELLS
INTERPRETERS = re.compile(r"^(python[0-9.]*|node(js)?|ruby[0-9.]*|perl[0-9.]*|java|php[0-9.]*|bun|deno)$")
SLACK = 0.05  # start times are counted in clock ticks
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


class LocalFiles:
    """Where services look up programs, config files and units: this machine. A host reached over ssh
    answers the same three questions (recorder/capture/ssh.py)."""

    @staticmethod
    def which(name: str, path: str) -> str | None:
        return shutil.which(name, path=path)

    @staticmethod
    def isfile(path: str) -> bool:
        return os.path.isfile(path)

    @staticmethod
    def read_text(path: str) -> str:
        return Path(path).read_text(encoding="utf-8")


LOCAL = LocalFiles()


@dataclass(frozen=True)
class Window:
    """One step's time on the clock of processes.now(), and what was typed."""

    step: int
    start: float
    command: str
    cwd: str
    user: str  # who ran it


@dataclass
class Found:
    root: Proc
    members: list[Proc]
    step: int
    sockets: list[Socket] = field(default_factory=list)


def discover(
    windows: list[Window],
    procs: dict[int, Proc],
    sockets: list[Socket],
    old_sockets: set[tuple[str, str, int]],
    started: float,
    own: set[int],
    recorder: int,
    path: str = SYSTEM_PATH,
    port_steps: dict[int, int] | None = None,
    rcfile: str = "",
    user_name=probes.user_name,
    files=LOCAL,
) -> tuple[list[Service], list[str], dict[int, int]]:
    """(services, warnings, step of each service by index) for what the recording left running.
    `own`: the recorder and its shells; the recorder's other children are its helpers; `rcfile`: the
    one its bash shells were started with (a process that names it is one of them, or their fork);
    `user_name` and `files`: the host's names of uids, and its files (a remote host's own)."""
    trees = _trees(windows, procs, started, own, recorder, rcfile)
    warnings: list[str] = []
    owner = {inode: pid for pid, p in procs.items() for inode in p.sockets}
    by_pid = {m.pid: tree for tree in trees for m in tree.members}
    unmatched = []
    for sock in sockets:
        new = (sock.protocol, sock.address, sock.port) not in old_sockets
        tree = by_pid.get(owner.get(sock.inode, -1))
        if tree is not None:
            tree.sockets.append(sock)
        elif new and sock.protocol != "unix" and sock.inode not in owner:
            unmatched.append(sock)
    for sock in unmatched:
        tree, sure = _guess_owner(sock, trees, windows, (port_steps or {}).get(sock.port))
        if tree is not None:
            tree.sockets.append(sock)
        if not sure:
            step = (port_steps or {}).get(sock.port)
            warnings.append(
                f"port {sock.port}/{sock.protocol} is listening but its process could not be read (no SYS_PTRACE) "
                + (
                    f"nor told apart: given to step {tree.step}'s service, the last started before it opened"
                    if tree
                    else (f"nor matched: run as step {step} typed it" if step else "nor matched: exposed only")
                )
            )
    steps = {w.step: w for w in windows}
    services: list[Service] = []
    launched: dict[int, int] = {}
    for tree in sorted(trees, key=lambda t: (t.step, t.root.start, t.root.pid)):
        window = steps[tree.step]
        service = describe(tree, window, path, user_name, files)
        if service is None:
            continue
        launched[len(services)] = tree.step
        services.append(service)
    for sock in unmatched:
        if any(sock in t.sockets for t in trees) or any(_has(s, sock) for s in services):
            continue
        window = steps.get((port_steps or {}).get(sock.port, -1))
        typed = [x for x in launching.launches(window.command, window.cwd) if not x.unit] if window else []
        if typed:
            launched[len(services)] = window.step
        services.append(_from_typed(typed[-1], window, sock, path, files) if typed else _bare_port_service(sock))
    return services, warnings, launched


def _has(service: Service, sock: Socket) -> bool:
    return any((p.port, p.protocol) == (sock.port, sock.protocol) for p in service.ports)


def _from_typed(launch: launching.Launch, window: Window, sock: Socket, path: str, files=LOCAL) -> Service:
    words = list(launch.words)
    if "/" not in words[0]:
        words[0] = files.which(words[0], path) or words[0]
    elif not words[0].startswith("/"):
        words[0] = posixpath.normpath(posixpath.join(launch.cwd, words[0]))
    daemon = daemons.find([basename(words[0])])
    return Service(
        name=daemon.name if daemon else basename(words[0]),
        command=daemons.in_foreground(daemon, words),
        cwd=launch.cwd,
        user=launch.user or window.user or "root",
        ports=_ports([sock]),
    )


def _trees(
    windows: list[Window], procs: dict[int, Proc], started: float, own: set[int], recorder: int, rcfile: str = ""
) -> list[Found]:
    """The process families started during the recording, each under its topmost process."""
    fresh = {
        pid: p
        for pid, p in procs.items()
        if p.start >= started - SLACK and pid not in own and p.argv and (p.ppid != recorder or p.comm in SHELLS)
    }
    children: dict[int, list[Proc]] = {}
    for p in fresh.values():
        children.setdefault(p.ppid, []).append(p)
    roots = [p for p in fresh.values() if p.ppid not in fresh]
    roots = [r for root in roots for r in _unwrapped(root, children, procs, rcfile)]
    trees = []
    for root in sorted(roots, key=lambda p: (p.start, p.pid)):
        step = _step_at(windows, root.start)
        if step is None:
            continue
        members, todo = [], [root]
        while todo:
            p = todo.pop()
            members.append(p)
            todo += children.get(p.pid, [])
        trees.append(Found(root, members, step))
    return trees


def _unwrapped(root: Proc, children: dict[int, list[Proc]], procs: dict[int, Proc], rcfile: str = "") -> list[Proc]:
    """su, nohup, `sh -c` and the like that still wait for what they started are not the service;
    nor is a shell's fork running a list in the background (`cd /srv && sudo -u rb ruby app.rb &`),
    known by its parent's argv or, once the recorded shell has exited, by the recorder's rcfile."""
    name = basename(root.argv[0]) if root.argv else root.comm
    parent = procs.get(root.ppid)
    forked = name in SHELLS and (
        (parent is not None and parent.argv == root.argv) or (bool(rcfile) and rcfile in root.argv)
    )
    wraps = root.comm in WRAPPERS or name in WRAPPERS or (name in SHELLS and "-c" in root.argv[1:]) or forked
    if wraps and children.get(root.pid):
        return [r for child in children[root.pid] for r in _unwrapped(child, children, procs, rcfile)]
    return [root]


def _step_at(windows: list[Window], moment: float) -> int | None:
    """The last step that had begun when a process started: a background job of an earlier step
    that starts between prompts is still that step's."""
    step = None
    for w in windows:
        if w.start <= moment + SLACK:
            step = w.step
    return step


def _guess_owner(
    sock: Socket, trees: list[Found], windows: list[Window], opened_in: int | None
) -> tuple[Found | None, bool]:
    """A socket whose holder we may not read: among the families we may not read either, the one
    that names its port, else the one started by a step that names it, else the only one; (family,
    whether that was certain). A tie goes to the family started last before the port was seen."""
    candidates = [t for t in trees if any(not m.readable for m in t.members)]
    if not candidates:
        return None, False
    commands = {w.step: w.command for w in windows}
    port = re.compile(rf"(?<![\d.]){sock.port}(?!\d)")

    def score(tree: Found) -> int:
        points = 0
        if any(port.search(" ".join(m.argv)) for m in tree.members):
            points += 4
        if port.search(commands.get(tree.step, "")):
            points += 2
        if any(m.uid == sock.uid for m in tree.members):
            points += 1
        return points

    best = max(score(t) for t in candidates)
    top = [t for t in candidates if score(t) == best]
    if len(top) == 1:
        return top[0], True
    before = [t for t in top if opened_in is not None and t.step <= opened_in]
    return (max(before, key=lambda t: (t.step, t.root.start)) if before else None), False


def names_of(p: Proc) -> list[str]:
    """What a process goes by: comm, argv[0], and for an interpreter the script or module it runs."""
    out = [p.comm, basename(p.argv[0]) if p.argv else "", basename(p.exe)]
    if p.argv and INTERPRETERS.match(basename(p.argv[0])) or INTERPRETERS.match(p.comm):
        args = list(p.argv[1:])
        if "-m" in args and args.index("-m") + 1 < len(args):
            out.append(args[args.index("-m") + 1])
        else:
            script = next((a for a in args if not a.startswith("-")), "")
            out.append(basename(script))
    return [n for n in out if n]


def describe(
    tree: Found, window: Window, path: str = SYSTEM_PATH, user_name=probes.user_name, files=LOCAL
) -> Service | None:
    """How the image runs a family the recording started; None when it is not a service (a helper
    a package install left behind: no socket, and not what the step typed)."""
    proc = tree.root
    names = names_of(proc)
    daemon = daemons.find(names)
    typed = launching.launches(window.command, window.cwd, "")
    direct = [launch for launch in typed if not launch.unit and _runs(launch, names, daemon)]
    units = [launch for launch in typed if launch.unit and _started_by(launch.unit, names, daemon, len(typed))]
    if not tree.sockets and not direct and not units:
        return None
    user, env = window.user or "root", {}
    if direct:
        chosen = max(direct, key=lambda launch: len(set(launch.words) & set(proc.argv)))
        command = _typed_command(chosen, proc, path, files)
        user, cwd = chosen.user or user, chosen.cwd
        source = "typed"
    else:
        unit = _read_unit(units[0].unit, files) if units else {}
        if unit.get("ExecStart"):
            command, env = unit["ExecStart"], unit["Environment"]
            user, cwd = unit.get("User", "root"), unit.get("WorkingDirectory", "/")
        else:
            command = _observed_command(proc, daemon, path, files)
            user = (daemon.user if daemon and daemon.user else "root") if units else user
            cwd = "/" if units else window.cwd
        source = "unit" if units else "observed"
    command = daemons.in_foreground(daemon, command) if source != "unit" or daemon else command
    name = daemon.name if daemon else _plain_name(names)
    return Service(
        name=name,
        command=command,
        observed=list(proc.argv),
        cwd=cwd or "/",
        user=user,
        ports=_ports(tree.sockets),
        data_dir=_data_dir(command, daemon),
        env=env,
        processes=_processes(_runs_in_image(tree.members, command), user_name),
    )


def _runs(launch: launching.Launch, names: list[str], daemon: daemons.Daemon | None) -> bool:
    program = basename(launch.words[0])
    if program in names or (daemon is not None and daemon.runs_as(program)):
        return True
    if INTERPRETERS.match(program) and len(launch.words) > 1:
        args = list(launch.words[1:])
        target = args[args.index("-m") + 1] if "-m" in args[:-1] else next((a for a in args if a[:1] != "-"), "")
        return basename(target) in names
    return False


def _started_by(unit: str, names: list[str], daemon: daemons.Daemon | None, launches: int) -> bool:
    if daemon is not None and daemon.started_by(unit):
        return True
    key = re.sub(r"[^a-z]", "", unit.lower())
    return launches == 1 or any(re.sub(r"[^a-z]", "", n.lower()) == key for n in names)


def _typed_command(launch: launching.Launch, proc: Proc, path: str, files=LOCAL) -> list[str]:
    words = list(launch.words)
    if any(c in w for w in words for c in "$`*?"):
        return list(proc.argv)  # the shell expanded them: what ran is what the process shows
    program = words[0]
    if "/" in program and not program.startswith("/"):
        words[0] = posixpath.normpath(posixpath.join(launch.cwd, program))
    elif "/" not in program:
        shown = proc.argv[0] if proc.argv else ""
        if shown.startswith("/") and basename(shown) == program:
            words[0] = shown
        elif proc.exe and basename(proc.exe) == program:
            words[0] = proc.exe
        else:
            words[0] = files.which(program, path) or program
    return words


def _observed_command(proc: Proc, daemon: daemons.Daemon | None, path: str, files=LOCAL) -> list[str]:
    program = proc.exe or files.which(proc.comm, path) or proc.comm
    if daemon is None:
        return list(proc.argv) or [program]
    if daemon.command:
        return list(daemon.command)
    if daemon.title == "master":
        words = " ".join(proc.argv).replace("(", " ").replace(")", " ").split()
        if "process" in words:
            words = words[words.index("process") + 1 :]
            if words and words[0].startswith("/") and not words[0].endswith((".conf", ".cnf")):
                if not daemon.title_keeps:
                    return words
                kept = [x for i, w in enumerate(words[1:-1], 1) if w in daemon.title_keeps for x in (w, words[i + 1])]
                return [words[0], *kept]
            configs = [w for w in words if w.endswith(".conf")]
            return [program, *([daemon.config_option, configs[0]] if configs and daemon.config_option else [])]
        return list(proc.argv)
    if daemon.title == "address":
        config = next((c for c in daemon.config_files if files.isfile(c)), None)
        return [program, *([config] if config else [])]
    return list(proc.argv) or [program]


def _read_unit(unit: str, files=LOCAL) -> dict:
    """A systemd unit's ExecStart, User, WorkingDirectory and environment (Environment=, then the
    EnvironmentFile= it names, as systemd reads them), when it runs in the foreground."""
    for directory in UNIT_DIRS:
        try:
            text = files.read_text(f"{directory}/{unit}.service")
        except OSError:
            continue
        values: dict = {"Environment": {}}
        for line in text.splitlines():
            key, _, value = line.strip().partition("=")
            value = value.strip()
            if key == "Environment" and value:
                values["Environment"].update(_assignments(shlex.split(value)))
            elif key == "EnvironmentFile" and value:
                values["Environment"].update(_environment_file(value, files))
            elif key in ("ExecStart", "User", "WorkingDirectory", "Type") and value:
                values[key] = value
        if values.get("Type", "simple") in ("forking", "oneshot") or "ExecStart" not in values:
            return {}  # what runs is not ExecStart (forking) or it is over (oneshot: postgresql's /bin/true)
        values["ExecStart"] = _expand(shlex.split(values["ExecStart"].lstrip("-@+!:")), values["Environment"])
        return values
    return {}


def _expand(words: list[str], env: dict[str, str]) -> list[str]:
    """systemd's expansion of ExecStart: `$NAME` alone is split into words, `${NAME}` is one word;
    an unset variable is nothing (sshd's `-D $SSHD_OPTS`)."""
    out: list[str] = []
    for word in words:
        alone = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if alone:
            out += env.get(alone[1], "").split()
        else:
            out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m[1], ""), word))
    return out


def _assignments(words: list[str]) -> dict[str, str]:
    return {name: value for name, sep, value in (w.partition("=") for w in words) if sep and name.isidentifier()}


def _environment_file(value: str, files=LOCAL) -> dict[str, str]:
    """KEY=VALUE lines (quotes allowed, # comments); a leading `-` means a missing file is no error."""
    try:
        text = files.read_text(value.removeprefix("-"))
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip().isidentifier() and not name.startswith(("#", ";")):
            value = value.strip()
            quoted = len(value) > 1 and value[0] == value[-1] and value[0] in "'\""
            out[name.strip()] = value[1:-1] if quoted else value
    return out


def _runs_in_image(members: list[Proc], command: list[str]) -> list[Proc]:
    """The part of a family the image runs: from the topmost process that is the command's program
    down (`service mariadb start` ran mysqld_safe and logger around mariadbd; the unit runs mariadbd),
    else all of it (apache2ctl in the image starts what the init script started on staging)."""
    program = basename(command[0]) if command else ""
    pids = {m.pid: m for m in members}

    def depth(p: Proc) -> int:
        return 1 + depth(pids[p.ppid]) if p.ppid in pids else 0

    matching = [m for m in members if program and program in names_of(m)]
    if not matching:
        return members
    top = min(matching, key=depth)
    kept, todo = [], [top]
    while todo:
        p = todo.pop()
        kept.append(p)
        todo += [m for m in members if m.ppid == p.pid]
    return kept


def _processes(members: list[Proc], user_name=probes.user_name) -> dict[str, list[str]]:
    """The users a family's processes run as, by program: what `record verify` asks of the image."""
    users: dict[str, set[str]] = {}
    for p in members:
        if p.comm not in WRAPPERS:
            users.setdefault(p.comm, set()).add(user_name(p.uid))
    return {comm: sorted(names) for comm, names in sorted(users.items())}


def _plain_name(names: list[str]) -> str:
    script = names[-1] if len(names) > 3 else ""
    return (script.removesuffix(".py").removesuffix(".js") if script else names[0]) or "service"


def _ports(sockets: list[Socket]) -> list[Port]:
    out: dict[tuple, Port] = {}
    for sock in sockets:
        if sock.protocol in ("tcp", "udp"):
            out.setdefault((sock.port, sock.address, sock.protocol), Port(sock.port, sock.address, sock.protocol))
    return sorted(out.values(), key=lambda p: (p.port, p.protocol, p.address))


def _bare_port_service(sock: Socket) -> Service:
    return Service(
        name=f"port-{sock.port}",
        command=["/bin/false"],
        ports=[Port(sock.port, sock.address, sock.protocol)],
        replay="skip",
    )


def _data_dir(command: list[str], daemon: daemons.Daemon | None) -> str:
    """Where a stateful daemon keeps its data: its command's data option (postgres -D), else where
    daemons.yaml says; "" for a program not known to keep state."""
    if daemon is None or not daemon.data_dir:
        return ""
    for i, word in enumerate(command):
        if word in daemon.data_option and i + 1 < len(command):
            return command[i + 1]
        name, sep, value = word.partition("=")
        if sep and name in daemon.data_option:
            return value
    return daemon.data_dir
