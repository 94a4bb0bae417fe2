"""Run a graph of jobs: every ready job at once, under a limit; it knows nothing of Azure.

A job is ready when every job it needs has succeeded. Ready jobs start in the order they were
given (azwrap gives the book's), so with limit 1 the run is exactly that order. After a failure no
new job starts; running jobs finish and are reported. On KeyboardInterrupt (Ctrl-C, or a signal
turned into one) `stop` is called so that running jobs end soon; a second one calls it again,
urgent; the scheduler waits for every running job before it raises.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ..book.quoting import shown

# How often the waiting thread wakes up: on Windows a lock wait cannot be interrupted by Ctrl-C.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Job:
    name: str
    needs: tuple[str, ...]
    run: Callable[[], None]


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)  # in the order they finished
    failed: dict[str, BaseException] = field(default_factory=dict)
    not_started: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # of the jobs that ran


class JobsFailed(Exception):
    """One or more jobs raised; the others that could run have run."""

    def __init__(self, outcome: Outcome):
        self.outcome = outcome
        super().__init__(", ".join(outcome.failed))


class JobsInterrupted(Exception):
    """Interrupted: `running` were stopped (and waited for); nothing else was started."""

    def __init__(self, running: list[str], outcome: Outcome):
        self.running, self.outcome = running, outcome
        super().__init__(", ".join(running))


def check(jobs: list[Job]) -> None:
    """Raise ValueError if a job needs an unknown job or a later one (the order must be a topological one)."""
    seen: set[str] = set()
    for job in jobs:
        for need in job.needs:
            if need not in seen:
                raise ValueError(f"job {shown(job.name)} needs {shown(need)}, which is not an earlier job")
        seen.add(job.name)


def run(jobs: list[Job], limit: int, *, stop: Callable[[bool], None] = lambda urgent: None,
        on_start: Callable[[str], None] = lambda name: None, clock: Callable[[], float] = time.monotonic,
        spawn: Callable[[Callable[[], None]], None] | None = None) -> Outcome:  # fmt: skip
    """Run jobs, at most `limit` at a time; raise JobsFailed or JobsInterrupted, else return the outcome.

    `spawn` starts a callable concurrently (a daemon thread by default; tests pass their own).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    check(jobs)
    spawn = spawn or _thread
    finished: queue.Queue = queue.Queue()
    pending = list(jobs)
    running: dict[str, float] = {}  # name -> start time
    outcome = Outcome()
    interrupts = 0

    def start(job: Job) -> None:
        on_start(job.name)
        running[job.name] = clock()

        def body() -> None:
            try:
                job.run()
            except BaseException as error:  # reported to the waiting thread, which decides
                finished.put((job.name, error))
            else:
                finished.put((job.name, None))

        spawn(body)  # right after it is counted as running: it will report to `finished`

    stopped: list[str] | None = None  # the jobs running when the first interrupt came
    while pending or running:
        try:
            if not outcome.failed and stopped is None:
                for job in [job for job in pending if all(need in outcome.done for need in job.needs)]:
                    if len(running) >= limit:
                        break
                    pending.remove(job)
                    start(job)
            if not running:
                break  # nothing runs and nothing can start: a failure, or needs that failed
            name, error = _next(finished)
        except KeyboardInterrupt:
            interrupts += 1
            if stopped is None:
                stopped = list(running)
            stop(interrupts > 1)  # the second interrupt: urgent
            continue
        outcome.seconds[name] = clock() - running.pop(name)
        if error is None:
            outcome.done.append(name)
        elif stopped is None:
            outcome.failed[name] = error
    outcome.not_started = [job.name for job in pending]
    if stopped is not None:
        raise JobsInterrupted(stopped, outcome)
    if outcome.failed:
        raise JobsFailed(outcome)
    return outcome


def _next(finished: queue.Queue):
    while True:
        try:
            return finished.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue


def _thread(body: Callable[[], None]) -> None:
    threading.Thread(target=body, daemon=True).start()
