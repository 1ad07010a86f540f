"""Which shells `record start` opens, and how their commands are reported: PS0 for bash 4.4 and later,
the DEBUG-trap fallback for older bash (CentOS 7's 4.2), zsh's own hooks. A shell whose commands cannot
be followed is refused with one line and exit status 2, before anything is written: an empty
recording would pass for a deployment that did nothing.

Old bash versions are not installed here: a `bash` that answers `--version` as bash 4.2 or 3.2 would
and runs this machine's bash for everything else stands in for one."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from recorder.model import read
from tests.cli import RECORD, finish, record_in_pty, type_and_wait


def old_bash(tmp_path: Path, version: str) -> Path:
    """A bash that says it is `version` when asked, as the recorder asks (`bash --version`)."""
    directory = tmp_path / f"bash-{version}"
    directory.mkdir()
    fake = directory / "bash"
    fake.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = --version ] && {{ echo "GNU bash, version {version}(1)-release"; exit 0; }}\n'
        f'exec {shutil.which("bash")} "$@"\n'
    )
    fake.chmod(0o755)
    return fake


def refused(tmp_path: Path, *args: str, env: dict | None = None) -> str:
    """`record start` at a terminal that must refuse at once: its one line of output."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if k != "RECORD_HOOKS"}
    child = pexpect.spawn(
        sys.executable,
        [*RECORD[1:], "start", "--name", "t", "--dir", str(tmp_path / "sessions"), *args],
        env={**environ, "HOME": str(home), "TERM": "xterm", **(env or {})},
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=30,
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before.strip()
    assert child.exitstatus == 2, out
    assert len(out.splitlines()) == 1 and "Traceback" not in out, out
    assert not (tmp_path / "sessions").exists()  # nothing recorded, not even an empty session
    return out


def test_sh_that_is_not_bash_is_refused(tmp_path):
    sh = os.path.realpath("/bin/sh")
    assert os.path.basename(sh) == "dash", "this test needs /bin/sh to be dash, as on Debian"
    assert "/bin/sh is neither bash nor zsh" in refused(tmp_path, "--shell", "/bin/sh")


def test_a_bash_too_old_to_be_followed_is_refused(tmp_path):
    out = refused(tmp_path, "--shell", str(old_bash(tmp_path, "3.2.57")))
    assert "is bash 3.2: too old to be recorded" in out


def test_a_hook_mode_that_the_bash_lacks_or_that_does_not_exist_is_refused(tmp_path):
    bash42 = str(old_bash(tmp_path, "4.2.46"))
    assert "has no PS0" in refused(tmp_path, "--shell", bash42, env={"RECORD_HOOKS": "ps0"})
    assert "RECORD_HOOKS=preexec: use ps0 or fallback" in refused(tmp_path, env={"RECORD_HOOKS": "preexec"})


def test_bash_4_2_is_recorded_through_the_debug_trap(tmp_path, monkeypatch):
    """No RECORD_HOOKS: the version alone chooses the fallback, and the commands are recorded."""
    monkeypatch.delenv("RECORD_HOOKS", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("PS1='test$ '\n")
    child = record_in_pty(home, tmp_path, "--shell", str(old_bash(tmp_path, "4.2.46")))
    out = type_and_wait(child, 'trap -p DEBUG; echo "PS0=[$PS0]"')
    type_and_wait(child, "echo hello")
    finish(child)
    assert "__rec_debug" in out and "PS0=[]" in out
    steps = read.load(tmp_path / "sessions" / "t").steps
    assert [st.command for st in steps] == ['trap -p DEBUG; echo "PS0=[$PS0]"', "echo hello"]


@pytest.mark.parametrize("mode", ["ps0", "fallback"])
def test_each_mode_reports_through_its_own_hook(tmp_path, monkeypatch, mode):
    """What the capture suite's two runs rely on: RECORD_HOOKS chooses the hook on this bash."""
    monkeypatch.setenv("RECORD_HOOKS", mode)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("PS1='test$ '\n")
    child = record_in_pty(home, tmp_path)
    out = type_and_wait(child, 'echo "debug=[$(trap -p DEBUG)] ps0=[$PS0]"')
    finish(child)
    if mode == "fallback":
        assert "debug=[trap -- " in out and "ps0=[]" in out
    else:
        assert "debug=[]" in out and "ps0=[$(__rec_preexec)]" in out
