"""What the user sees while steps run: plain lines off a terminal, the live view on one."""

import io

from azwrap.ui import progress
from azwrap.ui.events import DONE, RUNNING, CallStarted, Line, StepChanged

NOTICE = "WARNING: There are no credentials provided in your command and environment, we will query for account key"


def test_plain_lines_name_their_step():
    stream = io.StringIO()
    view = progress.Plain(stream)
    view(StepChanged("storage", RUNNING))
    view(CallStarted("storage", "az storage fs create --name fs1", probe=False))
    view(Line("storage", "WARNING: slow"))
    view(StepChanged("storage", DONE, 1.25))
    assert stream.getvalue().splitlines() == ["[storage] $ az storage fs create --name fs1", "[storage] WARNING: slow",
                                              "[storage] done in 1.2s"]  # fmt: skip


def test_a_message_az_repeats_on_every_call_is_shown_once():
    stream = io.StringIO()
    view = progress.Plain(stream, quiet=True)
    for step in ("storage", "storage", "upload"):
        view(Line(step, NOTICE))
    view(Line("upload", "WARNING: something else"))
    assert stream.getvalue().splitlines() == [f"[storage] {NOTICE}", "[upload] WARNING: something else"]


def test_azwraps_own_messages_are_never_folded():
    stream = io.StringIO()
    view = progress.Plain(stream, quiet=True)
    for _ in range(2):
        view(Line("sp", "sp: retrying in 2s", from_az=False))
    assert stream.getvalue().splitlines() == ["[sp] sp: retrying in 2s"] * 2


def test_drawing_the_live_view_takes_no_lock_a_sender_may_hold():
    """rich draws the view with its own lock held (its refresh thread), while a step's event, holding the
    view's lock, waits for rich's: the drawing must not wait for the view's lock (a run hung so)."""
    import io
    import threading

    from azwrap.ui.progress import Live

    view = Live(["login", "workspace"], io.StringIO())
    drawn = []
    with view._lock:  # a sender inside __call__
        drawer = threading.Thread(target=lambda: drawn.append(view._render()), daemon=True)
        drawer.start()
        drawer.join(10)
    assert drawn, "the drawing waited for the view's lock"
    assert "login" in drawn[0].plain and "waiting" in drawn[0].plain
