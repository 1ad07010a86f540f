"""Per-command overhead of recording: 200 trivial commands typed into the recorder's shell vs a plain
bash, under the same pexpect driver, in one run; the recorder once per hook mode (PS0, and the DEBUG-trap
fallback that bash before 4.4 needs, forced here with RECORD_HOOKS). Target: recorder overhead
p50 <= 3 ms and p95 <= 6 ms in every mode.

    .venv/bin/python bench/overhead.py [--count 200] [--default-roots] [--hooks ps0,fallback] [--command CMD]

By default the recorder watches a copy-free, realistic root (/etc); --default-roots watches the
real defaults (/etc /opt /srv /var/www /usr/local /home /root) of this machine. --command times
another command line than `true`: a loop (`for i in {1..1000}; do :; done`) shows what the fallback's
DEBUG trap costs each simple command the shell runs.
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


def measure(argv: list[str], env: dict[str, str], prompt: str, command: str, count: int) -> list[float]:
    """Milliseconds per `command` in the shell `argv` opens, after 10 runs to warm up."""
    child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=120, cwd=ROOT)
    child.delaybeforesend = None
    child.expect(prompt)
    time_commands(child, prompt, command, 10)
    samples = time_commands(child, prompt, command, count)
    child.sendline("exit")
    child.expect(pexpect.EOF, timeout=120)
    return samples


def run(count: int, default_roots: bool, modes: list[str], command: str) -> None:
    home = tempfile.mkdtemp(prefix="bench-home-")
    with open(os.path.join(home, ".bashrc"), "w") as rc:
        rc.write("PS1='BENCH$ '\n")
    env = {**os.environ, "HOME": home, "TERM": "dumb"}
    env.pop("RECORD_HOOKS", None)

    rows = [
        ("plain bash", measure(["bash", "--rcfile", os.path.join(home, ".bashrc"), "-i"], env, PROMPT, command, count))
    ]
    watch = None if default_roots else ["/etc"]
    for mode in modes:
        argv = record_argv(f"bench-{mode}", tempfile.mkdtemp(prefix="bench-sessions-"), watch)
        rows.append(
            (f"recorder, {mode}", measure(argv, {**env, "RECORD_HOOKS": mode}, r"\[rec\] " + PROMPT, command, count))
        )

    base50, base95 = percentiles(rows[0][1])
    roots = "default roots" if default_roots else "/etc"
    print(f"per-command latency, {count} x `{command}` (recorder watching {roots})")
    for name, samples in rows:
        p50, p95 = percentiles(samples)
        extra = "" if samples is rows[0][1] else f"   overhead p50 {p50 - base50:6.2f} ms  p95 {p95 - base95:6.2f} ms"
        print(f"  {name:<20}: p50 {p50:7.2f} ms   p95 {p95:7.2f} ms{extra}")
    if command == "true" and rows[1:]:
        worst50 = max(percentiles(samples)[0] - base50 for _, samples in rows[1:])
        worst95 = max(percentiles(samples)[1] - base95 for _, samples in rows[1:])
        met = worst50 <= 3 and worst95 <= 6
        print(f"  target: overhead p50 <= 3 ms and p95 <= 6 ms in every mode -> {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--default-roots", action="store_true")
    parser.add_argument("--hooks", default="ps0,fallback", help="hook modes to record in, comma-separated")
    parser.add_argument("--command", default="true", help="the command line timed")
    args = parser.parse_args()
    run(args.count, args.default_roots, [m for m in args.hooks.split(",") if m], args.command)
