"""Change detection cost per command with 1,000 vs 100,000 files under a watched root, in one run.
Target: the per-command cost at 100k files is at most 2x the cost at 1k. A full stat walk (what
the first version did) is measured alongside, as the reference that grows with the tree.

    .venv/bin/python bench/filewatch.py [--commands 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recorder.capture.filewatch import FileWatcher  # noqa: E402
from recorder.capture.probes import FileProbe  # noqa: E402


def make_tree(root: str, files: int) -> None:
    per_dir = 100
    for i in range(files):
        directory = os.path.join(root, f"d{i // per_dir // per_dir}", f"d{i // per_dir}")
        if i % per_dir == 0:
            os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"f{i}.conf"), "w") as f:
            f.write("x = 1\n")


def measure(files: int, commands: int) -> tuple[float, float, float]:
    """(median ms per command with the watcher, ms for one stat walk, seconds to start watching)."""
    root = tempfile.mkdtemp(prefix=f"bench-fw-{files}-")
    try:
        make_tree(root, files)
        probe = FileProbe(roots=(root,), ignores=())
        start = time.perf_counter()
        watcher = FileWatcher(probe)
        setup = time.perf_counter() - start
        target = os.path.join(root, "d0", "d0", "f0.conf")
        samples = []
        for i in range(commands):
            with open(target, "w") as f:  # what one command does: change a config file
                f.write(f"x = {i}\n")
            start = time.perf_counter()
            changed, _ = watcher.changes()
            samples.append((time.perf_counter() - start) * 1000)
            assert list(changed) == [target]
        watcher.close()
        start = time.perf_counter()
        probe.snapshot()
        walk = (time.perf_counter() - start) * 1000
        return statistics.median(samples), walk, setup
    finally:
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=50)
    args = parser.parse_args()
    small = measure(1_000, args.commands)
    large = measure(100_000, args.commands)
    print(f"change detection per command ({args.commands} commands, one changed file each)")
    print(f"  {'files':>8} {'watcher ms':>11} {'stat walk ms':>13} {'start-up s':>11}")
    for label, (watch, walk, setup) in (("1,000", small), ("100,000", large)):
        print(f"  {label:>8} {watch:11.3f} {walk:13.1f} {setup:11.2f}")
    ratio = large[0] / small[0]
    print(
        f"  ratio 100k/1k: watcher {ratio:.2f}x (target <= 2x -> {'met' if ratio <= 2 else 'NOT met'}), "
        f"stat walk {large[1] / small[1]:.0f}x"
    )


if __name__ == "__main__":
    main()
