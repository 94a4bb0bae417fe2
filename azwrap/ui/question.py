"""A question on the terminal whose answer Ctrl-C can always interrupt.

A main thread blocked in a read() of the terminal runs a signal's handler only when the read returns,
and the kernel may hand the terminal's SIGINT to another thread (a relay of az's output still ending),
which never interrupts that read: Ctrl-C at the question would then do nothing. So on POSIX the answer
is awaited in short waits (select), and the handler runs between them. Windows delivers Ctrl-C to the
console reader itself: input() serves there.
"""

from __future__ import annotations

import os
import select
import sys

POLL_SECONDS = 0.05


def ask(question: str, *, stdin=None, stderr=None, posix: bool | None = None) -> str:
    """The line typed after question (shown on stderr), without its newline. Raises KeyboardInterrupt on
    Ctrl-C (the process's handler) and EOFError at the end of input."""
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    if not (os.name != "nt" if posix is None else posix):
        stderr.write(question)
        stderr.flush()
        return input()
    stderr.write(question)
    stderr.flush()
    while not select.select([stdin], [], [], POLL_SECONDS)[0]:
        pass  # a pending signal's handler runs here, between two waits
    line = stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\r\n")
