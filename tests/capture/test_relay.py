"""The pty relay on its own: a shell that ends ends the relay at once."""

from __future__ import annotations

import os

from recorder.capture import pty as terminal


def test_the_end_of_output_wakes_the_relay_rather_than_its_poll_timeout(monkeypatch, tmp_path):
    """The output pump tells the relay's loop that the pty ended through the wake pipe; the loop then
    returns at once. Written to the pipe's other end, that word was lost and every `exit` sat out the
    loop's poll timeout (DRAIN_WAIT, half a second) before the recording was written."""
    woken = []
    drain = terminal.PtyRelay._drain_wakeups
    monkeypatch.setattr(terminal.PtyRelay, "_drain_wakeups", lambda self, fd: woken.append(fd) or drain(self, fd))
    stdin_r, stdin_w = os.pipe()  # the user types nothing; input stays open
    out = os.open(tmp_path / "screen", os.O_WRONLY | os.O_CREAT)
    try:
        relay = terminal.PtyRelay(["sh", "-c", "echo hello"], dict(os.environ), stdin_fd=stdin_r, stdout_fd=out)
        relay.spawn()
        assert relay.run() == 0
    finally:
        for fd in (stdin_r, stdin_w, out):
            os.close(fd)
    assert woken, "the loop returned by its poll timeout: the pump's wake-up never reached it"
    assert "hello" in (tmp_path / "screen").read_text()
