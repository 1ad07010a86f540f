"""What rpm's probes cost a step on the RHEL-like bench (tests/rpmbench), in one run inside its
staging container: the `rpm -qa` query after an install, a step that changed no database (the
stamp only), and the owners of 10,000 files a step unpacked (one listing of every package's files,
then lookups) against asking `rpm -qf` once a file, the reference that grows with the step.

    .venv/bin/python bench/rpm_probe.py [--files 10000]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import staging  # noqa: E402

SCRIPT = """
import subprocess, sys, time
from recorder.capture import probes

files = int(sys.argv[1])
probe = probes.RpmProbe()
owners = probes.RpmOwners(probe)
probe.snapshot()
subprocess.run(["yum", "install", "-q", "-y", "greeter"], check=True, capture_output=True)
t = time.perf_counter(); probe.snapshot(); query = time.perf_counter() - t
t = time.perf_counter()
for _ in range(1000):
    probe.snapshot()
unchanged = (time.perf_counter() - t) / 1000
paths = [f"/opt/app/f{i}" for i in range(files)]
t = time.perf_counter(); owners.owner(paths[0]); listing = time.perf_counter() - t
t = time.perf_counter()
for p in paths:
    owners.unchanged_from_package(p)
lookups = time.perf_counter() - t
sample = paths[:100]
t = time.perf_counter()
for p in sample:
    subprocess.run(["rpm", "-qf", p], capture_output=True)
per_file = (time.perf_counter() - t) / len(sample)
print(f"rpm -qa after an install:           {query * 1000:8.1f} ms")
print(f"a step that changed no database:    {unchanged * 1e6:8.1f} us (the stamp: stat of its files)")
print(f"owners of {files} files:            {(listing + lookups) * 1000:8.0f} ms "
      f"(listing {listing * 1000:.0f} ms, lookups {lookups * 1000:.0f} ms)")
print(f"reference, rpm -qf once a file:     {per_file * files * 1000:8.0f} ms ({per_file * 1000:.1f} ms a file)")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    args = parser.parse_args()
    c = staging.client()
    _, image = staging.build_rhel_staging_image(c)
    container = c.containers.run(image, ["sleep", "infinity"], detach=True, remove=True)
    try:
        repo = "[base]\\nname=base\\nbaseurl=file:///srv/repos/base\\ngpgcheck=0\\n"
        container.exec_run(["sh", "-c", f"printf '{repo}' > /etc/yum.repos.d/base.repo"])
        code, out = container.exec_run(["/usr/lib/record/bin/python", "-c", SCRIPT, str(args.files)])
        print(out.decode(), end="")
        sys.exit(code)
    finally:
        container.remove(force=True)


if __name__ == "__main__":
    main()
