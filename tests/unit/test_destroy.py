"""The teardown plan (pure: from the state's records) and how destroy runs it, with faked az calls."""

import json

import pytest

from azwrap.book import commands as az
from azwrap.book import ml
from azwrap.core import destroy
from azwrap.core.teardown import with_subscription as destroy_pin
from azwrap.book.settings import Settings

from .conftest import ACC_ID, ACCOUNT, AML_ID, SP, SUB

ROLE_1 = ACC_ID + "/providers/Microsoft.Authorization/roleAssignments/1"
ROLE_2 = AML_ID + "/providers/Microsoft.Authorization/roleAssignments/2"
SETTINGS = Settings(account=ACCOUNT)


def record(created=True, **named):
    return {"created": created, "settings": named}


def full_state(**overrides) -> dict:
    """What `azwrap all` records: every resource made by azwrap."""
    resources = {
        "aml_group": record(aml_group="aml-rg"), "workspace": {**record(workspace="aml", aml_group="aml-rg"), "dialect": "v1"},
        "compute": record(compute="d1compute", workspace="aml", aml_group="aml-rg"), "adls_group": record(adls_group="adls-rg"),
        "account": record(account=ACCOUNT, adls_group="adls-rg"), "filesystem": record(filesystem="fs1", account=ACCOUNT),
        "upload": record(upload_path="models/highspenders/input.csv", filesystem="fs1", account=ACCOUNT),
        "sp": record(), "storage_role": {**record(account=ACCOUNT), "id": ROLE_1},
        "datastore": record(datastore="MLData", workspace="aml", aml_group="aml-rg"),
        "workspace_role": {**record(workspace="aml", aml_group="aml-rg"), "id": ROLE_2},
    }  # fmt: skip
    resources.update(overrides)
    return {"steps": {}, "outputs": {"sp": {k: SP[k] for k in ("appId", "password", "tenant")}}, "resources": resources}


def argv(teardown) -> list[list[str]]:
    return [list(d.args) for d in teardown.deletions]


PURGE = ["rest", "--method", "delete", "--url",
         f"https://management.azure.com{AML_ID}?api-version=2024-10-01&forceToPurge=true"]  # fmt: skip


def test_a_full_setup_goes_in_reverse_order_each_resource_once():
    teardown = destroy.plan(full_state(), SETTINGS, SUB)
    assert argv(teardown) == [
        ["role", "assignment", "delete", "--ids", ROLE_1],
        ["role", "assignment", "delete", "--ids", ROLE_2],
        PURGE,  # v1 cannot purge: the ARM purge, before the group delete would only soft-delete it
        ["group", "delete", "--name", "aml-rg", "--yes"],
        ["group", "delete", "--name", "adls-rg", "--yes"],
        ["ad", "app", "delete", "--id", SP["appId"]],
    ]
    kept = dict(teardown.kept)
    assert kept["compute d1compute in workspace aml"] == "deleted with resource group aml-rg"
    assert kept[f"storage account {ACCOUNT} in adls-rg"] == "deleted with resource group adls-rg"


def test_a_v2_workspace_is_purged_with_its_own_command_and_the_arm_purge_as_fallback():
    state = full_state(workspace={**record(workspace="aml", aml_group="aml-rg"), "dialect": "v2"})
    [workspace] = [d for d in destroy.plan(state, SETTINGS, SUB).deletions if d.key == "workspace"]
    assert list(workspace.args) == ["ml", "workspace", "delete", "--name", "aml", "--resource-group", "aml-rg",
                                    "--permanently-delete", "--all-resources", "--yes"]  # fmt: skip
    assert list(workspace.fallback) == PURGE


def test_the_users_groups_stay_and_only_what_azwrap_made_inside_goes():
    state = full_state(aml_group=record(False, aml_group="aml-rg"), adls_group=record(False, adls_group="adls-rg"),
                       account=record(False, account=ACCOUNT, adls_group="adls-rg"))  # fmt: skip
    teardown = destroy.plan(state, SETTINGS, SUB)
    commands = argv(teardown)
    assert not any(c[:2] == ["group", "delete"] for c in commands)
    assert ["storage", "fs", "delete", "--name", "fs1", "--account-name", ACCOUNT, "--yes"] in commands
    assert not any(c[:3] == ["storage", "account", "delete"] for c in commands)
    assert PURGE in commands  # the workspace is azwrap's: purged; its compute and datastore go with it
    assert not any(c[:2] == ["ml", "computetarget"] for c in commands)
    kept = dict(teardown.kept)
    assert kept["resource group aml-rg"].startswith("yours") and kept[f"storage account {ACCOUNT} in adls-rg"].startswith("yours")
    assert kept["file models/highspenders/input.csv in fs1"] == f"deleted with filesystem fs1 in {ACCOUNT}"


def test_with_the_users_workspace_its_compute_and_datastore_are_deleted_one_by_one():
    state = full_state(aml_group=record(False, aml_group="aml-rg"), workspace=record(False, workspace="aml", aml_group="aml-rg"))
    commands = argv(destroy.plan(state, SETTINGS, SUB))
    assert ["ml", "datastore", "detach", "--name", "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg"] in commands
    assert ["ml", "computetarget", "delete", "--name", "d1compute", "--workspace-name", "aml",
            "--resource-group", "aml-rg"] in commands  # fmt: skip
    assert PURGE not in commands


def test_a_group_azwrap_made_that_holds_something_of_the_users_is_kept():
    state = full_state(account=record(False, account=ACCOUNT, adls_group="adls-rg"))
    teardown = destroy.plan(state, SETTINGS, SUB)
    assert ["group", "delete", "--name", "adls-rg", "--yes"] not in argv(teardown)
    assert dict(teardown.kept)["resource group adls-rg"] == ("azwrap made it, but it holds resources azwrap did not "
                                                            f"make: storage account {ACCOUNT} in adls-rg (yours)")


def test_one_group_for_both_is_deleted_once():
    state = full_state(adls_group=record(adls_group="aml-rg"))
    commands = argv(destroy.plan(state, Settings(account=ACCOUNT, adls_group="aml-rg"), SUB))
    assert commands.count(["group", "delete", "--name", "aml-rg", "--yes"]) == 1


def test_destroy_of_a_v2_workspace_already_soft_deleted_falls_back_to_the_arm_purge(fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    state = full_state(workspace={**record(workspace="aml", aml_group="aml-rg"), "dialect": "v2"})
    state["resources"] = {"workspace": state["resources"]["workspace"]}
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, **state, "outputs": {},
                                                                "settings": {"account": ACCOUNT, "ml_cli": "v2"}}))  # fmt: skip
    fake.logged_in()
    pinned = ["--subscription", SUB]  # every call of destroy names the setup's subscription
    # Its group is the user's, not recorded: the workspace alone is looked at (by id), and it is gone
    # (soft-deleted: ARM's GET does not find it), so nothing would tell it from a new one: deleted by name.
    fake.on(["resource", "show", "--ids", AML_ID, *pinned], stdout=json.dumps({"id": AML_ID, "properties": {}}))
    v2_delete = [*ml.v2_workspace_delete(SETTINGS), *pinned]
    fake.on(v2_delete, returncode=3, stdout="", stderr=f"ERROR: (UserError) Unable to find workspace: {AML_ID}\n")
    fake.on([*PURGE, *pinned], stdout="")
    result = cli("destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert fake.calls(pinned=True) == [["account", "show"], ["resource", "show", "--ids", AML_ID, *pinned], v2_delete,
                            [*PURGE, *pinned]]
    recorded = json.loads((workdir / ".azwrap" / "state.json").read_text())
    assert recorded["resources"] == {} and recorded["purged"] == {"workspace": True}


def test_a_group_delete_says_it_is_still_working(fake, cli, workdir, monkeypatch):
    import threading

    (workdir / ".azwrap").mkdir(mode=0o700)
    state = full_state()
    state["resources"] = {"adls_group": record(adls_group="adls-rg")}
    state["outputs"] = {}
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, **state, "settings": {"account": ACCOUNT}}))
    monkeypatch.setenv("AZWRAP_HEARTBEAT", "0.01")
    beat = threading.Event()
    fake.logged_in()

    def slow_delete(process):
        beat.wait(5)  # the delete ends only once a "still deleting" line is out
        process.returncode = 0

    import azwrap.core.destroy as module

    real = module._still_working

    def watch(echo, deletion, every):
        return real(lambda line: (echo(line), beat.set()), deletion, every)

    monkeypatch.setattr(module, "_still_working", watch)
    pinned = ["--subscription", SUB]
    fake.on(["group", "list", *pinned], stdout=json.dumps([{"name": "adls-rg", "location": "centralus", "tags": None}]))
    fake.on(["resource", "list", "--resource-group", "adls-rg", *pinned], stdout="[]")
    fake.fp.register([fake.path, "group", "delete", "--name", "adls-rg", "--yes", *pinned], callback=slow_delete)
    result = cli("destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert "destroy: still deleting resource group adls-rg (" in result.stderr


@pytest.mark.parametrize("args,expected", [
    (("group", "exists", "--name", "g"), ("group", "exists", "--name", "g", "--subscription", "S")),
    (("ml", "workspace", "show"), ("ml", "workspace", "show", "--subscription", "S")),
    (("ad", "sp", "create-for-rbac"), ("ad", "sp", "create-for-rbac")),
    (("login",), ("login",)),
    (("extension", "add", "-n", "ml"), ("extension", "add", "-n", "ml")),
    (("account", "show"), ("account", "show")),
    (("version",), ("version",)),
])  # fmt: skip
def test_subscription_goes_only_where_az_accepts_it(args, expected):
    assert az.with_subscription(args, "S") == expected
    assert az.with_subscription(args, None) == args


@pytest.mark.parametrize("change,asked", [
    ({}, ("storage account", ACCOUNT)),
    ({"account": record(created=False, account=ACCOUNT, adls_group="adls-rg")}, ("storage account", ACCOUNT)),
    ({"account": record(account="", adls_group="adls-rg")}, ("workspace", "aml")),  # an empty name is no name
    ({"account": None}, ("workspace", "aml")),
    ({"account": None, "workspace": None}, None),
])  # fmt: skip
def test_destroy_asks_for_a_recorded_non_empty_name(change, asked):
    from azwrap.cli.teardown import confirmation_name

    state = full_state()
    for key, value in change.items():
        state["resources"].pop(key) if value is None else state["resources"].update({key: value})
    assert confirmation_name(state) == asked


def test_with_no_name_to_ask_for_destroy_needs_yes(fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / ".gitignore").write_text("*\n")
    state = {"version": 1, "steps": {}, "outputs": {}, "resources": {"aml_group": record(aml_group="aml-rg")}}
    (workdir / ".azwrap" / "state.json").write_text(json.dumps(state))
    (workdir / ".azwrap" / "state.json").chmod(0o600)
    fake.logged_in()
    pinned = ["--subscription", SUB]  # (read-only: what is there, before the question)
    fake.on(["group", "list", *pinned], stdout=json.dumps([{"name": "aml-rg", "location": "centralus", "tags": None}]))
    fake.on(["resource", "list", "--resource-group", "aml-rg", *pinned], stdout="[]")
    result = cli("destroy")
    assert result.exit_code == 2
    assert "no storage account or workspace name to confirm" in result.stderr and "--yes" in result.stderr
    assert [call for call in fake.calls() if "delete" in call] == []


def _write_state(workdir, state: dict) -> None:
    (workdir / ".azwrap").mkdir(mode=0o700, exist_ok=True)
    path = workdir / ".azwrap" / "state.json"
    path.write_text(json.dumps({"version": 1, **state, "settings": {"account": ACCOUNT}}))
    path.chmod(0o600)


def _recorded(workdir) -> dict:
    return json.loads((workdir / ".azwrap" / "state.json").read_text())


def _looks(fake, groups=("aml-rg", "adls-rg")) -> None:
    """What destroy reads before it deletes (pinned to the setup's subscription): the groups (these are
    there, untagged: an older azwrap's), the ARM resources azwrap made, and each group's contents (none
    but azwrap's)."""
    pinned = ["--subscription", SUB]
    fake.on(["group", "list", *pinned], stdout=json.dumps([{"name": g, "location": "centralus", "tags": None}
                                                          for g in groups]))  # fmt: skip
    ids = [AML_ID, AML_ID + "/computes/d1compute", ACC_ID, AML_ID + "/datastores/MLData"]  # the records' order
    present = [i for i in ids if any(f"/resourceGroups/{g}/" in i for g in groups)]
    if present:
        fake.on(["resource", "show", "--ids", *present, *pinned], stdout=json.dumps([{"id": i} for i in present]
                                                                                   if len(present) > 1 else {"id": present[0]}))  # fmt: skip
    for g in groups:
        fake.on(["resource", "list", "--resource-group", g, *pinned], stdout="[]")
    if ACC_ID in present:  # what azwrap's account holds: its filesystem and upload only
        fake.on([*az.storage_fs_list(ACCOUNT), *pinned], stdout=json.dumps([{"name": "fs1"}]))
        fake.on([*az.storage_fs_file_list(ACCOUNT, "fs1"), *pinned], stdout=json.dumps(
            [{"name": "models", "isDirectory": True}, {"name": "models/highspenders", "isDirectory": True},
             {"name": "models/highspenders/input.csv", "isDirectory": False}]))


def _deletes(calls) -> list:
    return [c for c in calls if "delete" in c[:3] or c[:1] == ["rest"]]


def test_each_deletion_is_saved_before_the_next_so_destroy_again_goes_on_where_it_stopped(fake, cli, workdir):
    _write_state(workdir, full_state())
    deletions = argv(destroy_pin(destroy.plan(full_state(), SETTINGS, SUB), SUB))
    seen_during_the_group_delete = []

    def read_the_state_file(process):
        # Runs while azwrap waits for this deletion: what the state file holds now is what a kill would leave.
        seen_during_the_group_delete.append(sorted(_recorded(workdir)["resources"]))
        process.returncode = 0

    fake.logged_in()
    _looks(fake)
    for args in deletions[:3]:
        fake.on(args, stdout="")
    fake.fp.register([fake.path, *deletions[3]], callback=read_the_state_file)
    fake.on(deletions[4], returncode=1, stdout="", stderr="ERROR: (Conflict) injected failure\n")
    failed = cli("destroy", "--yes")
    assert failed.exit_code == 1
    assert "group delete --name adls-rg" in failed.stderr
    # the two role assignments were gone before the group delete began; the purged workspace stays recorded
    # until its group goes (what it made with it is in the group: an interrupted teardown must know it)
    assert "storage_role" not in seen_during_the_group_delete[0] and "workspace_role" not in seen_during_the_group_delete[0]
    assert {"aml_group", "workspace"} <= set(seen_during_the_group_delete[0])
    left = _recorded(workdir)["resources"]
    assert "aml_group" not in left and "compute" not in left  # the group, with what it held
    assert {"adls_group", "sp"} <= set(left)

    fake.fp.calls.clear()
    fake.logged_in()
    _looks(fake, groups=("adls-rg",))
    for args in deletions[4:]:
        fake.on(args, stdout="")
    again = cli("destroy", "--yes")
    assert again.exit_code == 0, again.output
    assert _deletes(fake.calls(pinned=True)) == deletions[4:]  # nothing deleted twice
    assert _recorded(workdir)["resources"] == {}
