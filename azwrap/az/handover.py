"""What one az call reads besides its argv: the secret's private channel (a pipe, or a 0600 file),
and the clean-up of private directories an azwrap killed mid-call left behind."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import time

from . import launch, process
from ..store.state import pid_alive, posix


PRIVATE_PREFIX = "azwrap-"


class Handover:
    """What one az call reads besides its argv: secrets and private files, gone when the call ends.

    On POSIX a secret goes through a pipe that the child inherits, as @/dev/fd/N (azure-cli reads
    any @path with a plain open, REFERENCE.md section 7), so it never touches a disk. A pipe can be
    read once only: one per secret argument. azwrap writes it from a thread, so a value larger than
    the pipe's buffer cannot block the call. Where that is impossible (Windows), the secret is a
    0600 file in a 0700 temporary directory, like the v2 YAML (which holds no secret).
    """

    def __init__(self) -> None:
        self.fds: tuple[int, ...] = ()
        self._writers: list[tuple[threading.Thread, int]] = []  # (writer, its pipe's write end)
        self._directory: str | None = None

    def __enter__(self) -> Handover:
        return self

    def secret(self, value: str) -> str:
        if not launch.secret_by_pipe():
            return self.file("secret", value)
        read_end, write_end = os.pipe()
        self.fds += (read_end,)
        writer = threading.Thread(target=_write_all, args=(write_end, value.encode("utf-8")), daemon=True)
        self._writers.append((writer, write_end))
        return f"/dev/fd/{read_end}"

    def file(self, name: str, content: str) -> str:
        if self._directory is None:
            # The pid in the name lets a later run remove it if this one is killed (remove_stale_private_dirs).
            self._directory = tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-")  # created 0700
        path = os.path.join(self._directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)  # no newline: az reads the file's whole content as the value
        return path

    def started(self) -> None:
        """The child holds its copies of the pipes now: write them."""
        for writer, _ in self._writers:
            writer.start()

    def __exit__(self, *exc) -> None:
        for fd in self.fds:  # a writer still blocked (az never read) gets EPIPE and ends
            os.close(fd)
        for writer, write_end in self._writers:
            if writer.ident is not None:
                process.join(writer)  # it closes its write end
            else:
                os.close(write_end)  # az never started
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # EPIPE: az ended without reading it
        pass
    finally:
        os.close(fd)


def remove_stale_private_dirs(directory: str | None = None) -> None:
    """Remove this user's azwrap-* temporary directories whose azwrap is gone (killed mid-call)."""
    directory = directory or tempfile.gettempdir()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.startswith(PRIVATE_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (posix() and info.st_uid != os.getuid()):
            continue
        pid = name[len(PRIVATE_PREFIX):].split("-", 1)[0]
        # Older azwraps did not name their pid: theirs are stale once older than any az call.
        stale = not pid_alive(int(pid)) if pid.isdigit() else time.time() - info.st_mtime > 3600
        if stale:
            shutil.rmtree(path, ignore_errors=True)
