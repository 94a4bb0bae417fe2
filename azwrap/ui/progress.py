"""What the user sees while steps run: a live view on a terminal, plain `[step]` lines elsewhere.

Both take the runner's and apply's events (azwrap/ui/events.py) and messages; nothing else in
azwrap prints while steps run. The live view uses rich, imported only when it is drawn (start-up
stays fast); rich honours NO_COLOR, and the plain lines have no control codes at all.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from .events import DONE, FAILED, RUNNING, SKIPPED, STOPPED, WAITING, CallEnded, CallStarted, Line, StepChanged
from .table import wrap


def on_terminal(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def make(steps: list[str], *, quiet: bool = False, stream: TextIO | None = None):
    """The view for this stream: Live on a terminal, Plain otherwise."""
    stream = stream or sys.stderr
    return Live(steps, stream, quiet=quiet) if on_terminal(stream) else Plain(stream, quiet=quiet)


class _Once:
    """az's messages, each shown once per run: a warning az repeats on every call of a kind (the storage
    commands' account-key notice on every probe) says nothing new the second time."""

    def __init__(self):
        self._seen: set[str] = set()

    def first(self, event: Line) -> bool:
        if not event.from_az:
            return True
        if event.text in self._seen:
            return False
        self._seen.add(event.text)
        return True


class Plain:
    """One line per event, prefixed by its step: for pipes, files and CI logs."""

    def __init__(self, stream: TextIO, *, quiet: bool = False):
        self.stream, self.quiet = stream, quiet
        self._lock = threading.Lock()
        self._once = _Once()

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """azwrap's own messages name their step already."""
        self._write(text)

    def __call__(self, event) -> None:
        if isinstance(event, CallStarted) and not self.quiet:
            self._write(f"[{event.step}] $ {event.command}")
        elif isinstance(event, Line):
            if self._once.first(event):
                self._write(f"[{event.step}] {event.text}")
        elif isinstance(event, StepChanged) and event.status in (DONE, FAILED, STOPPED):
            seconds = "" if event.seconds is None else f" {'in' if event.status == DONE else 'after'} {event.seconds:.1f}s"
            self._write(f"[{event.step}] {event.status}{seconds}")

    def summary(self, table: list[str], totals: str) -> None:
        """The end of a run: seconds per step (a log keeps no live table), then the totals."""
        for line in [*table, totals]:
            self._write(line)

    def close(self) -> None:
        pass


_STYLE = {WAITING: "dim", RUNNING: "yellow", DONE: "green", SKIPPED: "cyan", FAILED: "bold red", STOPPED: "magenta"}


class Live:
    """One line per step (waiting, running with elapsed time and its az command, done, skipped,
    failed), redrawn in place; az's messages print above it, prefixed by their step."""

    def __init__(self, steps: list[str], stream: TextIO, *, quiet: bool = False, clock=time.monotonic):
        self.steps, self.stream, self.quiet, self.clock = list(steps), stream, quiet, clock
        self.status = {step: WAITING for step in steps}
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.command: dict[str, str] = {}
        self._lock = threading.RLock()
        self._live = None
        self._ended = False  # the final table is out
        self._console = None
        self._once = _Once()
        self._rows = self._frame()  # replaced whole (never changed in place) each time a row changes

    def _ensure_started(self) -> None:
        if self._live is not None:
            return
        from rich.console import Console  # here only: importing rich costs start-up time
        from rich.live import Live as RichLive

        self._console = Console(file=self.stream, highlight=False)
        self._live = RichLive(get_renderable=self._render, console=self._console, refresh_per_second=4,
                              redirect_stdout=False, redirect_stderr=False)  # fmt: skip
        self._live.start()

    def _frame(self) -> tuple:
        """The rows as they are now (under the lock): what _render draws."""
        return tuple((step, self.status[step], self.started.get(step), self.seconds.get(step), self.command.get(step, ""))
                     for step in self.steps)  # fmt: skip

    def _render(self):
        """Called by rich with its own lock held (its refresh thread, or a print): so it takes no lock of
        ours, which a thread holding ours may be waiting on rich's to release; it draws the last frame."""
        from rich.text import Text

        rows = self._rows
        lines = Text()
        width = max(len(step) for step, *_ in rows) if rows else 4
        for index, (step, status, started, seconds, command) in enumerate(rows):
            line = Text(f"  {step:<{width}}  ")
            line.append(f"{status:<8}", style=_STYLE[status])
            if status == RUNNING and started is not None:
                line.append(f" {self.clock() - started:5.1f}s  {command}")
            elif seconds is not None:
                line.append(f" {seconds:5.1f}s")
            line.truncate(max(20, self._console.width - 1) if self._console else 200)
            lines.append_text(line)
            if index < len(rows) - 1:
                lines.append("\n")
        return lines

    def _print(self, text: str) -> None:
        from rich.text import Text

        if self._ended:  # after the final table: plain lines, which do not draw the table again
            say(text, self.stream)
            return
        with self._lock:
            self._ensure_started()
            for line in _wrapped(text, self._console.width - 1):
                self._console.print(Text(line), soft_wrap=True)  # Text: az's "[...]" is not rich markup

    def message(self, text: str) -> None:
        self._print(text)

    def __call__(self, event) -> None:
        if self._ended:
            if isinstance(event, CallStarted) and not self.quiet:
                say(f"[{event.step}] $ {event.command}", self.stream)
            elif isinstance(event, Line) and self._once.first(event):
                say(f"[{event.step}] {event.text}", self.stream)
            return
        with self._lock:
            self._ensure_started()
            if isinstance(event, StepChanged):
                if event.step not in self.status:
                    self.steps.append(event.step)
                self.status[event.step] = event.status
                if event.status == RUNNING:
                    self.started[event.step] = self.clock()
                elif event.seconds is not None:
                    self.seconds[event.step] = event.seconds
            elif isinstance(event, CallStarted):
                self.command[event.step] = event.command
                if event.step not in self.status and not self.quiet:
                    # No row to show it in (destroy's deletions): a line above, kept in the scrollback.
                    self._print(f"[{event.step}] $ {event.command}")
                    return
            elif isinstance(event, CallEnded):
                self.command.pop(event.step, None)
            elif isinstance(event, Line):
                if self._once.first(event):
                    self._print(f"[{event.step}] {event.text}")
                return
            self._rows = self._frame()
            self._live.refresh()  # (rich's refresh thread takes no lock of ours: see _render)

    def summary(self, table: list[str], totals: str) -> None:
        """The last frame stays on the screen as the table of seconds per step: only the totals follow (and
        whatever comes after, as plain lines: the table is not drawn again)."""
        self.close()
        self._ended = True
        width = self._console.width - 1 if self._console else 100
        self.stream.write("".join(line + "\n" for line in _wrapped(totals, width)))
        self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.refresh()
                self._live.stop()
                self._live = None


def say(text: str, stream: TextIO | None = None) -> None:
    """A message after the view has ended: wrapped, indented, within a terminal's width (as it is off one)."""
    stream = stream or sys.stderr
    lines = _wrapped(text, _terminal_width(stream) - 1) if on_terminal(stream) else [text]
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()


def _terminal_width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 100


def _wrapped(text: str, width: int) -> list[str]:
    """Each line of text within width; a wrapped line continues indented under its text (after
    "[step] ", or under the line's own indent and four more), so it does not read as a line of its own."""
    lines = []
    for line in text.splitlines() or [""]:
        if len(line) <= width:
            lines.append(line)
            continue
        body = line.lstrip(" ")
        lead = line[: len(line) - len(body)]
        if body.startswith("[") and "] " in body:
            step, _, body = body.partition("] ")
            lead += step + "] "
            lines += wrap(body, width, lead, continuation=" " * len(lead))
        else:
            lines += wrap(body, width, lead)
    return lines
