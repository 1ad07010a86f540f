"""Per-command overhead of recording: 200 trivial commands typed into the recorder's shell vs a plain
bash, under the same pexpect driver, in one run. Target: recorder p50 overhead <= 10 ms.

    .venv/bin/python bench/overhead.py [--count 200] [--default-roots]

By default the recorder watches a copy-free, realistic root (/etc); --default-roots watches the
real defaults (/etc /opt /srv /var/www /usr/local /home /root) of this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import pexpect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, percentiles, record_argv, time_commands  # noqa: E402

PROMPT = r"BENCH\$ $"


def run(count: int, default_roots: bool) -> None:
    home = tempfile.mkdtemp(prefix="bench-home-")
    with open(os.path.join(home, ".bashrc"), "w") as rc:
        rc.write("PS1='BENCH$ '\n")
    env = {**os.environ, "HOME": home, "TERM": "dumb"}

    plain = pexpect.spawn(
        "bash", ["--rcfile", os.path.join(home, ".bashrc"), "-i"], env=env, encoding="utf-8", timeout=60
    )
    plain.delaybeforesend = None
    plain.expect(PROMPT)
    time_commands(plain, PROMPT, "true", 10)  # warm up
    base = time_commands(plain, PROMPT, "true", count)
    plain.sendline("exit")
    plain.expect(pexpect.EOF)

    sessions = tempfile.mkdtemp(prefix="bench-sessions-")
    watch = None if default_roots else ["/etc"]
    argv = record_argv("bench", sessions, watch)
    rec = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=120, cwd=ROOT)
    rec.delaybeforesend = None
    rec.expect(r"\[rec\] " + PROMPT)
    rec_prompt = r"\[rec\] " + PROMPT
    time_commands(rec, rec_prompt, "true", 10)
    recorded = time_commands(rec, rec_prompt, "true", count)
    rec.sendline("exit")
    rec.expect(pexpect.EOF, timeout=120)

    b50, b95 = percentiles(base)
    r50, r95 = percentiles(recorded)
    roots = "default roots" if default_roots else "/etc"
    print(f"per-command latency, {count} x `true` (recorder watching {roots})")
    print(f"  plain bash : p50 {b50:7.2f} ms   p95 {b95:7.2f} ms")
    print(f"  recorder   : p50 {r50:7.2f} ms   p95 {r95:7.2f} ms")
    print(f"  overhead   : p50 {r50 - b50:7.2f} ms   p95 {r95 - b95:7.2f} ms   ratio p50 {r50 / b50:.2f}x")
    print(f"  target     : overhead p50 <= 10 ms -> {'met' if r50 - b50 <= 10 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--default-roots", action="store_true")
    args = parser.parse_args()
    run(args.count, args.default_roots)
