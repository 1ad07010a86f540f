"""`record check`: are the generated files committed in a session what its session.yaml generates now?

A Dockerfile edited by hand, or a session.yaml edited without regenerating, must not merge: CI and
the pre-commit hook run this. Nothing is written; the fix is `record to-dockerfile`.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path

from generators import dockerfile
from recorder.capture import cast
from recorder.errors import RecorderError
from recorder.model.session import SESSION_FILE, Session

UP_TO_DATE, DIFFERS, MISSING, STALE = "up to date", "differs", "missing", "stale"
UNFINISHED = "unfinished"
DIFF_LINES = 40


@dataclass
class FileStatus:
    path: str  # relative to the session directory
    state: str
    diff: str = ""  # unified diff, committed -> generated, cut at DIFF_LINES
    why: str = ""  # for a file that is not generated: what is wrong with it

    def as_dict(self) -> dict:
        return asdict(self)


def _diff(path: str, committed: str, generated: str) -> str:
    lines = list(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            f"{path} (committed)",
            f"{path} (generated now)",
        )
    )
    cut = lines[:DIFF_LINES]
    if len(lines) > DIFF_LINES:
        cut.append(f"... {len(lines) - DIFF_LINES} more lines\n")
    return "".join(line if line.endswith("\n") else line + "\n" for line in cut)


def check(session: Session, directory: Path, base: str | None = None) -> list[FileStatus]:
    """Each generated file's state, in a stable order; replay scripts no longer generated are stale."""
    generated = dockerfile.generate(session, base)
    out = []
    for name, text in sorted(generated.items()):
        target = directory / name
        if not target.is_file():
            out.append(FileStatus(name, MISSING))
            continue
        committed = target.read_text(encoding="utf-8", errors="replace")
        if committed == text:
            out.append(FileStatus(name, UP_TO_DATE))
        else:
            out.append(FileStatus(name, DIFFERS, _diff(name, committed, text)))
    replay = directory / dockerfile.REPLAY_DIR
    if replay.is_dir():
        for script in sorted(replay.glob("step-*.sh")):
            name = script.relative_to(directory).as_posix()
            if name not in generated:
                out.append(FileStatus(name, STALE))
    why = cast.unfinished(directory / cast.CAST_FILE)
    if why:
        out.append(FileStatus(cast.CAST_FILE, UNFINISHED, why=why))
    return out


def sessions_for(paths: list[Path], default_root: Path = Path("sessions")) -> list[Path]:
    """The session directories that paths name or lie in (pre-commit passes changed files).

    A directory must be a session; a file outside every session is not ours and is passed over.
    With no paths: every session under ./sessions.
    """
    if not paths:
        found = sorted(p.parent for p in default_root.glob(f"*/{SESSION_FILE}"))
        if not found:
            raise RecorderError(f"{default_root}: no sessions found; name a session directory")
        return found
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            session_dir = path  # loading it says what is wrong when it is not a session
        elif path.exists():
            session_dir = next((p for p in path.parents if (p / SESSION_FILE).is_file()), None)
            if session_dir is None:
                continue
        else:
            raise RecorderError(f"{path}: no such file or directory")
        if session_dir not in out:
            out.append(session_dir)
    return out
