"""How long `exit` takes after a lot of terminal output: the recorder's shell vs a shell under
`script -q` (which writes its typescript as output arrives), in one run, after no output and after
MB of it. Target: the recorder's exit <= 0.3 s, whatever the output size.

    .venv/bin/python bench/exit.py [--mb 20] [--rounds 5] [--real]

--real prints real output (`ls -lR` of /usr, /etc and /var/lib, repeated to the size) instead of one
line repeated: it has the characters and words that make the secret scan work (about 30 ms a MB).

Each round `cat`s a file in the shell, waits for the prompt after it, types `exit` at once (and, for
the MB case, also --pause seconds later, as a person would) and times until the pty reports the end
(the recorder has written the session and the cast, and is gone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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


def timed_exit(proc: PtyProcess, data: str, pause: float) -> float:
    """Seconds from typing `exit`, `pause` seconds after the prompt that follows the output, to the end
    of the pty."""
    drain(proc, until=PROMPT)
    proc.write(f'cat {data}; echo END-""MARK\n'.encode())
    prompt_after_mark(proc)
    time.sleep(pause)
    start = time.perf_counter()
    proc.write(b"exit\n")
    drain(proc)
    elapsed = time.perf_counter() - start
    proc.wait()
    return elapsed


def run(megabytes: int, rounds: int, pause: float, real: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-exit-") as work:  # a cast of each size each round: gone after
        report(measure(work, megabytes, rounds, pause, real), rounds, real)


def output(size: int, real: bool) -> bytes:
    """`size` MB of what a terminal shows."""
    if real:
        sample = subprocess.run(["ls", "-lR", "/usr", "/etc", "/var/lib"], capture_output=True, check=False).stdout
    else:
        sample = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\n"
    wanted = size * 1024 * 1024
    return (sample * (wanted // len(sample) + 1))[:wanted]


def measure(
    work: str, megabytes: int, rounds: int, pause: float, real: bool
) -> dict[tuple[str, int, float], list[float]]:
    sizes = {0: os.path.join(work, "empty.txt"), megabytes: os.path.join(work, "big.txt")}
    for size, path in sizes.items():
        with open(path, "wb") as f:
            f.write(output(size, real))
    with open(os.path.join(work, ".bashrc"), "w") as rc:
        rc.write("PS1='BENCH$ '\n")
    env = {**os.environ, "HOME": work, "TERM": "dumb"}
    os.makedirs(os.path.join(work, "watched"))
    shell = ["bash", "--rcfile", os.path.join(work, ".bashrc"), "-i"]

    cases = [(0, 0.0), (megabytes, 0.0), (megabytes, pause)]  # (MB, seconds at the prompt before exit)
    runs: dict[tuple[str, int, float], list[float]] = {}
    for round_ in range(rounds):  # alternate, so all see the same machine
        for size, wait in cases:
            data = sizes[size]
            typescript = os.path.join(work, f"typescript-{size}-{wait}-{round_}")
            script = PtyProcess.spawn(["script", "-q", "-c", " ".join(shell), typescript], env=env, dimensions=(24, 80))
            runs.setdefault(("script -q", size, wait), []).append(timed_exit(script, data, wait))
            name = f"exit-{size}-{wait}-{round_}"
            argv = record_argv(name, os.path.join(work, "sessions"), [os.path.join(work, "watched")])
            rec = PtyProcess.spawn(argv, env=env, cwd=ROOT, dimensions=(24, 80))
            key = ("record start", size, wait)
            runs.setdefault(key, []).append(timed_exit(rec, data, wait))
            cast = os.path.join(work, "sessions", name, "terminal.cast")
            done = time.perf_counter()
            while os.path.exists(cast + ".raw"):  # a long backlog is left to the cast's follower at exit
                time.sleep(0.01)
            runs.setdefault(("cast complete", size, wait), []).append(time.perf_counter() - done + runs[key][-1])
            assert os.path.getsize(cast) > size * 1_000_000, "the cast holds the output"
    return runs


def report(runs: dict[tuple[str, int, float], list[float]], rounds: int, real: bool) -> None:
    cases = sorted({(size, wait) for _, size, wait in runs})
    what = "real output (ls -lR)" if real else "one line repeated"
    print(f"exit after the output of `cat FILE`, {what}, median of {rounds} rounds (slowest too)")
    medians = {}
    for (name, size, wait), samples in runs.items():
        medians[name, size, wait] = statistics.median(samples)
        when = f"typed {wait:.1f} s after the prompt" if wait else "typed at the prompt"
        print(
            f"  {name:13} after {size:3} MB, {when:31}: {medians[name, size, wait]:6.3f} s"
            f"   slowest {max(samples):6.3f} s"
        )
    print("  (cast complete: from `exit` until terminal.cast is written, when the recorder left a long backlog")
    print("   to the cast's follower; the shell and the recorder were gone before)")
    for size, wait in cases:
        ratio = medians["record start", size, wait] / medians["script -q", size, wait]
        print(f"  ratio after {size:3} MB, {wait:.1f} s at the prompt: recorder / script = {ratio:.1f}x")
    worst = max(medians["record start", size, wait] for size, wait in cases)  # the shell and the recorder gone
    print(f"  target: recorder <= 0.3 s whatever the size -> {'met' if worst <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds at the prompt before exit, as a person")
    parser.add_argument("--real", action="store_true", help="real output (ls -lR), not one line repeated")
    args = parser.parse_args()
    run(args.mb, args.rounds, args.pause, args.real)
