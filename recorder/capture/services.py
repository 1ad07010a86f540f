"""How a daemon that was running on the host runs in the foreground as an image's ENTRYPOINT.

The host ran the service however the operator started it (`nginx`, `service nginx start`); a
container needs the same program, same options, without daemonizing. Known daemons get their
foreground flags; anything else is run with the command line it had.
"""

from __future__ import annotations

import os

from recorder.capture.probes import ProcessInfo
from recorder.model.image import STATEFUL_DATA_DIRS
from recorder.model.session import Port, Service

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


def _master_words(info: ProcessInfo) -> list[str]:
    """Daemons that rewrite argv ("php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)")."""
    return " ".join(info.cmdline).replace("(", " ").replace(")", " ").split()


def _php_fpm(info: ProcessInfo) -> list[str]:
    configs = [w for w in _master_words(info) if w.endswith(".conf")]
    return [info.exe, "-F", *(["-y", configs[0]] if configs else [])]


def _apache(info: ProcessInfo) -> list[str]:
    # Debian's apache2 needs the variables apache2ctl sets; Red Hat's httpd runs as it is.
    ctl = os.path.join(os.path.dirname(info.exe), "apache2ctl")
    if os.path.basename(info.exe) == "apache2":
        return [ctl, "-D", "FOREGROUND"]
    return [info.exe, "-D", "FOREGROUND"]


def _redis(info: ProcessInfo) -> list[str]:
    # redis rewrites argv to "redis-server 127.0.0.1:6379"; its config file is the usual one.
    config = next((c for c in ("/etc/redis/redis.conf", "/etc/redis.conf") if os.path.isfile(c)), None)
    return [info.exe, *([config] if config else []), "--daemonize", "no"]


def _without(*flags: str):
    """Programs that daemonize on a flag: run them without it."""

    def rule(info: ProcessInfo) -> list[str]:
        return [w for w in info.cmdline if w not in flags] or [info.exe]

    return rule


def _sshd(info: ProcessInfo) -> list[str]:
    return [info.exe, "-D", "-e"]


FOREGROUND = {
    "nginx": _nginx,
    "apache2": _apache,
    "httpd": _apache,
    "redis-server": _redis,
    "sshd": _sshd,
    "memcached": _without("-d", "--daemon"),
    "gunicorn": _without("-D", "--daemon"),
}
FOREGROUND_PREFIXES = {"php-fpm": _php_fpm}


def data_directory(name: str, cmdline: list[str]) -> str:
    """Where a stateful daemon keeps its data; "" for the stateless."""
    for i, word in enumerate(cmdline):
        if word in ("-D", "--datadir", "--dbpath", "--dir") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if word.startswith(("--datadir=", "--dbpath=")):
            return word.split("=", 1)[1]
    return STATEFUL_DATA_DIRS.get(name, "")


def service_name(info: ProcessInfo) -> str:
    return os.path.basename(info.exe) if info.exe else (info.cmdline[0] if info.cmdline else "service")


def foreground_command(info: ProcessInfo) -> list[str]:
    name = service_name(info)
    rule = FOREGROUND.get(name) or next((r for p, r in FOREGROUND_PREFIXES.items() if name.startswith(p)), None)
    if rule is not None:
        return rule(info)
    return list(info.cmdline) or [info.exe]


def describe(info: ProcessInfo, ports: list[Port]) -> Service:
    name = service_name(info)
    return Service(
        name=name,
        data_dir=data_directory(name, list(info.cmdline)),
        command=foreground_command(info),
        observed=list(info.cmdline),
        cwd=info.cwd or "/",
        user=info.user or "root",
        ports=sorted(ports, key=lambda p: (p.port, p.address)),
    )
