"""How long `exit` takes after a lot of terminal output: the recorder's shell vs a shell under
`script -q` (which writes its typescript as output arrives), in one run, after no output and after
MB of it. Target: the recorder's exit <= 0.3 s, whatever the output size.

    .venv/bin/python bench/exit.py [--mb 20] [--rounds 5]

Each round `cat`s a file in the shell, waits for the prompt after it, types `exit` and times until
the pty reports the end (the recorder has written the session and the cast, and is gone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from ptyprocess import PtyProcess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, record_argv  # noqa: E402
from throughput import drain  # noqa: E402

PROMPT = b"BENCH$ "
MARK = b"END-" + b"MARK"  # split, so the echoed command line does not match


def prompt_after_mark(proc: PtyProcess) -> None:
    """Read until the prompt that follows the mark printed after the data."""
    window = b""
    while True:
        window = (window + os.read(proc.fd, 65536))[-4096:]
        mark = window.rfind(MARK)
        if mark >= 0 and PROMPT in window[mark:]:
            return


def timed_exit(proc: PtyProcess, data: str) -> float:
    """Seconds from typing `exit` after the output to the end of the pty."""
    drain(proc, until=PROMPT)
    proc.write(f'cat {data}; echo END-""MARK\n'.encode())
    prompt_after_mark(proc)
    start = time.perf_counter()
    proc.write(b"exit\n")
    drain(proc)
    elapsed = time.perf_counter() - start
    proc.wait()
    return elapsed


def run(megabytes: int, rounds: int) -> None:
    work = tempfile.mkdtemp(prefix="bench-exit-")
    line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\n"
    sizes = {0: os.path.join(work, "empty.txt"), megabytes: os.path.join(work, "big.txt")}
    for size, path in sizes.items():
        with open(path, "wb") as f:
            f.write(line * (size * 1024 * 1024 // len(line)))
    with open(os.path.join(work, ".bashrc"), "w") as rc:
        rc.write("PS1='BENCH$ '\n")
    env = {**os.environ, "HOME": work, "TERM": "dumb"}
    os.makedirs(os.path.join(work, "watched"))
    shell = ["bash", "--rcfile", os.path.join(work, ".bashrc"), "-i"]

    runs: dict[tuple[str, int], list[float]] = {}
    for round_ in range(rounds):  # alternate, so all see the same machine
        for size, data in sizes.items():
            typescript = os.path.join(work, f"typescript-{size}-{round_}")
            script = PtyProcess.spawn(["script", "-q", "-c", " ".join(shell), typescript], env=env, dimensions=(24, 80))
            runs.setdefault(("script -q", size), []).append(timed_exit(script, data))
            name = f"exit-{size}-{round_}"
            argv = record_argv(name, os.path.join(work, "sessions"), [os.path.join(work, "watched")])
            rec = PtyProcess.spawn(argv, env=env, cwd=ROOT, dimensions=(24, 80))
            runs.setdefault(("record start", size), []).append(timed_exit(rec, data))
            cast = os.path.join(work, "sessions", name, "terminal.cast")
            assert os.path.getsize(cast) > size * 1_000_000, "the cast holds the output"

    print(f"exit after the output of `cat FILE`, median of {rounds} rounds (slowest too)")
    medians = {}
    for (name, size), samples in runs.items():
        medians[name, size] = statistics.median(samples)
        print(f"  {name:13} after {size:3} MB: {medians[name, size]:6.3f} s   slowest {max(samples):6.3f} s")
    for size in sizes:
        ratio = medians["record start", size] / medians["script -q", size]
        print(f"  ratio after {size:3} MB: recorder / script = {ratio:.1f}x")
    worst = max(medians["record start", size] for size in sizes)
    print(f"  target: recorder <= 0.3 s whatever the size -> {'met' if worst <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    run(args.mb, args.rounds)
