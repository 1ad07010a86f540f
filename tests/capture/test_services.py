"""Foreground commands for services, from what the host's process table showed."""

from __future__ import annotations

from recorder.capture.probes import ProcessInfo
from recorder.capture.services import describe, foreground_command
from recorder.model.session import Port


def info(*cmdline: str, exe: str = "/usr/sbin/nginx") -> ProcessInfo:
    return ProcessInfo(pid=10, exe=exe, cmdline=cmdline, cwd="/", user="root")


def test_nginx_started_by_hand_or_by_service_runs_in_the_foreground():
    assert foreground_command(info("nginx: master process nginx")) == ["/usr/sbin/nginx", "-g", "daemon off;"]
    # `service nginx start` runs the init script, which starts the binary with its own options
    started_by_init = info("nginx: master process /usr/sbin/nginx -g daemon on; master_process on;")
    assert foreground_command(started_by_init) == ["/usr/sbin/nginx", "-g", "daemon off;"]
    custom = info("nginx: master process /usr/sbin/nginx -c /etc/nginx/site.conf")
    assert foreground_command(custom) == ["/usr/sbin/nginx", "-c", "/etc/nginx/site.conf", "-g", "daemon off;"]


def test_unknown_programs_run_with_their_own_command_line():
    app = info("/usr/bin/python3", "-m", "http.server", "9000", exe="/usr/bin/python3.11")
    service = describe(app, [Port(9000, "0.0.0.0"), Port(9000, "::")])
    assert service.command == ["/usr/bin/python3", "-m", "http.server", "9000"]
    assert service.name == "python3.11"
    assert [p.address for p in service.ports] == ["0.0.0.0", "::"]
