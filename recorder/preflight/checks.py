"""Can this host be a Kubernetes node? The migration guide's node requirements, and what kubeadm's
own preflight checks (cgroup version, kernel settings, container runtime), checked.

Everything is read from files under a root directory (/proc, /sys, /etc, /run), so the same code
checks the live host, a mounted disk image, or a fake tree in tests; only the firewall rules, which
are kernel state, come from `iptables-save` and only for the live host. Thresholds, severities,
ports and socket paths come from a data file (preflight.yaml beside this module, or the user's copy).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from recorder.capture import probes
from recorder.errors import RecorderError
from recorder.preflight import firewall

DEFAULT_CONFIG = Path(__file__).with_name("preflight.yaml")
REPORT_FORMAT = "record-preflight"
REPORT_VERSION = 1
PASS, WARN, FAIL = "pass", "warn", "fail"
SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}
ZERO_MAC = "00:00:00:00:00:00"
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5,19}$")


# ---------------------------------------------------------------- the data file


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int
    use: str

    @property
    def label(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Sysctl:
    name: str  # net.ipv4.ip_forward
    want: str
    module: str  # the kernel module that provides it; "" when the kernel has it built in
    when_not: str

    @property
    def path(self) -> str:
        return "/proc/sys/" + self.name.replace(".", "/")


@dataclass(frozen=True)
class Config:
    named_os: tuple[tuple[str, str], ...]
    min_cpus: int
    min_memory_mib: int
    swap_on: str
    cgroup_v1: str
    sysctls: tuple[Sysctl, ...]
    selinux_enforcing: str
    runtimes: tuple[tuple[str, tuple[str, ...]], ...]  # (runtime, its CRI socket paths)
    runtime_none: str
    runtime_several: str
    port_blocked: str
    ports: tuple[PortRange, ...]


def load_config(path: Path = DEFAULT_CONFIG) -> Config:
    """The thresholds and ports to check, with one-line errors that name the file and the key."""
    try:
        doc = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecorderError(f"{path}: cannot read ({exc.strerror})") from None
    except (YAMLError, UnicodeDecodeError) as exc:
        raise RecorderError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None

    def fail(where: str, message: str) -> RecorderError:
        return RecorderError(f"{path}: {where}: {message}")

    def section(key: str) -> dict:
        value = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(value, dict):
            raise fail(key, "expected a mapping")
        return value

    def number(where: str, node: dict, key: str) -> int:
        value = node.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(f"{where}.{key}", "expected a whole number >= 0")
        return value

    def severity(where: str, node: dict, key: str, allowed: tuple[str, ...]) -> str:
        value = node.get(key)
        if value not in allowed:
            raise fail(f"{where}.{key}", f"expected one of {', '.join(allowed)}")
        return value

    def kernel_settings() -> tuple[Sysctl, ...]:
        entries = doc.get("sysctls")
        if not isinstance(entries, list):
            raise fail("sysctls", "expected a list of {name, want, module, when_not}")
        settings = []
        for i, entry in enumerate(entries):
            where = f"sysctls[{i}]"
            entry = entry if isinstance(entry, dict) else {}
            name, module = str(entry.get("name", "")), str(entry.get("module") or "")
            if not re.fullmatch(r"[a-z0-9_-]+(\.[a-z0-9_-]+)+", name):
                raise fail(f"{where}.name", f"`{name}` is not a sysctl name like net.ipv4.ip_forward")
            if entry.get("want") is None or not re.fullmatch(r"\w*", module):
                raise fail(where, "expected {name: NAME, want: VALUE, module: KERNEL_MODULE (optional), when_not}")
            settings.append(Sysctl(name, str(entry["want"]), module, severity(where, entry, "when_not", (WARN, FAIL))))
        return tuple(settings)

    def runtime_sockets(node: dict) -> tuple[tuple[str, tuple[str, ...]], ...]:
        sockets = node.get("sockets")
        if not isinstance(sockets, dict) or not sockets:
            raise fail("container_runtime.sockets", "expected a mapping of runtime name to socket paths")
        for name, paths in sockets.items():
            if not isinstance(paths, list) or not paths or not all(str(p).startswith("/") for p in paths):
                raise fail(f"container_runtime.sockets.{name}", "expected a list of absolute paths")
        return tuple((str(name), tuple(str(p) for p in paths)) for name, paths in sockets.items())

    if not isinstance(doc, dict):
        raise RecorderError(
            f"{path}: expected a mapping with os, cpus, memory, swap, cgroup, sysctls, selinux, "
            "container_runtime, firewall and ports"
        )
    named = section("os").get("named")
    if not isinstance(named, list):
        raise fail("os.named", "expected a list of {id, version}")
    systems = []
    for i, entry in enumerate(named):
        if not isinstance(entry, dict) or not entry.get("id"):
            raise fail(f"os.named[{i}]", "expected {id: NAME, version: MAJOR}")
        systems.append((str(entry["id"]), str(entry.get("version", ""))))
    ports = doc.get("ports")
    if not isinstance(ports, list) or not ports:
        raise fail("ports", "expected a list of {ports: N or FIRST-LAST, for: TEXT}")
    ranges = []
    for i, entry in enumerate(ports):
        text = str(entry.get("ports", "")) if isinstance(entry, dict) else ""
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
        first, last = (int(match[1]), int(match[2] or match[1])) if match else (0, 0)
        if not match or not 0 < first <= last < 65536:
            raise fail(f"ports[{i}].ports", f"`{text}` is not a port or a range like 2379-2380")
        ranges.append(PortRange(first, last, str(entry.get("for", ""))))
    return Config(
        named_os=tuple(systems),
        min_cpus=number("cpus", section("cpus"), "min"),
        min_memory_mib=number("memory", section("memory"), "min_mib"),
        swap_on=severity("swap", section("swap"), "when_on", (PASS, WARN, FAIL)),
        cgroup_v1=severity("cgroup", section("cgroup"), "when_v1", (WARN, FAIL)),
        sysctls=kernel_settings(),
        selinux_enforcing=severity("selinux", section("selinux"), "when_enforcing", (PASS, WARN, FAIL)),
        runtimes=runtime_sockets(runtime := section("container_runtime")),
        runtime_none=severity("container_runtime", runtime, "when_none", (WARN, FAIL)),
        runtime_several=severity("container_runtime", runtime, "when_several", (PASS, WARN, FAIL)),
        port_blocked=severity("firewall", section("firewall"), "when_blocked", (WARN, FAIL)),
        ports=tuple(ranges),
    )


# ---------------------------------------------------------------- the report


@dataclass
class Check:
    check: str
    status: str
    detail: str


@dataclass
class Report:
    hostname: str
    os: dict[str, str]
    cpus: int | None
    memory_mib: int | None
    swap_mib: int | None
    macs: dict[str, str]  # interface -> MAC address
    product_uuid: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=SEVERITY.__getitem__, default=PASS)

    def to_json(self) -> str:
        data = {"format": REPORT_FORMAT, "version": REPORT_VERSION, **asdict(self), "status": self.status}
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


def read_report(path: Path) -> Report:
    """A report written by `record preflight --json`, checked enough to compare it with others."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecorderError(f"{path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecorderError(f"{path}: not a JSON report from `record preflight --json` ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise RecorderError(f'{path}: not a report from `record preflight --json` (no "format": "{REPORT_FORMAT}")')
    if data.get("version") != REPORT_VERSION:
        raise RecorderError(f"{path}: report version {data.get('version')!r} is not supported (expected 1)")
    macs, uuid, hostname = data.get("macs"), data.get("product_uuid"), data.get("hostname")
    if not isinstance(macs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in macs.items()):
        raise RecorderError(f"{path}: `macs` must map interface names to MAC addresses")
    if uuid is not None and not isinstance(uuid, str):
        raise RecorderError(f"{path}: `product_uuid` must be a string or null")
    if not isinstance(hostname, str):
        raise RecorderError(f"{path}: `hostname` must be a string")
    checks = data.get("checks") if isinstance(data.get("checks"), list) else []
    return Report(
        hostname=hostname,
        os=data.get("os") if isinstance(data.get("os"), dict) else {},
        cpus=data.get("cpus"),
        memory_mib=data.get("memory_mib"),
        swap_mib=data.get("swap_mib"),
        macs=macs,
        product_uuid=uuid,
        checks=[Check(**c) for c in checks if isinstance(c, dict) and set(c) == {"check", "status", "detail"}],
    )


@dataclass(frozen=True)
class Collision:
    what: str  # MAC address | product_uuid | hostname
    value: str
    hosts: tuple[str, ...]  # "file (hostname, interface)"


def compare(reports: list[tuple[str, Report]]) -> list[Collision]:
    """Identities that two or more hosts share; a cluster needs each of them unique per node."""
    seen: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (what, value) -> [(report, where in it)]
    for name, report in reports:
        for iface, mac in sorted(report.macs.items()):
            seen.setdefault(("MAC address", mac.lower()), []).append((name, f"{name} ({report.hostname}, {iface})"))
        if report.product_uuid:
            seen.setdefault(("product_uuid", report.product_uuid.lower()), []).append(
                (name, f"{name} ({report.hostname})")
            )
        if report.hostname:
            seen.setdefault(("hostname", report.hostname.lower()), []).append((name, name))
    return [
        Collision(what, value, tuple(label for _, label in found))
        for (what, value), found in sorted(seen.items())
        if len({name for name, _ in found}) > 1  # one host may show a MAC twice (bonded cards)
    ]


# ---------------------------------------------------------------- reading the host


class _Tree:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> str | None:
        try:
            return self.path(absolute).read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def is_socket(self, absolute: str) -> bool:
        try:
            return self.path(absolute).is_socket()
        except PermissionError:  # in a directory closed to this user: not one we can use either
            return False


def _cpu_count(tree: _Tree) -> int | None:
    online = tree.read("/sys/devices/system/cpu/online")
    if online and online.strip():
        count = 0
        for part in online.strip().split(","):
            first, _, last = part.partition("-")
            count += int(last or first) - int(first) + 1
        return count
    cpuinfo = tree.read("/proc/cpuinfo")
    if cpuinfo is None:
        return None
    return sum(1 for line in cpuinfo.splitlines() if re.match(r"processor\s*:", line)) or None


def _meminfo(tree: _Tree) -> dict[str, int]:
    values = {}
    for line in (tree.read("/proc/meminfo") or "").splitlines():
        match = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if match:
            values[match[1]] = int(match[2]) // 1024
    return values


def _macs(tree: _Tree) -> dict[str, str]:
    """MAC addresses of the network cards (interfaces backed by a device); of every interface but
    loopback when there is no card (a container's veth). Bridges and veths of a container engine get
    random addresses that say nothing about the host."""
    found, cards = {}, set()
    net = tree.path("/sys/class/net")
    if not net.is_dir():
        return found
    for iface in sorted(p.name for p in net.iterdir()):
        address = (tree.read(f"/sys/class/net/{iface}/address") or "").strip().lower()
        if iface != "lo" and MAC.match(address) and address != ZERO_MAC:
            found[iface] = address
            if tree.path(f"/sys/class/net/{iface}/device").exists():
                cards.add(iface)
    return {i: m for i, m in found.items() if i in cards} if cards else found


def _product_uuid(tree: _Tree) -> tuple[str | None, str]:
    try:
        text = tree.path("/sys/class/dmi/id/product_uuid").read_text(encoding="ascii", errors="replace").strip()
    except PermissionError:
        return None, "cannot read /sys/class/dmi/id/product_uuid: it is readable by root only"
    except (FileNotFoundError, NotADirectoryError):
        return None, "no /sys/class/dmi/id/product_uuid (no DMI data: a container or a VM without it)"
    return (text, text) if text else (None, "/sys/class/dmi/id/product_uuid is empty")


def _hostname(tree: _Tree) -> str:
    for source in ("/proc/sys/kernel/hostname", "/etc/hostname"):
        text = (tree.read(source) or "").strip()
        if text:
            return text
    return ""


def _spans(ports: list[int]) -> str:
    """2379, 2380, 30000..32767 -> '2379-2380, 30000-32767'."""
    out: list[list[int]] = []
    for p in sorted(ports):
        if out and p == out[-1][1] + 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def inspect(root: Path, config: Config, firewall_rules: str | None, firewall_problem: str = "") -> Report:
    """Check the host whose files are under `root`; `firewall_rules` is its `iptables-save` output,
    or None with `firewall_problem` saying why it could not be read."""
    tree = _Tree(root)
    release = probes.os_release(tree.path("/etc/os-release"))
    memory = _meminfo(tree)
    uuid, uuid_detail = _product_uuid(tree)
    report = Report(
        hostname=_hostname(tree),
        os={k.lower(): release.get(k, "") for k in ("ID", "VERSION_ID", "PRETTY_NAME")},
        cpus=_cpu_count(tree),
        memory_mib=memory.get("MemTotal"),
        swap_mib=memory.get("SwapTotal"),
        macs=_macs(tree),
        product_uuid=uuid,
    )
    add = report.checks.append
    add(_os_check(release, config))
    if report.cpus is None:
        add(Check("cpus", WARN, "cannot count CPUs: no /sys/devices/system/cpu/online or /proc/cpuinfo"))
    else:
        ok = report.cpus >= config.min_cpus
        add(Check("cpus", PASS if ok else FAIL, f"{report.cpus} (at least {config.min_cpus})"))
    if report.memory_mib is None:
        add(Check("memory", WARN, "cannot read MemTotal from /proc/meminfo"))
    else:
        ok = report.memory_mib >= config.min_memory_mib
        add(Check("memory", PASS if ok else FAIL, f"{report.memory_mib} MiB (at least {config.min_memory_mib} MiB)"))
    add(_swap_check(report.swap_mib, config))
    add(_cgroup_check(tree, config))
    for sysctl in config.sysctls:
        add(_sysctl_check(tree, sysctl))
    add(_selinux_check(tree, config))
    add(_runtime_check(tree, config))
    add(_ports_check(tree, config))
    add(_firewall_check(config, firewall_rules, firewall_problem))
    if report.macs:
        add(Check("mac addresses", PASS, ", ".join(f"{i} {m}" for i, m in report.macs.items())))
    else:
        add(Check("mac addresses", WARN, "no network interface with a MAC address under /sys/class/net"))
    add(Check("product_uuid", PASS if uuid else WARN, uuid_detail))
    return report


def _os_check(release: dict[str, str], config: Config) -> Check:
    if not release.get("ID"):
        return Check("os", WARN, "no /etc/os-release: the system is unknown")
    name = release.get("PRETTY_NAME") or f"{release['ID']} {release.get('VERSION_ID', '')}".strip()
    major = release.get("VERSION_ID", "").split(".")[0]
    for os_id, version in config.named_os:
        if release["ID"] == os_id and (not version or major == version.split(".")[0]):
            return Check("os", PASS, name)
    named = ", ".join(f"{i} {v}".strip() for i, v in config.named_os)
    return Check("os", WARN, f"{name}: not one the guide names ({named})")


def _swap_check(swap_mib: int | None, config: Config) -> Check:
    """The kubelet refuses to start while swap is on, unless its configuration says otherwise."""
    if swap_mib is None:
        return Check("swap", WARN, "cannot read SwapTotal from /proc/meminfo")
    if not swap_mib:
        return Check("swap", PASS, "off (SwapTotal 0 in /proc/meminfo)")
    return Check(
        "swap",
        config.swap_on,
        f"on ({swap_mib} MiB SwapTotal in /proc/meminfo): the kubelet refuses to start with swap on unless its "
        "configuration sets failSwapOn: false; turn it off with `swapoff -a` and remove it from /etc/fstab",
    )


def _cgroup_check(tree: _Tree, config: Config) -> Check:
    """kubelet 1.35 refuses cgroup v1 by default. Under v2 (the unified hierarchy) the cgroup root
    lists its controllers in cgroup.controllers; under v1 or hybrid it does not."""
    if tree.path("/sys/fs/cgroup/cgroup.controllers").exists():
        return Check("cgroup", PASS, "v2 (/sys/fs/cgroup/cgroup.controllers exists)")
    if not tree.path("/sys/fs/cgroup").is_dir():
        return Check("cgroup", WARN, "cannot tell the cgroup version: no /sys/fs/cgroup")
    return Check(
        "cgroup",
        config.cgroup_v1,
        "v1 (no /sys/fs/cgroup/cgroup.controllers): kubelet 1.35 refuses to start on cgroup v1 unless its "
        "configuration sets failCgroupV1: false; boot the host with cgroup v2 "
        "(systemd.unified_cgroup_hierarchy=1 on the kernel command line)",
    )


def _sysctl_check(tree: _Tree, sysctl: Sysctl) -> Check:
    """A kernel setting the cluster's networking needs, read where `sysctl` reads it. A setting that
    a module provides is missing until the module is loaded, which is then what to do first."""
    keep = f"`sysctl -w {sysctl.name}={sysctl.want}` and set it in /etc/sysctl.d/k8s.conf to keep it after reboot"
    value = tree.read(sysctl.path)
    if value is None:
        built_in = tree.path(sysctl.path).parent.is_dir()  # its directory is there without the module listed
        if sysctl.module and sysctl.module not in _modules(tree) and not built_in:
            return Check(
                sysctl.name,
                sysctl.when_not,
                f"no {sysctl.path}: the {sysctl.module} module is not loaded (not in /proc/modules): "
                f"`modprobe {sysctl.module}` and list it in /etc/modules-load.d/k8s.conf, then {keep}",
            )
        return Check(sysctl.name, sysctl.when_not, f"no {sysctl.path}: {keep}")
    if value.strip() != sysctl.want:
        return Check(sysctl.name, sysctl.when_not, f"{value.strip()} in {sysctl.path}, not {sysctl.want}: {keep}")
    return Check(sysctl.name, PASS, f"{sysctl.want} ({sysctl.path})")


def _modules(tree: _Tree) -> set[str]:
    """Names of the loaded kernel modules (what `lsmod` lists)."""
    return {line.split()[0] for line in (tree.read("/proc/modules") or "").splitlines() if line.strip()}


def _selinux_check(tree: _Tree, config: Config) -> Check:
    """The guide asks for SELinux permissive, so that containers may read the host directories
    mounted into them. The mode now and the one /etc/selinux/config sets for the next boot both count."""
    enforce = (tree.read("/sys/fs/selinux/enforce") or "").strip()
    now = {"": "", "1": "enforcing"}.get(enforce, "permissive")
    at_boot = probes.os_release(tree.path("/etc/selinux/config")).get("SELINUX", "").lower()
    read = [
        f"{now} (/sys/fs/selinux/enforce is {enforce})" if now else "SELinux not enabled (no /sys/fs/selinux/enforce)"
    ]
    if at_boot:
        read.append(f"SELINUX={at_boot} at the next boot (/etc/selinux/config)")
    todo = []
    if now == "enforcing":
        todo.append("`setenforce 0`")
    if at_boot == "enforcing":
        todo.append("SELINUX=permissive in /etc/selinux/config")
    if not todo:
        return Check("selinux", PASS, "; ".join(read))
    detail = f"{'; '.join(read)}: the guide asks for permissive: {' and '.join(todo)}"
    return Check("selinux", config.selinux_enforcing, detail)


def _runtime_check(tree: _Tree, config: Config) -> Check:
    """kubeadm reaches the container runtime through its CRI socket, found at the paths it knows;
    it will not choose when it finds several."""
    found = {}
    for name, paths in config.runtimes:
        socket = next((p for p in paths if tree.is_socket(p)), None)
        if socket:
            found[name] = socket
    listed = ", ".join(f"{name} ({socket})" for name, socket in found.items())
    if not found:
        looked = ", ".join(p for _, paths in config.runtimes for p in paths)
        names = ", ".join(name for name, _ in config.runtimes)
        return Check(
            "container runtime", config.runtime_none, f"no CRI socket at {looked}: install and start one of {names}"
        )
    if len(found) > 1:
        return Check(
            "container runtime",
            config.runtime_several,
            f"several: {listed}: kubeadm will not choose; give it one with --cri-socket unix://PATH "
            "(criSocket in its configuration file)",
        )
    return Check("container runtime", PASS, listed)


def _ports_check(tree: _Tree, config: Config) -> Check:
    """kubeadm's components cannot listen on a port something else holds."""
    listening = probes.listening_ports(tree.path("/proc/net"))
    busy = []
    for r in config.ports:
        taken = [p for p in sorted(listening) if r.first <= p <= r.last]
        if taken:
            busy.append(f"{_spans(taken)} ({r.use})" if r.use else _spans(taken))
    read = "/proc/net/tcp, /proc/net/tcp6"
    if busy:
        return Check("ports free", FAIL, f"in use ({read}): {'; '.join(busy)}: stop what listens there or move it")
    return Check("ports free", PASS, f"nothing listens on {', '.join(r.label for r in config.ports)} ({read})")


def _firewall_check(config: Config, rules: str | None, problem: str) -> Check:
    if rules is None:
        return Check("firewall", WARN, f"not checked: {problem}")
    wanted = [p for r in config.ports for p in range(r.first, r.last + 1)]
    refused = firewall.blocked(rules, wanted)
    if refused:
        return Check("firewall", config.port_blocked, f"refuses {_spans(refused)} (iptables INPUT)")
    return Check("firewall", PASS, "iptables INPUT lets the ports in")
