"""An az failure at any point: one clear message naming the step, exit 1, nothing run after it."""

import json

import pytest

from .conftest import (SUB, OWN, DATASTORE_ID, NOT_FOUND, resources_show, ACCOUNT, BOOK, FRESH_STEP, GROUP_LIST, LIST_AVAILABLE, LIST_LOCATIONS, LOCATIONS, MY_ROLES, OFFERED,
                       SECRET, TOKEN_EXPIRES, TOKEN_EXPIRY, VERSION_CALL, absent, doctor_calls, expected, normalised, role_assignment,
                       seed_state)  # fmt: skip

RUN = BOOK[1:]  # `all` when already signed in


@pytest.mark.parametrize("index", range(len(RUN)), ids=[f"{i + 2}-{' '.join(a[:3])}" for i, (_, a) in enumerate(RUN)])
def test_failure_at_each_invocation_stops_there(index, fake, cli, workdir):
    fake.doctor()
    fake.book(fail_at=index + 1)
    failed_step = RUN[index][0]
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert result.stderr.count("Error: ") == 1
    assert f"Error: step '{failed_step}' failed (exit 1): az {RUN[index][1][0]}" in result.stderr
    # az's stderr is shown once: as it came (a capturing call's, held back, in the error message instead)
    assert result.stderr.count("ERROR: (Conflict) injected failure") == 1
    assert result.stderr.count("WARNING: a warning first") == 1
    # (a role assignment's JSON is read too: its id, for `azwrap destroy`; the storage account's: its identity)
    held = " ".join(RUN[index][1][:3]) in ("ad sp create-for-rbac", "storage account show", "ml workspace show",
                                           "role assignment create", "storage account create")
    error = result.stderr.split("Error: ")[1]
    assert ("ERROR: (Conflict) injected failure" in error) == held
    assert ("(az's messages are above)" in error) == (not held)
    assert "Traceback" not in result.output
    assert normalised(fake.calls()[len(doctor_calls()):]) == expected(until=index + 1)
    assert SECRET not in result.output
    assert result.stderr.rstrip().endswith("run the same command again to resume.")


def sp_ready(fake, workdir):
    """`azwrap sp` in a later session: storage done earlier, signed in (its refresh: the token only)."""
    seed_state(workdir, done=["storage"])
    fake.logged_in()
    for args in FRESH_STEP["sp"]:
        fake.on(args, **absent(args))
    for args, answer in OWN[9]:  # the new secret's key id, read right after create-for-rbac
        fake.on(args, stdout=json.dumps(answer))


def test_azs_own_exit_code_is_reported(fake, cli, workdir):
    # REFERENCE.md section 7: the book's `storage account show --name A` exits 2 for a missing account.
    sp_ready(fake, workdir)
    fake.on(BOOK[9][1], stderr="WARNING: credentials\n")
    fake.on(BOOK[10][1], returncode=2, stdout="", stderr="ERROR: The storage account 'mydatalake' was not found in the current subscription.\n")
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert "Error: step 'sp' failed (exit 2): az storage account show --name mydatalake" in result.stderr
    assert "The storage account 'mydatalake' was not found" in result.stderr
    assert "then run the same command again to resume." in result.stderr  # a step command resumes too


def test_a_failure_after_create_for_rbac_keeps_the_new_secret(fake, cli, workdir):
    sp_ready(fake, workdir)
    fake.on(BOOK[9][1])
    fake.on(BOOK[10][1], returncode=1, stdout="", stderr="ERROR: boom\n")
    assert cli("sp", "--account", ACCOUNT).exit_code == 1
    state = json.loads((workdir / ".azwrap" / "state.json").read_text())
    assert state["outputs"]["sp"]["password"] == SECRET
    assert "sp" not in state["steps"]  # recorded, but the step is not done


def test_garbage_instead_of_json_is_a_clear_error_that_never_echoes_stdout(fake, cli, workdir):
    sp_ready(fake, workdir)
    table = f"AppId    Password\n-------  --------\nabc      {SECRET}\n"  # a table, as with core.output=table
    fake.on(BOOK[9][1], stdout=table)
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert "Error: step 'sp' failed (az printed" in result.stderr
    assert "not JSON" in result.stderr
    assert SECRET not in result.output
    assert fake.calls()[1:] == [TOKEN_EXPIRY, BOOK[9][1]]  # after `az account show`: nothing after the failed call


def test_json_without_the_needed_fields_is_an_error(fake, cli, workdir):
    sp_ready(fake, workdir)
    fake.on(BOOK[9][1], stdout=json.dumps({"displayName": "x"}))
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert "lacks a field azwrap needs (appId, password, tenant)" in result.stderr


def test_az_stderr_holding_the_secret_is_masked(fake, cli, workdir):
    sp_ready(fake, workdir)
    fake.on(BOOK[9][1], stderr=f"WARNING: debug says password={SECRET}\n")
    fake.on(BOOK[10][1])
    fake.on(BOOK[11][1], returncode=1, stdout="", stderr=f"ERROR: echoing {SECRET} back\n")
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert "password=***" in result.stderr and "echoing *** back" in result.stderr


@pytest.mark.parametrize("returncode", [0, 1], ids=["warning", "error"])
def test_stderr_of_a_call_shown_as_it_comes_is_masked_too(returncode, fake, cli, workdir):
    # The datastore's attach is not a capturing call: az's lines reach the user while it runs.
    seed_state(workdir, done=["extension", "workspace", "storage", "sp"], sp=True)
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, stdout=TOKEN_EXPIRES)
    fake.on(resources_show(DATASTORE_ID), **NOT_FOUND)  # not attached yet
    said = f"{'ERROR' if returncode else 'WARNING'}: the request held clientSecret={SECRET}\n"
    fake.register(BOOK[12][1], returncode=returncode, stdout="", stderr=said)
    result = cli("datastore", "--account", ACCOUNT)
    assert result.exit_code == returncode, result.output
    assert SECRET not in result.output
    assert "[datastore] " + said.replace(SECRET, "***").strip() in result.stderr


def test_no_az_on_path_exits_2_with_install_hint(fp, cli, workdir, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = cli("extension")
    assert result.exit_code == 2
    assert "az was not found on PATH" in result.stderr
    assert "Install the Azure CLI" in result.stderr
    assert len(fp.calls) == 0


def test_az_option_naming_a_missing_program_exits_2(fp, cli, workdir):
    result = cli("extension", "--az", "/nonexistent/az")
    assert result.exit_code == 2
    assert "'/nonexistent/az' is not an executable" in result.stderr
    assert len(fp.calls) == 0


def test_corrupt_state_exits_2_and_is_left_untouched(fake, cli, workdir):
    state_dir = workdir / ".azwrap"
    state_dir.mkdir()
    (state_dir / "state.json").write_text("{not json")
    result = cli("grant")
    assert result.exit_code == 2
    assert "is not valid JSON" in result.stderr
    assert (state_dir / "state.json").read_text() == "{not json"
    assert fake.calls() == []


def test_an_az_that_cannot_start_is_a_clear_error(cli, workdir, tmp_path):
    broken = tmp_path / "az-broken"
    broken.write_bytes(b"\x7fELF not really a program")
    broken.chmod(0o755)
    result = cli("extension", "--az", str(broken))  # a real process start: no fp here
    assert result.exit_code == 2  # as when no az is found: nothing ran
    assert f"Error: could not start {broken}: Exec format error. Install the Azure CLI" in result.stderr
    assert "Traceback" not in result.output



@pytest.mark.parametrize("stdout", [
    json.dumps([{"password": SECRET, "appId": "x"}]),  # JSON, but a list
    f"appId: x\npassword: {SECRET}\n",  # not JSON at all
])  # fmt: skip
def test_az_messages_are_never_relayed_with_a_secret_azwrap_could_not_read(stdout, fake, cli, workdir):
    sp_ready(fake, workdir)
    fake.on(BOOK[9][1], stdout=stdout, stderr=f"WARNING: the secret is {SECRET}\n")
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert "Error: step 'sp' failed (az printed" in result.stderr


def test_a_failed_create_for_rbac_relays_its_error_masked(fake, cli, workdir):
    sp_ready(fake, workdir)
    fake.on(BOOK[9][1], returncode=1, stdout=json.dumps({"password": SECRET}), stderr=f"ERROR: boom {SECRET}\n")
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert "ERROR: boom ***" in result.stderr and SECRET not in result.output


# `az account show` is asked before anything else and `az version` by the refresh (exit 1, as any az
# failure); a doctor's check's answer of the wrong shape is a failed check, which `all` turns into one
# refusal before any change (exit 2).
WRONG_VERSION = '{"azure-cli": "2.91.0", "extensions": ["ml"]}'  # extensions as a list, not az's object


@pytest.mark.parametrize("probe,output,exit_code,message", [
    (["account", "show"], "[{}]", 1, "Error: step 'login' failed (az printed JSON that is not an object): az account show"),
    (VERSION_CALL, "[]", 1, "Error: step 'refresh' failed (az printed JSON that is not an object): az version"),
    (VERSION_CALL, WRONG_VERSION, 1, "Error: step 'refresh' failed (az printed JSON that is not as az version prints it"),
    (LIST_LOCATIONS, '{"ml": 1}', 2, "doctor: 1 check(s) failed ("),
])  # fmt: skip
def test_json_of_the_wrong_shape_is_a_clear_error(probe, output, exit_code, message, fake, cli, workdir):
    fake.on(["account", "show"], stdout=output if probe == ["account", "show"] else json.dumps({"id": SUB, "name": "n"}))
    fake.on(TOKEN_EXPIRY, stdout=TOKEN_EXPIRES)
    fake.on(VERSION_CALL, stdout=output if probe == VERSION_CALL else '{"azure-cli": "2.91.0", "extensions": {}}')
    fake.on(GROUP_LIST, stdout="[]")
    fake.on(LIST_AVAILABLE, stdout=json.dumps(OFFERED))
    fake.on(LIST_LOCATIONS, stdout=output if probe == LIST_LOCATIONS else json.dumps(LOCATIONS))
    fake.on(["storage", "account", "check-name", "--name", ACCOUNT], stdout='{"nameAvailable": true}')
    fake.on(MY_ROLES, stdout=json.dumps([role_assignment("Owner")]))
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == exit_code, result.output
    assert "az printed JSON that is not" in result.output and message in result.stderr
    assert "Traceback" not in result.output
    assert not [call for call in fake.calls() if call[:2] in (["extension", "add"], ["group", "create"])]  # nothing changed


# An unusable state file is a usage error (2) for every command that reads it; doctor, which only
# reports, fails its state check (1).
@pytest.mark.parametrize("command,exit_code", [(["env"], 2), (["status"], 2), (["grant"], 2),
                                               (["all", "--account", ACCOUNT], 2), (["doctor", "--account", ACCOUNT], 1)])  # fmt: skip
def test_damaged_state_is_reported_never_a_traceback(command, exit_code, fake, cli, workdir):
    (workdir / ".azwrap").mkdir()
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, "steps": [], "outputs": {"sp": "x"}}))
    if command[0] == "doctor":
        fake.doctor()
        for args in (VERSION_CALL, TOKEN_EXPIRY):  # `azwrap doctor` asks these itself (no refresh)
            fake.on(args, **absent(args))
    result = cli(*command)
    assert result.exit_code == exit_code and "is damaged" in result.output
    assert (["FAIL state"] if command[0] == "doctor" else []) == [line[:10] for line in result.stdout.splitlines()
                                                                  if line.startswith("FAIL")]  # fmt: skip
    if command[0] != "doctor":
        assert fake.calls() == []  # refused before any az call
    assert "Traceback" not in result.output
