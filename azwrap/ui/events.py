"""What happens during a run, as data: the runner and apply emit these, progress and the call log read them."""

from __future__ import annotations

from dataclasses import dataclass

WAITING, RUNNING, DONE, SKIPPED, FAILED, STOPPED = "waiting", "running", "done", "skipped", "failed", "stopped"


@dataclass(frozen=True)
class CallStarted:
    step: str
    command: str  # as displayed: secrets masked
    probe: bool


@dataclass(frozen=True)
class CallEnded:
    step: str
    command: str
    probe: bool
    started_at: float  # seconds since the epoch
    seconds: float
    exit_code: int | None  # negative: ended by that signal (POSIX)
    interrupted: bool


@dataclass(frozen=True)
class Line:
    """A line of az's stderr (a warning, progress), or a message of azwrap's, about a step."""

    step: str
    text: str
    from_az: bool = True


@dataclass(frozen=True)
class StepChanged:
    step: str
    status: str  # WAITING ... STOPPED
    seconds: float | None = None
