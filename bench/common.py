"""Helpers shared by the benchmarks: percentiles and a driver that types into a shell in a pty."""

from __future__ import annotations

import os
import statistics
import sys
import time

import pexpect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def record_argv(name: str, sessions: str, watch: list[str] | None = None) -> list[str]:
    argv = [sys.executable, "-m", "recorder", "start", "--name", name, "--dir", sessions]
    for root in watch or []:
        argv += ["--watch", root]
    return argv


def time_commands(child: pexpect.spawn, prompt: str, command: str, count: int) -> list[float]:
    """Milliseconds from Enter to the next prompt, for `count` runs of `command`."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        child.sendline(command)
        child.expect(prompt)
        samples.append((time.perf_counter() - start) * 1000)
    return samples
