"""Process groups and signals: each az call in a group of its own, stopped as a whole; SIGTERM, SIGHUP
and SIGQUIT end a run the way Ctrl-C does. Platform facts are small functions the tests patch."""

from __future__ import annotations

import os
import signal
import subprocess
import time

# An interrupted az gets SIGTERM (Windows: CTRL_BREAK) for its whole process tree, then SIGKILL.
STOP_GRACE_SECONDS = 5.0
# A closed terminal (SIGHUP) and Ctrl-\ (SIGQUIT) end a run like SIGTERM: az stopped, nothing left behind.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


def interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM ends a run the way Ctrl-C does: child stopped, state kept


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
            os.killpg(proc.pid, signal.SIGKILL)
            deadline, killed = time.monotonic() + 1.0, True
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    if pgid <= 0:
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
