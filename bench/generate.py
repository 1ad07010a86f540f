"""`record to-dockerfile` on a synthetic session of 10,000 steps: loading session.yaml and writing
the Dockerfile, timed apart, with a 100-step session as the reference in the same run.
Target: under 1 s for 10,000 steps.

    .venv/bin/python bench/generate.py [--steps 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from generators import dockerfile  # noqa: E402
from recorder.model import read, write
from recorder.model import session as s  # noqa: E402


def synthetic(steps: int) -> s.Session:
    """A mix like real sessions: installs, config edits, exports, failures and no-ops."""
    out = []
    for i in range(1, steps + 1):
        kind = i % 5
        if kind == 0:
            effects = s.Effects(packages=[s.PackageChange(manager="apt", installed={f"pkg{i}": f"1.{i}-1"})])
            out.append(
                s.Step(
                    id=i,
                    command=f"apt-get install -y pkg{i}",
                    cwd="/root",
                    exit=0,
                    replay="run",
                    why="installs",
                    effects=effects,
                )
            )
        elif kind == 1:
            effects = s.Effects(files=[s.FileChange(path=f"/etc/app/conf.d/{i}.conf", kind="file", mode=0o644)])
            out.append(
                s.Step(
                    id=i,
                    command=f"vi /etc/app/conf.d/{i}.conf",
                    cwd="/root",
                    exit=0,
                    replay="files",
                    why="changed 1 file",
                    effects=effects,
                )
            )
        elif kind == 2:
            out.append(
                s.Step(
                    id=i,
                    command=f"export VAR{i}=value{i}",
                    cwd="/root",
                    exit=0,
                    replay="files",
                    why="sets",
                    effects=s.Effects(env_set={f"VAR{i}": f"value{i}"}),
                )
            )
        elif kind == 3:
            out.append(s.Step(id=i, command=f"false {i}", cwd="/root", exit=1, replay="skip", why="failed"))
        else:
            out.append(s.Step(id=i, command="ls -la", cwd="/root", exit=0, replay="skip", why="nothing"))
    return s.Session(name="synthetic", host=s.Host(os_id="debian", version_id="12", base_image="debian:12"), steps=out)


def timed(action):
    """(seconds, result) of action()."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def measure(steps: int, rounds: int) -> list[tuple[float, float, float]]:
    """(load, generate, whole command) seconds, once per round."""
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        directory = Path(tmp)
        session = synthetic(steps)
        write.save(session, directory)
        for st in session.steps:
            for f in st.effects.files:
                target = directory / f.stored_at
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("x\n")
        command = [sys.executable, "-m", "recorder", "to-dockerfile", str(directory)]
        out = []
        for _ in range(rounds):
            load, loaded = timed(lambda: read.load(directory))
            generate, _ = timed(lambda loaded=loaded: dockerfile.generate(loaded))
            whole, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True))
            out.append((load, generate, whole))
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="medians of this many runs")
    args = parser.parse_args()
    rows = [(steps, measure(steps, args.rounds)) for steps in (100, args.steps)]
    print(f"record to-dockerfile on synthetic sessions (median of {args.rounds} runs; whole command: slowest too)")
    print(f"  {'steps':>7} {'load s':>8} {'generate s':>11} {'whole command s':>16} {'slowest s':>10}")
    for steps, runs in rows:
        load, generate, cli = (statistics.median(column) for column in zip(*runs, strict=True))
        print(f"  {steps:>7} {load:8.3f} {generate:11.3f} {cli:16.3f} {max(r[2] for r in runs):10.3f}")
    small, cli = (statistics.median(r[2] for r in runs) for _, runs in rows)
    print(f"  start-up (the 100-step run) {small:.2f} s; the other {args.steps - 100} steps {cli - small:.2f} s")
    print(f"  target: {args.steps} steps under 1 s -> {'met' if cli < 1 else 'NOT met'} ({cli:.2f} s)")


if __name__ == "__main__":
    main()
