"""Image size and rebuild time for the shipped example (sessions/web, nginx), in one run:
- size of the image `record build` makes vs a hand-written expert Dockerfile for the same deployment,
  and vs `docker commit` of a staging container where the deployment was done by hand
  (target: <= 1.05x the expert image);
- rebuild time after one captured config file changed vs a cold build (target: <= 0.15x).

    .venv/bin/python bench/image.py      (needs the engine and base image: scripts/testbench)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import staging  # noqa: E402

EXAMPLE = staging.ROOT / "sessions" / "web"
EXPERT = """\
FROM {base}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends nginx \\
 && rm -rf /var/lib/apt/lists/*
COPY index.html /var/www/html/index.html
COPY default /etc/nginx/sites-available/default
ENV APP_ENV=staging
EXPOSE 8080
CMD ["nginx", "-g", "daemon off;"]
"""


def record_build(session: Path, tag: str, *extra: str) -> tuple[float, float]:
    """(seconds for the whole `record build` command, seconds the engine took, as the command reports)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "recorder", "build", str(session), "--tag", tag, "--base", staging.BASE_IMAGE, *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    whole = time.perf_counter() - start
    engine = re.search(r"built \S+ \(\S+\) in ([0-9.]+)s", done.stderr)
    return whole, float(engine.group(1)) if engine else whole


def expert_build(client, tag: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("Dockerfile", EXPERT.format(base=staging.BASE_IMAGE).encode()),
            ("index.html", (EXAMPLE / "files/var/www/html/index.html").read_bytes()),
            ("default", (EXAMPLE / "files/etc/nginx/sites-available/default").read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    for chunk in client.api.build(fileobj=buf, custom_context=True, tag=tag, decode=True, rm=True):
        if "error" in chunk:
            raise RuntimeError(chunk["error"])


def committed_staging(client, tag: str) -> None:
    client.images.get(staging.build_staging_image(client))
    host = staging.StagingHost(client)
    try:
        host.record("web", staging.NGINX_DEPLOYMENT)
        host.container.commit(repository=tag.split(":")[0], tag=tag.split(":")[1])
    finally:
        host.close()


def size(client, tag: str) -> int:
    return client.images.get(tag).attrs["Size"]


def main() -> None:
    client = staging.client()
    tags = {name: staging.tag(f"bench-{name}") for name in ("record", "expert", "commit", "rebuild")}
    work = Path(tempfile.mkdtemp(prefix="bench-image-"))
    try:
        cold = record_build(EXAMPLE, tags["record"], "--no-cache")
        expert_build(client, tags["expert"])
        committed_staging(client, tags["commit"])
        session = work / "web"
        shutil.copytree(EXAMPLE, session)
        record_build(session, tags["rebuild"])  # warm the cache for this context
        page = session / "files/var/www/html/index.html"
        page.write_text(page.read_text() + "<p>changed after review</p>\n")
        warm = record_build(session, tags["rebuild"])

        sizes = {name: size(client, tag) for name, tag in tags.items() if name != "rebuild"}
        print("image size, sessions/web (nginx)")
        for name in ("record", "expert", "commit"):
            print(f"  {name:7}: {sizes[name] / 1e6:8.1f} MB   {sizes[name] / sizes['expert']:.2f}x expert")
        ratio = sizes["record"] / sizes["expert"]
        print(f"  target: record <= 1.05x expert -> {'met' if ratio <= 1.05 else 'NOT met'} ({ratio:.2f}x)")
        print("rebuild after one captured config file changed")
        for label, i in (("whole command", 0), ("engine build", 1)):
            ratio = warm[i] / cold[i]
            print(
                f"  {label:13}: cold {cold[i]:6.1f} s   rebuild {warm[i]:6.1f} s   ratio {ratio:.2f}x "
                f"(target <= 0.15x -> {'met' if ratio <= 0.15 else 'NOT met'})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for tag in tags.values():
            with contextlib.suppress(Exception):  # best effort clean-up
                client.images.remove(tag, force=True)


if __name__ == "__main__":
    main()
