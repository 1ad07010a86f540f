"""Where the deployment is typed: this machine (LocalHost) or a staging host reached over ssh (ssh.SshHost).

The recording asks the host for the few things it observes (the hooks' channel, the package database,
changes under the watched roots, listening ports, the process table, a file's content, user names)
and nothing else; everything after capture does not know which host it was. LocalHost is what
`record start` always did, moved here unchanged.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath

from recorder.capture import hooks, probes, processes
from recorder.capture.filewatch import FileWatcher, SystemDirs


def channel_prefix(pid: int) -> str:
    """The hooks' channel directory of the recorder with this pid: it holds the shell's environment
    dumps (secrets too), so whoever outlives a killed recorder can find and remove it."""
    return f"record-{pid}-"


class LocalHost:
    """This machine: FIFOs in a private temp dir, inotify, sock_diag, /proc."""

    via = ""  # how the session's host field says it was captured: "" here, "ssh" over ssh

    def __init__(self) -> None:
        self.channel: PurePosixPath = Path(tempfile.mkdtemp(prefix=channel_prefix(os.getpid())))
        self.events_fd = -1
        self.ack_fd = -1
        self.port_probe: probes.PortProbe | None = None
        self._system_dirs: SystemDirs | None = None

    # ---- the hooks' channel and the shell

    def open_channel(self, rcfile_text: str) -> None:
        events = self.channel / hooks.EVENTS_FIFO
        ack = self.channel / hooks.ACK_FIFO
        os.mkfifo(events, 0o600)
        os.mkfifo(ack, 0o600)
        # Held open read-write so the shell's opens never block and a write never finds no reader.
        self.events_fd = os.open(events, os.O_RDWR | os.O_NONBLOCK)
        self.ack_fd = os.open(ack, os.O_RDWR | os.O_NONBLOCK)
        (self.channel / hooks.RCFILE).write_text(rcfile_text, encoding="utf-8")

    def shell_argv(self, shell: str, hook_mode: str, session_name: str, env: dict[str, str]) -> list[str]:
        if hook_mode == "zsh":
            env["ZDOTDIR"] = str(hooks.zshrc(Path(self.channel), session_name))
            return [shell, "-i"]
        return [shell, "--rcfile", str(self.channel / hooks.RCFILE), "-i"]

    def answer(self, data: bytes) -> None:
        os.write(self.ack_fd, data)

    def dump(self, name: str) -> bytes:
        """A file the hooks wrote into the channel (env.PID, alias.PID); OSError when there is none."""
        return (Path(self.channel) / name).read_bytes()

    def observe(self, pid: int) -> None:
        """Called when a command finished, before anything is asked: a remote host gathers it all here."""

    def close(self) -> None:
        for fd in (self.events_fd, self.ack_fd):
            if fd >= 0:
                os.close(fd)
        self.events_fd = self.ack_fd = -1
        if self.port_probe is not None:
            self.port_probe.close()
        if self._system_dirs is not None:
            self._system_dirs.close()
        shutil.rmtree(self.channel, ignore_errors=True)

    # ---- what the host is and has

    def os_release(self) -> dict[str, str]:
        return probes.os_release()

    def user(self) -> str:
        return probes.user_name(os.geteuid())

    def user_name(self, uid: int) -> str:
        return probes.user_name(uid)

    def group_name(self, gid: int) -> str:
        return probes.group_name(gid)

    def own_pids(self) -> set[int]:
        """The recorder's own processes on the host (its helpers are their children)."""
        return {os.getpid()}

    def exclude(self, session_dir: Path) -> tuple[str, ...]:
        return (str(session_dir.resolve()), sys.prefix, str(self.channel))

    def file_watcher(self, probe: probes.FileProbe):
        return FileWatcher(probe)

    def system_dirs(self, ignored) -> SystemDirs:
        self._system_dirs = SystemDirs(ignored=ignored)
        return self._system_dirs

    def dpkg(self) -> probes.DpkgProbe:
        return probes.DpkgProbe()

    def owners(self) -> probes.DpkgOwners:
        return probes.DpkgOwners()

    def rpm(self) -> probes.RpmProbe:
        return probes.RpmProbe()

    def ports(self) -> set[int]:
        if self.port_probe is None:
            self.port_probe = probes.PortProbe()
        return self.port_probe.ports()

    def sockets(self) -> list[processes.Socket]:
        return processes.sockets()

    def processes(self) -> dict[int, processes.Proc]:
        return processes.table()

    def now(self) -> float:
        return processes.now()

    def alive(self, pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def read_file(self, path: str, limit: int) -> bytes | None:
        """The file's content, or None when it is larger than `limit` bytes; OSError when unreadable."""
        if os.path.getsize(path) > limit:
            return None
        with open(path, "rb") as src:
            return src.read()

    def stream(self, path: str):
        """The file's content in chunks (a large file, copied without being held in memory)."""
        with open(path, "rb") as src:
            while chunk := src.read(1 << 20):
                yield chunk

    def which(self, name: str, path: str) -> str | None:
        return shutil.which(name, path=path)

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def read_text(self, path: str) -> str:
        return Path(path).read_text(encoding="utf-8")

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def reach(self, address: str, port: int) -> tuple[str, int]:
        """Where this machine connects to ask the host's address:port (the fingerprint)."""
        return address, port

    def hostname(self) -> str:
        import socket

        return socket.gethostname()
