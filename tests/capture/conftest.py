"""Every test here that opens a recorded bash runs twice: with PS0 reporting each line (bash 4.4 and
later) and with the DEBUG-trap fallback that bash 4.2 (CentOS 7) needs. The fallback is forced on
this machine's bash, whose version alone would choose PS0."""

from __future__ import annotations

import pytest

from recorder.capture.hooks import HOOKS_ENV, MODES


@pytest.fixture(params=MODES)
def hook_mode(request, monkeypatch) -> str:
    """RECORD_HOOKS for the recorder the test starts (the tests' pexpect spawns pass os.environ on)."""
    monkeypatch.setenv(HOOKS_ENV, request.param)
    return request.param


@pytest.fixture
def home(home, hook_mode):
    """The shared home fixture, so each recording test that uses it runs in both modes."""
    return home
