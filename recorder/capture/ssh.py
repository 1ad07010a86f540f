"""A staging host reached over ssh, with nothing installed there but sshd, bash and coreutils.

The recorder runs here; on the host runs a small bash agent (AGENT, sent as the command of one ssh
session, kept in a `mktemp -d` dir it removes when its input ends). Over one master connection
(ControlMaster, as Ansible's ssh connection keeps one) there are two sessions: the user's shell
(`ssh -t ... bash --rcfile`) and the agent. The agent relays the hooks' events on its stderr, passes
each ack on to the hooks' FIFO, and answers one request per finished command with everything the
recording looks at (environment dump, the package databases' stamps, the watched trees' stat entries,
system dirs, listening ports), so a command costs one round trip. The user's ~/.ssh/config applies: this is the
real `ssh`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from recorder.capture import hooks, probes, processes
from recorder.capture.probes import DpkgState, Entry
from recorder.errors import RecorderError
from recorder.managers.apt import deb822, dpkg_status

CONTROL_PERSIST = "60"
CONNECT_TIMEOUT = "15"
DPKG_STATUS = "/var/lib/dpkg/status"
APT_EXTENDED = "/var/lib/apt/extended_states"
# stamped in every listing: dpkg's files, then rpm's database (whichever of its places and formats)
STAMPED = (DPKG_STATUS, APT_EXTENDED, *(str(d / f) for d in probes.RPM_DBPATHS for f in probes.RPM_DB_FILES))

AGENT = r"""
set +o history
umask 077
__dir=$(mktemp -d "${TMPDIR:-/tmp}/record-ssh.XXXXXXXX") || exit 1
mkfifo "$__dir/events" "$__dir/ack" || { rm -rf -- "$__dir"; exit 1; }
# Held open read-write: the shell's opens never block, and a write never finds no reader.
exec 7<>"$__dir/events" 8<>"$__dir/ack" 9>&2 2>/dev/null
cat <&7 >&9 &
__relay=$!
trap 'kill "$__relay"; rm -rf -- "$__dir"' EXIT
trap 'exit 1' HUP TERM INT
__roots=() __stamps=() __sysdirs=() __sysdepth=1 __files_sum=

# Forks are most of the cost per command: a section is written to a file (no subshell), then encoded.
__file() { printf '%s ' "$1"; base64 -w0 -- "$2"; printf '\n'; }
__sec() { local name=$1; shift; "$@" >"$__dir/section"; __file "$name" "$__dir/section"; }
__files() {
  # the package databases' files (dpkg's, rpm's) come first, as stamps ("s"): one walk tells what
  # changed and whether to ask the package manager again
  local f is=(-false)
  for f in "${__stamps[@]}"; do is+=(-o -path "$f"); done
  find "${__stamps[@]}" "${__roots[@]}" -xdev \( -path "$__dir" -prune \) -o \
    \( "${is[@]}" \) -printf 's %s %T@ %i %p\0\0' -o \
    \( -type f -o -type d -o -type l \) -printf '%y %m %U %G %s %T@ %i %C@ %p\0%l\0'
}
__ports() {
  # LISTEN sockets' local addresses, read by bash itself: no fork
  local sl address remote state rest out= net
  for net in /proc/net/tcp /proc/net/tcp6; do
    while read -r sl address remote state rest; do
      [ "$state" = 0A ] && out+="$address "
    done <"$net"
  done
  printf 'ports= %s\n' "$out"
}
__systemdirs() {
  # one walk, as deep as the deepest; the Python side keeps each root's own depth
  [ "${#__sysdirs[@]}" -gt 0 ] || return 0
  find "${__sysdirs[@]}" -mindepth 1 -maxdepth "$__sysdepth" -xdev -type d -printf '%m %U %G %p\0'
}
__procs() {
  local d p stat k v rest uid
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    IFS= read -r stat <"$d/stat" || continue
    uid=-1
    while read -r k v rest; do [ "$k" = Uid: ] && { uid=$v; break; }; done <"$d/status"
    printf '%s %s %s %s\n' "$p" "$uid" "$(base64 -w0 <"$d/cmdline")" "$stat"
  done
}
__links() { find /proc/[0-9]*/exe /proc/[0-9]*/cwd -maxdepth 0 -printf '%p\0%l\0'; }
__fds() { find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%h\0%l\0'; }
__shipped() {
  # the package that owns $1, the md5 it shipped for it, and the md5 it has now
  local pkg sum
  pkg=$(dpkg-query -S "$1" | sed -n '1s/: .*//p') || return 0
  pkg=${pkg%%,*} pkg=${pkg%%:*}
  [ -n "$pkg" ] || return 0
  sum=$(cat /var/lib/dpkg/info/"$pkg".md5sums /var/lib/dpkg/info/"$pkg":*.md5sums |
    while read -r s f; do [ "$f" = "${1#/}" ] && { echo "$s"; break; }; done)
  [ -n "$sum" ] || sum=$(dpkg-query -W -f='${Conffiles}\n' "$pkg" |
    while read -r f s rest; do [ "$f" = "$1" ] && { echo "$s"; break; }; done)
  printf '%s %s %s\n' "$pkg" "${sum:--}" "$(md5sum <"$1" | cut -d' ' -f1)"
}

printf 'dir %s\n' "$(printf '%s' "$__dir" | base64 -w0)"
printf 'pid %s\n' "$(printf '%s' "$$" | base64 -w0)"
__sec ticks getconf CLK_TCK
__sec uptime cat /proc/uptime
__sec release cat /etc/os-release
__sec hostname cat /proc/sys/kernel/hostname
__sec euid id -u
__sec passwd cat /etc/passwd
__sec group cat /etc/group
__sec rpm command -v rpm
echo .
while IFS=$'\t' read -r __verb __rest; do
  IFS=$'\t' read -r -a __args <<<"$__rest"
  case $__verb in
    ack) printf '%s\n' "$__rest" >&8; continue ;;
    roots) __roots=("${__args[@]}") __files_sum= ;;
    stamps) __stamps=("${__args[@]}") __files_sum= ;;
    sysdirs) __sysdepth=${__args[0]} __sysdirs=("${__args[@]:1}") ;;
    rc) printf '%s' "$__rest" | base64 -d >"$__dir/bashrc" ;;
    observe)
      __file env "$__dir/env.${__args[0]}"
      __file alias "$__dir/alias.${__args[0]}"
      # the listing only when it changed: most commands change nothing under the roots
      if [ "${__args[1]}" = files ]; then
        __files >"$__dir/files.new"
        __sum=$(md5sum <"$__dir/files.new")
        [ "$__sum" = "$__files_sum" ] || __file files "$__dir/files.new"
        __files_sum=$__sum
      fi
      __sec sysdirs __systemdirs
      __ports
      ;;
    dpkg) __file status /var/lib/dpkg/status; __file extended /var/lib/apt/extended_states ;;
    rpm)
      rpm "${__args[@]}" >"$__dir/section" 2>"$__dir/error"
      printf 'status= %s\n' "$?"
      __file out "$__dir/section"; __file err "$__dir/error" ;;
    read)
      __size=$(stat -c %s -- "${__args[0]}")
      if [ -z "$__size" ]; then __sec missing true
      elif [ "$__size" -gt "${__args[1]}" ]; then __sec large true
      else __file data "${__args[0]}"; fi ;;
    procs) __sec procs __procs; __sec links __links; __sec fds __fds ;;
    sockets) for __f in tcp tcp6 udp udp6 unix; do __file "$__f" "/proc/net/$__f"; done ;;
    users) __file passwd /etc/passwd; __file group /etc/group ;;
    shipped) __sec shipped __shipped "${__args[0]}" ;;
    owner) __sec owner eval 'dpkg-query -S "${__args[0]}" | sed -n "1s/: .*//p"' ;;
    which) __sec which eval 'PATH=${__args[0]} command -v -- "${__args[1]}"' ;;
    alive) __sec alive eval 'kill -0 "${__args[0]}" && echo yes' ;;
    uptime) __sec uptime cat /proc/uptime ;;
  esac
  echo .
done
"""


class SshHost:
    """The staging host at `destination`, through the operator's own ssh (config, keys, jump hosts)."""

    via = "ssh"

    def __init__(self, destination: str, options: tuple[str, ...] = (), config: str | None = None):
        self.destination = destination
        self.control = Path(tempfile.mkdtemp(prefix="record-ssh-"))
        self.ssh = [
            "ssh",
            *(["-F", config] if config else []),
            *[x for option in options for x in ("-o", option)],
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={self.control / 'master'}",
            "-o",
            f"ControlPersist={CONTROL_PERSIST}",
            "-o",
            f"ConnectTimeout={CONNECT_TIMEOUT}",
        ]
        self.agent: subprocess.Popen | None = None
        self.channel = PurePosixPath("/")
        self.events_fd = -1
        self.agent_pid = 0
        self._passwd: dict[int, str] = {}
        self._group: dict[int, str] = {}
        self._observed: dict[str, bytes] = {}
        self._forwards: dict[tuple[str, int], int] = {}
        self._clock = 0.0  # the host's seconds since boot minus ours
        self._ticks = 100
        self._release: dict[str, str] = {}
        self._hostname = ""
        self.roots: tuple[str, ...] = ()
        self.stamps: dict[str, bytes] | None = None  # STAMPED path -> "size mtime inode"; None until listed
        self.dpkg_stamp: bytes | None = None  # None until the first listing
        self.rpm_path: str | None = None

    # ---- connecting

    def _run(self, *remote: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.ssh, self.destination, *remote],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def connect(self) -> tuple[str, tuple[int, int]]:
        """Open the master connection (a password or passphrase is asked on the terminal, as ssh does)
        and ask the host's bash its version. One line and exit 2 when it cannot be done."""
        if shutil.which("ssh") is None:
            raise RecorderError("--ssh: no `ssh` program here; install the OpenSSH client (openssh-client)")
        try:
            done = self._run("bash --version")  # as hooks.identify asks a local shell
        except subprocess.TimeoutExpired:
            self.close()
            raise RecorderError(f"--ssh {self.destination}: no answer in 60 s") from None
        if done.returncode == 255:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            self.close()
            reason = lines[-1].strip() if lines else "ssh failed"
            raise RecorderError(f"--ssh {self.destination}: cannot connect: {reason}")
        kind, version = hooks.parse_version(done.stdout)
        if kind != "bash":
            self.close()
            raise RecorderError(f"--ssh {self.destination}: the host has no bash, which the recording needs")
        return kind, version

    def start_agent(self) -> None:
        """The agent session; what it says first: its channel dir, pid, clock and the host's identity."""
        self.attach([*self.ssh, self.destination, f"exec bash -c {shlex.quote(AGENT)} record-agent"])

    def attach(self, argv: list[str]) -> None:
        """Start the agent with `argv` (the tests run AGENT in a local bash to compare its answers
        with the local probes') and read its greeting."""
        local_before = processes.now()
        self.agent = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        self.events_fd = self.agent.stderr.fileno()
        fcntl.fcntl(self.events_fd, fcntl.F_SETFL, fcntl.fcntl(self.events_fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        hello = self._answer()
        if "dir" not in hello:
            raise RecorderError(f"--ssh {self.destination}: the recording agent did not start on the host")
        local_after = processes.now()
        self.channel = PurePosixPath(hello["dir"].decode())
        self.agent_pid = int(hello["pid"])
        self._ticks = int(hello.get("ticks", b"100").strip() or 100)
        self._clock = float(hello["uptime"].split()[0]) - (local_before + local_after) / 2
        self._release = probes.parse_os_release(hello["release"].decode("utf-8", "replace"))
        self._hostname = hello["hostname"].decode().strip()
        self.euid = int(hello["euid"].strip() or 0)
        self.rpm_path = hello.get("rpm", b"").decode("utf-8", "replace").strip() or None
        self._users(hello)

    def _request(self, *words: str) -> dict[str, bytes]:
        line = "\t".join(words).replace("\n", " ") + "\n"
        self._send(line.encode("utf-8", "surrogateescape"))  # a path is given back as it was listed
        return self._answer()

    def _send(self, data: bytes) -> None:
        """All of it: a signal (a window resize) may cut a write to a pipe short."""
        view = memoryview(data)
        try:
            while view:
                view = view[self.agent.stdin.write(view) :]
        except (BrokenPipeError, ValueError):
            raise RecorderError(f"--ssh {self.destination}: the connection to the host was lost") from None

    def _answer(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        while True:
            line = self.agent.stdout.readline()
            if not line:
                raise RecorderError(f"--ssh {self.destination}: the connection to the host was lost")
            line = line.rstrip(b"\n")
            if line == b".":
                return out
            name, _, data = line.partition(b" ")
            if name.endswith(b"="):  # plain text the agent made itself (no fork for base64)
                out[name[:-1].decode()] = data
            else:
                out[name.decode()] = base64.b64decode(data)

    def close(self) -> None:
        """The agent removes its dir when its input ends; then the master connection is closed."""
        for port in self._forwards.values():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [*self.ssh, "-O", "cancel", "-L", f"127.0.0.1:{port}:localhost:0", self.destination],
                    capture_output=True,
                    timeout=10,
                )
        if self.agent is not None:
            with contextlib.suppress(OSError):
                self.agent.stdin.close()
            try:
                self.agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
            for stream in (self.agent.stdout, self.agent.stderr):
                stream.close()
            self.agent = None
        if (self.control / "master").exists():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [*self.ssh, "-O", "exit", self.destination],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=10,
                )
        shutil.rmtree(self.control, ignore_errors=True)

    # ---- the hooks' channel and the shell

    def open_channel(self, rcfile_text: str) -> None:
        self._request("rc", base64.b64encode(rcfile_text.encode()).decode())

    def shell_argv(self, shell: str, hook_mode: str, session_name: str, env: dict[str, str]) -> list[str]:
        rc = shlex.quote(str(self.channel / hooks.RCFILE))
        remote = f"RECORD_SESSION={shlex.quote(session_name)} exec bash --rcfile {rc} -i"
        return [*self.ssh, "-t", "-o", "LogLevel=error", self.destination, remote]

    def answer(self, data: bytes) -> None:
        self._send(b"ack\t" + data)

    def observe(self, pid: int) -> None:
        self._observed = self._request("observe", str(pid), "files")
        self._take_stamp(self._observed.get("files"))

    def _take_stamp(self, listing: bytes | None) -> None:
        """The package databases' stamps, the listing's "s" records; an unchanged listing keeps them."""
        if listing is None:
            return
        stamps: dict[str, bytes] = {}
        for head in listing.split(b"\0")[0::2]:
            if head.startswith(b"s "):
                _, size, mtime, inode, path = head.split(b" ", 4)
                stamps[path.decode("utf-8", "surrogateescape")] = b" ".join((size, mtime, inode))
        self.stamps = stamps
        self.dpkg_stamp = b"\0".join(stamps[p] for p in (DPKG_STATUS, APT_EXTENDED) if p in stamps)

    def stamp(self, paths) -> tuple[bytes | None, ...]:
        """The stamps of STAMPED paths as the last listing had them (None: the file is not there)."""
        if self.stamps is None:
            self._request("stamps", *STAMPED)
            self._take_stamp(self._request("observe", "0", "files").get("files"))
        return tuple((self.stamps or {}).get(str(p)) for p in paths)

    def dump(self, name: str) -> bytes:
        kind = name.split(".", 1)[0]
        if not self._observed.get(kind):
            raise FileNotFoundError(name)
        return self._observed[kind]

    # ---- what the host is and has

    def os_release(self) -> dict[str, str]:
        return self._release

    def _users(self, answer: dict[str, bytes]) -> None:
        for text, table in ((answer["passwd"], self._passwd), (answer["group"], self._group)):
            for line in text.decode("utf-8", "replace").splitlines():
                fields = line.split(":")
                if len(fields) > 2 and fields[2].isdigit():
                    table.setdefault(int(fields[2]), fields[0])

    def _name(self, table: dict[int, str], number: int) -> str:
        if number not in table:
            self._users(self._request("users"))  # a step may have added it (useradd)
        return table.get(number, str(number))

    euid = 0

    def user(self) -> str:
        return self._name(self._passwd, self.euid)

    def user_name(self, uid: int) -> str:
        return self._name(self._passwd, uid)

    def group_name(self, gid: int) -> str:
        return self._name(self._group, gid)

    def own_pids(self) -> set[int]:
        return {self.agent_pid}

    def exclude(self, session_dir: Path) -> tuple[str, ...]:
        return (str(self.channel),)

    def file_watcher(self, probe: probes.FileProbe) -> RemoteFiles:
        self.roots = probe.roots
        self._request("stamps", *STAMPED)
        self._request("roots", *probe.roots)
        watcher = RemoteFiles(probe, lambda: self._observed.get("files"))
        listing = self._request("observe", "0", "files")["files"]
        self._take_stamp(listing)
        watcher.start(listing)
        return watcher

    def system_dirs(self, ignored) -> RemoteSystemDirs:
        from recorder.capture.filewatch import SYSTEM_DIRS

        self._request("sysdirs", str(max(SYSTEM_DIRS.values())), *SYSTEM_DIRS)
        dirs = RemoteSystemDirs(ignored, lambda: self._observed["sysdirs"])
        dirs.states = dirs.parse(self._request("observe", "0")["sysdirs"])
        return dirs

    def dpkg(self) -> RemoteDpkg:
        return RemoteDpkg(self)

    def owners(self) -> RemoteOwners:
        return RemoteOwners(self)

    def rpm(self) -> RemoteRpm:
        return RemoteRpm(self)

    def ports(self) -> set[int]:
        answer = self._observed or self._request("observe", "0")
        return {int(a.rsplit(":", 1)[1], 16) for a in answer.get("ports", b"").decode().split() if ":" in a}

    def sockets(self) -> list[processes.Socket]:
        answer = self._request("sockets")
        return processes.parse_sockets({name: data.decode("utf-8", "replace") for name, data in answer.items()})

    def processes(self) -> dict[int, processes.Proc]:
        answer = self._request("procs")
        links: dict[str, str] = {}
        fields = answer["links"].split(b"\0")
        for path, target in zip(fields[0::2], fields[1::2], strict=False):
            links[path.decode("utf-8", "replace")] = target.decode("utf-8", "replace")
        sockets: dict[int, set[int]] = {}
        fields = answer["fds"].split(b"\0")
        for directory, target in zip(fields[0::2], fields[1::2], strict=False):
            pid = directory.decode().split("/")[2]
            if pid.isdigit() and target.startswith(b"socket:["):
                sockets.setdefault(int(pid), set()).add(int(target[8:-1]))
        table = {}
        for line in answer["procs"].decode("utf-8", "replace").splitlines():
            parts = line.split(" ", 3)
            if len(parts) < 4 or not parts[0].isdigit():
                continue
            pid = int(parts[0])
            exe = links.get(f"/proc/{pid}/exe", "").removesuffix(" (deleted)")
            proc = processes.parse(
                pid,
                parts[3],
                int(parts[1]) if parts[1].lstrip("-").isdigit() else -1,
                base64.b64decode(parts[2]),
                exe,
                links.get(f"/proc/{pid}/cwd", "") if exe else "",
                frozenset(sockets.get(pid, ())) if exe else frozenset(),
                self._ticks,
            )
            if proc is not None:
                table[pid] = proc
        # the agent and what it ran to answer are the recorder's, not the deployment's
        mine = {self.agent_pid}
        for pid in sorted(table, key=lambda p: table[p].start):
            if table[pid].ppid in mine:
                mine.add(pid)
        return {pid: p for pid, p in table.items() if pid not in mine or pid == self.agent_pid}

    def now(self) -> float:
        return processes.now() + self._clock

    def alive(self, pid: int) -> bool:
        return self._request("alive", str(pid)).get("alive", b"").strip() == b"yes"

    def read_file(self, path: str, limit: int) -> bytes | None:
        answer = self._request("read", path, str(limit))
        if "data" in answer:
            return answer["data"]
        if "large" in answer:
            return None
        raise FileNotFoundError(2, "No such file or directory", path)

    def stream(self, path: str):
        data = self.read_file(path, 1 << 62)
        yield data or b""

    def which(self, name: str, path: str) -> str | None:
        found = self._request("which", path, name).get("which", b"").decode().strip()
        return found or None

    def isfile(self, path: str) -> bool:
        return bool({"data", "large"} & set(self._request("read", path, "0")))

    def read_text(self, path: str) -> str:
        """A small text file of the host (a unit, an environment file); OSError when there is none."""
        data = self.read_file(path, 1 << 20)
        if data is None:
            raise OSError(27, "File too large", path)
        return data.decode("utf-8")

    def realpath(self, path: str) -> str:
        return path  # one more round trip per program for a rare alternatives link: not taken

    def shipped(self, path: str) -> tuple[str, str, str] | None:
        words = self._request("shipped", path).get("shipped", b"").decode().split()
        return (words[0], words[1], words[2]) if len(words) == 3 else None

    def owner(self, path: str) -> str | None:
        found = self._request("owner", path).get("owner", b"").decode().strip()
        return found.split(",")[0].split(":")[0] or None

    def reach(self, address: str, port: int) -> tuple[str, int]:
        """A local port forwarded over the master connection to the host's address:port."""
        key = (address, port)
        if key not in self._forwards:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                local = s.getsockname()[1]
            target = f"[{address}]" if ":" in address else address
            subprocess.run(
                [*self.ssh, "-O", "forward", "-L", f"127.0.0.1:{local}:{target}:{port}", self.destination],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
            )
            self._forwards[key] = local
        return "127.0.0.1", self._forwards[key]

    def hostname(self) -> str:
        return self._hostname


def parse_find(data: bytes) -> dict[str, Entry]:
    """`find -printf '%y %m %U %G %s %T@ %i %C@ %p\\0%l\\0'` -> path -> Entry (as probes.FileProbe makes)."""
    out: dict[str, Entry] = {}
    fields = data.split(b"\0")
    kinds = {"f": "file", "d": "dir", "l": "symlink"}
    for head, link in zip(fields[0::2], fields[1::2], strict=False):
        parts = head.decode("utf-8", "surrogateescape").split(" ", 8)
        if len(parts) != 9 or parts[0] not in kinds:
            continue
        kind, mode, uid, gid, size, mtime, ino, ctime, path = parts
        out[path] = Entry(
            kinds[kind],
            int(mode, 8),
            int(uid),
            int(gid),
            int(size),
            _ns(mtime),
            int(ino),
            link.decode("utf-8", "surrogateescape") if kind == "l" else None,
            _ns(ctime),
        )
    return out


def _ns(seconds: str) -> int:
    whole, _, fraction = seconds.partition(".")
    return int(whole) * 1_000_000_000 + int((fraction + "000000000")[:9])


def _visible(paths, ignored) -> set[str]:
    """The paths a walk that skips ignored directories would meet."""
    hidden: list[str] = []
    out = set()
    for path in sorted(paths):
        if hidden and path.startswith(tuple(hidden)):
            continue
        if ignored(path):
            hidden.append(path + "/")
            continue
        out.add(path)
    return out


class RemoteFiles:
    """The watched roots compared walk to walk (the host has no inotify tools to lean on): what
    FileWatcher answers, from the stat entries the agent lists after each command."""

    def __init__(self, probe: probes.FileProbe, source):
        self.probe = probe
        self.source = source  # the listing taken after the command that just finished
        self.entries: dict[str, Entry] = {}
        self.known: set[str] = set()

    def start(self, listing: bytes) -> None:
        self.entries = self._parse(listing)
        self.known = {p for p, e in self.entries.items() if e.kind != "dir"}

    def _parse(self, listing: bytes) -> dict[str, Entry]:
        entries = parse_find(listing)
        keep = _visible(entries, self.probe.ignored)
        return {p: e for p, e in entries.items() if p in keep}

    def changes(self) -> tuple[dict[str, Entry], list[str]]:
        listing = self.source()
        if listing is None:  # the agent's listing is the one before, byte for byte
            return {}, []
        now = self._parse(listing)
        changed: dict[str, Entry] = {}
        for path, entry in sorted(now.items()):
            before = self.entries.get(path)
            if entry.kind == "dir":
                if (
                    before is None
                    or before.kind != "dir"
                    or (before.mode, before.uid, before.gid)
                    != (
                        entry.mode,
                        entry.uid,
                        entry.gid,
                    )
                ):
                    changed[path] = entry
            elif before != entry:
                changed[path] = entry
        deleted = sorted(p for p in self.entries if p not in now)
        self.entries = now
        self.known = {p for p, e in now.items() if e.kind != "dir"}
        return changed, deleted

    def close(self) -> None:
        pass


class RemoteSystemDirs:
    """SystemDirs from the agent's listing of directories under /run, /var/lib ... a few levels deep."""

    def __init__(self, ignored, source):
        from recorder.capture.filewatch import SYSTEM_OWN

        self.source = source
        self.ignored = lambda path: path.startswith(SYSTEM_OWN) or ignored(path)
        self.states: dict[str, tuple[int, int, int]] = {}
        self.entries: dict[str, Entry] = {}

    def parse(self, data: bytes) -> dict[str, tuple[int, int, int]]:
        found: dict[str, tuple[int, int, int]] = {}
        self.entries = {}
        for record in data.split(b"\0"):
            parts = record.decode("utf-8", "surrogateescape").split(" ", 3)
            if len(parts) == 4 and parts[0].isdigit() and self._within(parts[3]):
                found[parts[3]] = (int(parts[0], 8), int(parts[1]), int(parts[2]))
        keep = _visible(found, self.ignored)
        found = {p: s for p, s in found.items() if p in keep}
        self.entries = {p: Entry("dir", m, u, g, 0, 0, 0) for p, (m, u, g) in found.items()}
        return found

    @staticmethod
    def _within(path: str) -> bool:
        """At most as deep below its root as SystemDirs looks (the agent walks all as deep as the deepest)."""
        from recorder.capture.filewatch import SYSTEM_DIRS

        for root, levels in SYSTEM_DIRS.items():
            if path.startswith(root + "/"):
                return path[len(root) + 1 :].count("/") < levels
        return False

    def changes(self) -> dict[str, Entry]:
        now = self.parse(self.source())
        changed = {p: self.entries[p] for p, state in sorted(now.items()) if self.states.get(p) != state}
        self.states = now
        return changed


class RemoteDpkg:
    """DpkgProbe over the agent: the stamps come with each command's observation; the files are
    fetched only when they changed."""

    def __init__(self, host: SshHost):
        self.host = host
        self._stamp: bytes | None = None
        self._state = DpkgState({}, frozenset())

    @property
    def available(self) -> bool:
        return bool(self.host.dpkg_stamp)

    def snapshot(self) -> DpkgState:
        stamp = self.host.dpkg_stamp
        if stamp is None or stamp != self._stamp:
            self._stamp = stamp
            answer = self.host._request("dpkg")
            versions, base = dpkg_status(answer.get("status", b"").decode("utf-8", "replace"))
            auto = set()
            for para in answer.get("extended", b"").decode("utf-8", "replace").split("\n\n"):
                fields = deb822(para)
                if fields.get("Auto-Installed") == "1" and "Package" in fields:
                    auto.add(fields["Package"])
            self._state = DpkgState(versions, frozenset(auto), frozenset(base))
        return self._state


class RemoteRpm(probes.RpmProbe):
    """RpmProbe through the agent: the database files' stamps come with each command's listing (a
    command that wrote no package costs nothing more), and rpm runs on the host only when they changed."""

    def __init__(self, host: SshHost):
        self.host = host
        super().__init__()

    def _which_rpm(self) -> str | None:
        return self.host.rpm_path  # the agent looked when it started

    def query(self, args: list[str]) -> subprocess.CompletedProcess | None:
        answer = self.host._request("rpm", *args)
        status = answer.get("status", b"").strip()
        if not status.isdigit():
            return None
        out, err = (answer.get(k, b"").decode("utf-8", "replace") for k in ("out", "err"))
        return subprocess.CompletedProcess(["rpm", *args], int(status), out, err)

    def stamp(self) -> tuple:
        return self.host.stamp(self.files)


class RemoteOwners:
    """DpkgOwners answered by the host's dpkg-query and md5sum."""

    def __init__(self, host: SshHost):
        self.host = host
        self._owners: dict[str, str | None] = {}

    def owner(self, path: str) -> str | None:
        if path not in self._owners:
            self._owners[path] = self.host.owner(path)
        return self._owners[path]

    def unchanged_from_package(self, path: str) -> bool:
        found = self.host.shipped(path)
        return found is not None and found[1] != "-" and found[1] == found[2]
