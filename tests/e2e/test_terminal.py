"""On a terminal (a pty, read back through a terminal emulator): the live view's rows, its final
table shown once, wrapped lines indented; destroy's deletions kept in the scrollback."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
import sh

from ..terminal import Terminal
from .test_azwrap_sim import ACCOUNT, SIM, make_place

AZWRAP = str(Path(sys.executable).parent / "azwrap")
STEPS = ["login", "doctor", "extension", "workspace", "compute", "storage", "upload", "sp", "datastore", "grant"]


@pytest.fixture(scope="module")
def setup_on_a_terminal(tmp_path_factory):
    place = make_place(tmp_path_factory.mktemp("terminal") / "place")
    terminal = Terminal([AZWRAP, "all", "--account", ACCOUNT], env={**place.env, "AZWRAP_JOBS": "4"}, cwd=place.cwd,
                        columns=72)  # fmt: skip
    assert terminal.finish() == 0, terminal.text()
    return place, terminal


def rows(lines: list[str], step: str) -> list[str]:
    return [line for line in lines if re.match(rf"  {step} +(done|skipped|failed|running|waiting|stopped)\b", line)]


def test_sign_in_and_doctor_have_rows_and_the_final_table_is_shown_once(setup_on_a_terminal):
    _, terminal = setup_on_a_terminal
    lines = terminal.lines()
    for step in STEPS:
        assert len(rows(lines, step)) == 1, f"{step}:\n{terminal.text()}"
        assert rows(lines, step)[0].split()[1] == "done"
    table = [n for n, line in enumerate(lines) if any(rows([line], step) for step in STEPS)]
    assert table == list(range(table[0], table[0] + len(STEPS)))  # one table, in the book's order
    assert not any("Summary" in line for line in lines)
    assert lines[table[-1] + 1].startswith("Wall time ")


def test_lines_stay_within_the_terminal_and_wrapped_ones_are_indented(setup_on_a_terminal):
    _, terminal = setup_on_a_terminal
    lines = terminal.lines()
    warning = next(n for n, line in enumerate(lines) if line.startswith("[sp] WARNING: The output includes"))
    assert lines[warning + 1].startswith(" " * len("[sp] ")) and lines[warning + 1][len("[sp] "):][0] != " "
    note = next(n for n, line in enumerate(lines) if line.startswith("note ml-cli"))
    assert lines[note + 1].startswith("    ")
    # A line the terminal wrapped by itself would go on at the left margin, in the middle of a word.
    assert all(len(line) < 72 for line in lines), [line for line in lines if len(line) >= 72]


def test_destroy_shows_each_deletion_as_it_happens(setup_on_a_terminal, tmp_path):
    done, _ = setup_on_a_terminal
    shutil.copytree(done.cwd, tmp_path / "place")
    place = make_place(tmp_path / "place")
    terminal = Terminal([AZWRAP, "destroy", "--yes"], env=place.env, cwd=place.cwd, columns=200)
    assert terminal.finish() == 0, terminal.text()
    shown = [line for line in terminal.lines() if line.startswith("[destroy] $ az ")]
    assert [line.split()[3:5] for line in shown] == [["role", "assignment"], ["role", "assignment"], ["rest", "--method"],
                                                    ["group", "delete"], ["group", "delete"], ["ad", "app"]]  # fmt: skip


def _wait_for_call(trace: Path, words: list[str], terminal: Terminal, timeout: float = 60) -> None:
    """Until the simulator notes that a call with these words has started (before its latency)."""
    deadline = time.monotonic() + timeout
    while not (trace.exists() and any(all(word in json.loads(line)["argv"] for word in words)
                                      for line in trace.read_text().splitlines() if line.endswith("}"))):  # fmt: skip
        assert time.monotonic() < deadline, f"no {words} call; the terminal shows:\n{terminal.text()}"
        terminal._read(0.1)


@pytest.mark.parametrize("step,slow,signed_in", [("login", ["login"], False), ("doctor", ["list-locations"], True)])
def test_ctrl_c_during_sign_in_or_doctor_names_it(step, slow, signed_in, tmp_path):
    place = make_place(tmp_path / "place")
    if signed_in:
        sh.Command(str(SIM))("login", _env=place.env)
    trace = tmp_path / "trace"
    env = {**place.env, "AZSIM_TRACE": str(trace), "AZSIM_LATENCY_PROFILE": json.dumps({" ".join(slow): 60})}
    terminal = Terminal([AZWRAP, "all", "--account", ACCOUNT], env=env, cwd=place.cwd, columns=120)
    _wait_for_call(trace, slow, terminal)
    terminal.type("\x03")
    assert terminal.finish() == 130
    text = terminal.text()
    assert f"Interrupted during step {step}; run the same command again to resume." in text
    assert rows(terminal.lines(), step)[0].split()[1] == "stopped"


@pytest.fixture
def done_copy(setup_on_a_terminal, tmp_path):
    done, _ = setup_on_a_terminal
    shutil.copytree(done.cwd, tmp_path / "place")
    return make_place(tmp_path / "place")


QUESTION = f"Type the storage account name ({ACCOUNT}) to delete all of the above: "


@pytest.mark.parametrize("answer,code", [("\r", 2), ("mydatalake\r", 2), ("\x03", 130), ("\x04", 2)],
                         ids=["empty", "another-name", "ctrl-c", "end-of-input"])
def test_only_the_recorded_name_confirms_destroy(answer, code, done_copy):
    place = done_copy
    before = len(place.state()["calls"])
    terminal = Terminal([AZWRAP, "destroy"], env=place.env, cwd=place.cwd, columns=160)
    terminal.wait_for(QUESTION)
    terminal.type(answer)
    assert terminal.finish() == code, terminal.text()
    text = terminal.text()
    assert "nothing was deleted" in text
    assert ("Interrupted at the question" in text) == (code == 130)
    assert [call for call in place.state()["calls"][before:] if "delete" in call] == []
    # The question stands whole on the screen: no live view drew over it.
    assert any(line.startswith(QUESTION.rstrip()) for line in terminal.lines()), text


def test_the_recorded_name_deletes_and_the_question_is_visible(done_copy):
    place = done_copy
    terminal = Terminal([AZWRAP, "destroy"], env=place.env, cwd=place.cwd, columns=160)
    terminal.wait_for(QUESTION)
    terminal.type(ACCOUNT + "\r")
    assert terminal.finish() == 0, terminal.text()
    lines = terminal.lines()
    assert f"{QUESTION}{ACCOUNT}" in lines
    assert lines.index(f"{QUESTION}{ACCOUNT}") > lines.index("azwrap destroy deletes:")
    assert place.state()["groups"] == {} and place.state()["service_principals"] == {}
