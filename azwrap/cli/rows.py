"""What a command shows beside its steps: the live view's rows (sign-in and doctor too), the events sent
to the view, the call log and the lock file (the steps running now, for `azwrap status`)."""

from __future__ import annotations

import contextlib
import threading
import time

import click

from ..az import calllog
from ..az.runner import Interrupted
from ..store import lock as state_lock
from ..ui import progress
from ..ui.events import DONE, FAILED, RUNNING, STOPPED, StepChanged

VIEW = "azwrap.view"  # the run's view in click's context meta: a command that asks a question closes it first


def fan_out(*sinks):
    def send(event) -> None:
        for sink in sinks:
            sink(event)

    return send


def view_for(steps, skip_doctor: bool, quiet: bool):
    """The run's view, with a row per step (and doctor's checks, before `all`'s steps)."""
    rows = [step.name for step in steps]
    if not skip_doctor and "login" in rows:
        rows.insert(rows.index("login") + 1, "doctor")
    view = progress.make(rows, quiet=quiet)
    click.get_current_context().meta[VIEW] = view
    return view


def recorded(view, state_path, holder: state_lock.Holder, command_path: str, what_if: bool):
    """Events to the view, the call log (which names the azwrap command) and the lock file."""
    label = command_path.partition(" ")[2] + (" --what-if" if what_if else "")
    return fan_out(view, calllog.CallLog(calllog.log_path(state_path), calllog.new_run_id(), label),
                   _running_into(holder))  # fmt: skip


def _running_into(holder: state_lock.Holder):
    """An event sink that keeps the steps running now in the lock file, for `azwrap status`."""
    running: list[str] = []
    guard = threading.Lock()

    def send(event) -> None:
        if not isinstance(event, StepChanged):
            return
        with guard:
            if event.status == RUNNING and event.step not in running:
                running.append(event.step)
            elif event.status != RUNNING and event.step in running:
                running.remove(event.step)
            else:
                return
            holder.running(running)

    return send


@contextlib.contextmanager
def row(session, name: str):
    """A row of the live view for what runs in the block (sign-in, doctor): running, then how it ended;
    an interrupt names it. Yields [status]: done unless the block says otherwise (login: skipped)."""
    events = session.runner.events
    session.doing = name
    started, outcome = time.monotonic(), [DONE]
    events(StepChanged(name, RUNNING))
    try:
        yield outcome
    except BaseException as error:
        stopped = isinstance(error, (Interrupted, KeyboardInterrupt))
        events(StepChanged(name, STOPPED if stopped else FAILED, time.monotonic() - started))
        raise
    events(StepChanged(name, outcome[0], time.monotonic() - started))
