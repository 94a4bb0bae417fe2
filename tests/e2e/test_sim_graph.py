"""End-to-end tests of the simulator's Microsoft Graph and role side for issue 15: app credentials by key
id, Graph's not-found exit codes, create-for-rbac's name collision, and role assignment lists
(REFERENCE.md section 8, az-facts sections 7-9)."""
import datetime
import json
import re

import pytest

from .test_sim import SUB, ok, run, setup, state

NOT_THERE = "Resource '{}' does not exist or one of its queried reference-property objects are not present."
ACCT_ID = f"/subscriptions/{SUB}/resourceGroups/adls-rg/providers/Microsoft.Storage/storageAccounts/acct1"


@pytest.fixture
def home(tmp_path):
    return tmp_path / "h"


def credentials(home, app_id):
    return ok(home, "ad", "app", "credential", "list", "--id", app_id)


def attach_with(home, sp, secret, name="MLData"):
    """v1 datastore attach: the directory checks the secret (AADSTS7000215 when it is not a valid one)."""
    return run(home, "ml", "datastore", "attach-adls-gen2", "--account-name", "acct1", "--client-id", sp["appId"],
               "--tenant-id", sp["tenant"], "--file-system", "fs1", "--name", name, "-w", "aml", "-g", "aml-rg",
               "--client-secret", secret)  # fmt: skip


# ------------------------------------------------------------------ credentials by key id
def test_credential_list_shows_key_ids_and_create_for_rbacs_password_is_named_rbac(home):
    setup(home)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    [cred] = credentials(home, sp["appId"])
    assert set(cred) == {"customKeyIdentifier", "displayName", "endDateTime", "hint", "keyId", "secretText", "startDateTime"}
    assert (cred["displayName"], cred["hint"], cred["secretText"]) == ("rbac", sp["password"][:3], None)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", cred["keyId"])
    assert cred["startDateTime"] < cred["endDateTime"] and cred["endDateTime"].endswith("Z")
    assert sp["password"] not in json.dumps(credentials(home, sp["appId"]))


def test_reset_with_append_keeps_the_others_and_delete_by_key_id_removes_only_that_one(home):
    setup(home, "v1", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    users = ok(home, "ad", "app", "credential", "reset", "--id", sp["appId"], "--append", "--display-name", "ci")
    assert set(users) == {"appId", "password", "tenant"}  # no keyId: find it in the list
    rbac, ci = credentials(home, sp["appId"])
    assert (rbac["displayName"], ci["displayName"], ci["hint"]) == ("rbac", "ci", users["password"][:3])
    new = ok(home, "ad", "app", "credential", "reset", "--id", sp["appId"], "--append", "--years", "2")
    listed = credentials(home, sp["appId"])
    assert [c["displayName"] for c in listed] == ["rbac", "ci", None]  # unnamed without --display-name
    done = run(home, "ad", "app", "credential", "delete", "--id", sp["appId"], "--key-id", rbac["keyId"])
    assert (done.returncode, done.stdout) == (0, "")
    assert [c["keyId"] for c in credentials(home, sp["appId"])] == [ci["keyId"], listed[2]["keyId"]]
    assert attach_with(home, sp, sp["password"]).returncode == 1  # the deleted one's secret no longer works
    ok(home, "ml", "datastore", "attach-adls-gen2", "--account-name", "acct1", "--client-id", sp["appId"],
       "--tenant-id", sp["tenant"], "--file-system", "fs1", "--name", "MLData", "-w", "aml", "-g", "aml-rg",
       "--client-secret", new["password"])  # fmt: skip
    assert attach_with(home, sp, users["password"], name="Other").returncode == 0  # the user's works still
    again = run(home, "ad", "app", "credential", "delete", "--id", sp["appId"], "--key-id", rbac["keyId"])
    assert again.returncode == 1 and again.stdout == ""  # an unknown key id: the harsher case
    ok(home, "ad", "app", "credential", "reset", "--id", sp["appId"])  # without --append: every one goes
    assert len(credentials(home, sp["appId"])) == 1


# ------------------------------------------------------------------ Graph's not-found
def test_graph_not_found_is_exit_1_except_for_the_show_commands(home):
    setup(home)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    [cred] = credentials(home, sp["appId"])
    ok(home, "ad", "app", "delete", "--id", sp["appId"])
    for args in (["ad", "app", "delete"], ["ad", "app", "credential", "list"], ["ad", "app", "credential", "reset"],
                 ["ad", "app", "credential", "delete", "--key-id", cred["keyId"]]):  # fmt: skip
        r = run(home, *args, "--id", sp["appId"])
        assert (r.returncode, r.stdout, r.stderr) == (1, "", "ERROR: " + NOT_THERE.format(sp["appId"]) + "\n"), args
    for args in (["ad", "sp", "show"], ["ad", "app", "show"]):
        r = run(home, *args, "--id", sp["appId"])
        assert (r.returncode, r.stdout) == (3, ""), args
        assert NOT_THERE.format(sp["appId"]) in r.stderr


def test_the_principal_and_the_app_have_their_own_object_ids_and_new_ones_when_made_again(home):
    setup(home)
    sp = ok(home, "ad", "sp", "create-for-rbac", "--name", "mine")
    principal = ok(home, "ad", "sp", "show", "--id", sp["appId"])
    app = ok(home, "ad", "app", "show", "--id", sp["appId"])
    assert principal["appId"] == app["appId"] == sp["appId"] and principal["id"] != app["id"]
    assert ok(home, "ad", "sp", "show", "--id", principal["id"])["appId"] == sp["appId"]
    assert ok(home, "ad", "app", "show", "--id", app["id"])["appId"] == sp["appId"]
    assert run(home, "ad", "app", "show", "--id", principal["id"]).returncode == 3  # not an app's id
    ok(home, "ad", "app", "delete", "--id", app["id"])
    again = ok(home, "ad", "sp", "create-for-rbac", "--name", "mine")
    shown = ok(home, "ad", "sp", "show", "--id", again["appId"])
    assert again["appId"] != sp["appId"] and shown["id"] != principal["id"]


# ------------------------------------------------------------------ create-for-rbac's name collision
def test_create_for_rbac_names_the_app_after_the_utc_second(home):
    setup(home)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    after = datetime.datetime.now(datetime.timezone.utc)
    named = datetime.datetime.strptime(sp["displayName"], "azure-cli-%Y-%m-%d-%H-%M-%S").replace(tzinfo=datetime.timezone.utc)
    assert before <= named <= after


@pytest.mark.parametrize("text", ["1", "old"])
def test_a_run_in_the_same_second_patches_the_app_and_wipes_its_secret(home, text):
    setup(home, "v1", resources=True)
    older = [ok(home, "ad", "sp", "create-for-rbac") for _ in range(3)]
    first = ok(home, "ad", "sp", "create-for-rbac")  # the newest run: the one in the same second
    app = ok(home, "ad", "app", "show", "--id", first["appId"])
    r = run(home, "ad", "sp", "create-for-rbac", env={"AZSIM_RBAC_COLLISION": text})
    assert r.returncode == 0
    second = json.loads(r.stdout)
    expected = (f"WARNING: Found an existing application instance: (id) {app['id']}. We will patch it.\n" if text == "1"
                else f'WARNING: Found an existing application instance of "{first["appId"]}". We will patch it\n')  # fmt: skip
    assert r.stderr.startswith(expected)
    assert (second["appId"], second["displayName"]) == (first["appId"], first["displayName"])
    assert second["password"] != first["password"]
    [cred] = credentials(home, first["appId"])
    assert cred["hint"] == second["password"][:3]
    assert attach_with(home, first, first["password"]).returncode == 1  # the first run's secret is gone
    assert len(state(home)["service_principals"]) == 4
    assert all(len(credentials(home, sp["appId"])) == 1 for sp in older)


def test_without_an_earlier_run_the_collision_is_with_someone_elses_app(home):
    setup(home)
    r = run(home, "ad", "sp", "create-for-rbac", env={"AZSIM_RBAC_COLLISION": "1"})
    assert r.returncode == 0 and "Found an existing application instance: (id) " in r.stderr
    sp = json.loads(r.stdout)
    assert sp["displayName"].startswith("azure-cli-") and len(credentials(home, sp["appId"])) == 1
    assert len(state(home)["service_principals"]) == 1  # the other run's app, patched


def test_two_apps_of_the_name_make_create_for_rbac_fail(home):
    setup(home)
    one = ok(home, "ad", "app", "create", "--display-name", "twice")
    two = ok(home, "ad", "app", "create", "--display-name", "twice")
    assert one["id"] != two["id"] and run(home, "ad", "sp", "show", "--id", one["appId"]).returncode == 3  # no principal
    r = run(home, "ad", "sp", "create-for-rbac", "--name", "twice")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == (f"ERROR: More than one application have the same display name 'twice': (id) {one['id']}, "
                        f"{two['id']}, please remove them first.\n")  # fmt: skip
    ok(home, "ad", "app", "delete", "--id", two["appId"])
    patched = run(home, "ad", "sp", "create-for-rbac", "--name", "twice")
    assert patched.returncode == 0 and f"(id) {one['id']}. We will patch it." in patched.stderr
    assert ok(home, "ad", "sp", "show", "--id", one["appId"])["appId"] == one["appId"]  # now with a principal


# ------------------------------------------------------------------ role assignment list
def test_role_assignment_list_by_assignee_by_object_id_and_after_the_principal_is_gone(home):
    setup(home, "v1", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    oid = ok(home, "ad", "sp", "show", "--id", sp["appId"])["id"]
    made = ok(home, "role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", sp["appId"],
              "--scope", ACCT_ID)  # fmt: skip
    at_sub = ok(home, "role", "assignment", "create", "--role", "Reader", "--assignee", sp["appId"], "--scope",
                f"/subscriptions/{SUB}")  # fmt: skip
    assert [x["id"] for x in ok(home, "role", "assignment", "list", "--assignee", sp["appId"])] == [at_sub["id"]]
    listed = ok(home, "role", "assignment", "list", "--assignee", sp["appId"], "--all")
    assert [x["id"] for x in listed] == [made["id"], at_sub["id"]]
    item = listed[0]
    assert None not in item.values() and "condition" not in item  # null keys are left out
    assert (item["principalId"], item["principalName"], item["resourceGroup"], item["scope"]) == (oid, sp["appId"], "adls-rg", ACCT_ID)
    assert item["roleDefinitionName"] == "Storage Blob Data Contributor" and item["createdOn"]
    assert "resourceGroup" not in listed[1]
    assert ok(home, "role", "assignment", "list", "--assignee-object-id", oid, "--all") == listed
    assert [x["id"] for x in ok(home, "role", "assignment", "list", "--scope", ACCT_ID)] == [made["id"]]
    ok(home, "ad", "app", "delete", "--id", sp["appId"])
    r = run(home, "role", "assignment", "list", "--assignee", sp["appId"], "--all")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(f"ERROR: Cannot find user or service principal in graph database for '{sp['appId']}'.")
    left = ok(home, "role", "assignment", "list", "--assignee-object-id", oid, "--all")
    assert [(x["id"], x["principalName"]) for x in left] == [(made["id"], ""), (at_sub["id"], "")]


def test_a_role_assignment_made_again_has_another_id(home):
    setup(home, "v1", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    args = ["role", "assignment", "create", "--role", "Reader", "--assignee", sp["appId"], "--scope", ACCT_ID]
    first = ok(home, *args)
    assert ok(home, *args)["id"] == first["id"]  # the same one exists: returned
    ok(home, "role", "assignment", "delete", "--ids", first["id"])
    assert ok(home, *args)["id"] != first["id"]
