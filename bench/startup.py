"""Start-up of the commands that need no Docker engine, against what Python and typer alone cost, in
one run (rounds interleaved, so all see the same machine). Target: each <= 0.2 s.

    .venv/bin/python bench/startup.py [--rounds 15]

References: `python -c pass`, `python -c "import typer"`, and a two-command typer app (`--help`, a
command's `--help`, a run with one Path argument): typer formats help with rich and coerces arguments
with pydantic from typer 0.29 on, which every `record` command would pay whatever it imports itself: the
project keeps typer below 0.29 (pyproject.toml).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT  # noqa: E402
from generate import synthetic  # noqa: E402

sys.path.insert(0, ROOT)
from recorder.model import write  # noqa: E402

TARGET = 0.2
TYPER_APP = """import sys
from pathlib import Path
import typer
app = typer.Typer(add_completion=False)
@app.command()
def one(path: Path = typer.Argument(..., help="A path."), base: str = typer.Option(None, help="A word.")) -> None:
    "One command."
@app.command()
def two() -> None:
    "Another."
app()"""


def commands(work: Path) -> dict[str, list[str]]:
    py = sys.executable
    record = [py, "-m", "recorder"]
    return {
        "python -c pass": [py, "-c", "pass"],
        'python -c "import typer"': [py, "-c", "import typer"],
        "typer app --help": [py, "-c", TYPER_APP, "--help"],
        "typer app one --help": [py, "-c", TYPER_APP, "one", "--help"],
        "typer app one PATH": [py, "-c", TYPER_APP, "one", str(work)],
        "record --help": [*record, "--help"],
        "record to-dockerfile --help": [*record, "to-dockerfile", "--help"],
        "record check (sessions/web)": [*record, "check", str(work / "web")],
        "record show (sessions/web)": [*record, "show", str(work / "web")],
        "record to-dockerfile (100 steps)": [*record, "to-dockerfile", str(work / "synthetic")],
    }


def run(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        shutil.copytree(Path(ROOT) / "sessions" / "web", work / "web")
        session = synthetic(100)
        write.save(session, work / "synthetic")
        for f in (f for step in session.steps for f in step.effects.files):
            (work / "synthetic" / f.stored_at).parent.mkdir(parents=True, exist_ok=True)
            (work / "synthetic" / f.stored_at).write_text("x\n")
        argvs = commands(work)
        samples: dict[str, list[float]] = {name: [] for name in argvs}
        for argv in argvs.values():  # once, unmeasured: files cached, .pyc written
            subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
        for _ in range(rounds):
            for name, argv in argvs.items():
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
                samples[name].append(time.perf_counter() - start)

    best = {name: min(s) for name, s in samples.items()}
    median = {name: statistics.median(s) for name, s in samples.items()}
    bare = best["python -c pass"]
    floors = {"record --help": "typer app --help", "record to-dockerfile --help": "typer app one --help"}
    print(f"start-up, wall clock of the whole process, {rounds} rounds interleaved (best and median)")
    print(f"  {'command':34} {'best s':>7} {'median s':>9} {'x python':>9} {'x typer app':>12}")
    for name in argvs:
        floor = best[floors.get(name, "typer app one PATH")]
        versus = f"{best[name] / floor:11.2f}x" if name.startswith("record") else ""
        print(f"  {name:34} {best[name]:7.3f} {median[name]:9.3f} {best[name] / bare:8.1f}x {versus:>12}")
    slow = [n for n in argvs if n.startswith("record") and median[n] > TARGET]
    verdict = "met" if not slow else f"NOT met by {', '.join(slow)}"
    print(f"  target: every record command above <= {TARGET} s (median) -> {verdict}")
    print(
        "  typer's own floor (a two-command app): --help {:.3f} s, a command's --help {:.3f} s, a run {:.3f} s".format(
            *(median[n] for n in ("typer app --help", "typer app one --help", "typer app one PATH"))
        )
    )
    print("  (x typer app: record --help against the app's --help, a command's --help against its, the rest")
    print("   against its run)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    run(args.rounds)
