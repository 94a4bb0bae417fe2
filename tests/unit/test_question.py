"""The destroy question: Ctrl-C interrupts it even when the kernel hands SIGINT to another thread."""

from __future__ import annotations

import io
import os
import signal
import threading

import pytest

from azwrap.ui import question


def pipe_with(text: str):
    read, write = os.pipe()
    os.write(write, text.encode())
    return os.fdopen(read), write


def test_the_answer_is_the_line_typed_without_its_newline():
    stdin, write = pipe_with("mydatalake\r\n")
    shown = io.StringIO()
    assert question.ask("Type the name: ", stdin=stdin, stderr=shown, posix=True) == "mydatalake"
    assert shown.getvalue() == "Type the name: "
    os.close(write)


def test_end_of_input_is_eof():
    stdin, write = pipe_with("")
    os.close(write)
    with pytest.raises(EOFError):
        question.ask("? ", stdin=stdin, stderr=io.StringIO(), posix=True)


def test_a_signal_another_thread_received_interrupts_the_wait():
    stdin, write = pipe_with("")

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, handler)
    # The other thread takes the signal itself (as a relay thread may take the terminal's SIGINT); a
    # blocking read in the main thread would not return. A late line ends the wait if it is not interrupted.
    sender = threading.Timer(0.2, lambda: signal.pthread_kill(threading.get_ident(), signal.SIGUSR1))
    written = []
    late = threading.Timer(5.0, lambda: written.append(os.write(write, b"not interrupted\n")))
    try:
        late.start()
        with pytest.raises(KeyboardInterrupt):
            sender.start()  # fires while ask waits
            question.ask("? ", stdin=stdin, stderr=io.StringIO(), posix=True)
        assert written == []  # interrupted while waiting, not once a line came
    finally:
        late.cancel()
        sender.join()
        signal.signal(signal.SIGUSR1, previous)
        os.close(write)
