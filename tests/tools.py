"""Commands the test extra installs (`pip install -e '.[test]'`). They sit beside the interpreter running
the tests, in the virtualenv's bin, which need not be on PATH: a test must not find them there, or it
passes only on a machine where someone once installed them by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_tool(name: str) -> str:
    """The path of a command from the test extra; fails loudly when it is missing."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{path} is missing: the test extra installs it (pip install -e '.[test]')"
    return str(path)


test_tool.__test__ = False  # a helper, not a test


def hadolint_findings(dockerfile: str) -> str:
    """What hadolint says of a Dockerfile's text at every level (style and info included), '' for nothing."""
    result = subprocess.run(
        [test_tool("hadolint"), "--no-color", "--failure-threshold", "style", "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
    )
    return "" if result.returncode == 0 else (result.stdout + result.stderr).strip()
