"""Moves bytes between the user's terminal and the shell's pty, and nothing else.

Not pexpect's interact(): it stops when the child exits rather than at end of output and loses the
tail. Here: output copied on two threads of its own until the pty reports EIO, input queued and
written without blocking (a large paste cannot deadlock us against a shell that is busy writing),
SIGWINCH forwarded, and the user's terminal mode restored on every way out.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import queue
import select
import shutil
import signal
import struct
import sys
import termios
import threading
import time
import traceback
import tty
from collections.abc import Callable

from ptyprocess import PtyProcess

from recorder.capture.cast import CastWriter

READ_SIZE = 64 * 1024
DRAIN_WAIT = 0.5  # a shell gone this long with no output: a daemon holds its pty, stop reading


def run_guarded(work: Callable[[], int], on_killed: Callable[[int, int], None]) -> int:
    """Run `work` in a child process and restore the terminal however it ends, even on kill -9.

    A process cannot undo its own raw mode after SIGKILL; its parent can. The parent only waits:
    signals from the terminal reach the child, which ends the recording properly. Then it ends at
    once with the child's status (it returns only when there is no terminal and `work` ran here): it
    has nothing to clean up, and the interpreter's teardown of all the recorder imported was 80-90 ms
    of every `exit` (bench/exit.py).
    """
    if not os.isatty(0):
        return work()
    saved = termios.tcgetattr(0)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = work()
        except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTSTP, signal.SIGWINCH):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(termios.error):
        termios.tcsetattr(0, termios.TCSAFLUSH, saved)
    code = os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        on_killed(os.WTERMSIG(status), pid)
        code = 128 + os.WTERMSIG(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def terminal_size(fd: int) -> tuple[int, int]:
    """(rows, cols) of the user's terminal, or a sane default when input is not a terminal."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        if rows and cols:
            return rows, cols
    except OSError:
        pass
    size = shutil.get_terminal_size((80, 24))
    return size.lines, size.columns


class OutputPump:
    """Copies the shell's output to the user's terminal and the cast, on two threads of its own.

    One thread reads the pty while the other writes. A single loop that reads and then writes leaves
    the shell blocked on a full pty while we write: pipelined, the relay keeps up with `script -q`
    (bench/throughput.py; bursts of reads in one loop measured slower). Nothing is dropped: the
    writer ends only after the reader has queued the last byte it read before EIO.
    """

    def __init__(self, master: int, stdout_fd: int, cast: CastWriter | None, wake_fd: int):
        self.master, self.stdout_fd, self.cast, self.wake_fd = master, stdout_fd, cast, wake_fd
        self.ended = threading.Event()  # the pty reported end of output
        self.last_output = time.monotonic()
        self.terminal_gone = False  # the user's terminal stopped taking output (a hang-up): the cast goes on
        self.failure: OSError | None = None  # a read error other than the pty's end, raised by stop()
        self._stop = threading.Event()
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._read, name="pty-reader", daemon=True),
            threading.Thread(target=self._write, name="pty-writer", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop reading (a daemon may keep the pty open forever) and write out what was read."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        if self.failure is not None:
            raise self.failure

    def _read(self) -> None:
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        try:
            while not self._stop.is_set():
                try:
                    data = os.read(self.master, READ_SIZE)
                except BlockingIOError:  # polled only when there is nothing: one call a read in a flood
                    poller.poll(200)
                    continue
                except OSError as exc:
                    if exc.errno != errno.EIO:  # EIO: every writer of the pty is gone; anything else is a fault
                        self.failure = exc
                    break
                if not data:
                    break
                self.last_output = time.monotonic()
                self._queue.put(data)
        finally:
            self._queue.put(None)
            self.ended.set()
            with contextlib.suppress(OSError):
                os.write(self.wake_fd, b"\0")

    def _write(self) -> None:
        while True:
            chunks = [self._queue.get()]
            while not self._queue.empty():  # what piled up while we wrote: one write for all of it
                chunks.append(self._queue.get())
            data = b"".join(chunk for chunk in chunks if chunk is not None)
            if data:
                self._to_terminal(data)
                if self.cast is not None:
                    self.cast.output(data)
            if chunks[-1] is None:
                return

    def _to_terminal(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.terminal_gone:
            try:
                view = view[os.write(self.stdout_fd, view) :]
            except BlockingIOError:
                select.select([], [self.stdout_fd], [], 1)
            except OSError:
                self.terminal_gone = True


class PtyRelay:
    """Runs `argv` in a new pty and relays it to stdin/stdout until its output ends.

    Output goes through an OutputPump (threads of its own); input, signals and `watch` are served
    by one loop here. `watch` maps extra file descriptors to callbacks: the recorder's event FIFO
    is served with the keyboard, so a command is handled before the next keystroke reaches the shell.
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cast: CastWriter | None = None,
        stdin_fd: int = 0,
        stdout_fd: int = 1,
    ):
        self.argv, self.env, self.cast = argv, env, cast
        self.stdin_fd, self.stdout_fd = stdin_fd, stdout_fd
        self.watch: dict[int, Callable[[int], None]] = {}
        self.proc: PtyProcess | None = None
        self.hangup = False
        self.secret_typed = False  # input arrived while the shell's side had echo off at a line prompt
        self.typed = bytearray()  # what was typed then; never written anywhere
        self._pending = bytearray()

    def take_typed(self) -> bytes:
        """What was typed at no-echo prompts since the last call, forgotten here once taken."""
        data = bytes(self.typed)
        self.typed[:] = b"\0" * len(self.typed)
        self.typed.clear()
        return data

    def spawn(self) -> PtyProcess:
        rows, cols = terminal_size(self.stdin_fd)
        self.proc = PtyProcess.spawn(self.argv, env=self.env, dimensions=(rows, cols))
        flags = fcntl.fcntl(self.proc.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.proc.fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        return self.proc

    def run(self) -> int:
        """Relay until the shell's output ends; returns the shell's exit status."""
        assert self.proc is not None, "spawn() first"
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGWINCH, signal.SIGHUP, signal.SIGTERM)
        }
        saved_mode = None
        if os.isatty(self.stdin_fd):
            saved_mode = termios.tcgetattr(self.stdin_fd)
            tty.setraw(self.stdin_fd)
        try:
            self._loop(wake_r, wake_w)
        finally:
            if saved_mode is not None:
                termios.tcsetattr(self.stdin_fd, termios.TCSAFLUSH, saved_mode)
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
        return self._exit_status()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGWINCH:
            self._resize = True
        else:
            self.hangup = True

    _resize = False

    def _loop(self, wake_r: int, wake_w: int) -> None:
        master = self.proc.fd
        pump = OutputPump(master, self.stdout_fd, self.cast, wake_w)
        pump.start()
        try:
            self._serve(master, wake_r, pump)
        finally:
            pump.stop()

    def _serve(self, master: int, wake_fd: int, pump: OutputPump) -> None:
        """Input, signals and the recorder's own descriptors, until the output pump sees the end."""
        stdin_open = True
        hung_up_at: float | None = None
        while True:
            readers = [wake_fd, *self.watch]
            if stdin_open and not self.hangup:
                readers.append(self.stdin_fd)
            writers = [master] if self._pending else []
            ready_r, ready_w, _ = select.select(readers, writers, [], DRAIN_WAIT)
            if wake_fd in ready_r:
                self._drain_wakeups(wake_fd)
            if pump.ended.is_set():
                return
            for fd in ready_r:
                if fd in self.watch:
                    self.watch[fd](fd)
            if self.stdin_fd in ready_r:
                data = self._read(self.stdin_fd)
                if data:
                    self._pending += data
                    if self._at_secret_prompt(master):
                        self.secret_typed = True
                        self.typed += data  # kept in memory only, so the secret can be found and redacted
                elif data == b"":
                    stdin_open = False
            if master in ready_w:
                self._flush_input(master)
            if self.hangup and hung_up_at is None:
                hung_up_at = time.monotonic()
                self._signal_child(signal.SIGHUP)
            if hung_up_at is not None and time.monotonic() - hung_up_at > 5:
                self._signal_child(signal.SIGKILL)
            quiet = time.monotonic() - pump.last_output > DRAIN_WAIT
            if not ready_r and quiet and not self.proc.isalive():
                return  # the shell is gone and its output is drained (a daemon may hold the pty open)

    @staticmethod
    def _at_secret_prompt(master: int) -> bool:
        """A password prompt turns echo off but keeps line editing on; readline turns both off."""
        try:
            lflag = termios.tcgetattr(master)[3]
        except termios.error:
            return False
        return not lflag & termios.ECHO and bool(lflag & termios.ICANON)

    def _drain_wakeups(self, fd: int) -> None:
        try:
            while os.read(fd, 512):
                pass
        except BlockingIOError:
            pass
        if self._resize:
            self._resize = False
            rows, cols = terminal_size(self.stdin_fd)
            with contextlib.suppress(OSError):
                self.proc.setwinsize(rows, cols)

    def _read(self, fd: int) -> bytes | None:
        """Bytes read, b"" at end of input, None when nothing is there yet."""
        try:
            return os.read(fd, READ_SIZE)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def _flush_input(self, master: int) -> None:
        try:
            written = os.write(master, self._pending[:READ_SIZE])
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                self._pending.clear()
                return
            raise
        del self._pending[:written]

    def _signal_child(self, sig: int) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill(sig)

    def _exit_status(self) -> int:
        with contextlib.suppress(Exception):  # already reaped
            self.proc.wait()
        if self.proc.exitstatus is not None:
            return self.proc.exitstatus
        return 128 + (self.proc.signalstatus or 0)
