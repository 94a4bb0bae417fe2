"""`azwrap log`: the calls of a run, by start; the last run that may change something by default;
--list of the runs and --run N."""

import json
import re

import pytest

from .conftest import ACCOUNT


def record(run, azwrap, start, command, step="sp", kind="book", exit_code=0):
    return {"run": run, "azwrap": azwrap, "step": step, "command": command, "start": f"2026-12-05T{start}+00:00",
            "seconds": 0.5, "exit_code": exit_code, "kind": kind, "interrupted": False}


# Written as calls ended (not as they started), and runs interleaved as a file may hold them.
LOG = [
    record("r1", "all", "10:00:02.000", "az storage fs create --name fs1", step="storage"),
    record("r1", "all", "10:00:01.000", "az group create --name aml-rg", step="workspace"),
    record("r2", "sp --force", "10:05:00.000", "az ad sp create-for-rbac"),
    record("r3", "destroy --what-if", "10:09:00.000", "az account show", step="login", kind="probe"),
    record("r0", "", "09:00:00.000", "az login", step="login"),  # from before the command was recorded
]


@pytest.fixture
def log(workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LOG) + '{"cut sho')
    return workdir


def commands(text: str) -> list[str]:
    return re.findall(r"  (az .*)", text)


def test_the_last_run_that_may_change_something_is_shown_by_default(log, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = cli("log")
    assert result.exit_code == 0
    assert "Run 3 of 4: azwrap sp --force" in result.stdout  # not the destroy --what-if after it
    assert commands(result.stdout) == ["az ad sp create-for-rbac"]


def test_calls_are_ordered_by_start(log, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert commands(cli("log", "--run", "2").stdout) == ["az group create --name aml-rg", "az storage fs create --name fs1"]
    records = json.loads(cli("log", "--run", "2", "--output", "json").stdout)
    assert [r["start"] for r in records] == sorted(r["start"] for r in records)


def test_list_numbers_the_runs_by_start(log, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    rows = [line.split()[:1] + [line.split()[3]] for line in cli("log", "--list").stdout.splitlines()
            if re.match(r"  \d ", line)]  # fmt: skip
    assert rows == [["1", "?"], ["2", "all"], ["3", "sp"], ["4", "destroy"]]
    listed = json.loads(cli("log", "--list", "--output", "json").stdout)
    assert [(r["run"], r["id"], r["changes"]) for r in listed] == [(1, "r0", True), (2, "r1", True), (3, "r2", True),
                                                                    (4, "r3", False)]  # fmt: skip


def test_a_run_by_number_or_id_and_an_unknown_one(log, cli):
    assert commands(cli("log", "--run", "4").stdout) == ["az account show"]
    assert cli("log", "--run", "r0").stdout == cli("log", "--run", "1").stdout
    missing = cli("log", "--run", "9")
    assert missing.exit_code == 2 and "azwrap log --list" in missing.stderr


def test_with_only_what_ifs_there_is_no_last_run(workdir, cli):
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "log.jsonl").write_text(json.dumps(LOG[3]) + "\n")
    result = cli("log")
    assert result.exit_code == 0 and "No run that changes anything" in result.stdout and "--list" in result.stdout
    assert json.loads(cli("log", "--output", "json").stdout) == []


def test_each_call_records_the_azwrap_command_that_made_it(fake, cli, workdir):
    fake.doctor()
    fake.book()
    assert cli("all", "--account", ACCOUNT).exit_code == 0
    records = [json.loads(line) for line in (workdir / ".azwrap" / "log.jsonl").read_text().splitlines()]
    assert {r["azwrap"] for r in records} == {"all"}
