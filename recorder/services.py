"""How a daemon that was running on the host runs in the foreground as an image's ENTRYPOINT.

The host ran the service however the operator started it (`nginx`, `service nginx start`); a
container needs the same program, same options, without daemonizing. Known daemons get their
foreground flags; anything else is run with the command line it had.
"""

from __future__ import annotations

import os

from recorder.probes import ProcessInfo
from recorder.session import Port, Service

NGINX_KEPT_OPTIONS = ("-c", "-p", "-e")


def _nginx(info: ProcessInfo) -> list[str]:
    # The master rewrites its argv to "nginx: master process <original command line>".
    words = " ".join(info.cmdline).split()
    if "process" in words:
        words = words[words.index("process") + 1 :]
    kept: list[str] = []
    for i, word in enumerate(words[:-1]):
        if word in NGINX_KEPT_OPTIONS:
            kept += [word, words[i + 1]]
    return [info.exe or "/usr/sbin/nginx", *kept, "-g", "daemon off;"]


FOREGROUND = {"nginx": _nginx}


def service_name(info: ProcessInfo) -> str:
    return os.path.basename(info.exe) if info.exe else (info.cmdline[0] if info.cmdline else "service")


def foreground_command(info: ProcessInfo) -> list[str]:
    rule = FOREGROUND.get(service_name(info))
    if rule is not None:
        return rule(info)
    return list(info.cmdline) or [info.exe]


def describe(info: ProcessInfo, ports: list[Port]) -> Service:
    return Service(
        name=service_name(info),
        command=foreground_command(info),
        observed=list(info.cmdline),
        cwd=info.cwd or "/",
        user=info.user or "root",
        ports=sorted(ports, key=lambda p: (p.port, p.address)),
    )
