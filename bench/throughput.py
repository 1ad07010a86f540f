"""Output throughput: 100 MB printed in the recorder's shell vs the same under `script -q`, read by
the same pty reader, in one run. Target: recorder >= 1.0x script's MB/s.

    .venv/bin/python bench/throughput.py [--mb 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ptyprocess import PtyProcess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, record_argv  # noqa: E402

from recorder.capture.cast import CAST_FILE, wait_for_follower  # noqa: E402


def drain(proc: PtyProcess, until: bytes | None = None) -> int:
    """Bytes read until `until` shows up, or until the end of output."""
    total, window = 0, b""
    while True:
        try:
            data = os.read(proc.fd, 65536)
        except OSError:
            return total
        if not data:
            return total
        total += len(data)
        if until is not None:
            window = (window + data)[-4096:]
            if until in window:
                return total


MARK = b"END-" + b"MARK"  # split, so the echoed command line does not match


def timed_read(proc: PtyProcess) -> tuple[float, int]:
    """Seconds and bytes until the mark printed after the data arrives (what the user waits for)."""
    start = time.perf_counter()
    count = drain(proc, until=MARK)
    elapsed = time.perf_counter() - start
    drain(proc)  # the rest (the recorder's summary) is not part of the stream being measured
    return elapsed, count


# Seconds at the first prompt before the command is typed, as a person takes: the recorder sets up its
# secret scan and bashlex's tables then (0.3-0.5 s of CPU), which is not what a stream of output costs.
SETTLE = 1.0


def run(megabytes: int, rounds: int) -> None:
    work = tempfile.mkdtemp(prefix="bench-tp-")
    data = os.path.join(work, "big.txt")
    line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\n"
    with open(data, "wb") as f:
        f.write(line * (megabytes * 1024 * 1024 // len(line)))
    size = os.path.getsize(data)
    with open(os.path.join(work, ".bashrc"), "w") as rc:
        rc.write("PS1='BENCH$ '\n")
    env = {**os.environ, "HOME": work, "TERM": "dumb"}

    command = f'cat {data}; echo END-""MARK'
    os.makedirs(work + "/watched")
    runs: dict[str, list[tuple[float, int]]] = {"script -q": [], "record start": []}
    for round_ in range(rounds):  # alternate, so both see the same machine
        script = PtyProcess.spawn(["script", "-q", "-c", command, "/dev/null"], env=env, dimensions=(24, 80))
        runs["script -q"].append(timed_read(script))
        argv = record_argv(f"tp{round_}", os.path.join(work, "sessions"), [work + "/watched"])
        rec = PtyProcess.spawn(argv, env=env, cwd=ROOT, dimensions=(24, 80))
        drain(rec, until=b"BENCH$ ")
        time.sleep(SETTLE)
        rec.write(f"{command}; exit\n".encode())
        runs["record start"].append(timed_read(rec))
        rec.wait()
        # the cast's follower may still be finishing the last round's cast after exit (bench/exit.py):
        # each round starts on a quiet machine, or later rounds measure the earlier rounds' scans
        wait_for_follower(Path(work, "sessions", f"tp{round_}", CAST_FILE))

    print(f"output throughput, {size / 1e6:.0f} MB through a pty, median of {rounds} rounds")
    rates = {}
    for name, samples in runs.items():
        seconds = statistics.median(s for s, _ in samples)
        count = samples[0][1]
        rates[name] = count / 1e6 / seconds
        print(f"  {name:13}: {seconds:6.2f} s  {rates[name]:7.1f} MB/s  ({count / 1e6:.1f} MB read)")
    ratio = rates["record start"] / rates["script -q"]
    print(f"  ratio        : recorder / script = {ratio:.2f}x   target >= 1.0x -> {'met' if ratio >= 1 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    run(args.mb, args.rounds)
