"""Destroy's checks end to end on the simulator (a review of `azwrap destroy`): a group whose tag was replaced,
what the live workspace links to, a not-found that is not the target's, another tenant, the principals
azwrap replaced, and the user's data in azwrap's account."""

from __future__ import annotations

import json

import pytest

from .test_azwrap_sim import ACCOUNT
from .test_identity import azwrap_state, deletes
from .test_setup_state import copy_place, done, make_place, sim  # noqa: F401  (done: a fixture)

SUB = "00000000-0000-0000-0000-00000000c0de"


@pytest.fixture
def place(done, tmp_path):  # noqa: F811
    return copy_place(done, tmp_path / "place")


def test_groups_whose_tags_a_rerun_group_create_replaced_are_still_destroyed(place):
    for group in ("aml-rg", "adls-rg"):  # the book's own command, re-run by the user: a PUT that drops the tags
        sim(place, "group", "create", "--name", group, "--location", "centralus")
    result = place.azwrap("destroy", "--yes")
    state = place.state()
    assert state["groups"] == {} and state["workspaces"] == {} and state["storage_accounts"] == {}
    assert "Destroyed" in result.stderr and azwrap_state(place)["resources"] == {}


def test_a_group_whose_tag_is_gone_with_nothing_left_to_prove_it_stays_recorded(place):
    sim(place, "storage", "account", "delete", "--name", ACCOUNT, "--resource-group", "adls-rg", "--yes")
    sim(place, "group", "create", "--name", "adls-rg", "--location", "centralus")
    result = place.azwrap("destroy", "--yes")
    assert "adls-rg" in place.state()["groups"] and "aml-rg" not in place.state()["groups"]
    assert "resource group adls-rg: its azwrap-id tag is gone" in result.stdout
    assert "Destroyed" not in result.stderr and "kept, and still recorded" in result.stderr
    assert list(azwrap_state(place)["resources"]) == ["adls_group"]


def test_a_subscription_not_found_is_not_gone_and_nothing_is_forgotten(place):
    result = place.azwrap("destroy", "--yes", ok=(1,), extra_env={
        "AZSIM_FAIL_MATCH": "group delete --name adls-rg",
        "AZSIM_FAIL_STDERR": f"ERROR: Subscription '{SUB}' not found. Check the spelling and casing and try again."})
    assert "was gone already" not in result.stderr and "Destroyed" not in result.stderr
    assert "adls-rg" in place.state()["groups"] and "adls_group" in azwrap_state(place)["resources"]
    again = place.azwrap("destroy", "--yes")
    assert "Destroyed" in again.stderr and place.state()["groups"] == {}


def test_after_another_terminal_signs_in_to_another_tenant_destroy_refuses_and_deletes_nothing(place):
    before = azwrap_state(place)
    start = len(place.state()["calls"])
    result = place.azwrap("destroy", "--yes", ok=(2,), extra_env={"AZSIM_OTHER_TENANT": "99999999-0000-0000-0000-000000000000"})
    assert "az is signed in to tenant 99999999-0000-0000-0000-000000000000" in result.stderr
    assert "az login --tenant" in result.stderr
    assert deletes(place, start) == [] and azwrap_state(place)["resources"] == before["resources"]


def test_a_replaced_principal_azwrap_could_not_delete_is_deleted_by_destroy(place):
    old = azwrap_state(place)["outputs"]["sp"]["appId"]
    place.azwrap("all", "--force", "sp", "--quiet", ok=(1,), extra_env={"AZSIM_FAIL_MATCH": "ad app delete"})
    assert old in place.state()["service_principals"] and azwrap_state(place)["retired_sp"]
    result = place.azwrap("destroy", "--yes")
    assert f"the replaced service principal {old}" in result.stdout
    assert place.state()["service_principals"] == {} and place.state()["role_assignments"] == []
    assert "retired_sp" not in azwrap_state(place) and "Destroyed" in result.stderr


def test_the_users_files_in_azwraps_account_are_named_and_yes_refuses_to_delete_them(place, tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("a,b\n")
    sim(place, "storage", "fs", "file", "upload", "--file-system", "fs1", "--path", "mine.csv", "--source", str(mine),
        "--account-name", ACCOUNT)
    sim(place, "storage", "fs", "create", "--name", "backup", "--account-name", ACCOUNT)
    listed = place.azwrap("destroy", "--what-if").stdout
    assert f"storage account {ACCOUNT} holds 1 file and 1 filesystem besides azwrap's upload" in listed
    start = len(place.state()["calls"])
    refused = place.azwrap("destroy", "--yes", ok=(2,))
    assert "--yes alone does not delete data azwrap did not put there" in refused.stderr and "--with-data" in refused.stderr
    assert deletes(place, start) == [] and f"{ACCOUNT}/fs1/mine.csv" in place.state()["files"]
    place.azwrap("destroy", "--yes", "--with-data", "--quiet")  # asked for: deleted with the account
    assert place.state()["storage_accounts"] == {} and place.state()["files"] == {}


def test_a_v1_registry_azure_ml_made_on_its_first_image_build_goes_with_the_group(place):
    sim(place, "--image-build", "aml-rg", "aml")
    result = place.azwrap("destroy", "--yes")
    assert "holds resources azwrap did not make" not in result.stdout
    assert place.state()["groups"] == {} and place.state()["resources"] == {} and "Destroyed" in result.stderr


def test_a_users_registry_linked_to_a_v2_workspace_is_kept(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")
    sim(place, "group", "create", "--name", "mine", "--location", "centralus")
    registry = json.loads(sim(place, "acr", "create", "--name", "myacr", "--resource-group", "mine", "--sku", "Basic"))["id"]
    sim(place, "ml", "workspace", "update", "--name", "aml", "--resource-group", "aml-rg", "--container-registry", registry)
    start = len(place.state()["calls"])
    result = place.azwrap("destroy", "--yes")
    assert "container registry myacr: workspace aml in aml-rg links to it, but azwrap did not make it: kept" in result.stdout
    assert registry.lower() in place.state()["resources"]
    assert not any("--all-resources" in argv for argv in deletes(place, start))
    assert place.state()["workspaces"] == {} and "aml-rg" not in place.state()["groups"]


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_a_shared_log_analytics_workspace_is_never_deleted(tmp_path, dialect):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    sim(place, "group", "create", "--name", "aml-rg", "--location", "centralus")  # the user's: it stays
    shared = {"AZSIM_SHARED_LOG_ANALYTICS": "1"}
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", dialect, "--quiet", extra_env=shared)
    logs = [r for r in place.state()["resources"].values() if r["type"] == "Microsoft.OperationalInsights/workspaces"]
    assert [r["resource_group"] for r in logs] == ["DefaultResourceGroup-CEN"]
    result = place.azwrap("destroy", "--yes")
    assert "shared; not made by azwrap: kept" in result.stdout
    assert logs[0]["id"].lower() in place.state()["resources"]
    assert json.loads(sim(place, "resource", "list", "--resource-group", "aml-rg")) == []  # azwrap's own went
