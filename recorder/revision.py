"""A session as it was at a git revision (`origin/main:sessions/web`), so a PR can be diffed against its base."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from recorder.errors import RecorderError


def session_dir(spec: str, scratch: Path) -> Path:
    """`spec` itself when it is a directory; else `REV:PATH` read with `git archive` into `scratch`."""
    path = Path(spec)
    if path.exists() or ":" not in spec:
        return path
    try:
        result = subprocess.run(["git", "archive", "--format=tar", spec], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RecorderError(f"{spec}: not a directory, and git could not read it as REV:PATH ({exc})") from None
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RecorderError(
            f"{spec}: not a directory, and git could not read it as REV:PATH ({reason[0] if reason else 'failed'})"
        )
    target = scratch / spec.replace("/", "_").replace(":", "@")
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target
