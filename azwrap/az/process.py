"""Process groups and signals: each az call in a group of its own, stopped as a whole; SIGTERM, SIGHUP
and SIGQUIT end a run the way Ctrl-C does. Platform facts are small functions the tests patch."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time

# An interrupted az gets SIGTERM (Windows: CTRL_BREAK) for its whole process tree, then SIGKILL.
STOP_GRACE_SECONDS = 5.0
# A closed terminal (SIGHUP) and Ctrl-\ (SIGQUIT) end a run like SIGTERM: az stopped, nothing left behind.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


# The longest the main thread waits at a time while az runs. CPython runs a signal's handler in the main
# thread between two bytecodes; a main thread blocked in a read() or waitpid() with no timeout would run it
# only when that call returns (when az ends), and a signal the kernel hands to another thread never
# interrupts such a call at all. So every wait is short, in a loop, and az's output is read by threads.
POLL_SECONDS = 0.05

_held = {"depth": 0, "pending": False}  # the main thread's: signal handlers run there only


def interrupt(signum, frame):
    """The handler of SIGINT, SIGTERM, SIGHUP and SIGQUIT: end the run the way Ctrl-C does (child stopped,
    state kept); inside signals_held(), at its end."""
    if _held["depth"]:
        _held["pending"] = True
        return
    raise KeyboardInterrupt


def install_handlers() -> dict:
    """Make every stop signal end a run through `interrupt`; return the handlers it replaced.

    SIGINT keeps being ignored where it was ignored when azwrap started (a background job, `nohup`):
    the terminal's Ctrl-C is not meant for such a process."""
    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)
    return previous


@contextlib.contextmanager
def signals_held():
    """In the main thread, a stop signal that arrives inside this block takes effect at its end.

    Around starting a child and recording it: a KeyboardInterrupt raised inside Popen (or just after
    it) would lose the child, which then runs on, unstopped, in a process group of its own."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are handled in the main thread only: nothing to hold here
        return
    _held["depth"] += 1
    try:
        yield
    finally:
        _held["depth"] -= 1
        if not _held["depth"] and _held["pending"]:
            _held["pending"] = False
            raise KeyboardInterrupt


def join(thread: threading.Thread) -> None:
    """Wait for a thread to end, in short waits (see POLL_SECONDS)."""
    while thread.is_alive():
        thread.join(POLL_SECONDS)


def wait(proc: subprocess.Popen) -> int:
    """Wait for a process to end, in short waits (see POLL_SECONDS); its exit code."""
    delay = 0.0005  # az has closed its output when this is called: it ends in a moment
    while True:
        code = proc.poll()
        if code is not None:
            return code
        time.sleep(delay)
        delay = min(delay * 2, POLL_SECONDS)


def _windows() -> bool:
    return os.name == "nt"


# Windows' flag, spelled out: the subprocess constant exists only on Windows.
CREATE_NEW_PROCESS_GROUP = 0x00000200


def group_options(windows: bool | None = None) -> dict:
    """Popen options that give each az call a process group of its own.

    POSIX: a new session (and group), so a signal to the group reaches python under a launcher that
    does not exec (Debian's /usr/bin/az, Homebrew's az) and the terminal's Ctrl-C reaches only azwrap.
    Windows: a new process group, so CTRL_BREAK reaches cmd.exe running az.cmd and python under it."""
    if _windows() if windows is None else windows:
        return {"creationflags": CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def stop_tree(proc: subprocess.Popen, urgent: bool, windows: bool | None = None) -> None:
    """Ask an az call and everything it started to stop (urgent: kill it)."""
    if proc.pid <= 0 or (proc.poll() is not None and not urgent):
        return  # pid 0 would be azwrap's own group (a faked process in the tests has it)
    if _windows() if windows is None else windows:
        if urgent:
            # taskkill /T ends the whole tree (cmd.exe, python, whatever it started).
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)  # fmt: skip
        else:
            proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", 1))
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL if urgent else signal.SIGTERM)  # its group id is its pid
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def _wait_group_gone(proc: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """After a stopped call's first process ended, wait until no process of its group is left
    (python under a launcher may outlive the launcher by a moment), killing it after the grace."""
    if _windows():
        return  # taskkill /T has ended the tree
    deadline, killed = time.monotonic() + grace, False
    while _group_alive(proc.pid):
        if time.monotonic() > deadline:
            if killed:
                return  # only zombies can be left, for their new parent to reap
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            deadline, killed = time.monotonic() + 1.0, True
        time.sleep(0.02)


def wait_gone(proc: subprocess.Popen, kill_all) -> None:
    """Wait until a stopped call's process group is gone; another Ctrl-C meanwhile kills it, and the
    other calls (kill_all), at once."""
    while True:
        try:
            wait(proc)
            _wait_group_gone(proc)
            return
        except KeyboardInterrupt:
            kill_all()
            stop_tree(proc, urgent=True)  # also when it has left the runner's live calls already


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (a zombie does not: it waits for its new parent, which
    may be an init that reaps late, or none, in a container)."""
    if pgid <= 0:
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return not _only_zombies(pgid)


def _only_zombies(pgid: int) -> bool:
    """Linux (/proc): whether every process left in the group is a zombie. Elsewhere: False."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return False
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()  # after "pid (command)": state, ppid, pgrp
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return False
    return True
