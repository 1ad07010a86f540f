"""One recording: the user's shell in a pty, its hooks' events, the host's probes, the journal.

For each finished command: observe what changed (packages, files, environment, ports), decide how
it replays, copy changed files into the session, append the step to the journal (written before the
answer, fsynced right after: see journal.py), then let the shell show its next prompt.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from recorder.capture import fingerprint, hooks, host_packages, journal, probes, services
from recorder.capture.cast import CAST_FILE, CastWriter, wait_for_follower
from recorder.capture.classify import decide, effective_status, env_changes, parse_env
from recorder.capture.host import LocalHost, channel_prefix
from recorder.capture.journal import JOURNAL_FILE, Journal
from recorder.capture.pty import PtyRelay, terminal_size
from recorder.errors import RecorderError, SaveError
from recorder.managers import apt, npm, pip, registry, yum
from recorder.model import commandline
from recorder.model.session import (
    FILES_DIR,
    SESSION_FILE,
    Effects,
    FileChange,
    Host,
    PackageChange,
    Session,
    Step,
)
from recorder.model.write import save
from recorder.secrets import detect as secrets
from recorder.secrets import redact

VALUES_STORE = "secrets.local.json"  # what the recording redacted, 0600, gone when the cast is written
GITIGNORE = ".gitignore"
# What a recording may leave in its directory that must never be committed: the unredacted terminal
# output and the secret values while a recording runs (or after a crash, until it is resumed), and
# the .env a user fills in from .env.example.
PRIVATE_FILES = (
    f"{CAST_FILE}.raw",
    f"{CAST_FILE}.timing",
    f"{CAST_FILE}.part",
    VALUES_STORE,
    f"{VALUES_STORE}.tmp",
    ".env",
)
END_COMMANDS = frozenset({"exit", "logout"})


@dataclass
class Shell:
    """What we know of one interactive shell (the user's, or a nested root shell inside it)."""

    cwd: str
    env: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    pending: str | None = None  # the command it is running now
    expanded: str = ""
    nested: bool = False  # the pending command opened a shell that reported its own commands
    began: float = 0.0  # when the pending command started, on processes.now()'s clock
    prompted: float = 0.0  # when its last prompt was let through, on the same clock


def remove_channel(pid: int) -> None:
    for directory in Path(tempfile.gettempdir()).glob(channel_prefix(pid) + "*"):
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Options:
    name: str
    sessions_dir: Path
    roots: tuple[str, ...] = probes.DEFAULT_ROOTS
    force: bool = False
    resume: bool = False
    shell: str = "/bin/bash"
    hooks: str = "ps0"  # how the shell reports its commands: hooks.mode()
    ignores: tuple[str, ...] = ()  # the user's own patterns (.recordignore, --ignore), gitignore syntax
    host: object = None  # where the deployment is typed: LocalHost (None) or ssh.SshHost


def _prepare_directory(directory: Path, force: bool, resume: bool) -> None:
    """Refuse to lose anything: a finished session needs --force, an interrupted one is resumed."""
    if resume:
        if (directory / SESSION_FILE).exists():
            raise RecorderError(f"{directory}: this recording was finished; only an interrupted one can be resumed")
        if not (directory / JOURNAL_FILE).exists():
            raise RecorderError(f"{directory / JOURNAL_FILE}: missing; there is no interrupted recording to resume")
        return
    if (directory / SESSION_FILE).exists() and not force:
        raise RecorderError(f"{directory}: a recorded session is already there; use --force to record over it")
    if (directory / JOURNAL_FILE).exists() and not force:
        where = "" if directory.parent == Path("sessions") else f" --dir {directory.parent}"
        raise RecorderError(
            f"{directory}: holds an interrupted recording; `record resume {directory.name}{where}` "
            "continues it, --force starts over"
        )
    if force:
        wait_for_follower(directory / CAST_FILE)  # the last recording's cast, if still being finished
        for name in (SESSION_FILE, JOURNAL_FILE, CAST_FILE, *PRIVATE_FILES[:-1]):
            (directory / name).unlink(missing_ok=True)
        shutil.rmtree(directory / FILES_DIR, ignore_errors=True)
    (directory / FILES_DIR).mkdir(parents=True, exist_ok=True)
    ignore = directory / GITIGNORE
    if not ignore.exists():
        lines = "".join(f"/{name}\n" for name in PRIVATE_FILES)
        ignore.write_text(f"# Written by `record start`: never commit these.\n{lines}", encoding="utf-8")


def _copy_private(source: str, target: Path, data: bytes | None, mode: int | None, host=None) -> str:
    """Copy a captured file (from `data` when it was read already); returns its sha256. The copy is
    readable by others only if the original was. A failed copy leaves nothing half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600 | ((mode if mode is not None else 0o644) & 0o044))
        with open(fd, "wb", closefd=False) as dst:
            if data is not None:
                digest.update(data)
                dst.write(data)
            else:
                for chunk in host.stream(source) if host is not None else _chunks(source):
                    digest.update(chunk)
                    dst.write(chunk)
    except OSError:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)
    return digest.hexdigest()


def _chunks(path: str):
    with open(path, "rb") as src:
        while chunk := src.read(1 << 20):
            yield chunk


class Recording:
    def __init__(self, options: Options):
        self.options = options
        self.directory = options.sessions_dir / options.name
        self.host = options.host or LocalHost()
        if hasattr(self.host, "start_agent"):
            try:
                self.host.start_agent()
            except BaseException:
                self.host.close()
                raise
        self.channel = self.host.channel
        release = self.host.os_release()
        self.session = Session(
            name=options.name,
            host=Host(
                os_id=release.get("ID", ""),
                version_id=release.get("VERSION_ID", ""),
                pretty_name=release.get("PRETTY_NAME", ""),
                base_image=probes.base_image_for(release),
                user=self.host.user(),
                via=self.host.via,
            ),
        )
        self.file_probe = probes.FileProbe(
            roots=options.roots,
            exclude=self.host.exclude(self.directory),
            user_ignores=options.ignores,
        )
        self.dpkg = self.host.dpkg()
        self.owners = self.host.owners()
        self.rpm = self.host.rpm()
        self.rpm_owners = probes.RpmOwners(self.rpm)
        self.shells: dict[int, Shell] = {}
        self.cwd = os.getcwd() if self.host.via == "" else "/"
        self.parser = hooks.EventParser()
        self.redactor = redact.Redactor()
        self.notices: list[str] = []  # told to the user at the next prompt
        self.disk_trouble = False

    # ------------------------------------------------------------ lifecycle

    def run(self) -> Session:
        try:
            return self._run()
        finally:
            self.host.close()

    @contextlib.contextmanager
    def _writing(self):
        """Before the shell starts, a session directory that refuses writes (full, read-only) ends
        the recording with one line."""
        try:
            yield
        except OSError as exc:
            where = exc.filename or self.directory
            raise SaveError(f"{where}: cannot be written ({exc.strerror or exc}); nothing was recorded") from None

    def _run(self) -> Session:
        with self._writing():
            _prepare_directory(self.directory, self.options.force, self.options.resume)
        self.redactor = redact.Redactor(self.directory / VALUES_STORE)  # a crashed recording's values, if any
        secrets.find_values("")  # load detect-secrets now, not at the first prompt
        if self.options.resume:
            self.session = journal.recover(self.directory, self.options.name)
            if self.session.host.via != self.host.via:
                how = "over ssh: resume it with --ssh HOST" if self.session.host.via else "at the console: resume it so"
                raise RecorderError(f"{self.directory}: this recording was made {how}")
            self.session.warnings.append(
                "the recording was interrupted and resumed: changes made while "
                "nothing was recording are not in the session"
            )
        self.host.open_channel(hooks.rcfile(self.channel, self.options.name, self.options.hooks == "fallback"))
        self.events_fd = self.host.events_fd

        self.files = self.host.file_watcher(self.file_probe)
        # What pip and npm had installed under the roots: a step that only touches their files
        # (`chown -R app /opt/app`) installs nothing.
        self.language_versions = _language_versions(pip.installs(self.files.known), npm.installs(self.files.known))
        self.system_dirs = self.host.system_dirs(self.file_probe.ignored)
        self.windows: list[services.Window] = []
        self.sockets_at_start = {(k.protocol, k.address, k.port) for k in self.host.sockets()}
        self.started_boot = self.host.now()
        self.snapshot_dpkg = self.dpkg.snapshot()
        self.snapshot_rpm = self.rpm.snapshot()
        self.ports = self.host.ports()
        self.started_at = time.time()
        with self._writing():
            self.journal = Journal(self.directory)
        if self.options.resume:
            self.journal.append("resume", steps=len(self.session.steps))
        else:
            self.journal.append("begin", name=self.options.name, host=self.session.host)

        env = dict(os.environ)
        env["RECORD_SESSION"] = self.options.name
        rows, cols = terminal_size(0)
        with self._writing():
            cast = CastWriter(
                self.directory / CAST_FILE, cols, rows, env, append=self.options.resume, redactor=self.redactor
            )
        self.cast = cast
        argv = self.host.shell_argv(self.options.shell, self.options.hooks, self.options.name, env)
        self.relay = relay = PtyRelay(argv, env, cast)
        relay.watch[self.events_fd] = self._on_events
        try:
            relay.spawn()
            threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
            self.top_pid = relay.proc.pid if self.host.via == "" else 0  # over ssh: the first shell to report
            relay.run()
            cast.end_of_output()  # its follower scans the rest while the session is saved
            # The relay stops at the pty's end of output, which can come in the same instant as the
            # shell's last message (the `start` of a `kill -9 $$` that ends it): read what is left.
            self._on_events(self.events_fd)
            self._finish()
        finally:
            cast.close(self.redactor.store)
            if cast.error and not any(w.startswith(CAST_FILE) for w in self.session.warnings):
                self.session.warnings.append(f"{CAST_FILE} is incomplete: {cast.error}")  # shown, not saved
            if cast.detached:  # shown, not saved: the cast is done in seconds
                self.session.warnings.append(
                    f"{CAST_FILE} is still being cleaned of secrets ({cast.backlog >> 20} MB of output left) by "
                    f"process {cast.follower_pid}; it is complete when that process ends"
                )
                self.redactor.store = None  # the follower removes it once the cast is written
            else:
                self.redactor.forget_store()
            self.files.close()
            self.journal.close()
        return self.session

    def _finish(self) -> None:
        top = self.shells.get(self.top_pid)
        if top is not None and top.pending is not None and top.pending.strip() not in END_COMMANDS:
            pending = self.redactor.command(top.pending)
            self.session.warnings.append(f"the last command never finished and is not recorded: {pending}")
        ended_by = self.relay.proc.signalstatus
        if ended_by:
            name = signal.Signals(ended_by).name
            self.session.warnings.append(f"the shell ended on a signal ({name}); every finished command is recorded")
        self.session.services, warnings = self._services()
        for service in self.session.services:
            self.redactor.service(service)
        self.session.warnings.extend(warnings)
        if self.dpkg.available:
            path = (top.env if top else os.environ).get("PATH", os.defpath)
            self.session.host.needed_packages = host_packages.needed_packages(
                self.session, self.dpkg.snapshot(), self.owners, path, self.host.which, self.host.realpath
            )
        self.session.fingerprint = fingerprint.take(self.session, self.host.reach, self.host.hostname())
        if self.cast.error:
            self.session.warnings.append(f"{CAST_FILE} is incomplete: {self.cast.error}")
        # Warnings quote paths and commands; by now every secret of the session is known.
        self.session.warnings = [self.redactor.text(w) for w in self.session.warnings]
        self._save()
        self.journal.append("end", steps=len(self.session.steps))

    def _save(self) -> None:
        """session.yaml; with the disk still full, the journal's events go to a place with room,
        and the user is told how to bring them back."""
        try:
            save(self.session, self.directory)
            return
        except OSError as exc:
            (self.directory / (SESSION_FILE + ".tmp")).unlink(missing_ok=True)
            reason = exc.strerror or str(exc)
        for place in (Path(tempfile.gettempdir()), Path.home()):
            rescue = place / f"record-{self.options.name}-{os.getpid()}.{JOURNAL_FILE}"
            try:
                fd = os.open(rescue, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with open(fd, "wb") as out:
                    for event in journal.read(self.journal.path) if self.journal.path.exists() else []:
                        if event.get("event") != "end":
                            out.write(journal.encode(event))
                    out.write(b"".join(self.journal.backlog))
            except OSError:
                continue
            raise SaveError(
                f"{self.directory / SESSION_FILE}: cannot be written ({reason}); the {len(self.session.steps)} "
                f"recorded commands are in {rescue}: free space, then `cp {rescue} "
                f"{self.directory / JOURNAL_FILE} && record resume {self.options.name}` and exit"
            )
        raise SaveError(f"{self.directory / SESSION_FILE}: cannot be written ({reason}), nor anywhere else")

    # ------------------------------------------------------------ events

    def _on_events(self, fd: int) -> None:
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(fd, 65536):
                data += chunk
            self.relay.watch.pop(fd, None)  # the end of a pipe (the ssh agent's): nothing more will come
        for event in self.parser.feed(data):
            pid = int(event[1]) if event[1].isdigit() else 0
            if event[0] in ("start", "late"):
                self._on_start(pid, hooks.parse_history_line(event[2]), late=event[0] == "late")
            elif event[0] == "finish":
                pipe = [int(x) for x in event[5].split() if x.isdigit()]
                self._on_finish(pid, event[2], int(event[3] or -1), int(event[4] or 0), pipe, event[6])

    def _on_start(self, pid: int, command: str, late: bool = False) -> None:
        """A line starts. One reported `late`, as it finished, began when its prompt was shown, and
        what was typed at a prompt since belongs to it; a blank or comment-only line, which PS0 is
        never shown for, is no command."""
        if late and (not command.strip() or command.lstrip().startswith("#")):
            return
        shell = self.shells.setdefault(pid, Shell(cwd=self.cwd))
        for other in self.shells.values():
            if other is not shell and other.pending is not None:
                other.nested = True  # that command opened the shell now reporting
        shell.pending = command
        shell.began = shell.prompted if late else self.host.now()
        shell.expanded = hooks.expand_alias(command, shell.aliases) or ""
        if not late:
            self.relay.secret_typed = False
            self.relay.take_typed()

    def _on_finish(self, pid: int, seq: str, euid: int, status: int, pipestatus: list[int], cwd: str) -> None:
        shell = self.shells.setdefault(pid, Shell(cwd=cwd))
        if not self.top_pid:
            self.top_pid = pid
        self.host.observe(pid)
        try:
            env = parse_env(self.host.dump(hooks.env_dump(self.channel, pid).name))
        except OSError:
            env = dict(shell.env)
        reply = ""
        if shell.pending is None:  # the first prompt, or Enter on an empty line
            shell.env, shell.cwd = env, cwd
        else:
            step = self._record(shell, euid, effective_status(status, pipestatus), env)
            shell.cwd = cwd
            reply = self._reply(step)
            for other_pid in [p for p in self.shells if p != pid and not self.host.alive(p)]:
                del self.shells[other_pid]  # a nested shell that has exited
        with contextlib.suppress(OSError):
            dump = self.host.dump(hooks.alias_dump(self.channel, pid).name)
            shell.aliases = hooks.parse_aliases(dump.decode(errors="replace"))
        self.cast.flush()
        shell.prompted = self.host.now()
        self.host.answer(hooks.answer(pid, seq, reply))

    def _reply(self, step: Step) -> str:
        """What the user is told at once: only what they would otherwise lose silently."""
        lines = [f"{hooks.MARKER}warning: {step.why}"] if "not followed" in step.why else []
        lines += [f"{hooks.MARKER}{n}" for n in self.notices]
        self.notices.clear()
        return "\n".join(lines)

    def _record(self, shell: Shell, euid: int, status: int, env: dict[str, str]) -> Step:
        command, shell.pending = shell.pending, None
        effects = Effects()
        effects.env_set, effects.env_unset = env_changes(shell.env, env)
        shell.env = env

        requests = registry.parse(command)
        dpkg_after = self.dpkg.snapshot()
        change = apt.change_between(self.snapshot_dpkg.versions, dpkg_after.versions, set(dpkg_after.auto))
        self.snapshot_dpkg = dpkg_after
        if change is not None:
            effects.packages.append(change)
        rpm_after = self.rpm.snapshot()
        rpm_change = yum.change_between(self.snapshot_rpm, rpm_after, requests, self.session.host.os_id)
        self.snapshot_rpm = rpm_after
        if rpm_change is not None:
            effects.packages.append(rpm_change)
            change = change or rpm_change

        changed, deleted = self.files.changes()
        changed.update(self.system_dirs.changes())
        language = pip.changes(command, shell.cwd, requests, changed, deleted) + npm.changes(requests, changed)
        language = _new_versions(language, self.language_versions)
        effects.packages += language
        if change is None:  # what an OS package install wrote comes back with the package
            owned = tuple(f"{c.target or c.site}/" for c in language if c.target or c.site)
            effects.files = [
                self._file_change(p, e)
                for p, e in changed.items()
                if not p.startswith(owned) and not (e.kind == "file" and self._as_shipped(p))
            ]
            effects.files += [FileChange(path=p, kind="deleted") for p in deleted if not p.startswith(owned)]
        else:  # but a manager's configuration the same line wrote (`yum-config-manager --add-repo … && yum install`)
            effects.files = [
                self._file_change(p, e)
                for p, e in changed.items()
                if e.kind == "file" and registry.configures(p) and not self._packaged(p)
            ]

        ports = self.host.ports()
        effects.ports_opened = sorted(ports - self.ports)
        self.ports = ports

        typed = secrets.typed_lines(self.relay.take_typed())
        replay, why = decide(command, status, effects, nested=shell.nested)
        if replay == "run" and not effects.packages:
            effects.files = []  # the command itself recreates them (a virtualenv, a user's home)
        shell.nested = False
        user = self.host.user_name(euid) if euid >= 0 else ""
        step = Step(
            id=len(self.session.steps) + 1,
            command=command,
            cwd=shell.cwd,
            exit=status,
            replay=replay,
            why=why,
            effects=effects,
            user="" if user == self.session.host.user else user,
            expanded=shell.expanded,
            needed_secret=self.relay.secret_typed,
        )
        if step.needed_secret:
            step.why += "; asked for a secret at a prompt (what was typed is never recorded)"
        self._protect(step, typed)
        if "not followed" in why:
            self.session.warnings.append(f"step {step.id}: {why}")
        self.session.steps.append(step)
        self.windows.append(services.Window(step.id, shell.began, command, step.cwd, user or self.session.host.user))
        self._journal("step", step=step)
        return step

    def _as_shipped(self, path: str) -> bool:
        """The file is byte for byte what its dpkg or rpm package shipped: the image gets it from there."""
        return self.owners.unchanged_from_package(path) or self.rpm_owners.unchanged_from_package(path)

    def _packaged(self, path: str) -> bool:
        """A package installed the file (epel-release's .repo file): the install brings it back."""
        return bool(self.owners.owner(path) or self.rpm_owners.owner(path))

    def _protect(self, step: Step, typed: list[str]) -> None:
        """The one point where secrets are taken out of a step, before it is journaled or shown.

        The environment first, then the captured files are read and scanned (a file holding a secret
        stays on the host, and what it holds is redacted wherever else it appears), then the text."""
        self.redactor.environment(step, typed)
        if step.replay != "skip":
            self._store_files(step)
        self.redactor.step(step)
        for f in step.effects.files:
            if f.secret and step.replay != "skip":
                self.session.warnings.append(
                    f"step {step.id}: {f.path} holds a secret ({f.secret}): not copied into the image; "
                    "give it at run time (docker run -v)"
                )

    def _journal(self, event: str, **fields) -> None:
        """Append to the journal; when the disk is full, say so once, keep going, and say when it is over."""
        if self.journal.append(event, **fields):
            if self.disk_trouble:
                self.disk_trouble = False
                self.notices.append(f"{self.directory} takes writes again: every finished command is on disk")
            return
        if not self.disk_trouble:
            self.disk_trouble = True
            reason = self.journal.error.strerror if self.journal.error else "write failed"
            self.notices.append(
                f"warning: cannot write to {self.directory} ({reason}): finished commands are kept in memory "
                "and written when there is room; free some space"
            )

    def _file_change(self, path: str, entry: probes.Entry) -> FileChange:
        return FileChange(
            path=path,
            kind=entry.kind,
            mode=entry.mode,
            owner=self.host.user_name(entry.uid),
            group=self.host.group_name(entry.gid),
            target=entry.target,
        )

    def _store_files(self, step: Step) -> None:
        """Copy what the step changed into files/, unless its content is a secret."""
        for f in step.effects.files:
            if f.kind != "file" or self.redactor.text(f.path) != f.path:
                continue  # a path that holds a secret is not even a file name in files/
            try:
                data = self.host.read_file(f.path, secrets.MAX_SCAN)
                if data is not None:
                    f.secret = self.redactor.file_content(data)
                else:
                    self.session.warnings.append(f"step {step.id}: {f.path} is too large to be scanned for secrets")
                if f.secret:
                    continue
                f.sha256 = _copy_private(f.path, self.directory / f.stored_at, data, f.mode, self.host)
            except OSError as exc:
                self.session.warnings.append(f"step {step.id}: could not copy {f.path}: {exc.strerror}")
                self.notices.append(f"warning: could not copy {f.path} into the session: {exc.strerror}")

    # ------------------------------------------------------------ services

    def _services(self) -> tuple[list, list[str]]:
        """What the session left running, each under the step that started it (see services.py).
        What was already serving before (sshd) is not the deployment; the recorder is not either."""
        recorder = min(self.host.own_pids())
        own = {*self.host.own_pids(), self.top_pid, *self.shells}
        top = self.shells.get(self.top_pid)
        shell_path = (top.env if top and self.host.via else os.environ).get("PATH", services.SYSTEM_PATH)
        path = shell_path + ":" + services.SYSTEM_PATH
        found, warnings, launched = services.discover(
            sorted(self.windows, key=lambda w: w.start),
            self.host.processes(),
            self.host.sockets(),
            self.sockets_at_start,
            self.started_boot,
            own,
            recorder,
            path,
            {port: step.id for step in reversed(self.session.steps) for port in step.effects.ports_opened},
            str(self.channel / hooks.RCFILE),
            self.host.user_name,
            self.host,
        )
        self._credit_launchers(found, launched)
        for service in found:
            if service.data_dir and service.replay == "run":
                warnings.append(
                    f"{service.name} is stateful: keep its data outside the image (VOLUME {service.data_dir}); "
                    "state belongs in a backend service. `replay: skip` on the service leaves it out."
                )
        return found, warnings

    def _credit_launchers(self, found: list, launched: dict[int, int]) -> None:
        """A port is the step's that started its service, not the step after which it was first
        seen (a server binds a moment after `nohup … &` returns); that step is not replayed."""
        steps = {step.id: step for step in self.session.steps}
        for index, step_id in launched.items():
            service, step = found[index], steps[step_id]
            numbers = {p.port for p in service.ports}
            for other in self.session.steps:
                other.effects.ports_opened = [p for p in other.effects.ports_opened if p not in numbers]
            step.effects.ports_opened = sorted(set(step.effects.ports_opened) | numbers)
            what = f"started the service {service.name}: the image runs it as its ENTRYPOINT"
            if step.replay == "skip" and step.exit == 0:
                step.why = what
            elif step.replay == "run" and not step.effects.packages:
                step.replay, step.why = "skip", what
            elif what not in step.why:
                step.why += f"; {what}"


def _warm_up() -> None:
    """What the first finished command would otherwise wait for, done while the user types it:
    bashlex's tables (0.2-0.3 s) and detect-secrets' plugins (0.1 s)."""
    commandline.warm_up()
    secrets.warm_up()


def _language_versions(*found: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """site or project directory -> {package: version}, as pip.installs and npm.installs read them."""
    return {where: dict(versions) for each in found for where, versions in each.items()}


def _new_versions(changes: list[PackageChange], known: dict[str, dict[str, str]]) -> list[PackageChange]:
    """What each change really installed or removed: a package whose files a step touched at the same
    version (chown, chmod, a copy over it) is not an install. `known` is brought up to date."""
    out = []
    for change in changes:
        key = change.site.removesuffix("/node_modules") if change.manager == "npm" else change.site
        before = known.setdefault(key, {})
        change.installed = {n: v for n, v in change.installed.items() if before.get(n) != v}
        change.dependencies = {n: v for n, v in change.dependencies.items() if before.get(n) != v}
        change.removed = [n for n in change.removed if n in before or not before]
        before.update({**change.dependencies, **change.installed})
        for name in change.removed:
            before.pop(name, None)
        if change.installed or change.dependencies or change.removed:
            out.append(change)
    return out
