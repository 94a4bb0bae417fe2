"""Messages say what is wrong and where it came from: the option or the environment variable."""

import pytest

from .conftest import ACCOUNT, BOOK, TOKEN_EXPIRES, TOKEN_EXPIRY, seed_state

REPLICATION = {"returncode": 1, "stdout": "", "stderr": "ERROR: Cannot find user or service principal in graph "
               f"database for '{BOOK[11][1][6]}'.\n"}  # fmt: skip


def test_a_bad_option_value_names_the_option_only(fp, az_path, cli, workdir):
    result = cli("workspace", "--workspace", "x")
    assert result.exit_code == 2
    assert "Invalid value for '--workspace': 'x' is not valid" in result.stderr
    assert "AZWRAP_WORKSPACE" not in result.stderr
    assert len(fp.calls) == 0


@pytest.mark.parametrize("name,value,option", [
    ("AZWRAP_WORKSPACE", "x", "--workspace"),
    ("AZWRAP_MAX_NODES", "two", "--max-nodes"),  # refused by click's int type, before azwrap's rule
    ("AZWRAP_ML_CLI", "v3", "--ml-cli"),
])  # fmt: skip
def test_a_bad_environment_value_names_the_variable(name, value, option, fp, az_path, cli, workdir, monkeypatch):
    monkeypatch.setenv(name, value)
    result = cli("compute")
    assert result.exit_code == 2
    assert f"Invalid value for environment variable {name} (for {option}):" in result.stderr
    assert len(fp.calls) == 0


def test_an_empty_state_file_is_a_clear_usage_error(fp, az_path, cli, workdir):
    result = cli("workspace", "--state-file", "")
    assert result.exit_code == 2
    assert "Invalid value for '--state-file': is empty" in result.stderr
    assert "cannot read state file" not in result.stderr
    assert len(fp.calls) == 0


def test_the_upload_path_rule_says_backslashes_are_refused(fp, az_path, cli, workdir):
    result = cli("upload", "--account", ACCOUNT, "--upload-path", "models\\input.csv")
    assert result.exit_code == 2
    assert "no backslash ('\\')" in result.stderr


def test_shell_with_json_plan_is_a_usage_error(cli):
    result = cli("plan", "--shell", "bash", "--format", "json", "--account", ACCOUNT)
    assert result.exit_code == 2
    assert "--shell applies to --output script only" in result.stderr
    assert result.stdout == ""
    assert cli("plan", "--format", "json", "--account", ACCOUNT).exit_code == 0


def test_replication_retries_that_run_out_say_how_many_over_how_long(fake, cli, workdir, monkeypatch):
    seed_state(workdir, done=["storage"])
    fake.book(["sp"], fail_at=11, fail=REPLICATION)
    result = cli("sp", "--account", ACCOUNT, "--retry-timeout", "0")
    assert result.exit_code == 1
    assert ("still not visible to role assignments after 1 try over 0s (--retry-timeout 0); directory replication "
            "can take longer: run the same command again later") in result.stderr  # fmt: skip
    assert result.stderr.count("Cannot find user or service principal") == 1  # az's stderr once


def test_retries_are_counted_on_the_clock(fake, cli, workdir, monkeypatch):
    import azwrap.cli.run

    now = [0.0]
    monkeypatch.setattr(azwrap.cli.run, "SLEEP", lambda seconds: now.__setitem__(0, now[0] + seconds))
    monkeypatch.setattr(azwrap.cli.run, "CLOCK", lambda: now[0])
    monkeypatch.setenv("AZWRAP_RETRY_DELAY", "2")
    seed_state(workdir, done=["storage"])
    fake.book(["sp"], fail_at=11, fail=REPLICATION)
    for _ in range(2):
        fake.on(BOOK[11][1], **REPLICATION)
    result = cli("sp", "--account", ACCOUNT, "--retry-timeout", "10")
    assert result.exit_code == 1
    # tries at 0 s, 2 s and 6 s; the next delay (8 s) would end after the 10 s timeout
    assert "after 3 tries over 6s (--retry-timeout 10)" in result.stderr
    assert fake.calls().count(BOOK[11][1]) == 3
    assert now[0] == 6



@pytest.mark.parametrize(("printed", "kind"), [('"yes"', "a list"), ('{"exists": true}', "a list")])
def test_json_of_another_kind_is_named_in_words_never_as_a_python_type(fake, cli, workdir, printed, kind):
    seed_state(workdir, done=["extension"])
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, stdout=TOKEN_EXPIRES)
    fake.on(["group", "list"], stdout=printed)
    result = cli("workspace")
    assert result.exit_code == 1
    assert f"step 'refresh' failed (az printed JSON that is not {kind}): az group list" in result.stderr
    assert "<class" not in result.stderr and "'list'" not in result.stderr


def test_a_value_is_shown_as_typed_not_as_a_python_repr(fp, az_path, cli, workdir):
    result = cli("workspace", "--workspace", "C:\\ws\\aml")  # a repr would double the backslashes
    assert result.exit_code == 2
    assert "Invalid value for '--workspace': 'C:\\ws\\aml' is not valid" in result.stderr
    assert len(fp.calls) == 0
