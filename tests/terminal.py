"""azwrap under a pseudo-terminal, as a person runs it, and the screen it leaves (pyte, a terminal emulator).

The pty is the child's controlling terminal, so Ctrl-C typed into it reaches the child as SIGINT, as
in a real terminal; nothing waits on a guessed sleep: reads wait for a text to appear.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time

import pyte


def _controlling_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # As a shell starts a program: the default handlers, whatever the test run inherited (a suite started
    # with SIGINT ignored, `nohup`, would otherwise pass the ignored Ctrl-C on to azwrap).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


class Terminal:
    """One program on a pty of `columns` x `rows`; everything it writes is kept."""

    def __init__(self, argv: list[str], *, env: dict, cwd, columns: int = 80, rows: int = 40):
        self.columns = columns
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        # PYTHONFAULTHANDLER: a run that hangs shows where each of its threads is (see _hung)
        env = {**env, "TERM": "xterm", "COLUMNS": str(columns), "LINES": str(rows), "PYTHONFAULTHANDLER": "1"}
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     preexec_fn=_controlling_terminal, close_fds=True)  # fmt: skip
        os.close(slave)
        self.master, self.output = master, b""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        self.output += chunk
        return bool(chunk)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            assert time.monotonic() < deadline, f"{text!r} did not appear; the terminal shows:\n{self.text()}"
            assert self._read(0.2) or text.encode() in self.output, f"ended before {text!r}:\n{self.text()}"

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def finish(self, timeout: float = 90) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.2):
            if time.monotonic() >= deadline:
                raise AssertionError(f"still running; the terminal shows:\n{self.text()}\n{self._hung()}")
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def _hung(self) -> str:
        """What a run that does not end is doing: the processes on the terminal, and (SIGABRT, which
        PYTHONFAULTHANDLER turns into a dump) where each of azwrap's threads waits."""
        tree = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-s", str(self.proc.pid)],
                              capture_output=True, text=True, check=False).stdout  # fmt: skip
        if self.proc.poll() is None:
            before = len(self.output)
            os.kill(self.proc.pid, signal.SIGABRT)
            end = time.monotonic() + 5
            while time.monotonic() < end and self._read(0.2):
                pass
            return f"processes:\n{tree}\nthreads:\n{self.output[before:].decode(errors='replace')}"
        return f"azwrap exited {self.proc.returncode}; what keeps the terminal open:\n{tree}"

    def lines(self) -> list[str]:
        """The screen the program left, scrolled-off lines first (a tall screen keeps them all)."""
        screen = pyte.Screen(self.columns, 1000)
        pyte.ByteStream(screen).feed(self.output.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))
        lines = [line.rstrip() for line in screen.display]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def text(self) -> str:
        return "\n".join(self.lines())
