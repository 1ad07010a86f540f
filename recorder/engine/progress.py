"""How a build looks while it runs: a live panel on a terminal, plain lines in logs, silence with --quiet.

The live panel keeps the screen small (the current instruction, its origin in the session, the
time, the last lines of its output) and leaves one line per finished instruction behind.
"""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from recorder.engine.build import Output, StepStarted

SHOWN_LINES = 6
WIDTH = 100


def _short(text: str, width: int = WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class BuildProgress:
    def __init__(self, console: Console, quiet: bool = False):
        self.console = console
        self.quiet = quiet
        self.live: Live | None = None
        self.started = time.monotonic()
        self.step: StepStarted | None = None
        self.step_started = self.started
        self.lines: deque[str] = deque(maxlen=SHOWN_LINES)
        self.spinner = Spinner("dots")

    def __enter__(self) -> BuildProgress:
        if self.console.is_terminal and not self.quiet:
            self.live = Live(self, console=self.console, refresh_per_second=8, transient=True)
            self.live.start()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._close_step(failed=exc_type is not None)
        if self.live is not None:
            self.live.stop()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, event: StepStarted | Output) -> None:
        if isinstance(event, StepStarted):
            self._close_step()
            self.step, self.step_started = event, time.monotonic()
            self.lines.clear()
            if self.live is None and not self.quiet:
                origin = f"  ({_short(event.origin, 60)})" if event.origin else ""
                self._print(
                    f"[{self.elapsed:6.1f}s] step {event.number}/{event.total}: {_short(event.instruction)}{origin}"
                )
        else:
            self.lines.append(event.line)
            if self.live is None and not self.quiet:
                self._print(f"    {event.line}")

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _close_step(self, failed: bool = False) -> None:
        """On a terminal, what stays on screen of a finished instruction: one line."""
        if self.live is None or self.step is None:
            return
        took = time.monotonic() - self.step_started
        s = self.step
        self.live.console.print(
            Text.assemble(
                ("✗ ", "bold red") if failed else ("✓ ", "green"),
                f"{s.number}/{s.total} ",
                (_short(s.instruction, 70), "bold"),
                f"  {took:.1f}s",
            )
        )
        self.step = None

    def __rich__(self) -> RenderableType:
        """The live panel, redrawn by rich several times a second (so the clocks move)."""
        if self.step is None:
            return Text.assemble(self.spinner.render(time.monotonic()), f" sending the context  {self.elapsed:.1f}s")
        s = self.step
        head = Table.grid(padding=(0, 1))
        head.add_row(
            self.spinner.render(time.monotonic()),
            Text(f"step {s.number} of {s.total}", style="bold"),
            Text(_short(s.instruction, 80)),
            Text(f"{time.monotonic() - self.step_started:.1f}s (total {self.elapsed:.1f}s)", style="cyan"),
        )
        parts: list[RenderableType] = [head]
        if s.origin:
            parts.append(Text(f"  from {_short(s.origin, 90)}", style="dim"))
        parts.extend(Text(f"  │ {_short(line, 110)}", style="dim") for line in self.lines)
        return Group(*parts)
