"""Identity, not names (issue 15), end to end on the simulator: destroy, rotate and every change touch only
what azwrap made, in the subscription it made it in. Each test is one of the issue's scenarios."""

from __future__ import annotations

import json
import shutil

import pytest

from .test_azwrap_sim import ACCOUNT, AML_ID
from .test_setup_state import OTHER_SUBSCRIPTION, copy_place, done, make_place, sim  # noqa: F401  (done: a fixture)

SUB = "00000000-0000-0000-0000-00000000c0de"


@pytest.fixture
def place(done, tmp_path):  # noqa: F811
    return copy_place(done, tmp_path / "place")


def azwrap_state(place) -> dict:
    return json.loads((place.cwd / ".azwrap" / "state.json").read_text())


def deletes(place, start: int) -> list[list[str]]:
    return [argv for argv in place.state()["calls"][start:] if "delete" in argv[:4] or argv[:1] == ["rest"]]


def test_the_users_resources_in_azwraps_group_keep_the_group_and_azwraps_own_go(place):
    sim(place, "storage", "account", "create", "--name", "userlake", "--resource-group", "aml-rg",
        "--enable-hierarchical-namespace", "true")
    listed = place.azwrap("destroy", "--what-if").stdout
    assert "resource group aml-rg: azwrap made it, but it holds resources azwrap did not make: " in listed
    assert "userlake" in listed and "resource group aml-rg (and everything in it)" not in listed
    place.azwrap("destroy", "--yes", "--quiet")
    state = place.state()
    assert "aml-rg" in state["groups"] and "userlake" in state["storage_accounts"]  # the user's, alive
    assert state["workspaces"] == {} and state["computes"] == {}  # azwrap's own in the group went
    # What the workspace made with it (storage, key vault, insights, Azure's smart detection) went too.
    left = [r for r in json.loads(sim(place, "resource", "list", "--resource-group", "aml-rg")) if r["name"] != "userlake"]
    assert left == [], left
    assert "adls-rg" not in state["groups"] and state["service_principals"] == {}


def test_a_group_deleted_by_hand_and_made_again_is_the_users(place):
    sim(place, "group", "delete", "--name", "aml-rg", "--yes")
    sim(place, "group", "create", "--name", "aml-rg", "--location", "centralus")
    sim(place, "storage", "account", "create", "--name", "userlake", "--resource-group", "aml-rg",
        "--enable-hierarchical-namespace", "true")
    status = place.azwrap("status", "--refresh", extra_env={"COLUMNS": "200"}).stdout
    # Made again without azwrap's tag: nothing tells it from azwrap's group that lost its tag (a re-run `az group
    # create` replaces tags too), and nothing azwrap made is left in it to prove it either: kept in doubt.
    assert "resource group aml-rg" in status and "its azwrap-id tag is gone" in status
    start = len(place.state()["calls"])
    result = place.azwrap("destroy", "--yes")
    assert "resource group aml-rg: its azwrap-id tag is gone" in result.stdout and "Destroyed" not in result.stderr
    assert "aml-rg" in place.state()["groups"] and "userlake" in place.state()["storage_accounts"]
    assert not any(argv[:3] == ["group", "delete", "--name"] and argv[3] == "aml-rg" for argv in deletes(place, start))


def test_a_workspace_made_again_under_azwraps_purged_name_is_not_deleted(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    sim(place, "group", "create", "--name", "aml-rg", "--location", "centralus")  # the user's group
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")
    # The workspace azwrap made is purged by hand, and the user makes one of the same name.
    sim(place, "rest", "--method", "delete", "--url",
        f"https://management.azure.com{AML_ID}?api-version=2024-10-01&forceToPurge=true", env={"AZSIM_PURGE_LAG": "0"})
    sim(place, "ml", "workspace", "create", "--name", "aml", "--resource-group", "aml-rg", "--location", "centralus")
    start = len(place.state()["calls"])
    listed = place.azwrap("destroy", "--yes").stdout
    assert "workspace aml in aml-rg: not the one azwrap made" in listed
    assert "aml-rg/aml" in place.state()["workspaces"]  # the user's workspace lives
    assert not any(argv[:3] == ["ml", "workspace", "delete"] for argv in deletes(place, start))


def test_a_stale_copy_of_the_state_deletes_nothing_of_a_newer_setup(place, tmp_path):
    stale = tmp_path / "stale-copy"
    shutil.copytree(place.cwd / ".azwrap", stale)
    place.azwrap("destroy", "--yes", "--quiet")
    place.azwrap("all", "--quiet")  # a new setup, under the same names
    new = place.essential()
    shutil.rmtree(place.cwd / ".azwrap")
    shutil.copytree(stale, place.cwd / ".azwrap")
    start = len(place.state()["calls"])
    place.azwrap("destroy", "--yes", "--quiet")
    assert place.essential() == new  # the newer setup is whole
    # What the stale copy could delete was its own: gone already (roles, app), nothing of the new one.
    assert not any(argv[:2] in (["group", "delete"], ["rest", "--method"]) for argv in deletes(place, start))


def test_another_terminal_switching_the_subscription_mid_destroy_moves_no_delete(place):
    # The other subscription holds groups of the same names, the user's.
    for group in ("aml-rg", "adls-rg"):
        sim(place, "group", "create", "--name", group, "--location", "centralus", "--subscription", OTHER_SUBSCRIPTION)
    start = len(place.state()["calls"])
    place.azwrap("destroy", "--yes", "--quiet", extra_env={"AZSIM_SWITCH_SUBSCRIPTION_AFTER": "6"})
    for argv in deletes(place, start):
        if argv[:2] != ["ad", "app"]:  # Microsoft Graph takes no --subscription
            assert argv[-2:] == ["--subscription", SUB], argv
    other = [g for g in place.state()["groups"].values() if g.get("subscription") == OTHER_SUBSCRIPTION]
    assert sorted(g["name"] for g in other) == ["adls-rg", "aml-rg"]  # nothing deleted there
    assert not [g for g in place.state()["groups"].values() if g.get("subscription", SUB) == SUB]


def test_every_generation_a_changed_setting_left_is_listed_and_destroyed(place):
    result = place.azwrap("all", "--aml-group", "ml2-rg", "--account", "lake6", "--quiet")
    assert "what azwrap made under the earlier names stays" in result.stderr
    status = place.azwrap("status", extra_env={"COLUMNS": "200"}).stdout
    assert "Made by azwrap under earlier settings" in status and f"storage account {ACCOUNT} in adls-rg" in status
    assert "workspace aml in aml-rg" in status
    place.azwrap("destroy", "--yes", "--quiet")
    state = place.state()
    assert state["groups"] == {} and state["workspaces"] == {} and state["storage_accounts"] == {}
    assert state["service_principals"] == {} and state["role_assignments"] == []


def test_a_v1_workspace_in_the_users_group_goes_with_what_it_made(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    sim(place, "group", "create", "--name", "aml-rg", "--location", "centralus")  # the user's group
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    made = json.loads(sim(place, "resource", "list", "--resource-group", "aml-rg"))
    assert made  # the workspace's storage account, key vault, insights (and Azure's smart detection)
    result = place.azwrap("destroy", "--yes")
    assert "aml-rg" in place.state()["groups"]  # the user's group stays
    assert json.loads(sim(place, "resource", "list", "--resource-group", "aml-rg")) == []
    assert "Destroyed" in result.stderr  # true: nothing azwrap made is left


def test_create_for_rbac_patching_an_existing_app_stops_with_nothing_recorded(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    result = place.azwrap("all", "--account", ACCOUNT, "--quiet", extra_env={"AZSIM_RBAC_COLLISION": "1"}, ok=(2,))
    assert "did not make a new application" in result.stderr and "patched it" in result.stderr
    assert "sp" not in azwrap_state(place)["outputs"]
    assert not any(argv[:3] == ["role", "assignment", "create"] for argv in place.state()["calls"])


def test_a_replaced_principal_already_gone_leaves_all_green(place):
    old = azwrap_state(place)["outputs"]["sp"]["appId"]
    first = place.azwrap("all", "--force", "sp", "--quiet", extra_env={"AZSIM_FAIL_MATCH": "ad app delete"}, ok=(1,))
    assert "ad app delete" in first.stderr
    sim(place, "ad", "app", "delete", "--id", old)  # gone meanwhile: Graph answers exit 1 "does not exist"
    again = place.azwrap("all", "--quiet")
    assert again.exit_code == 0
    assert "retired_sp" not in azwrap_state(place)
    assert place.azwrap("all", "--quiet").exit_code == 0  # and it stays green


def test_a_step_run_again_keeps_what_tells_its_resources_apart_so_a_stale_copy_deletes_nothing_new(place, tmp_path):
    sim(place, "storage", "fs", "delete", "--name", "fs1", "--account-name", ACCOUNT, "--yes")
    place.azwrap("all", "--quiet")  # storage runs again and finds the group and the account
    records = azwrap_state(place)["resources"]
    assert records["adls_group"]["identity"] and records["account"]["identity"]  # not lost by the re-run
    test_a_stale_copy_of_the_state_deletes_nothing_of_a_newer_setup(place, tmp_path)


def test_going_back_to_an_earlier_account_takes_back_what_azwrap_made_there(place):
    place.azwrap("all", "--account", "lake6", "--quiet")
    place.azwrap("all", "--account", ACCOUNT, "--quiet")  # back: the account, filesystem and upload are azwrap's
    records = azwrap_state(place)["resources"]
    assert all(records[key]["created"] for key in ("account", "filesystem", "upload")), records
    listed = place.azwrap("destroy", "--what-if").stdout
    assert "yours" not in listed, listed
    place.azwrap("destroy", "--yes", "--quiet")
    state = place.state()
    assert state["storage_accounts"] == {} and state["groups"] == {}


def test_what_a_call_whose_answer_was_lost_made_is_azwraps(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    lost = place.azwrap("all", "--account", ACCOUNT, "--quiet", ok=(1,),
                        extra_env={"AZSIM_GARBAGE_MATCH": "storage account create"})  # made, but its answer garbled
    assert "storage account create" in lost.stderr
    result = place.azwrap("all", "--quiet")
    assert f"storage account {ACCOUNT} is the one azwrap made in an earlier run whose answer was lost" in result.stderr
    assert azwrap_state(place)["resources"]["account"]["created"] is True
    place.azwrap("destroy", "--yes", "--quiet")
    assert place.state()["storage_accounts"] == {} and place.state()["groups"] == {}


def test_another_terminal_switching_the_subscription_mid_run_moves_no_change(place):
    # The other subscription holds a workspace and datastore of the same names, the user's.
    sim(place, "group", "create", "--name", "aml-rg", "--location", "centralus", "--subscription", OTHER_SUBSCRIPTION)
    sim(place, "ml", "workspace", "create", "--workspace-name", "aml", "--resource-group", "aml-rg",
        "--location", "centralus", "--subscription", OTHER_SUBSCRIPTION)
    start = len(place.state()["calls"])
    place.azwrap("all", "--force", "sp", "--quiet", extra_env={"AZSIM_SWITCH_SUBSCRIPTION_AFTER": "3"})
    changes = [argv for argv in place.state()["calls"][start:] if argv[:2] not in (["account", "show"],)
               and argv[0] not in ("ad", "version", "account")]  # fmt: skip
    assert changes and all(argv[-2:] == ["--subscription", SUB] for argv in changes), changes
    datastores = [d for d in place.state()["datastores"].values() if d.get("subscription") == OTHER_SUBSCRIPTION]
    assert datastores == []  # nothing attached in the other subscription
