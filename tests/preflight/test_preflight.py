"""`record preflight`: node requirements checked on fake /proc, /sys and /etc trees and on this machine,
and identity collisions found among reports."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from recorder.errors import RecorderError
from recorder.preflight import checks as preflight
from tests.cli import record

MIB = 1024 * 1024
CENTOS_7 = 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n'
DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
KERNEL_SETTINGS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}
SELINUX_CONFIG = (
    "# This file controls the state of SELinux on the system.\n# SELINUX= can take one of these three values:\n"
    "#     enforcing - SELinux security policy is enforced.\nSELINUX={}\nSELINUXTYPE=targeted\n"
)
TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def fake_host(
    root: Path,
    *,
    hostname: str = "node1",
    os_release: str | None = CENTOS_7,
    cpus_online: str | None = "0-3",
    cpuinfo_cpus: int = 4,
    mem_kb: int = 3_880_000,
    swap_kb: int = 0,
    listening: tuple[int, ...] = (),
    listening6: tuple[int, ...] = (),
    cards: dict[str, str] | None = None,
    virtual: dict[str, str] | None = None,
    product_uuid: str | None = "4c4c4544-0042-3510-8052-b4c04f4e4d32",
    cgroup: str | None = "v2",
    modules: tuple[str, ...] = ("br_netfilter", "bridge", "overlay"),
    sysctls: dict[str, str] = KERNEL_SETTINGS,
    selinux: str | None = "0",
    selinux_at_boot: str | None = "permissive",
    cri_sockets: tuple[str, ...] = ("/run/containerd/containerd.sock",),
    var_run_link: bool = True,
) -> Path:
    """A root directory laid out like a host's /proc, /sys and /etc, in the kernel's own formats."""

    def put(path: str, text: str) -> None:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    put("/proc/sys/kernel/hostname", hostname + "\n")
    if os_release is not None:
        put("/etc/os-release", os_release)
    if cpus_online is not None:
        put("/sys/devices/system/cpu/online", cpus_online + "\n")
    put("/proc/cpuinfo", "".join(f"processor\t: {i}\nvendor_id\t: GenuineIntel\n\n" for i in range(cpuinfo_cpus)))
    put(
        "/proc/meminfo",
        f"MemTotal:       {mem_kb} kB\nMemFree:         1000000 kB\nSwapCached:            0 kB\n"
        f"SwapTotal:       {swap_kb} kB\nSwapFree:        {swap_kb} kB\n",
    )
    rows = [
        f"   {i}: 00000000:{p:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
        for i, p in enumerate(listening)
    ]
    rows.append("  99: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0")  # a connection
    put("/proc/net/tcp", TCP_HEADER + "\n".join(rows) + "\n")
    rows6 = [
        f"   {i}: {'0' * 32}:{p:04X} {'0' * 32}:0000 0A 00000000:00000000 00:00000000 00000000     0"
        for i, p in enumerate(listening6)
    ]
    put("/proc/net/tcp6", TCP_HEADER + "".join(r + "\n" for r in rows6))
    put("/sys/class/net/lo/address", "00:00:00:00:00:00\n")
    for name, mac in (cards if cards is not None else {"eth0": "52:54:00:12:34:56"}).items():
        put(f"/sys/class/net/{name}/address", mac + "\n")
        (root / f"sys/devices/pci0000:00/{name}").mkdir(parents=True)
        (root / f"sys/class/net/{name}/device").symlink_to(root / f"sys/devices/pci0000:00/{name}")
    for name, mac in (virtual or {}).items():
        put(f"/sys/class/net/{name}/address", mac + "\n")
    if product_uuid is not None:
        put("/sys/class/dmi/id/product_uuid", product_uuid + "\n")
    if cgroup == "v2":
        put("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
    elif cgroup == "hybrid":  # systemd's v1 layout, with v2 only for itself under unified/
        for controller in ("cpu,cpuacct", "memory", "pids"):
            put(f"/sys/fs/cgroup/{controller}/cgroup.procs", "1\n")
        put("/sys/fs/cgroup/unified/cgroup.controllers", "\n")
    put("/proc/modules", "".join(f"{m} 32768 0 - Live 0x0000000000000000\n" for m in modules))
    for name, value in sysctls.items():
        put("/proc/sys/" + name.replace(".", "/"), value + "\n")
    if selinux is not None:
        put("/sys/fs/selinux/enforce", selinux)  # the kernel writes no newline here
    if selinux_at_boot is not None:
        put("/etc/selinux/config", SELINUX_CONFIG.format(selinux_at_boot))
    (root / "run").mkdir()
    if var_run_link:
        (root / "var").mkdir(exist_ok=True)
        (root / "var/run").symlink_to("../run")
    for path in cri_sockets:
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        os.mknod(root / path.lstrip("/"), 0o660 | stat.S_IFSOCK)  # a socket, as a runtime leaves it
    return root


def statuses(report: preflight.Report) -> dict[str, str]:
    return {c.check: c.status for c in report.checks}


def details(report: preflight.Report) -> dict[str, str]:
    return {c.check: c.detail for c in report.checks}


NO_RULES = subprocess.run(  # what iptables-save prints in a namespace nobody has set rules in
    ["unshare", "--net", "iptables-save", "-t", "filter"], capture_output=True, text=True, check=True
).stdout


# ---------------------------------------------------------------- fake trees


def test_a_centos_7_node_that_meets_every_requirement_passes(tmp_path):
    report = preflight.inspect(fake_host(tmp_path), preflight.load_config(), NO_RULES)
    assert statuses(report) == {
        "os": "pass",
        "cpus": "pass",
        "memory": "pass",
        "swap": "pass",
        "cgroup": "pass",
        "net.ipv4.ip_forward": "pass",
        "net.bridge.bridge-nf-call-iptables": "pass",
        "selinux": "pass",
        "container runtime": "pass",
        "ports free": "pass",
        "firewall": "pass",
        "mac addresses": "pass",
        "product_uuid": "pass",
    }
    assert report.status == "pass"
    assert details(report)["swap"] == "off (SwapTotal 0 in /proc/meminfo)"
    assert details(report)["cgroup"] == "v2 (/sys/fs/cgroup/cgroup.controllers exists)"
    assert details(report)["net.ipv4.ip_forward"] == "1 (/proc/sys/net/ipv4/ip_forward)"
    assert details(report)["net.bridge.bridge-nf-call-iptables"] == "1 (/proc/sys/net/bridge/bridge-nf-call-iptables)"
    assert details(report)["selinux"] == (
        "permissive (/sys/fs/selinux/enforce is 0); SELINUX=permissive at the next boot (/etc/selinux/config)"
    )
    assert details(report)["container runtime"] == "containerd (/var/run/containerd/containerd.sock)"
    assert details(report)["ports free"] == (
        "nothing listens on 6443, 2379-2380, 10250, 10259, 10257, 30000-32767 (/proc/net/tcp, /proc/net/tcp6)"
    )
    assert (report.hostname, report.cpus, report.memory_mib, report.swap_mib) == ("node1", 4, 3_880_000 // 1024, 0)
    assert report.macs == {"eth0": "52:54:00:12:34:56"}
    assert report.product_uuid == "4c4c4544-0042-3510-8052-b4c04f4e4d32"


def test_a_small_host_with_swap_and_busy_ports_fails_and_says_why(tmp_path):
    root = fake_host(
        tmp_path,
        os_release=DEBIAN_12,
        cpus_online="0",
        mem_kb=1_000_000,
        swap_kb=2_097_148,
        listening=(22, 10250),
        listening6=(6443, 30080, 30081, 30082, 32767),
    )
    report = preflight.inspect(root, preflight.load_config(), NO_RULES)
    assert statuses(report)["os"] == "warn"
    assert details(report)["os"] == "Debian GNU/Linux 12 (bookworm): not one the guide names (centos 7, rhel 7)"
    assert (statuses(report)["cpus"], details(report)["cpus"]) == ("fail", "1 (at least 2)")
    assert (statuses(report)["memory"], details(report)["memory"]) == ("fail", "976 MiB (at least 1700 MiB)")
    assert statuses(report)["swap"] == "fail"
    assert details(report)["swap"] == (
        "on (2047 MiB SwapTotal in /proc/meminfo): the kubelet refuses to start with swap on unless its "
        "configuration sets failSwapOn: false; turn it off with `swapoff -a` and remove it from /etc/fstab"
    )
    assert statuses(report)["ports free"] == "fail"
    assert details(report)["ports free"] == (
        "in use (/proc/net/tcp, /proc/net/tcp6): 6443 (Kubernetes API server); 10250 (kubelet API); "
        "30080-30082, 32767 (NodePort services): stop what listens there or move it"
    )
    assert report.status == "fail"


def test_cpus_are_counted_from_cpuinfo_when_sys_does_not_say(tmp_path):
    report = preflight.inspect(fake_host(tmp_path, cpus_online=None, cpuinfo_cpus=3), preflight.load_config(), "")
    assert report.cpus == 3


def test_cpu_ranges_and_lists_are_counted(tmp_path):
    assert preflight.inspect(fake_host(tmp_path, cpus_online="0-1,4,6-7"), preflight.load_config(), "").cpus == 5


def test_only_network_cards_are_reported_when_there_are_any(tmp_path):
    root = fake_host(
        tmp_path,
        cards={"eth0": "52:54:00:AA:00:01", "eth1": "52:54:00:aa:00:02"},
        virtual={"docker0": "02:42:ac:11:00:01", "veth1": "6e:1d:00:00:00:02"},
    )
    assert preflight.inspect(root, preflight.load_config(), "").macs == {
        "eth0": "52:54:00:aa:00:01",
        "eth1": "52:54:00:aa:00:02",
    }


def test_without_a_card_every_interface_but_loopback_is_reported(tmp_path):
    root = fake_host(tmp_path, cards={}, virtual={"eth0": "02:42:ac:11:00:02"})
    report = preflight.inspect(root, preflight.load_config(), "")
    assert report.macs == {"eth0": "02:42:ac:11:00:02"}


def test_missing_identity_and_firewall_are_warnings_not_failures(tmp_path):
    root = fake_host(tmp_path, cards={}, product_uuid=None, os_release=None)
    report = preflight.inspect(root, preflight.load_config(), None, "iptables-save is not installed")
    assert (
        statuses(report)["product_uuid"] == "warn"
        and "no /sys/class/dmi/id/product_uuid" in details(report)["product_uuid"]
    )
    assert statuses(report)["mac addresses"] == "warn"
    assert (statuses(report)["firewall"], details(report)["firewall"]) == (
        "warn",
        "not checked: iptables-save is not installed",
    )
    assert statuses(report)["os"] == "warn"
    assert report.status == "warn"


def test_cgroup_v1_fails_and_says_how_the_kubelet_can_be_told_to_accept_it(tmp_path):
    report = preflight.inspect(fake_host(tmp_path, cgroup="hybrid"), preflight.load_config(), NO_RULES)
    assert statuses(report)["cgroup"] == "fail"
    assert details(report)["cgroup"] == (
        "v1 (no /sys/fs/cgroup/cgroup.controllers): kubelet 1.35 refuses to start on cgroup v1 unless its "
        "configuration sets failCgroupV1: false; boot the host with cgroup v2 "
        "(systemd.unified_cgroup_hierarchy=1 on the kernel command line)"
    )
    assert report.status == "fail"


def test_no_cgroup_tree_is_a_warning(tmp_path):
    report = preflight.inspect(fake_host(tmp_path, cgroup=None), preflight.load_config(), NO_RULES)
    assert (statuses(report)["cgroup"], details(report)["cgroup"]) == (
        "warn",
        "cannot tell the cgroup version: no /sys/fs/cgroup",
    )


KEEP_FORWARD = "`sysctl -w net.ipv4.ip_forward=1` and set it in /etc/sysctl.d/k8s.conf to keep it after reboot"
KEEP_BRIDGE = (
    "`sysctl -w net.bridge.bridge-nf-call-iptables=1` and set it in /etc/sysctl.d/k8s.conf to keep it after reboot"
)


@pytest.mark.parametrize(
    "facts, check, status, detail",
    [
        (
            {"sysctls": {**KERNEL_SETTINGS, "net.ipv4.ip_forward": "0"}},
            "net.ipv4.ip_forward",
            "fail",
            f"0 in /proc/sys/net/ipv4/ip_forward, not 1: {KEEP_FORWARD}",
        ),
        (
            {"sysctls": {"net.bridge.bridge-nf-call-iptables": "1"}},
            "net.ipv4.ip_forward",
            "fail",
            f"no /proc/sys/net/ipv4/ip_forward: {KEEP_FORWARD}",
        ),
        (
            {"modules": ("overlay",), "sysctls": {"net.ipv4.ip_forward": "1"}},
            "net.bridge.bridge-nf-call-iptables",
            "warn",
            "no /proc/sys/net/bridge/bridge-nf-call-iptables: the br_netfilter module is not loaded (not in "
            "/proc/modules): `modprobe br_netfilter` and list it in /etc/modules-load.d/k8s.conf, then " + KEEP_BRIDGE,
        ),
        (
            {"sysctls": {**KERNEL_SETTINGS, "net.bridge.bridge-nf-call-iptables": "0"}},
            "net.bridge.bridge-nf-call-iptables",
            "warn",
            f"0 in /proc/sys/net/bridge/bridge-nf-call-iptables, not 1: {KEEP_BRIDGE}",
        ),
        (  # br_netfilter built into the kernel: not a module, but its settings are there
            {"modules": (), "sysctls": KERNEL_SETTINGS},
            "net.bridge.bridge-nf-call-iptables",
            "pass",
            "1 (/proc/sys/net/bridge/bridge-nf-call-iptables)",
        ),
    ],
)
def test_kernel_settings_kubeadm_and_the_network_need(tmp_path, facts, check, status, detail):
    report = preflight.inspect(fake_host(tmp_path, **facts), preflight.load_config(), NO_RULES)
    assert (statuses(report)[check], details(report)[check]) == (status, detail)
    assert report.status == status


NOW_ENFORCING = "enforcing (/sys/fs/selinux/enforce is 1)"
NOW_PERMISSIVE = "permissive (/sys/fs/selinux/enforce is 0)"
NOT_ENABLED = "SELinux not enabled (no /sys/fs/selinux/enforce)"
ASKS = "the guide asks for permissive:"


@pytest.mark.parametrize(
    "now, at_boot, status, detail",
    [
        (
            "1",
            "enforcing",
            "warn",
            f"{NOW_ENFORCING}; SELINUX=enforcing at the next boot (/etc/selinux/config): "
            f"{ASKS} `setenforce 0` and SELINUX=permissive in /etc/selinux/config",
        ),
        (
            "1",
            "permissive",
            "warn",
            f"{NOW_ENFORCING}; SELINUX=permissive at the next boot (/etc/selinux/config): {ASKS} `setenforce 0`",
        ),
        (
            "0",
            "enforcing",
            "warn",
            f"{NOW_PERMISSIVE}; SELINUX=enforcing at the next boot (/etc/selinux/config): "
            f"{ASKS} SELINUX=permissive in /etc/selinux/config",
        ),
        ("0", None, "pass", NOW_PERMISSIVE),
        (None, None, "pass", NOT_ENABLED),
        (None, "disabled", "pass", f"{NOT_ENABLED}; SELINUX=disabled at the next boot (/etc/selinux/config)"),
    ],
)
def test_selinux_enforcing_now_or_at_the_next_boot_is_a_warning(tmp_path, now, at_boot, status, detail):
    report = preflight.inspect(
        fake_host(tmp_path, selinux=now, selinux_at_boot=at_boot), preflight.load_config(), NO_RULES
    )
    assert (statuses(report)["selinux"], details(report)["selinux"]) == (status, detail)
    assert report.status == status


NO_RUNTIME = (
    "no CRI socket at /var/run/containerd/containerd.sock, /run/containerd/containerd.sock, "
    "/var/run/crio/crio.sock, /var/run/cri-dockerd.sock: install and start one of containerd, CRI-O, cri-dockerd"
)


@pytest.mark.parametrize(
    "facts, status, detail",
    [
        ({"cri_sockets": ()}, "fail", NO_RUNTIME),
        ({"cri_sockets": ("/run/crio/crio.sock",)}, "pass", "CRI-O (/var/run/crio/crio.sock)"),
        ({"cri_sockets": ("/run/cri-dockerd.sock",)}, "pass", "cri-dockerd (/var/run/cri-dockerd.sock)"),
        (  # /var/run a directory of its own: kubeadm's /var/run path is empty, /run's is found
            {"var_run_link": False},
            "pass",
            "containerd (/run/containerd/containerd.sock)",
        ),
        (
            {"cri_sockets": ("/run/containerd/containerd.sock", "/run/crio/crio.sock")},
            "warn",
            "several: containerd (/var/run/containerd/containerd.sock), CRI-O (/var/run/crio/crio.sock): kubeadm "
            "will not choose; give it one with --cri-socket unix://PATH (criSocket in its configuration file)",
        ),
    ],
)
def test_a_container_runtime_is_found_by_its_cri_socket(tmp_path, facts, status, detail):
    report = preflight.inspect(fake_host(tmp_path, **facts), preflight.load_config(), NO_RULES)
    assert (statuses(report)["container runtime"], details(report)["container runtime"]) == (status, detail)
    assert report.status == status


def test_a_plain_file_where_the_socket_belongs_is_no_runtime(tmp_path):
    root = fake_host(tmp_path, cri_sockets=())
    (root / "run/containerd").mkdir()
    (root / "run/containerd/containerd.sock").write_text("")  # copied from an image, say: no runtime listens
    report = preflight.inspect(root, preflight.load_config(), NO_RULES)
    assert (statuses(report)["container runtime"], details(report)["container runtime"]) == ("fail", NO_RUNTIME)


def test_thresholds_come_from_the_data_file(tmp_path):
    root = fake_host(
        tmp_path / "host",
        cpus_online="0",
        swap_kb=1024,
        cgroup="hybrid",
        modules=(),
        sysctls={},
        selinux="1",
        cri_sockets=(),
    )
    config = tmp_path / "preflight.yaml"
    text = preflight.DEFAULT_CONFIG.read_text()
    changes = {
        "min: 2": "min: 1",
        "when_on: fail": "when_on: warn",
        "when_v1: fail": "when_v1: warn",
        "module: br_netfilter, when_not: warn": "module: br_netfilter, when_not: fail",
        "when_enforcing: warn": "when_enforcing: fail",
        "when_none: fail": "when_none: warn",
    }
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    report = preflight.inspect(root, preflight.load_config(config), "")
    assert (statuses(report)["cpus"], statuses(report)["swap"], statuses(report)["cgroup"]) == ("pass", "warn", "warn")
    assert statuses(report)["net.bridge.bridge-nf-call-iptables"] == statuses(report)["selinux"] == "fail"
    assert statuses(report)["container runtime"] == "warn"


def test_the_shipped_data_file_holds_the_guides_requirements():
    config = preflight.load_config()
    assert (config.min_cpus, config.named_os) == (2, (("centos", "7"), ("rhel", "7")))
    assert [r.label for r in config.ports] == ["6443", "2379-2380", "10250", "10259", "10257", "30000-32767"]


@pytest.mark.parametrize(
    "change, message",
    [
        (("min: 2", "min: two"), "cpus.min: expected a whole number >= 0"),
        (('"2379-2380"', '"2380-2379"'), "ports[1].ports: `2380-2379` is not a port or a range like 2379-2380"),
        (("when_on: fail", "when_on: maybe"), "swap.when_on: expected one of pass, warn, fail"),
        (("when_v1: fail", "when_v1: pass"), "cgroup.when_v1: expected one of warn, fail"),
        (
            ("name: net.ipv4.ip_forward", "name: ../../etc/shadow"),
            "sysctls[0].name: `../../etc/shadow` is not a sysctl name like net.ipv4.ip_forward",
        ),
        (
            ("CRI-O: [/var/run/crio/crio.sock]", "CRI-O: [crio.sock]"),
            "container_runtime.sockets.CRI-O: expected a list of absolute paths",
        ),
        (("cpus:", "cpus: [\n"), "not valid YAML"),
    ],
)
def test_a_broken_data_file_is_named_with_what_is_wrong(tmp_path, change, message):
    config = tmp_path / "preflight.yaml"
    config.write_text(preflight.DEFAULT_CONFIG.read_text().replace(*change))
    with pytest.raises(RecorderError) as caught:
        preflight.load_config(config)
    assert str(caught.value).startswith(f"{config}: ") and message in str(caught.value)


def test_cli_on_a_fake_root_prints_a_table_and_exits_1_on_failure(tmp_path):
    root = fake_host(tmp_path, listening=(6443,))
    result = record("preflight", "--root", str(root))
    assert result.returncode == 1
    assert "ports free" in result.stdout and "fail" in result.stdout and "6443" in result.stdout
    assert "not checked: firewall rules are kernel state" in " ".join(result.stdout.replace("│", " ").split())


def test_cli_bad_data_file_is_one_line_exit_2(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text("os: {named: []}\nports: [{ports: '6443'}]\n")
    result = record("preflight", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == f"record: error: {config}: cpus: expected a mapping\n"


# ---------------------------------------------------------------- this machine


@pytest.fixture
def busy_node_port():
    """A socket listening on a port of the NodePort range (below Linux's ephemeral range, so free here)."""
    for port in range(32767, 30000, -1):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen()
        yield port
        sock.close()
        return
    pytest.fail("no free port in 30000-32767")


def test_this_machine_is_read_as_it_is(busy_node_port):
    result = record("preflight", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1  # the port this test holds open fails the check
    checks = {c["check"]: c for c in report["checks"]}
    assert report["os"]["id"] == platform.freedesktop_os_release()["ID"]
    assert report["hostname"] == socket.gethostname()
    assert report["cpus"] == os.cpu_count()
    assert report["memory_mib"] == psutil.virtual_memory().total // MIB
    assert report["swap_mib"] == psutil.swap_memory().total // MIB
    cards = {
        name: a.address for name, addrs in psutil.net_if_addrs().items() for a in addrs if a.family == psutil.AF_LINK
    }
    assert report["macs"] and all(cards[name] == mac for name, mac in report["macs"].items())
    assert checks["ports free"]["status"] == "fail" and str(busy_node_port) in checks["ports free"]["detail"]
    uuid_file = Path("/sys/class/dmi/id/product_uuid")
    assert report["product_uuid"] == (uuid_file.read_text().strip() if uuid_file.exists() else None)
    assert checks["firewall"]["detail"].startswith("iptables INPUT")  # as root the live rules are read
    assert checks["cgroup"]["detail"].startswith("v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1")


def test_this_machine_in_a_namespace_whose_firewall_refuses_cluster_ports(tmp_path):
    script = (
        "iptables -P INPUT DROP\n"
        "iptables -A INPUT -p tcp --dport 6443 -j ACCEPT\n"
        "iptables -A INPUT -p tcp -m multiport --dports 2379:2380,10250,10257,10259 -j ACCEPT\n"
        f"exec {sys.executable} -m recorder preflight --json"
    )
    result = subprocess.run(["unshare", "--net", "sh", "-ec", script], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["firewall"] == {
        "check": "firewall",
        "status": "fail",
        "detail": "refuses 30000-32767 (iptables INPUT)",
    }
    assert checks["ports free"]["status"] == "pass"  # a new namespace has no sockets


# ---------------------------------------------------------------- comparing hosts


def reports(tmp_path: Path, hosts: dict[str, dict], cli: bool = False) -> list[str]:
    """One report per fake host, written as `record preflight --root ... --json` writes it (`cli`: by it)."""
    files = []
    for name, facts in hosts.items():
        root = fake_host(tmp_path / name, hostname=name, **facts)
        if cli:
            result = record("preflight", "--root", str(root), "--json")
            assert result.returncode == 0, result.stderr
            text = result.stdout
        else:
            text = preflight.inspect(root, preflight.load_config(), NO_RULES).to_json()
        (tmp_path / f"{name}.json").write_text(text)
        files.append(str(tmp_path / f"{name}.json"))
    return files


def test_cloned_hosts_collide_on_mac_and_product_uuid(tmp_path):
    files = reports(
        tmp_path,
        {
            "node1": {"cards": {"eth0": "52:54:00:00:00:01"}, "product_uuid": "AAAA-1"},
            "node2": {"cards": {"eth0": "52:54:00:00:00:01"}, "product_uuid": "aaaa-2"},  # cloned: same MAC
            "node3": {"cards": {"eth0": "52:54:00:00:00:03"}, "product_uuid": "aaaa-1"},  # same uuid as node1
        },
        cli=True,
    )
    result = record("preflight", "--compare", *files, "--json")
    assert result.returncode == 1
    collisions = json.loads(result.stdout)["collisions"]
    assert collisions == [
        {
            "what": "MAC address",
            "value": "52:54:00:00:00:01",
            "hosts": [f"{files[0]} (node1, eth0)", f"{files[1]} (node2, eth0)"],
        },
        {"what": "product_uuid", "value": "aaaa-1", "hosts": [f"{files[0]} (node1)", f"{files[2]} (node3)"]},
    ]
    table = record("preflight", "--compare", *files)
    assert table.returncode == 1 and "2 collisions among 3 hosts" in table.stdout


def test_distinct_hosts_do_not_collide(tmp_path):
    files = reports(
        tmp_path,
        {
            "node1": {"cards": {"eth0": "52:54:00:00:00:01"}, "product_uuid": "u-1"},
            "node2": {"cards": {"eth0": "52:54:00:00:00:02"}, "product_uuid": None},
        },
    )
    result = record("preflight", "--compare", *files)
    assert result.returncode == 0
    assert "no collisions among 2 hosts" in result.stdout


def test_the_same_hostname_twice_is_a_collision(tmp_path):
    first = reports(tmp_path / "a", {"node1": {"cards": {"eth0": "52:54:00:00:00:01"}}})
    second = reports(tmp_path / "b", {"node1": {"cards": {"eth0": "52:54:00:00:00:02"}, "product_uuid": "other"}})
    collisions = preflight.compare([(f, preflight.read_report(Path(f))) for f in first + second])
    assert [(c.what, c.value) for c in collisions] == [("hostname", "node1")]


def test_one_host_showing_a_mac_on_two_bonded_cards_is_no_collision(tmp_path):
    files = reports(
        tmp_path,
        {
            "node1": {"cards": {"eth0": "52:54:00:00:00:01", "eth1": "52:54:00:00:00:01"}},
            "node2": {"cards": {"eth0": "52:54:00:00:00:02"}, "product_uuid": "other"},
        },
    )
    assert preflight.compare([(f, preflight.read_report(Path(f))) for f in files]) == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a JSON report from `record preflight --json`"),
        ('{"format": "other"}', 'not a report from `record preflight --json` (no "format": "record-preflight")'),
        ('{"format": "record-preflight", "version": 1, "hostname": "x", "macs": []}', "`macs` must map interface"),
    ],
)
def test_a_bad_report_is_one_line_exit_2(tmp_path, content, message):
    good = reports(tmp_path, {"node1": {}})[0]
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = record("preflight", "--compare", good, str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"record: error: {bad}: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_compare_needs_two_reports(tmp_path):
    only = reports(tmp_path, {"node1": {}})[0]
    result = record("preflight", "--compare", only)
    assert result.returncode == 2 and "at least two reports" in result.stderr
    stray = record("preflight", only)
    assert stray.returncode == 2 and "only read with --compare" in stray.stderr


def test_help_describes_preflight():
    out = subprocess.run(
        [sys.executable, "-m", "recorder", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("│ preflight "))
    assert "Kubernetes node requirements" in line
    assert shutil.which("unshare"), "util-linux unshare runs the namespace tests"
