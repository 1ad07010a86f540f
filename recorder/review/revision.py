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
        _extract(tar, target, spec)
    return target


def _extract(tar: tarfile.TarFile, target: Path, spec: str) -> None:
    """Only regular files, directories and links that stay inside `target`: tarfile's "data" filter
    where Python has it (3.11.4 on; Debian 12 ships 3.11.2), the same rules checked here where not."""
    if hasattr(tarfile, "data_filter"):
        try:
            tar.extractall(target, filter="data")
        except tarfile.FilterError as exc:
            raise RecorderError(
                f"{spec}: `{exc.tarinfo.name}` in that revision points outside the session directory"
            ) from None
        return
    root = target.resolve()
    for member in tar.getmembers():
        where = (root / member.name).resolve()
        points_to = None
        if member.issym():
            points_to = (where.parent / member.linkname).resolve()
        elif member.islnk():
            points_to = (root / member.linkname).resolve()
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()) or any(
            p != root and root not in p.parents for p in (where, points_to or root)
        ):
            raise RecorderError(f"{spec}: `{member.name}` in that revision points outside the session directory")
    tar.extractall(target)
