"""The scheduler with fake jobs and a fake clock: order, the jobs limit, failures, interrupts."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from azwrap.core.scheduler import Job, JobsFailed, JobsInterrupted, run


class FakeClock:
    """A clock the test moves; it also counts its reads, so a test can wait until the scheduler has
    taken note of a job's end (it reads the clock once per start and once per end)."""

    def __init__(self):
        self.now = 0.0
        self.reads = 0
        self.changed = threading.Condition()

    def __call__(self) -> float:
        with self.changed:
            self.reads += 1
            self.changed.notify_all()
        return self.now

    def wait_reads(self, count):
        with self.changed:
            assert self.changed.wait_for(lambda: self.reads >= count, timeout=10), f"{self.reads} reads"


class Gate:
    """Jobs that block until the test lets them finish; each start is an observable event."""

    def __init__(self, names, fail=(), clock=None):
        self.release = {name: threading.Event() for name in names}
        self.started: list[str] = []
        self.start_seen = threading.Semaphore(0)
        self.fail, self.clock = set(fail), clock
        self.running = 0
        self.most_running = 0
        self.lock = threading.Lock()

    def job(self, name, needs=()):
        def body():
            with self.lock:
                self.started.append(name)
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            self.start_seen.release()
            self.release[name].wait()
            with self.lock:
                self.running -= 1
            if name in self.fail:
                raise RuntimeError(f"{name} failed")

        return Job(name, tuple(needs), body)

    def wait_started(self, count):
        for _ in range(count):
            assert self.start_seen.acquire(timeout=10), f"only {self.started} started"


def in_thread(target):
    """Run target() in a thread; returns a function that joins it and returns (result, error)."""
    box = {}

    def body():
        try:
            box["result"] = target()
        except BaseException as error:  # noqa: B036 - the test inspects it
            box["error"] = error

    thread = threading.Thread(target=body, daemon=True)
    thread.start()

    def join():
        thread.join(timeout=10)
        assert not thread.is_alive(), "the scheduler did not return"
        return box.get("result"), box.get("error")

    return join




def test_limit_one_runs_jobs_in_the_given_order_even_when_a_later_one_is_ready():
    names = ["extension", "workspace", "compute", "storage", "upload"]
    gate = Gate(names)
    needs = {"workspace": ["extension"], "compute": ["workspace"], "upload": ["storage"]}
    jobs = [gate.job(name, needs.get(name, ())) for name in names]
    for event in gate.release.values():
        event.set()
    outcome = run(jobs, 1)
    assert gate.started == names
    assert outcome.done == names
    assert gate.most_running == 1


def test_ready_jobs_start_together_up_to_the_limit():
    names = ["a", "b", "c", "d"]
    gate = Gate(names)
    join = in_thread(lambda: run([gate.job(name) for name in names], 2))
    gate.wait_started(2)
    assert gate.started == ["a", "b"]
    assert gate.running == 2  # c waits, though it is ready, because of the limit
    gate.release["a"].set()
    gate.wait_started(1)
    assert gate.started == ["a", "b", "c"]
    for event in gate.release.values():
        event.set()
    outcome, error = join()
    assert error is None and sorted(outcome.done) == names
    assert gate.most_running == 2


def test_a_job_starts_only_after_every_job_it_needs_has_succeeded():
    gate = Gate(["a", "b", "c", "d"])
    # d needs a only: once a has ended, the scheduler starts d, and in the same pass (before d, as c comes
    # first in the order) c if it took one done need for all of them. d's start is the event to wait for.
    join = in_thread(lambda: run([gate.job("a"), gate.job("b"), gate.job("c", ["a", "b"]), gate.job("d", ["a"])], 4))
    gate.wait_started(2)
    gate.release["a"].set()
    gate.release["c"].set()
    gate.release["d"].set()
    gate.wait_started(1)
    assert gate.started == ["a", "b", "d"]  # b still runs, so c has not started
    gate.release["b"].set()
    outcome, error = join()
    assert error is None and outcome.done[-1] == "c" and gate.started[-1] == "c"


def test_after_a_failure_no_new_job_starts_and_running_ones_finish():
    gate, clock = Gate(["a", "b", "c", "d"], fail=["a"]), FakeClock()
    jobs = [gate.job("a"), gate.job("b"), gate.job("c", ["a"]), gate.job("d", ["b"])]
    join = in_thread(lambda: run(jobs, 4, clock=clock))
    gate.wait_started(2)
    gate.release["a"].set()  # fails while b still runs
    clock.wait_reads(3)  # the scheduler has seen a fail
    # b finishes after the failure was seen: recorded as done; d (ready now) is not started.
    gate.release["b"].set()
    _, error = join()
    assert isinstance(error, JobsFailed)
    assert list(error.outcome.failed) == ["a"] and str(error.outcome.failed["a"]) == "a failed"
    assert error.outcome.done == ["b"]
    assert sorted(error.outcome.not_started) == ["c", "d"]
    assert gate.started == ["a", "b"]


def test_seconds_come_from_the_clock():
    clock = FakeClock()

    def job(name, seconds):
        def body():
            clock.now += seconds

        return Job(name, (), body)

    outcome = run([job("a", 3.0), job("b", 4.5)], 1, clock=clock)
    assert outcome.seconds == {"a": 3.0, "b": 4.5}


def test_an_interrupt_stops_running_jobs_waits_for_them_and_starts_nothing_more(default_sigint):
    stops = []
    stopped = threading.Event()
    started = threading.Semaphore(0)

    def long_job(name):
        def body():
            started.release()
            assert stopped.wait(timeout=10)  # ends only once stop() was called, as an az call would
            raise RuntimeError("interrupted")

        return Job(name, (), body)

    def interrupt():
        started.acquire(timeout=10)
        started.acquire(timeout=10)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the main (scheduler's) thread

    def stop(urgent):
        stops.append(urgent)
        stopped.set()

    later = Job("later", ("a",), lambda: pytest.fail("started after the interrupt"))
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(JobsInterrupted) as raised:
        run([long_job("a"), long_job("b"), later], 4, stop=stop)
    assert sorted(raised.value.running) == ["a", "b"]
    assert raised.value.outcome.not_started == ["later"]
    assert raised.value.outcome.failed == {}  # an interrupted job is not a failure
    assert stops == [False]


def test_a_second_interrupt_asks_for_an_urgent_stop(default_sigint):
    stops = []
    release, started, first_stop = threading.Event(), threading.Event(), threading.Event()

    def body():
        started.set()
        assert release.wait(timeout=10)

    def interrupt_twice():
        assert started.wait(timeout=10)
        os.kill(os.getpid(), signal.SIGINT)
        assert first_stop.wait(timeout=10)
        os.kill(os.getpid(), signal.SIGINT)

    def stop(urgent):
        stops.append(urgent)
        first_stop.set()
        if urgent:
            release.set()

    threading.Thread(target=interrupt_twice, daemon=True).start()
    with pytest.raises(JobsInterrupted):
        run([Job("a", (), body)], 1, stop=stop)
    assert stops == [False, True]


def test_a_job_needing_a_later_or_unknown_job_is_a_programming_error():
    with pytest.raises(ValueError):
        run([Job("a", ("b",), lambda: None), Job("b", (), lambda: None)], 1)
