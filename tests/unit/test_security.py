"""Security (issue 10): the state cannot be hijacked or lost, damaged state names the field."""

import json
import os

import pytest

from azwrap import state as state_module

from .conftest import ACCOUNT, BOOK, SECRET, SP


def test_a_state_that_cannot_be_written_stops_sp_before_any_az_call(fake, cli, workdir, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(state_module.tempfile, "mkstemp", read_only)
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert "Read-only file system; nothing was changed" in result.stderr
    assert fake.calls() == []  # no principal created


def test_a_state_directory_of_another_user_stops_sp_before_any_az_call(fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    os.chown(workdir / ".azwrap", 65534, 65534)
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert "belongs to another user" in result.stderr
    assert fake.calls() == []


def test_a_save_failing_right_after_create_for_rbac_names_the_principal_and_its_delete_command(fake, cli, workdir,
                                                                                                monkeypatch):  # fmt: skip
    real_save = state_module.save

    def save_fails_once_created(path, content):
        if "sp" in content["outputs"]:
            raise state_module.StateError(f"cannot write state file {path}: No space left on device")
        real_save(path, content)

    monkeypatch.setattr(state_module, "save", save_fails_once_created)
    fake.on(BOOK[9][1])
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert f"The service principal {SP['appId']} was created but could not be recorded" in result.stderr
    assert f"az ad app delete --id {SP['appId']}" in result.stderr
    assert SECRET not in result.output
    assert fake.calls() == [BOOK[9][1]]  # nothing after it


@pytest.mark.parametrize("outputs", [
    {"sp": {"password": SECRET, "tenant": SP["tenant"]}},  # no appId
    {"sp": {"appId": SP["appId"], "tenant": SP["tenant"]}, "acc": {"id": "@/etc/passwd"}},
])  # fmt: skip
@pytest.mark.parametrize("command", [["env"], ["status"], ["grant"], ["datastore", "--account", ACCOUNT]])
def test_damaged_principal_or_ids_exit_2_naming_the_field(command, outputs, fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, "steps": {}, "outputs": outputs}))
    result = cli(*command)
    assert result.exit_code == 2, result.output
    assert "is damaged (outputs." in result.stderr
    assert "Traceback" not in result.output
    assert fake.calls() == []


def test_a_state_file_of_another_user_exits_2(fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    path = workdir / ".azwrap" / "state.json"
    path.write_text(json.dumps(state_module.empty()))
    os.chown(path, 65534, 65534)
    for command in (["status"], ["env"], ["grant"]):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert "belongs to another user" in result.stderr
