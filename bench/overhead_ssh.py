"""Per-command overhead of recording over ssh: 200 trivial commands typed into `record start --ssh`'s shell
vs a plain `ssh -t HOST bash -i`, under the same pexpect driver, in one run, against one staging
container of the test bench (sshd, bash, coreutils; no python), reached by its bridge address. With
--rhel the host is the RHEL-like one (rpm's database, dnf as yum; tests/rpmbench), where each command
also has rpm's database stamps to look at.

    .venv/bin/python bench/overhead_ssh.py [--count 200] [--hooks ps0,fallback] [--command CMD] [--rhel]

The recorder watches the default roots on the host: after each command the agent lists them with
`find` (the host has no inotify tools), so this figure grows with the trees, unlike the local one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, percentiles  # noqa: E402
from overhead import measure  # noqa: E402

sys.path.insert(0, ROOT)
from tests import staging  # noqa: E402

PROMPT = r"BENCH\$ $"


def run(count: int, modes: list[str], command: str, rhel: bool) -> None:
    c = staging.client()
    image = staging.build_rhel_ssh_image(c)[1] if rhel else staging.build_ssh_image(c)
    keys = Path(tempfile.mkdtemp(prefix="bench-ssh-keys-"))
    host = staging.SshStagingHost(c, keys, image=image)
    try:
        host.sh("echo \"PS1='BENCH$ '\" > /root/.bashrc")
        _, entries = host.sh("find /etc /opt /srv /var/www /usr/local /home /root -xdev 2>/dev/null | wc -l")
        env = {**os.environ, "TERM": "dumb"}
        env.pop("RECORD_HOOKS", None)
        options = [x for o in host.options for x in ("-o", o)]
        plain = ["ssh", "-t", *options, host.destination, "bash -i"]
        rows = [("plain ssh -t bash", measure(plain, env, PROMPT, command, count))]
        for mode in modes:
            sessions = tempfile.mkdtemp(prefix="bench-sessions-")
            argv = [sys.executable, "-m", "recorder", "start", "--name", f"bench-{mode}", "--dir", sessions, *host.args]
            rows.append(
                (
                    f"record --ssh, {mode}",
                    measure(argv, {**env, "RECORD_HOOKS": mode}, r"\[rec\] " + PROMPT, command, count),
                )
            )
    finally:
        host.close()

    base50, base95 = percentiles(rows[0][1])
    kind = "RHEL-like" if rhel else "Debian"
    print(
        f"per-command latency over ssh to the {kind} host, {count} x `{command}`"
        f" (default roots on the host: {entries.strip()} entries)"
    )
    for name, samples in rows:
        p50, p95 = percentiles(samples)
        extra = "" if samples is rows[0][1] else f"   overhead p50 {p50 - base50:6.2f} ms  p95 {p95 - base95:6.2f} ms"
        print(f"  {name:<24}: p50 {p50:7.2f} ms   p95 {p95:7.2f} ms{extra}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--hooks", default="ps0,fallback", help="hook modes to record in, comma-separated")
    parser.add_argument("--command", default="true", help="the command line timed")
    parser.add_argument("--rhel", action="store_true", help="against the RHEL-like host (rpm's database)")
    args = parser.parse_args()
    run(args.count, [m for m in args.hooks.split(",") if m], args.command, args.rhel)
