"""One azwrap at a time per state file: an OS lock held for the whole run.

The lock is on `<state file>.lock` beside the state. The OS drops it when its holder ends, however
it ends, so a lock left by a killed run never blocks the next one. The file names the holder's pid on
its first line and, on the second, what it runs (JSON: the command, when it started, the steps running
now), so that `azwrap status` can show a run in progress; the holder empties it when it ends.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from pathlib import Path

from . import state as state_file

# msvcrt locks a byte range and then forbids reading it: lock a byte past the pid, not the pid.
_WINDOWS_LOCK_OFFSET = 4096


class Locked(Exception):
    """Another azwrap holds the state file's lock."""


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


class Holder:
    """The lock held: what the run does, written into the lock file for `azwrap status` to read."""

    def __init__(self, fd: int, command: str):
        self._fd = fd
        self._doing = {"command": command, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"), "running": []}  # fmt: skip
        self._write()

    def running(self, steps: list[str]) -> None:
        """The steps running now (several at once in `azwrap all`)."""
        self._doing["running"] = list(steps)
        self._write()

    def _write(self) -> None:
        text = f"{os.getpid()}\n{json.dumps(self._doing)}\n".encode()
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, text)  # the pid first: a reader never sees another pid, only a line cut short
        os.ftruncate(self._fd, len(text))


@contextlib.contextmanager
def hold(state_path: Path, command: str = ""):
    """Hold the state's lock while the block runs (yields a Holder); raise Locked at once if another
    process holds it."""
    path = lock_path(state_path)
    try:
        state_file.ensure_directory(state_path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise state_file.StateError(f"cannot lock state file {state_path}: {error.strerror}") from None
    try:
        if not _try_lock(fd):
            raise Locked(f"another azwrap (pid {_holder(fd)}) is running on {state_path}; "
                         "wait for it to end, then run again")  # fmt: skip
        try:
            yield Holder(fd, command)
        finally:
            os.ftruncate(fd, 0)  # nothing runs any more
            _unlock(fd)
    finally:
        os.close(fd)


def current(state_path: Path) -> dict | None:
    """The run holding the state's lock now: pid, command, started, running (steps); None when none.

    Read without locking, so that a reader never stands in a run's way: a file left by a killed run
    names a pid that is no longer alive."""
    try:
        text = lock_path(state_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    first, _, rest = text.partition("\n")
    if not first.strip().isdigit() or not state_file.pid_alive(int(first)):
        return None
    try:
        doing = json.loads(rest)
    except ValueError:
        doing = {}  # being rewritten: the pid is enough
    doing = doing if isinstance(doing, dict) else {}
    return {"pid": int(first), "command": str(doing.get("command", "")), "started": doing.get("started"),
            "running": [str(step) for step in doing.get("running", []) if isinstance(step, str)]}  # fmt: skip


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", "replace").partition("\n")[0].strip()
    return text if text.isdigit() else "unknown"


def _try_lock(fd: int) -> bool:
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held by another open file
        return False
    return True


def _unlock(fd: int) -> None:
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)
