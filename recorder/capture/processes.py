"""The process table and the sockets, as any user may read them: no ptrace, no SYS_PTRACE.

A staging container with Docker's default capabilities, a Kubernetes pod or a locked-down VM does
not let root read another user's /proc/PID/fd, exe, cwd or environ. What everyone may read is
enough to tell which step started a process and which process holds a socket: /proc/PID/stat
(parent, session, start time), status (uid), cmdline, comm, and /proc/net/{tcp,udp,unix} (each
socket's uid and inode). The fds we may read map a socket inode to its process exactly; the rest
is matched by the caller (recorder/capture/services.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"
UNIX_LISTENING = 0x10000  # __SO_ACCEPTCON


def now() -> float:
    """Seconds since boot on the clock /proc/PID/stat's start time is counted in."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    uid: int
    start: float  # seconds since boot (see now())
    comm: str  # the executable's name as the kernel keeps it (a script's own name, not its interpreter's)
    argv: tuple[str, ...]  # as the process shows it now (daemons rewrite it)
    exe: str = ""  # "" where we may not read it (another user's process, without SYS_PTRACE)
    cwd: str = ""
    sockets: frozenset[int] = field(default_factory=frozenset)  # socket inodes, where its fds are readable

    @property
    def readable(self) -> bool:
        return bool(self.exe)


def read(pid: int) -> Proc | None:
    base = PROC / str(pid)
    try:
        stat = (base / "stat").read_text()
        status = (base / "status").read_text()
        raw = (base / "cmdline").read_bytes()
    except OSError:
        return None
    uid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:")), -1)
    exe = _readlink(base / "exe")
    return parse(
        pid,
        stat,
        uid,
        raw,
        exe,
        _readlink(base / "cwd") if exe else "",
        _socket_inodes(base) if exe else frozenset(),
    )


def parse(
    pid: int,
    stat: str,
    uid: int,
    raw: bytes,
    exe: str = "",
    cwd: str = "",
    sockets: frozenset[int] = frozenset(),
    ticks: int = TICKS,
) -> Proc | None:
    """A Proc from what /proc/PID gives: stat's line, status's uid, cmdline's bytes, and the links."""
    try:
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ppid, start = int(fields[1]), int(fields[19]) / ticks
    except (ValueError, IndexError):
        return None
    argv = tuple(raw.rstrip(b"\0").decode(errors="replace").split("\0")) if raw else ()
    return Proc(pid=pid, ppid=ppid, uid=uid, start=start, comm=comm, argv=argv, exe=exe, cwd=cwd, sockets=sockets)


def table() -> dict[int, Proc]:
    out = {}
    for name in os.listdir(PROC):
        if name.isdigit():
            proc = read(int(name))
            if proc is not None:
                out[proc.pid] = proc
    return out


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path).removesuffix(" (deleted)")
    except OSError:
        return ""


def _socket_inodes(base: Path) -> frozenset[int]:
    found = set()
    try:
        names = os.listdir(base / "fd")
    except OSError:
        return frozenset()
    for name in names:
        target = _readlink(base / "fd" / name)
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return frozenset(found)


@dataclass(frozen=True)
class Socket:
    """A socket that waits for clients: TCP in LISTEN, UDP unconnected, unix listening."""

    protocol: str  # tcp | udp | unix
    address: str  # IP, or the unix socket's path
    port: int  # 0 for unix
    uid: int
    inode: int


NET_FILES = ("tcp", "tcp6", "udp", "udp6", "unix")


def sockets(proc_net: Path = PROC / "net") -> list[Socket]:
    texts = {}
    for name in NET_FILES:
        try:
            texts[name] = (proc_net / name).read_text()
        except OSError:
            continue
    return parse_sockets(texts)


def parse_sockets(texts: dict[str, str]) -> list[Socket]:
    """The listening sockets in /proc/net/{tcp,tcp6,udp,udp6,unix}, given as name -> text."""
    found: list[Socket] = []
    for name, protocol, state in (
        ("tcp", "tcp", TCP_LISTEN),
        ("tcp6", "tcp", TCP_LISTEN),
        ("udp", "udp", UDP_UNCONNECTED),
        ("udp6", "udp", UDP_UNCONNECTED),
    ):
        for fields in _rows(texts.get(name, "")):
            if len(fields) > 9 and fields[3] == state:
                address, port = fields[1].rsplit(":", 1)
                found.append(Socket(protocol, _ip(address), int(port, 16), int(fields[7]), int(fields[9])))
    for fields in _rows(texts.get("unix", "")):
        if len(fields) > 7 and int(fields[3], 16) & UNIX_LISTENING and fields[7].startswith("/"):
            found.append(Socket("unix", fields[7], 0, -1, int(fields[6])))
    return found


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()[1:]]


def _ip(hex_address: str) -> str:
    """/proc/net's addresses are the kernel's words in host byte order."""
    import ipaddress

    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))
