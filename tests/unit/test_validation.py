"""Every setting is checked before any az call: a bad value exits 2 naming the option and its rule."""

import json

import pytest

from .conftest import ACCOUNT, FRESH_STEP, TOKEN_EXPIRY, absent, file_exists_call, seed_state

BAD = [
    ("--account", "MyDataLake", "lowercase letters and digits only"),
    ("--account", "ab", "3-24 characters"),
    ("--account", "a" * 25, "3-24 characters"),
    ("--account", "my-lake", "lowercase letters and digits only"),
    ("--aml-group", "rg.", "not ending in '.'"),
    ("--aml-group", "a" * 91, "1-90 characters"),
    ("--adls-group", "bad group", "letters, digits"),
    ("--adls-group", "rg;rm -rf /", "letters, digits"),
    ("--workspace", "ws", "3-33 characters"),
    ("--workspace", "-aml", "not starting with '-'"),
    ("--workspace", "a" * 34, "3-33 characters"),
    ("--compute", "1compute", "starting with a letter"),
    ("--compute", "c" * 17, "2-16 characters"),
    ("--compute", "d1_compute", "letters, digits, '-'"),
    ("--filesystem", "FS1", "lowercase letters"),
    ("--filesystem", "fs--1", "single '-'"),
    ("--filesystem", "fs1-", "starting and ending"),
    ("--filesystem", "-fs1", "not starting with '-'"),
    ("--filesystem", "f", "3-63 characters"),
    ("--filesystem", "f" * 64, "3-63 characters"),
    ("--compute", "c", "2-16 characters"),
    ("--max-nodes", "0", "an integer >= 1"),
    ("--max-nodes", "two", "is not a valid integer"),
    ("--datastore", "ML-Data", "letters, digits and '_'"),
    ("--location", "Central US; az group delete", "an Azure region"),
    ("--location", "$(whoami)", "an Azure region"),
    ("--vm-size", "STANDARD D1", "letters, digits, '_'"),
    ("--upload-path", "/models/input.csv", "no leading"),
    ("--upload-path", "models/../input.csv", "'..' parts"),
    ("--upload-path", "models//input.csv", "doubled '/'"),
    ("--upload-path", "@models/input.csv", "az would read such a value from a file"),
    ("--source", "@input.csv", "az would read such a value from a file"),
    ("--source", "data/a=@b.csv", "az would read such a value from a file"),
    ("--aml-group", "-rg", "not starting with '-'"),
    ("--adls-group", "--yes", "not starting with '-'"),
    ("--upload-path", "-models/input.csv", "not starting with '-'"),
]


@pytest.mark.parametrize("option,value,rule", BAD, ids=[f"{o}={v[:20]}" for o, v, _ in BAD])
def test_bad_value_exits_2_before_any_az_call(option, value, rule, fake, cli, workdir):
    args = ["all", option, value] if option == "--account" else ["all", "--account", ACCOUNT, option, value]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Error: Invalid value for" in result.stderr and option in result.stderr
    assert rule in result.stderr
    assert fake.calls() == []


# The boundaries each rule must accept (REFERENCE.md section 2): the shortest and longest names, and
# every character a rule allows.
GOOD = [
    ("--account", "abc"),
    ("--account", "a1" + "b" * 22),  # 24 characters
    ("--filesystem", "a-b"),  # 3 characters, a single '-'
    ("--filesystem", "a" + "-b" * 31),  # 63 characters
    ("--workspace", "ab1"),
    ("--workspace", "W" + "a_b-" * 8),  # 33 characters
    ("--workspace", "1aml_"),
    ("--compute", "c1"),
    ("--compute", "C" + "a-1" * 5),  # 16 characters
    ("--aml-group", "a"),
    ("--aml-group", "r" * 89 + ")"),  # 90 characters
    ("--aml-group", "my.rg_(1)-x"),
    ("--adls-group", "(rg)"),
    ("--datastore", "M"),
    ("--datastore", "ML_Data_2"),
    ("--location", "centralus"),
    ("--location", "West Europe"),
    ("--max-nodes", "1"),
    ("--vm-size", "Standard_NC6s_v3"),
    ("--upload-path", "a"),
    ("--upload-path", "in/2024 sales/it's (1).csv"),
]


@pytest.mark.parametrize("option,value", GOOD, ids=[f"{o}={v[:20]}" for o, v in GOOD])
def test_boundary_values_are_accepted_and_reach_the_argv(option, value, cli):
    args = ["plan", "--format", "json", "--account", value if option == "--account" else ACCOUNT]
    result = cli(*args, *([] if option == "--account" else [option, value]))
    assert result.exit_code == 0, result.output
    argv = [arg for command in json.loads(result.stdout) for arg in command["argv"]]
    assert value in argv


def test_bad_value_from_environment_variable_is_rejected_too(fake, cli, workdir, monkeypatch):
    monkeypatch.setenv("AZWRAP_WORKSPACE", "x")
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 2
    assert "--workspace" in result.stderr and "3-33 characters" in result.stderr
    assert fake.calls() == []


@pytest.mark.parametrize("command", ["all", "storage", "upload", "sp", "datastore"])
def test_commands_that_need_the_account_say_so(command, fake, cli, workdir):
    result = cli(command)
    assert result.exit_code == 2
    assert "Missing option '--account' (or AZWRAP_ACCOUNT)" in result.stderr
    assert fake.calls() == []


def test_account_from_environment_variable(fake, cli, workdir, monkeypatch):
    monkeypatch.setenv("AZWRAP_ACCOUNT", ACCOUNT)
    fake.book(["storage"])
    assert cli("storage").exit_code == 0


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_source_must_be_a_file_before_anything_runs(make, fake, cli, workdir):
    if make == "directory":
        (workdir / "data").mkdir()
    result = cli("all", "--account", ACCOUNT, "--source", "data")
    assert result.exit_code == 2
    assert "--source" in result.stderr
    assert ("is a directory" if make == "directory" else "does not exist") in result.stderr
    assert fake.calls() == []


def test_settings_reach_the_argv(fake, cli, workdir):
    (workdir / "sales.csv").write_text("a,b\n")
    seed_state(workdir, done=["storage"])
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(file_exists_call("in/sales.csv", "data-2", "lake7"), stdout='{"exists": false}')
    fake.on(["storage", "fs", "file", "upload", "--file-system", "data-2", "--path", "in/sales.csv",
             "--source", "sales.csv", "--account-name", "lake7"])  # fmt: skip
    result = cli("upload", "--account", "lake7", "--filesystem", "data-2", "--upload-path", "in/sales.csv", "--source", "sales.csv")
    assert result.exit_code == 0, result.output


def test_version(cli):
    from azwrap import __version__

    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"azwrap, version {__version__}"


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_bad_retry_timeout_exits_2(value, fake, cli, workdir):
    result = cli("sp", "--account", ACCOUNT, "--retry-timeout", value)
    assert result.exit_code == 2 and "--retry-timeout" in result.stderr
    assert fake.calls() == []


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
def test_a_bad_retry_delay_is_a_usage_error(value, fake, cli, workdir, monkeypatch):
    monkeypatch.setenv("AZWRAP_RETRY_DELAY", value)
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 2
    assert "AZWRAP_RETRY_DELAY" in result.stderr
    assert fake.calls() == []


def test_a_source_starting_with_a_dash_reaches_az_as_a_relative_path(fake, cli, workdir):
    (workdir / "-in.csv").write_text("a,b\n", encoding="utf-8")
    seed_state(workdir, done=["storage"])
    fake.logged_in()
    for args in FRESH_STEP["upload"]:
        fake.on(args, **absent(args))
    fake.on(["storage", "fs", "file", "upload", "--file-system", "fs1", "--path", "models/highspenders/input.csv",
             "--source", "./-in.csv", "--account-name", ACCOUNT])
    result = cli("upload", "--account", ACCOUNT, "--source", "-in.csv")
    assert result.exit_code == 0, result.output
    assert fake.calls()[-1][-3] == "./-in.csv"
