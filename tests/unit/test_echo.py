"""Echoed `$ az ...` lines are quoted for the user's shell: PowerShell on Windows, POSIX elsewhere."""

import shlex

import pytest

from azwrap.book.quoting import echo_shell

from . import powershell
from .conftest import ACCOUNT, TOKEN_EXPIRY, absent, file_exists_call, pin, seed_state

# Values each shell would mangle if the echo were quoted for the other one.
SOURCE = "my data/it's $(whoami) `id`; echo \"x\".csv"
UPLOAD_PATH = "in/it's $HOME `date`; rm -rf ~ & \"x\" \u2019q\u2019.csv"
UPLOAD = ["storage", "fs", "file", "upload", "--file-system", "fs1", "--path", UPLOAD_PATH, "--source", SOURCE,
          "--account-name", ACCOUNT]  # fmt: skip


@pytest.mark.parametrize("environ,os_name,shell", [
    ({}, "nt", "powershell"),
    ({}, "posix", "bash"),
    ({"AZWRAP_ECHO_SHELL": "bash"}, "nt", "bash"),
    ({"AZWRAP_ECHO_SHELL": "PowerShell"}, "posix", "powershell"),
])  # fmt: skip
def test_the_echo_shell_follows_the_platform_unless_chosen(environ, os_name, shell):
    assert echo_shell(environ, os_name) == shell


def _upload(fake, cli, workdir, monkeypatch, shell):
    (workdir / "my data").mkdir()
    (workdir / SOURCE).write_text("a,b\n")
    monkeypatch.setenv("AZWRAP_ECHO_SHELL", shell)
    seed_state(workdir, done=["storage"])
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))  # the upload's refresh: its guard, the file not there yet
    fake.on(file_exists_call(UPLOAD_PATH), stdout='{"exists": false}')
    fake.on(UPLOAD)
    result = cli("upload", "--account", ACCOUNT, "--source", SOURCE, "--upload-path", UPLOAD_PATH)
    assert result.exit_code == 0, result.output
    # Off a terminal each echoed command is prefixed by its step: `[upload] $ az ...`.
    [echoed] = [line.removeprefix("[upload] $ ") for line in result.stderr.splitlines()
                if line.startswith("[upload] $ az storage")]  # fmt: skip
    return echoed


def test_a_powershell_echo_parses_to_the_argv_that_ran(fake, cli, workdir, monkeypatch):
    echoed = _upload(fake, cli, workdir, monkeypatch, "powershell")
    assert powershell.errors(echoed + "\n") == []
    assert powershell.az_commands(echoed + "\n") == [(None, ["az", *pin(UPLOAD)])]
    assert fake.calls(pinned=True) == [["account", "show"], TOKEN_EXPIRY, pin(file_exists_call(UPLOAD_PATH)), pin(UPLOAD)]


def test_a_bash_echo_splits_to_the_argv_that_ran(fake, cli, workdir, monkeypatch):
    echoed = _upload(fake, cli, workdir, monkeypatch, "bash")
    assert shlex.split(echoed) == ["az", *pin(UPLOAD)]
    assert "'\"'\"'" in echoed  # POSIX quoting, which PowerShell would misread


def test_an_unknown_echo_shell_is_a_usage_error_before_any_call(fp, az_path, cli, workdir, monkeypatch):
    monkeypatch.setenv("AZWRAP_ECHO_SHELL", "cmd")
    result = cli("storage", "--account", ACCOUNT)
    assert result.exit_code == 2
    assert "AZWRAP_ECHO_SHELL='cmd' is not one of: powershell, bash" in result.stderr
    assert len(fp.calls) == 0
