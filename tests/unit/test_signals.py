"""Signals while azwrap waits for az: every Ctrl-C, SIGTERM and SIGHUP is acted on at once, wherever in
a call it lands, and no process of the call outlives it.

Real child processes: a bash `az` that runs until it is stopped and leaves a mark if it ends by itself
(then nobody stopped it: the signal was noticed only when az ended). Each test installs azwrap's
handlers first (SIGINT's too, also when the suite was started with SIGINT ignored), sends its signals on
events the runner emits, never after a guessed sleep, and kills what it started in a `finally`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from azwrap.az import process, runner
from azwrap.az.redact import Redactor
from azwrap.ui.events import CallEnded, CallStarted, Line

from .conftest import ACCOUNT, SP

REPLICATION_ERROR = f"ERROR: Cannot find user or service principal in graph database for '{SP['appId']}'.\n"

pytestmark = pytest.mark.skipif(process._windows(), reason="POSIX signals and process groups")

# Runs until stopped; ended by itself, it writes its mark. It never ends within a test's life.
LONG_AZ = """#!/bin/bash
trap 'exit 143' TERM
echo started >&2
sleep 600 & wait
echo ended > "$0.ended"
"""
# Ignores SIGTERM, as the processes it starts do: only a kill ends it.
# (It ends by itself after two minutes: a test run killed before its clean-up leaves nothing running for long.)
STUBBORN_AZ = """#!/bin/bash
trap '' TERM
echo started >&2
while [ "$SECONDS" -lt 120 ]; do sleep 0.1; done
"""
# Ends at once: for a signal that comes after the call.
QUICK_AZ = """#!/bin/bash
echo '{"name": "g"}'
"""


def write_az(tmp_path, text: str):
    az = tmp_path / "az"
    az.write_text(text)
    az.chmod(0o755)
    return az


class Started:
    """Every az process group the runner starts (its pid is its group id); killed in the test's finally."""

    def __init__(self, monkeypatch, az, after_popen=None):
        self.groups: list[int] = []
        real = subprocess.Popen

        def popen(argv, *args, **kwargs):
            proc = real(argv, *args, **kwargs)
            if argv[0] == str(az):  # not the test's own `ps`
                self.groups.append(proc.pid)
                if after_popen:
                    after_popen()
            return proc

        monkeypatch.setattr(runner.subprocess, "Popen", popen)

    def alive(self) -> list[int]:
        """The groups of which a process still runs (zombies excepted: dead, waiting to be reaped)."""
        table = subprocess.run(["ps", "-A", "-o", "pgid=", "-o", "stat="], capture_output=True, text=True, check=True)
        running = {int(pgid) for pgid, state in (line.split() for line in table.stdout.splitlines()) if state[0] != "Z"}
        return [group for group in self.groups if group in running]

    def kill(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


def make_runner(az, on_event=None, around=None) -> runner.Runner:
    run = runner.Runner(str(az), Redactor(), quiet=True, echo=lambda line: None)
    if on_event:
        run.events = on_event
    if around:
        run.around_call = around
    return run


def to_azwrap(signum):
    """Send signum to this process (the kernel hands it to any thread that does not block it)."""
    os.kill(os.getpid(), signum)


def to_another_thread(signum):
    """Once the main thread waits (blocked, not running), send signum to a thread of its own: its C handler
    runs there and the main thread is not woken, as when the kernel picks another thread for a signal sent
    to the process. A main thread blocked with no timeout would not notice it until az ends."""

    def send() -> None:
        main_waits()
        signal.pthread_kill(threading.get_ident(), signum)

    threading.Thread(target=send, daemon=True).start()


def main_waits() -> None:
    """Return once the main thread is seen blocked twice, with this thread off the GIL in between (so that
    it is blocked in a wait of its own, not for the GIL). Linux (/proc); elsewhere at once."""
    stat = f"/proc/self/task/{threading.main_thread().native_id}/stat"
    if not os.path.exists(stat):
        return
    seen = 0
    while seen < 2:
        with open(stat, "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        seen = seen + 1 if state == b"S" else 0
        time.sleep(0.001)  # lets the main thread run, if it only waited for the GIL


@contextlib.contextmanager
def signal_on_entry(send, signum):
    send(signum)
    yield


# Where in a call the signal lands, and how it is sent.
POINTS = {
    "before-az-starts": lambda send, signum: {"around": lambda: signal_on_entry(send, signum)},
    "inside-popen": lambda send, signum: {"after_popen": lambda: send(signum)},
    "as-az-starts": lambda send, signum: {"on": (CallStarted, send, signum)},
    "at-azs-first-line": lambda send, signum: {"on": (Line, send, signum)},
}
CASES = [pytest.param(point, to_azwrap, signal.SIGINT, id=f"SIGINT-{point}") for point in POINTS] + [
    pytest.param("at-azs-first-line", to_another_thread, signum, id=f"{signum.name}-to-another-thread")
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
]


@pytest.mark.parametrize(("point", "send", "signum"), CASES)
def test_a_signal_anywhere_in_a_call_stops_az_at_once(tmp_path, monkeypatch, azwrap_signals, point, send, signum):
    az = write_az(tmp_path, LONG_AZ)
    where = POINTS[point](send, signum)
    started = Started(monkeypatch, az, where.get("after_popen"))
    once = threading.Lock()

    def on_event(event):
        kind, how, number = where.get("on", (None, None, None))
        if kind is not None and isinstance(event, kind) and once.acquire(blocking=False):
            how(number)

    run = make_runner(az, on_event, where.get("around"))
    try:
        with pytest.raises((runner.Interrupted, KeyboardInterrupt)):
            run.run("storage", ["group", "create"])
        assert started.alive() == [], "a process of the call outlived it"
    finally:
        started.kill()
    assert not (tmp_path / "az.ended").exists(), "az ran to its end: the signal was noticed only then"


def test_signals_at_many_moments_of_a_call_always_stop_it(tmp_path, monkeypatch, azwrap_signals):
    """SIGINT from another thread, from the moment the call begins to well after az started."""
    az = write_az(tmp_path, LONG_AZ)
    started = Started(monkeypatch, az)
    try:
        for delay in [0.0, 0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.008, 0.012, 0.02, 0.03, 0.05]:
            fired = threading.Event()

            @contextlib.contextmanager
            def around(delay=delay, fired=fired):
                timer = threading.Timer(delay, lambda: (fired.set(), to_azwrap(signal.SIGINT)))
                timer.start()
                yield

            run = make_runner(az, around=around)
            with pytest.raises((runner.Interrupted, KeyboardInterrupt)):
                run.run("storage", ["group", "create"])
            assert fired.is_set()
            assert started.alive() == [], f"a process of the call outlived it (signal after {delay}s)"
    finally:
        started.kill()
    assert not (tmp_path / "az.ended").exists()


def test_a_signal_right_after_a_call_still_stops_the_run(tmp_path, monkeypatch, azwrap_signals):
    az = write_az(tmp_path, QUICK_AZ)
    started = Started(monkeypatch, az)
    run = make_runner(az, lambda event: isinstance(event, CallEnded) and to_azwrap(signal.SIGINT))
    try:
        with pytest.raises((runner.Interrupted, KeyboardInterrupt)):
            run.run("storage", ["group", "create"], capture=True)
        assert started.alive() == []
    finally:
        started.kill()


def test_a_stop_ends_a_pause_before_a_retry_at_once(tmp_path):
    run = make_runner(write_az(tmp_path, QUICK_AZ))
    outcome = []

    def pause():
        try:
            run.pause(600)
        except runner.Interrupted:
            outcome.append("interrupted")

    thread = threading.Thread(target=pause, daemon=True)
    thread.start()
    run.stop_all()
    thread.join(60)
    assert outcome == ["interrupted"]


def test_ctrl_c_while_a_step_waits_to_retry_a_role_assignment_exits_130_at_once(fake, cli, workdir, monkeypatch,
                                                                                  default_sigint):  # fmt: skip
    """`all` runs its steps in threads: a step waiting 200 s to retry must not keep the run alive."""
    monkeypatch.setenv("AZWRAP_RETRY_DELAY", "200")  # within the 300 s budget
    fake.doctor()
    fake.book(fail_at=11, fail={"returncode": 1, "stdout": "", "stderr": REPLICATION_ERROR})
    pausing = threading.Event()

    def interrupt_once_pausing():
        if wait_for_frame_of(runner.Runner.pause):
            pausing.set()
            to_azwrap(signal.SIGINT)

    threading.Thread(target=interrupt_once_pausing, daemon=True).start()
    result = cli("all", "--account", ACCOUNT)
    assert pausing.is_set(), result.output
    assert result.exit_code == 130, result.output
    assert "Interrupted during step sp; run the same command again to resume." in result.stderr


def wait_for_frame_of(function, timeout: float = 60) -> bool:
    """Whether a thread other than this one came to run `function` (an observable event, not a guess of time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ident, frame in sys._current_frames().items():
            while ident != threading.get_ident() and frame is not None:
                if frame.f_code is function.__code__:
                    return True
                frame = frame.f_back
        time.sleep(0.002)
    return False


def test_an_az_tree_that_ignores_sigterm_is_killed_after_the_grace(tmp_path, monkeypatch, azwrap_signals):
    az = write_az(tmp_path, STUBBORN_AZ)
    monkeypatch.setattr(runner, "STOP_GRACE_SECONDS", 0.2)  # README: SIGTERM to the group, SIGKILL 5 s later
    started = Started(monkeypatch, az)
    run = make_runner(az, lambda event: isinstance(event, Line) and event.text == "started" and to_azwrap(signal.SIGINT))
    try:
        with pytest.raises(runner.Interrupted):
            run.run("storage", ["group", "create"])
        assert started.alive() == []
    finally:
        started.kill()


def test_a_second_ctrl_c_kills_an_az_tree_that_ignores_sigterm_at_once(tmp_path, monkeypatch, azwrap_signals):
    az = write_az(tmp_path, STUBBORN_AZ)
    monkeypatch.setattr(runner, "STOP_GRACE_SECONDS", 600.0)  # only the second Ctrl-C can end it in time
    started = Started(monkeypatch, az)
    stopped_once = threading.Event()
    run = make_runner(az)
    stop_all = run.stop_all

    def stop_and_tell(urgent=False):
        stop_all(urgent)
        stopped_once.set()

    run.stop_all = stop_and_tell

    def interrupt_twice():
        to_azwrap(signal.SIGINT)
        if stopped_once.wait(timeout=60):
            to_azwrap(signal.SIGINT)

    def on_event(event):
        if isinstance(event, Line) and event.text == "started":
            threading.Thread(target=interrupt_twice, daemon=True).start()

    run.events = on_event
    try:
        with pytest.raises(runner.Interrupted):
            run.run("storage", ["group", "create"])
        assert stopped_once.is_set()
        assert started.alive() == [], "a process of the call's group is left"
    finally:
        started.kill()
