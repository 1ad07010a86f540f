"""What a session names stays inside its directory: no `..`, no symlink out, every captured file there."""

from __future__ import annotations

import os
from pathlib import Path

from recorder.errors import RecorderError
from recorder.model.session import FILES_DIR, Session, active_steps


def inside(directory: Path, path: Path, what: str) -> None:
    """Refuse a path that leads out of the session directory (through `..` or a symlink)."""
    try:
        resolved = path.resolve()
        root = directory.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise RecorderError(f"{path}: cannot be resolved ({exc}); {what}") from None
    if not resolved.is_relative_to(root):
        raise RecorderError(f"{path}: points outside the session directory ({resolved}); {what}")


def check_files(session: Session, directory: Path) -> None:
    plain = _plain_files(directory / FILES_DIR)
    for step in active_steps(session):
        for f in step.effects.files:
            if f.kind != "file" or f.secret:
                continue
            stored = directory / f.stored_at
            if str(stored) in plain:
                continue
            inside(directory, stored, f"step {step.id} copies it into the image; put the file itself there")
            if not stored.exists():
                raise RecorderError(f"{stored}: missing; step {step.id} copies it into the image")
            if not stored.is_file():
                raise RecorderError(f"{stored}: not a regular file; step {step.id} copies it into the image")


def _plain_files(top: Path) -> set[str]:
    """Regular files under `top` reached without following a symlink: inside the session directory
    whatever they are called, so they need no resolving one by one (thousands in a long session)."""
    found: set[str] = set()
    if top.is_symlink() or not top.is_dir():
        return found
    pending = [str(top)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    found.add(entry.path)
    return found
