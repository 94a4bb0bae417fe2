"""One azwrap at a time per state file: an OS lock held for the whole run.

The lock is on `<state file>.lock` beside the state. The OS drops it when its holder ends, however
it ends, so a lock left by a killed run never blocks the next one; the file only names the pid.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from . import state as state_file

# msvcrt locks a byte range and then forbids reading it: lock a byte past the pid, not the pid.
_WINDOWS_LOCK_OFFSET = 4096


class Locked(Exception):
    """Another azwrap holds the state file's lock."""


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


@contextlib.contextmanager
def hold(state_path: Path):
    """Hold the state's lock while the block runs; raise Locked at once if another process holds it."""
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
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode("ascii", "replace").strip()
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
