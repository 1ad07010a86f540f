"""What the host looks like now: OS, package database, files under watched roots, listening sockets.

Each probe returns plain data; comparing two snapshots tells what one command changed. Observing
effects is more honest than guessing from the command text: an install done by a script is still seen.
"""

from __future__ import annotations

import fnmatch
import grp
import hashlib
import os
import pwd
import re
import shutil
import socket
import stat
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pathspec

from recorder.managers import registry
from recorder.managers.apt import deb822, dpkg_status
from recorder.managers.yum import QUERY, content_changed, rpm_versions, verify_changed

DEFAULT_ROOTS = ("/etc", "/opt", "/srv", "/var/www", "/usr/local", "/home", "/root")

# Host identity, secrets the image must not inherit, caches and editor droppings. A pattern without
# "/" matches a file or directory name anywhere; with "/" it matches the absolute path.
DEFAULT_IGNORES = (
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/machine-id",
    "/etc/mtab",
    "/etc/ld.so.cache",
    "/etc/adjtime",
    "/etc/.pwd.lock",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/passwd-",
    "/etc/group-",
    "/etc/subuid-",
    "/etc/subgid-",
    "/etc/ssh/ssh_host_*",
    "*.pid",  # a running daemon's pid file (supervisord's in its cwd): written again when it starts
    "__pycache__",
    "*.pyc",
    ".*.swp",
    ".*.swx",
    "*~",
    ".cache",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".viminfo",
    ".lesshst",
    ".wget-hsts",
    ".sudo_as_admin_successful",
    *registry.CACHES,  # what a package manager keeps for itself is not the deployment
)


IGNORE_FILE = ".recordignore"


def read_ignore_file(path: Path) -> tuple[str, ...]:
    """Patterns from a .recordignore (gitignore syntax); none when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        from recorder.errors import RecorderError

        raise RecorderError(f"{path}: cannot be read as ignore patterns ({exc})") from None
    return tuple(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


# ---------------------------------------------------------------- host


def os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return parse_os_release(text)


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def base_image_for(release: dict[str, str]) -> str:
    """The official image closest to the host: debian:12, ubuntu:22.04, centos:7, rockylinux:9 ..."""
    os_id, version = release.get("ID", ""), release.get("VERSION_ID", "")
    if not os_id:
        return "debian:12"
    if os_id in ("rhel", "centos") and version.split(".")[0] == "7":
        return "centos:7"
    if os_id == "rhel":
        return f"registry.access.redhat.com/ubi{version.split('.')[0]}/ubi"
    if os_id == "alpine":
        return f"alpine:{'.'.join(version.split('.')[:2])}"
    if os_id == "debian" and not version:
        return "debian:testing"
    return f"{os_id}:{version}" if version else f"{os_id}:latest"


# ---------------------------------------------------------------- packages


@dataclass(frozen=True)
class DpkgState:
    versions: dict[str, str]  # installed package -> version
    auto: frozenset[str]  # installed only as dependencies (apt's extended_states)
    base: frozenset[str] = frozenset()  # Essential or Priority: required: in every Debian base image


class DpkgProbe:
    """Reads dpkg's status file, and apt's auto-installed marks; re-reads only when they change."""

    def __init__(
        self, status: Path = Path("/var/lib/dpkg/status"), extended: Path = Path("/var/lib/apt/extended_states")
    ):
        self.status, self.extended = status, extended
        self._stamp: tuple = ()
        self._state = DpkgState({}, frozenset())

    @property
    def available(self) -> bool:
        return self.status.is_file()

    def _mtimes(self) -> tuple:
        out = []
        for p in (self.status, self.extended):
            try:
                st = p.stat()
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def snapshot(self) -> DpkgState:
        stamp = self._mtimes()
        if stamp != self._stamp:
            self._stamp = stamp
            versions, base = self._read_status()
            self._state = DpkgState(versions, frozenset(self._read_auto()), frozenset(base))
        return self._state

    def _read_status(self) -> tuple[dict[str, str], set[str]]:
        try:
            return dpkg_status(self.status.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return {}, set()

    def _read_auto(self) -> set[str]:
        auto = set()
        try:
            text = self.extended.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return auto
        for para in text.split("\n\n"):
            fields = deb822(para)
            if fields.get("Auto-Installed") == "1" and "Package" in fields:
                auto.add(fields["Package"])
        return auto


class DpkgOwners:
    """Which installed package owns a path (what `dpkg -S` answers), from dpkg's file lists."""

    def __init__(self, info: Path = Path("/var/lib/dpkg/info")):
        self.info = info
        self._owners: dict[str, str] | None = None

    def owner(self, path: str) -> str | None:
        if self._owners is None:
            self._owners = {}
            for listing in sorted(self.info.glob("*.list")):
                package = listing.name[: -len(".list")].split(":", 1)[0]
                try:
                    for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
                        self._owners.setdefault(line, package)
                except OSError:
                    continue
        return self._owners.get(path)

    def shipped_md5(self, path: str) -> str | None:
        """The md5 the owning package shipped for `path` (its md5sums, or conffiles in the status)."""
        package = self.owner(path)
        if package is None:
            return None
        relative = path.lstrip("/")
        for listing in (self.info / f"{package}.md5sums", *self.info.glob(f"{package}:*.md5sums")):
            try:
                for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
                    digest, _, name = line.partition("  ")
                    if name == relative:
                        return digest
            except OSError:
                continue
        return self._conffile_md5(package, path)

    def _conffile_md5(self, package: str, path: str) -> str | None:
        try:
            text = (self.info.parent / "status").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for para in text.split("\n\n"):
            if f"Package: {package}\n" not in para + "\n":
                continue
            for line in para.splitlines():
                words = line.split()
                if len(words) >= 2 and words[0] == path:
                    return words[1]
        return None

    def unchanged_from_package(self, path: str) -> bool:
        """True when the file is byte for byte what its package shipped: the image gets it from there."""
        shipped = self.shipped_md5(path)
        if not shipped:
            return False
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            return False
        return digest.hexdigest() == shipped


RPM_DBPATHS = (Path("/var/lib/rpm"), Path("/usr/lib/sysimage/rpm"))
# rpm's database: Berkeley DB (rpm < 4.16, CentOS 7 and 8), sqlite with its write-ahead log (later)
RPM_DB_FILES = ("Packages", "rpmdb.sqlite", "rpmdb.sqlite-wal")


def _run(argv: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


class RpmProbe:
    """rpm's database as `rpm -qa` prints it (package -> EVRA). rpm reads its own format, whichever it
    is; the query (about 0.1 s) runs again only when a file of the database changed. This machine's;
    over ssh, RemoteRpm has the stamps from the agent's listing after each command, and rpm run by it."""

    def __init__(self, dbpaths: tuple[Path, ...] = RPM_DBPATHS):
        self.files = tuple(d / name for d in dbpaths for name in RPM_DB_FILES)
        self.rpm = self._which_rpm()
        self._stamp: tuple = ()
        self._versions: dict[str, str] = {}

    def _which_rpm(self) -> str | None:
        return shutil.which("rpm")

    def query(self, args: list[str]) -> subprocess.CompletedProcess | None:
        """`rpm ARGS` on the host: its output, or None when it could not run."""
        return _run([self.rpm or "rpm", *args])

    @property
    def available(self) -> bool:
        """rpm is installed and its database is where the system's packages are (Debian's own rpm
        keeps an empty one in ~/.rpmdb: that host's packages are dpkg's)."""
        return self._found(self.stamp())

    def _found(self, stamp: tuple) -> bool:
        return self.rpm is not None and any(s is not None for s in stamp)

    def stamp(self) -> tuple:
        """What changes when rpm writes its database."""
        out = []
        for f in self.files:
            try:
                st = f.stat()
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def snapshot(self) -> dict[str, str]:
        stamp = self.stamp() if self.rpm is not None else ()
        if not self._found(stamp):
            return {}
        if stamp != self._stamp:
            done = self.query(["-qa", "--qf", QUERY])
            if done is not None and done.returncode == 0:
                self._stamp = stamp
                self._versions = rpm_versions(done.stdout)
        return self._versions


class RpmOwners:
    """Which rpm package owns a path (what `rpm -qf` answers), and whether the file is as it shipped
    (`rpm -V`). The owners come from one listing of every package's files, made again only when the
    database changed: a step that unpacked ten thousand files asks rpm once, not once a file."""

    FILES = "[%{=NAME}\\t%{FILENAMES}\\n]"

    def __init__(self, probe: RpmProbe):
        self.probe = probe
        self._stamp: tuple = ()
        self._owners: dict[str, str] = {}

    def owner(self, path: str) -> str | None:
        stamp = self.probe.stamp() if self.probe.rpm is not None else ()
        if not self.probe._found(stamp):
            return None
        if stamp != self._stamp:
            done = self.probe.query(["-qa", "--qf", self.FILES])
            if done is None or done.returncode != 0:
                return None
            self._stamp, self._owners = stamp, {}
            for line in done.stdout.splitlines():
                name, _, owned = line.partition("\t")
                self._owners.setdefault(owned, name)
        return self._owners.get(path)

    def unchanged_from_package(self, path: str) -> bool:
        """True when the file's bytes are what its package shipped (a changed mode, owner or mtime is
        not a change of content): the image gets it from there."""
        package = self.owner(path)
        if package is None:
            return False
        done = self.probe.query(["-V", "--nodeps", "--noscripts", package])
        if done is None:  # its status counts the packages that differ: not an error
            return False
        flags = verify_changed(done.stdout).get(path)
        return flags is None or not content_changed(flags)


# ---------------------------------------------------------------- files


@dataclass(frozen=True)
class Entry:
    kind: str  # file | symlink | dir
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ino: int
    target: str | None = None
    ctime_ns: int = 0


class FileProbe:
    """A stat walk of the watched roots: path -> Entry. Content is read only for paths that changed."""

    def __init__(
        self,
        roots: tuple[str, ...] = DEFAULT_ROOTS,
        ignores: tuple[str, ...] = DEFAULT_IGNORES,
        exclude: tuple[str, ...] = (),
        user_ignores: tuple[str, ...] = (),
    ):
        self.roots = tuple(os.path.abspath(r) for r in roots)
        self._name_re = _any_of(p for p in ignores if "/" not in p)
        self._path_re = _any_of(p for p in ignores if "/" in p)
        self.exclude = tuple(os.path.abspath(e) for e in exclude)
        # the user's own patterns, in .gitignore syntax, matched against the path from /
        self._user = pathspec.GitIgnoreSpec.from_lines(user_ignores) if user_ignores else None

    def ignored(self, path: str) -> bool:
        if any(path == e or path.startswith(e + "/") for e in self.exclude):
            return True
        if self._name_re.match(os.path.basename(path)) or self._path_re.match(path):
            return True
        return self._user is not None and self._user.match_file(path.lstrip("/"))

    def snapshot(self) -> dict[str, Entry]:
        entries: dict[str, Entry] = {}
        for root in self.roots:
            if os.path.isdir(root) and not self.ignored(root):
                self._walk(root, entries)
        return entries

    def _walk(self, directory: str, entries: dict[str, Entry]) -> None:
        try:
            scan = os.scandir(directory)
        except OSError:
            return
        with scan:
            for item in scan:
                path = item.path
                if self.ignored(path):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    try:
                        target = os.readlink(path)
                    except OSError:
                        continue
                    entries[path] = _entry("symlink", st, target)
                elif stat.S_ISDIR(st.st_mode):
                    entries[path] = _entry("dir", st)
                    self._walk(path, entries)
                elif stat.S_ISREG(st.st_mode):
                    entries[path] = _entry("file", st)


def _any_of(patterns) -> re.Pattern:
    """One compiled regex for a list of glob patterns: matching stays cheap on large trees."""
    parts = [fnmatch.translate(p) for p in patterns]
    return re.compile("|".join(parts) if parts else r"(?!)")


def entry_of(path: str) -> Entry | None:
    """The path's current state; None when it is gone, or is a special file."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return _entry("dir", st)
    if stat.S_ISLNK(st.st_mode):
        try:
            return _entry("symlink", st, os.readlink(path))
        except OSError:
            return None
    if stat.S_ISREG(st.st_mode):
        return _entry("file", st)
    return None


def _entry(kind: str, st: os.stat_result, target: str | None = None) -> Entry:
    return Entry(
        kind,
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
        target,
        st.st_ctime_ns,
    )


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# ---------------------------------------------------------------- sockets


LISTEN_STATE = "0A"
TCP_LISTEN = 10
NETLINK_SOCK_DIAG = 4
NLMSG_HEADER = struct.Struct("=IH")  # the length and type that start every netlink message


class PortProbe:
    """TCP ports in LISTEN state, asked after every command.

    The kernel's sock_diag netlink interface (what `ss` uses) answers in a few hundredths of a
    millisecond. The request and the answers are pyroute2's message types, sent over a plain netlink
    socket: pyroute2's own DiagSocket runs each request through an asyncio loop, 0.4 ms in a tight
    loop and 1.0 ms between two commands, a third of the recorder's time per command. Reading
    /proc/net/tcp{,6} took 2.7-9 ms here (the kernel walks its whole socket table to print it) and
    psutil, which also maps every socket to its process, 13 ms. Processes are looked up once, at the
    end. /proc/net is the fallback where netlink is not allowed.
    """

    def __init__(self, proc_net: Path = Path("/proc/net")):
        self.proc_net = proc_net
        self._diag: socket.socket | None = None
        self._requests: list[bytes] = []
        try:
            self._diag = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
            self._diag.settimeout(5)
            self._diag.bind((0, 0))
            self._requests = [_listening_request(family) for family in (socket.AF_INET, socket.AF_INET6)]
        except OSError:
            self._diag = None

    @property
    def via_netlink(self) -> bool:
        return self._diag is not None

    def close(self) -> None:
        if self._diag is not None:
            self._diag.close()

    def ports(self) -> set[int]:
        if self._diag is not None:
            try:
                return {port for request in self._requests for port in self._ask(request)}
            except (OSError, ValueError):
                self._diag = None
        return listening_ports(self.proc_net)

    def _ask(self, request: bytes) -> set[int]:
        from pyroute2.netlink import NLMSG_DONE, NLMSG_ERROR
        from pyroute2.netlink.diag import inet_diag_msg

        self._diag.send(request)
        found: set[int] = set()
        while True:
            data = self._diag.recv(1 << 16)
            offset = 0
            while offset < len(data):
                length, kind = NLMSG_HEADER.unpack_from(data, offset)
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR or length < NLMSG_HEADER.size:
                    raise ValueError("sock_diag refused the request")
                message = inet_diag_msg(data[offset : offset + length])
                message.decode()
                found.add(message["idiag_sport"])
                offset += (length + 3) & ~3


def _listening_request(family: int) -> bytes:
    """The sock_diag request for `family`'s TCP sockets in LISTEN state: the same every time, so
    encoded once (encoding is most of pyroute2's cost)."""
    from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST
    from pyroute2.netlink.diag import SOCK_DIAG_BY_FAMILY, inet_diag_req

    request = inet_diag_req()
    request["header"]["type"] = SOCK_DIAG_BY_FAMILY
    request["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
    request["sdiag_family"] = family
    request["sdiag_protocol"] = socket.IPPROTO_TCP
    request["idiag_states"] = 1 << TCP_LISTEN
    request.encode()
    return bytes(request.data)


def listening_ports(proc_net: Path = Path("/proc/net")) -> set[int]:
    """TCP ports in LISTEN state from /proc/net/tcp{,6}."""
    found = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN_STATE:
                found.add(int(fields[1].rsplit(":", 1)[1], 16))
    return found
