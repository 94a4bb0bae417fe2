"""`azwrap status` as a person reads it: no Python literals, aligned, within the terminal's width, a
hint when nothing is recorded, and the run in progress while another azwrap holds the state."""

import json
import os
import re

import pytest

from azwrap.store import lock

from .conftest import ACCOUNT, SECRET, SP


@pytest.fixture
def done(fake, cli, workdir):
    fake.doctor()
    fake.book()
    assert cli("all", "--account", ACCOUNT).exit_code == 0
    return workdir


def test_no_python_literals(done, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    text = cli("status").stdout
    assert not re.search(r"\b(None|True|False)\b", text), text
    assert re.search(r"\n  --subscription +\(az's current one\) +default\n", text)
    assert re.search(r"\n  --use-device-code +off +", text)


def test_columns_line_up(done, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    lines = cli("status").stdout.splitlines()
    settings = [line for line in lines if line.startswith("  --")]
    assert len(settings) == 16
    # The value and its source start at the same column on every row.
    assert len({re.match(r"  --\S+ +", line).end() for line in settings}) == 1
    assert len({line.rindex(" ") for line in settings}) == 1


@pytest.mark.parametrize("columns", [50, 60, 80])
def test_every_line_fits_the_terminal(columns, done, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    lines = cli("status").stdout.splitlines()
    assert max(map(len, lines)) <= columns, [line for line in lines if len(line) > columns]


def test_a_cell_too_long_wraps_within_its_column(done, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    lines = cli("status").stdout.splitlines()
    # The principal's long label wraps under itself, "made by azwrap" beside its first line.
    first = next(n for n, line in enumerate(lines) if line.startswith("  the service principal"))
    assert lines[first].rstrip().endswith("made by azwrap")
    assert lines[first + 1].startswith("  ") and lines[first + 1].strip() in "(app registration) and its secret"


def test_nothing_recorded_gives_a_hint_instead_of_pending_steps(cli, workdir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = cli("status")
    assert result.exit_code == 0
    assert "Nothing is recorded here yet" in result.stdout and "azwrap all --account NAME" in result.stdout
    assert "pending" not in result.stdout


def test_the_run_in_progress_is_shown_with_its_pid_and_running_steps(done, cli, workdir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with lock.hold(workdir / ".azwrap" / "state.json", "azwrap all") as holder:
        holder.running(["workspace", "storage"])
        text = cli("status").stdout
        report = json.loads(cli("status", "--output", "json").stdout)
    assert f"In progress: azwrap all (pid {os.getpid()}, started " in text
    assert "steps running: workspace, storage" in text
    assert re.search(r"\n  workspace +running ", text) and re.search(r"\n  compute +done ", text)
    assert report["running"]["pid"] == os.getpid() and report["running"]["running"] == ["workspace", "storage"]
    assert SECRET not in text


def test_a_lock_file_left_by_a_dead_run_is_no_run_in_progress(done, cli, workdir):
    (workdir / ".azwrap" / "state.json.lock").write_text('999999999\n{"command": "azwrap all", "running": ["sp"]}\n')
    assert "In progress" not in cli("status").stdout
    assert json.loads(cli("status", "--output", "json").stdout)["running"] is None


def test_a_run_that_ended_leaves_no_trace_in_the_lock_file(workdir):
    state_path = workdir / ".azwrap" / "state.json"
    with lock.hold(state_path, "azwrap sp") as holder:
        holder.running(["sp"])
        assert lock.current(state_path)["running"] == ["sp"]
    assert lock.current(state_path) is None


def test_the_principal_is_shown_by_its_app_id(done, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert re.search(rf"\n  \$sp\.appId +{SP['appId']}\n", cli("status").stdout)
