"""The principal's lifecycle: --force sp deletes the one it replaces, `azwrap rotate`, the secret's expiry."""

import datetime
import json

import pytest

from .conftest import (ACCOUNT_SHOW, DATASTORE_ID, KEY_ID, SUB, key_id_read, normalised, ACC_ID, ACCOUNT, BOOK, NOT_FOUND, ROLES, ROLES_OF_SP, SECRET, SP, SP_SHOW, TOKEN_EXPIRY, absent,
                       refresh_probes)  # fmt: skip
from .test_doctor import register
from .test_v2 import ANY, V2_ML


NEW = {**SP, "appId": "0a0a0a0a-1111-2222-3333-444455556666", "password": "n3w~secret-value-1234567890abcdef"}
ROTATED = {"appId": SP["appId"], "password": "r0t~ated-secret-value-0987654321fedc", "tenant": SP["tenant"]}
# The replaced principal's role assignments, deleted by the ids the state records.
# pinned to the setup's subscription (another terminal's `az account set` must not move it)
DELETE_OLD_ROLES = ["role", "assignment", "delete", "--ids", ROLES[0]["id"], ROLES[1]["id"], "--subscription", SUB]


@pytest.fixture
def done(fake, cli, workdir):
    fake.doctor()
    fake.book()
    assert cli("all", "--account", ACCOUNT).exit_code == 0
    fake.fp.calls.clear()
    # The fake's role assignment create prints one id; give the workspace's its own, as Azure does.
    record = state(workdir)
    record["resources"]["workspace_role"]["id"] = ROLES[1]["id"]
    (workdir / ".azwrap" / "state.json").write_text(json.dumps(record))
    return workdir


def state(workdir):
    return json.loads((workdir / ".azwrap" / "state.json").read_text())


# `azwrap sp --force`'s refresh: the recorded principal and its role assignments.
SP_REFRESH = [TOKEN_EXPIRY, SP_SHOW, ROLES_OF_SP]


def new_principal(fake):
    fake.logged_in()
    for args, answer in refresh_probes():
        if args in SP_REFRESH:
            fake.on(args, stdout=json.dumps(answer))
    fake.on(BOOK[9][1], stdout=json.dumps(NEW))
    fake.on(key_id_read(NEW["appId"]), stdout="[]")
    fake.on(BOOK[10][1])
    fake.on(["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", NEW["appId"],
             "--scope", ACC_ID])  # fmt: skip


def test_keep_old_sp_leaves_the_replaced_principal(done, fake, cli):
    new_principal(fake)
    result = cli("sp", "--account", ACCOUNT, "--force", "--keep-old-sp")
    assert result.exit_code == 0, result.output
    assert not any(call[:3] == ["ad", "app", "delete"] for call in fake.calls())
    assert not any(call[:3] == ["role", "assignment", "delete"] for call in fake.calls())
    assert fake.calls() == [["account", "show"], *SP_REFRESH, BOOK[9][1], key_id_read(NEW["appId"]), BOOK[10][1],
                            fake.calls()[-1]]
    assert fake.calls()[-1][:6] == ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee"]
    assert state(done)["outputs"]["sp"]["appId"] == NEW["appId"]
    # Kept, yet recorded: `azwrap destroy` still deletes it and its role assignments.
    assert state(done)["retired_sp"] == [{"appId": SP["appId"], "assignments": DELETE_OLD_ROLES[4:6], "gone": False,
                                          "kept": True}]  # fmt: skip
    fake.fp.calls.clear()
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    again = cli("sp", "--no-refresh")  # done: the kept principal is no leftover to delete
    assert again.exit_code == 0, again.output
    assert "sp: done earlier, skipped" in again.stderr and fake.calls() == [["account", "show"], TOKEN_EXPIRY]
    assert state(done)["retired_sp"][0]["kept"] is True


def without_steps(workdir, *names):
    record = state(workdir)
    for name in names:
        del record["steps"][name]
    (workdir / ".azwrap" / "state.json").write_text(json.dumps(record))


def test_sp_alone_keeps_the_replaced_principal_while_the_datastore_authenticates_as_it(done, fake, cli):
    new_principal(fake)
    result = cli("sp", "--account", ACCOUNT, "--force")
    assert result.exit_code == 0, result.output
    assert not [call for call in fake.calls() if call[:3] in (["ad", "app", "delete"], ["role", "assignment", "delete"])]
    assert (f"the replaced service principal {SP['appId']} stays until datastore and grant use the new one: "
            "`azwrap all` runs them again, then deletes it") in result.stderr
    assert [entry["appId"] for entry in state(done)["retired_sp"]] == [SP["appId"]]  # deleted by a later run
    fake.fp.calls.clear()
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    again = cli("sp", "--no-refresh")  # the datastore still uses it: still not deleted
    assert again.exit_code == 0, again.output
    assert fake.calls() == [["account", "show"], TOKEN_EXPIRY] and "retired_sp" in state(done)


def test_a_failed_delete_of_the_replaced_principal_is_finished_by_the_next_run(done, fake, cli):
    without_steps(done, "datastore", "grant")  # nothing else uses the principal
    new_principal(fake)
    fake.on(DELETE_OLD_ROLES, stdout="")
    fake.on(["ad", "app", "delete", "--id", SP["appId"]], returncode=1, stdout="", stderr="ERROR: (Throttled) later\n")
    failed = cli("sp", "--account", ACCOUNT, "--force")
    assert failed.exit_code == 1 and "az ad app delete --id " + SP["appId"] in failed.stderr
    # recorded with the new principal, still to do
    assert state(done)["retired_sp"] == [{"appId": SP["appId"], "assignments": DELETE_OLD_ROLES[4:6], "gone": False}]
    assert state(done)["outputs"]["sp"]["password"] == NEW["password"]
    fake.fp.calls.clear()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(DELETE_OLD_ROLES, stdout="")  # deleted by the first run: az deletes nothing and says nothing
    fake.on(["ad", "app", "delete", "--id", SP["appId"]], **NOT_FOUND)  # deleted meanwhile: fine
    fake.logged_in()
    fake.logged_in()  # Graph's "does not exist" is gone only in the setup's tenant: az's is read again
    resumed = cli("sp", "--no-refresh")
    assert resumed.exit_code == 0, resumed.output
    assert "sp: running again: deleting the service principal an earlier run replaced" in resumed.stderr
    assert fake.calls(pinned=True) == [["account", "show"], TOKEN_EXPIRY, DELETE_OLD_ROLES,
                                       ["ad", "app", "delete", "--id", SP["appId"]], ["account", "show"]]  # fmt: skip
    assert "retired_sp" not in state(done)


def test_a_replaced_principal_graph_cannot_find_after_a_tenant_switch_is_not_forgotten(done, fake, cli):
    without_steps(done, "datastore", "grant")  # nothing else uses the principal: it is deleted now
    new_principal(fake)
    fake.on(DELETE_OLD_ROLES, stdout="")
    fake.on(["ad", "app", "delete", "--id", SP["appId"]], returncode=1, stdout="", stderr=(
        f"ERROR: Resource '{SP['appId']}' does not exist or one of its queried reference-property objects are not present.\n"))
    fake.on(["account", "show"], stdout=json.dumps({**ACCOUNT_SHOW, "tenantId": "another-tenant"}))  # another terminal's az login
    result = cli("sp", "--account", ACCOUNT, "--force")
    assert result.exit_code == 2, result.output
    assert "az is signed in to tenant another-tenant" in result.stderr and f"az login --tenant {SP['tenant']}" in result.stderr
    assert [entry["appId"] for entry in state(done)["retired_sp"]] == [SP["appId"]]  # still to delete


PINNED = ["--subscription", SUB]  # rotate's ARM calls name the setup's subscription (`az ad` cannot take it)
NAME = "azwrap-0123456789ab"  # the display name rotate gives its new secret (uuid4 fixed below)
RESET = ["ad", "app", "credential", "reset", "--id", SP["appId"], "--append", "--display-name", NAME]
CREDENTIALS = ["ad", "app", "credential", "list", "--id", SP["appId"]]
NEW_KEY = "7e7e7e7e-0000-4000-8000-000000000002"
# The app's passwords after the reset: create-for-rbac's (azwrap's earlier one), one the user added for a
# pipeline, and the new one.
LISTED = [{"keyId": KEY_ID, "displayName": "rbac", "hint": SECRET[:3], "startDateTime": "2026-12-01T10:00:00Z"},
          {"keyId": "c1c1c1c1-0000-4000-8000-000000000003", "displayName": "ci", "hint": "abc",
           "startDateTime": "2026-12-02T10:00:00Z"},
          {"keyId": NEW_KEY, "displayName": NAME, "hint": ROTATED["password"][:3], "startDateTime": "2026-12-05T10:00:00Z"}]
DELETE_OLD = ["ad", "app", "credential", "delete", "--id", SP["appId"], "--key-id", KEY_ID]
DATASTORE_SHOW = ["resource", "show", "--ids", DATASTORE_ID, *PINNED]
DATASTORE = {"id": DATASTORE_ID, "properties": {"accountName": ACCOUNT, "filesystem": "fs1",
                                                "credentials": {"clientId": SP["appId"]}}}  # fmt: skip
DETACH = ["ml", "datastore", "detach", "--name", "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg", *PINNED]


@pytest.fixture
def fixed_name(monkeypatch):
    import uuid

    from azwrap.core import rotate

    monkeypatch.setattr(rotate.uuid, "uuid4", lambda: uuid.UUID("0123456789ab4cde8f0123456789abcd"))


def test_rotate_v1_adds_a_secret_attaches_the_datastore_with_it_then_deletes_only_azwraps_earlier_one(
        done, fake, cli, fixed_name):
    fake.logged_in()
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))  # it is azwrap's: it uses the recorded principal
    fake.on(RESET, stdout=json.dumps(ROTATED), stderr="WARNING: The output includes credentials\n")
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(DETACH)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))  # the earlier secret is still there
    fake.on(DELETE_OLD, stdout="")
    result = cli("rotate", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert normalised(fake.calls(pinned=True)) == [["account", "show"], DATASTORE_SHOW, RESET, CREDENTIALS, DATASTORE_SHOW, DETACH,
                                                   [*BOOK[12][1], *PINNED], CREDENTIALS, DELETE_OLD]  # fmt: skip
    assert fake.secret_file_contents[-1] == ROTATED["password"]  # the attach got the new secret
    recorded = state(done)
    assert recorded["outputs"]["sp"]["password"] == ROTATED["password"] and "rotation" not in recorded
    assert recorded["resources"]["sp"]["identity"] == {"keyId": NEW_KEY}  # the next rotation deletes this one
    assert ROTATED["password"] not in result.output and SECRET not in result.output
    assert ROTATED["password"] in cli("env").stdout
    assert "An SP_PASSWORD you set earlier is stale: set it again with " in result.stderr
    assert "the app's other passwords are untouched" in result.stderr


def test_rotate_interrupted_after_the_reset_finishes_without_a_second_reset(done, fake, cli, fixed_name):
    fake.logged_in()
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(RESET, stdout=json.dumps(ROTATED))
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(DETACH)
    fake.on([*BOOK[12][1], *PINNED], returncode=1, stdout="", stderr="ERROR: (ServiceUnavailable) try later\n")
    assert cli("rotate", "--account", ACCOUNT).exit_code == 1
    assert state(done)["rotation"] == {"stage": "datastore", "appId": SP["appId"], "name": NAME, "old_key": KEY_ID}
    assert state(done)["outputs"]["sp"]["password"] == ROTATED["password"]
    fake.fp.calls.clear()
    fake.doctor()
    fake.present()
    fake.on(DATASTORE_SHOW, **NOT_FOUND)  # detached by the first run
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))  # the earlier secret is still there
    fake.on(DELETE_OLD, stdout="")
    result = cli("all", "--account", ACCOUNT)  # `all` finishes it too
    assert result.exit_code == 0, result.output
    assert "finishing the secret rotation" in result.stderr
    assert not any(call[:4] == RESET[:4] for call in fake.calls()) and fake.secret_file_contents[-1] == ROTATED["password"]
    assert fake.calls(pinned=True)[-1] == DELETE_OLD and "rotation" not in state(done)


def test_rotate_interrupted_during_the_reset_resets_again_with_the_same_name(done, fake, cli, fixed_name):
    fake.logged_in()
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(RESET, returncode=1, stdout="", stderr="ERROR: (ServiceUnavailable) half way\n")
    assert cli("rotate", "--account", ACCOUNT).exit_code == 1
    assert state(done)["rotation"] == {"stage": "reset", "appId": SP["appId"], "name": NAME, "old_key": KEY_ID}
    # The first reset may have made its password before it failed: two of that name, the newest is recorded,
    # the other (azwrap's too) deleted.
    half = {**LISTED[2], "keyId": "5a5a5a5a-0000-4000-8000-000000000004", "hint": "h4f",
            "startDateTime": "2026-12-05T09:00:00Z"}  # its secret was never printed: another hint
    fake.logged_in()
    fake.on(RESET, stdout=json.dumps(ROTATED))
    fake.on(CREDENTIALS, stdout=json.dumps([*LISTED, half]))
    fake.on(["ad", "app", "credential", "delete", "--id", SP["appId"], "--key-id", half["keyId"]], stdout="")
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))  # the earlier secret is still there
    fake.on(DELETE_OLD, stdout="")
    assert cli("rotate", "--account", ACCOUNT).exit_code == 0
    assert state(done)["outputs"]["sp"]["password"] == ROTATED["password"]
    assert state(done)["resources"]["sp"]["identity"] == {"keyId": NEW_KEY}


def test_rotate_refuses_a_datastore_someone_made_again_under_its_name_before_any_change(done, fake, cli):
    fake.logged_in()
    theirs = {**DATASTORE, "properties": {**DATASTORE["properties"], "credentials": {"clientId": NEW["appId"]}}}
    fake.on(DATASTORE_SHOW, stdout=json.dumps(theirs))
    result = cli("rotate", "--account", ACCOUNT)
    assert result.exit_code == 2 and "is not the one azwrap attached" in result.stderr
    assert fake.calls(pinned=True) == [["account", "show"], DATASTORE_SHOW]
    assert state(done)["outputs"]["sp"]["password"] == SECRET and "rotation" not in state(done)


def test_rotate_v2_creates_the_datastore_again_with_the_new_secret(fake, cli, workdir, fixed_name):
    from .test_v2 import FileSpy, register_v2

    fake.doctor()
    register_v2(fake, FileSpy())
    assert cli("all", "--account", ACCOUNT, "--ml-cli", "v2").exit_code == 0
    spy = FileSpy()
    fake.logged_in()
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(RESET, stdout=json.dumps(ROTATED))
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.fp.register([fake.path, *(fake.fp.any(min=1, max=1) if a is ANY else a for a in V2_ML[12]), *PINNED],
                     callback=spy)  # fmt: skip
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))  # the earlier secret is still there
    fake.on(DELETE_OLD, stdout="")
    result = cli("rotate", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 0, result.output
    assert spy.secret == ROTATED["password"]
    calls = fake.calls(pinned=True)
    assert calls[-3][:4] == V2_ML[12][:4] and calls[-2:] == [CREDENTIALS, DELETE_OLD]  # create replaces it: no detach


def test_rotate_without_a_principal_exits_2(fake, cli, workdir):
    result = cli("rotate", "--account", ACCOUNT)
    assert result.exit_code == 2 and "run `azwrap sp` first" in result.stderr
    assert fake.calls() == []


def _credentials(days: int, hint: str = SECRET[:3]) -> str:
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return json.dumps([{"customKeyIdentifier": None, "displayName": "rbac", "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "hint": hint, "keyId": "k", "secretText": None, "startDateTime": "2026-01-01T00:00:00Z"}])


@pytest.mark.parametrize("days,status", [(10, "note"), (-1, "note"), (200, "ok")])
def test_doctor_notes_a_secret_expiring_within_30_days(done, fake, cli, days, status):
    register(fake)
    fake.on(["ad", "app", "credential", "list", "--id", SP["appId"]], stdout=_credentials(days))
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert result.exit_code == 0, result.output  # a note does not fail doctor
    [secret] = [c for c in json.loads(result.stdout) if c["check"] == "secret"]
    assert secret["status"] == status, secret
    if status == "note":
        assert "azwrap rotate" in secret["fix"] and ("expires on" in secret["detail"] or "expired on" in secret["detail"])
    assert SECRET not in result.output


def test_doctor_notes_when_the_recorded_secret_is_no_longer_the_apps(done, fake, cli):
    register(fake)
    fake.on(["ad", "app", "credential", "list", "--id", SP["appId"]], stdout=_credentials(200, hint="zzz"))
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert result.exit_code == 0, result.output  # a note does not fail doctor
    [secret] = [c for c in json.loads(result.stdout) if c["check"] == "secret"]
    assert secret["status"] == "note" and "not among" in secret["detail"] and "azwrap rotate" in secret["fix"]



def test_rotate_with_other_settings_than_the_datastores_changes_nothing(done, fake, cli):
    result = cli("rotate", "--account", ACCOUNT, "--ml-cli", "v2")
    assert result.exit_code == 2, result.output
    assert "the datastore was attached with --ml-cli 'v1' (not 'v2')" in result.stderr
    assert fake.calls() == []
    assert state(done)["outputs"]["sp"]["password"] == SECRET
