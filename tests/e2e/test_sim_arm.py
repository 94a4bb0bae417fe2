"""End-to-end tests of the simulator's ARM side for issue 15: identity facts that change when a resource
is made again, `az resource show/list/delete` by id, groups' tags, a workspace's dependent resources, and
another terminal switching az's default subscription (az-facts sections 1-5)."""
import datetime
import json

import pytest

from .test_sim import SUB, ok, run, setup, state

OTHER = "11111111-2222-3333-4444-555555555555"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/aml-rg"
WS_ID = RG_ID + "/providers/Microsoft.MachineLearningServices/workspaces/aml"
ACCT_ID = f"/subscriptions/{SUB}/resourceGroups/adls-rg/providers/Microsoft.Storage/storageAccounts/acct1"


@pytest.fixture
def home(tmp_path):
    return tmp_path / "h"


def ws_args(dialect):
    return ["-w", "aml"] if dialect == "v1" else ["-n", "aml"]


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")[:26] + "+00:00")


# ------------------------------------------------------------------ identity facts
@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_a_workspace_made_again_under_its_name_has_another_workspace_id(home, dialect):
    setup(home, dialect, resources=True)
    shown = ok(home, "resource", "show", "--ids", WS_ID)
    first = shown["properties"]["workspaceId"]
    printed = ok(home, "ml", "workspace", "show", *ws_args(dialect), "-g", "aml-rg")
    if dialect == "v1":
        assert printed["workspaceid"] == first
    else:  # az-facts section 5: v2 prints no workspace GUID at all
        assert first not in json.dumps(printed) and "workspaceId" not in printed and "workspaceid" not in printed
    url = f"https://management.azure.com{WS_ID}?api-version=2024-10-01"
    assert ok(home, "rest", "--method", "get", "--url", url)["properties"]["workspaceId"] == first  # ARM's own JSON
    ok(home, "rest", "--method", "delete", "--url", url + "&forceToPurge=true", env={"AZSIM_PURGE_LAG": "0"})
    assert run(home, "resource", "show", "--ids", WS_ID).returncode == 3
    ok(home, "ml", "workspace", "create", *ws_args(dialect), "-g", "aml-rg")
    again = ok(home, "resource", "show", "--ids", WS_ID)
    assert again["id"] == WS_ID and again["properties"]["workspaceId"] not in (None, first)


def test_a_storage_account_made_again_has_another_creation_time_in_two_formats(home):
    setup(home, "v1", resources=True)
    raw = ok(home, "resource", "show", "--ids", ACCT_ID)["properties"]["creationTime"]
    sdk = ok(home, "storage", "account", "show", "-n", "acct1", "-g", "adls-rg")["creationTime"]
    # ARM's raw string (7 digits, Z) in `resource show`; az's datetime.isoformat() in `storage account show`.
    assert raw.endswith("Z") and len(raw.split(".")[1]) == 8 and sdk.endswith("+00:00") and raw != sdk
    assert when(raw) == when(sdk)
    ok(home, "storage", "account", "delete", "-n", "acct1", "-g", "adls-rg", "--yes")
    ok(home, "storage", "account", "create", "-n", "acct1", "-g", "adls-rg", "--hns", "true")
    again = ok(home, "resource", "show", "--ids", ACCT_ID)["properties"]["creationTime"]
    assert again != raw and when(again) > when(raw)


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_a_compute_made_again_has_another_created_on(home, dialect):
    setup(home, dialect, resources=True)
    if dialect == "v1":
        make = ["ml", "computetarget", "create", "amlcompute", "-n", "c1", "-s", "STANDARD_D1_V2", "-w", "aml", "-g", "aml-rg"]
        drop = ["ml", "computetarget", "delete", "-n", "c1", "-w", "aml", "-g", "aml-rg"]
    else:
        make = ["ml", "compute", "create", "-n", "c1", "-t", "AmlCompute", "-w", "aml", "-g", "aml-rg"]
        drop = ["ml", "compute", "delete", "-n", "c1", "-w", "aml", "-g", "aml-rg", "--yes"]
    made = ok(home, *make)
    first = ok(home, "resource", "show", "--ids", WS_ID + "/computes/c1")["properties"]["createdOn"]
    assert first and ("created_on" not in made if dialect == "v1" else made["created_on"] == first)
    ok(home, *drop)
    ok(home, *make)
    again = ok(home, "resource", "show", "--ids", WS_ID + "/computes/c1")["properties"]["createdOn"]
    assert again != first


# ------------------------------------------------------------------ resource show --ids
def test_resource_show_one_id_an_object_several_a_list_in_their_order(home):
    setup(home, "v2", resources=True)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    ok(home, "ml", "compute", "create", "-n", "c1", "-t", "AmlCompute", "-w", "aml", "-g", "aml-rg")
    yml = home / "ds.yml"
    yml.write_text(f"name: MLData\ntype: azure_data_lake_gen2\naccount_name: acct1\nfilesystem: fs1\n"
                   f"credentials:\n  tenant_id: {sp['tenant']}\n  client_id: {sp['appId']}\n")  # fmt: skip
    ok(home, "ml", "datastore", "create", "-f", str(yml), "-w", "aml", "-g", "aml-rg", "--set",
       f"credentials.client_secret={sp['password']}")  # fmt: skip
    group = ok(home, "resource", "show", "--ids", RG_ID)
    assert group == {"id": RG_ID, "name": "aml-rg", "type": "Microsoft.Resources/resourceGroups", "location": "centralus",
                     "extendedLocation": None, "tags": None, "plan": None, "properties": {"provisioningState": "Succeeded"},
                     "kind": None, "managedBy": None, "sku": None, "identity": None}  # fmt: skip
    ids = [WS_ID + "/datastores/MLData", ACCT_ID, WS_ID.upper(), RG_ID, WS_ID + "/computes/c1", ACCT_ID]
    shown = ok(home, "resource", "show", "--ids", *ids)
    assert [x["id"].lower() for x in shown] == [i.lower() for i in ids]
    store, account, workspace, _, compute, _ = shown
    assert store["location"] is None and store["resourceGroup"] == "aml-rg"
    assert store["properties"]["credentials"]["clientId"] == sp["appId"]
    assert store["properties"]["credentials"]["tenantId"] == sp["tenant"]
    assert sp["password"] not in json.dumps(shown)
    assert account["properties"]["isHnsEnabled"] is True and account["resourceGroup"] == "adls-rg"
    assert workspace["type"] == "Microsoft.MachineLearningServices/workspaces" and workspace["properties"]["workspaceId"]
    assert compute["properties"]["computeType"] == "AmlCompute"


def test_resource_show_with_any_id_missing_exits_3_and_prints_nothing(home):
    setup(home, "v1", resources=True)
    gone = RG_ID + "/providers/Microsoft.Storage/storageAccounts/nope"
    r = run(home, "resource", "show", "--ids", ACCT_ID, gone)
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr.startswith("ERROR: (ResourceNotFound) The Resource 'Microsoft.Storage/storageAccounts/nope' under "
                               "resource group 'aml-rg' was not found. For more details please go to "
                               "https://aka.ms/ARMResourceNotFoundFix\nCode: ResourceNotFound\n")  # fmt: skip
    r = run(home, "resource", "show", "--ids", f"/subscriptions/{SUB}/resourceGroups/nogroup", ACCT_ID)
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr.startswith("ERROR: (ResourceGroupNotFound) Resource group 'nogroup' could not be found.")
    r = run(home, "resource", "show", "--ids", WS_ID + "/computes/nocompute")
    assert r.returncode == 3 and r.stdout == ""
    r = run(home, "resource", "show", "--ids", ACCT_ID, "not-an-id")
    assert (r.returncode, r.stdout) == (1, "")
    assert "az resource: error: argument --ids: invalid ResourceId value: 'not-an-id'" in r.stderr
    r = run(home, "resource", "show", "--ids", f"/subscriptions/{SUB}")
    assert r.returncode == 1 and "The type of value entered by --ids parameter is not supported." in r.stderr


# ------------------------------------------------------------------ groups and tags
def test_group_list_and_tags_on_groups_and_resources(home):
    setup(home, "v1", resources=True)
    listed = ok(home, "group", "list")
    assert sorted(g["name"] for g in listed) == ["adls-rg", "aml-rg"]
    assert all(set(g) == {"id", "location", "managedBy", "name", "properties", "tags", "type"} for g in listed)
    assert all(g["tags"] is None for g in listed)  # null, not {}, on an untagged group
    out = ok(home, "tag", "update", "--resource-id", RG_ID, "--operation", "Merge", "--tags", "azwrap-id=abc", "a=1")
    assert out == {"id": RG_ID + "/providers/Microsoft.Resources/tags/default", "name": "default",
                   "type": "Microsoft.Resources/tags", "properties": {"tags": {"azwrap-id": "abc", "a": "1"}},
                   "resourceGroup": "aml-rg"}  # fmt: skip
    merged = ok(home, "tag", "update", "--resource-id", RG_ID, "--operation", "merge", "--tags", "b=2")
    assert merged["properties"]["tags"] == {"azwrap-id": "abc", "a": "1", "b": "2"}
    assert ok(home, "group", "show", "-n", "aml-rg")["tags"] == {"azwrap-id": "abc", "a": "1", "b": "2"}
    assert [g["name"] for g in ok(home, "group", "list", "--tag", "azwrap-id=abc")] == ["aml-rg"]
    assert ok(home, "group", "list", "--tag", "azwrap-id=other") == []
    assert [g["name"] for g in ok(home, "group", "list", "--tag", "azwrap-id")] == ["aml-rg"]
    deleted = ok(home, "tag", "update", "--resource-id", RG_ID, "--operation", "Delete", "--tags", "a", "b=9")
    assert deleted["properties"]["tags"] == {"azwrap-id": "abc", "b": "2"}  # b=9 does not match b's value
    replaced = ok(home, "tag", "update", "--resource-id", RG_ID, "--operation", "Replace", "--tags", "c=3")
    assert replaced["properties"]["tags"] == {"c": "3"}
    ok(home, "group", "create", "-l", "centralus", "-n", "aml-rg")  # a PUT: the tags go (REFERENCE.md 7)
    assert ok(home, "group", "show", "-n", "aml-rg")["tags"] is None
    on_account = ok(home, "tag", "update", "--resource-id", ACCT_ID, "--operation", "Merge", "--tags", "k=v")
    assert on_account["resourceGroup"] == "adls-rg"
    assert ok(home, "resource", "show", "--ids", ACCT_ID)["tags"] == {"k": "v"}
    assert ok(home, "storage", "account", "show", "-n", "acct1")["tags"] == {"k": "v"}
    r = run(home, "tag", "update", "--resource-id", RG_ID.replace("aml-rg", "nogroup"), "--operation", "Merge",
            "--tags", "k=v")  # fmt: skip
    assert r.returncode == 3 and "(ResourceGroupNotFound)" in r.stderr
    r = run(home, "tag", "update", "--resource-id", ACCT_ID + "x", "--operation", "Merge", "--tags", "k=v")
    assert r.returncode == 3 and "(ResourceNotFound)" in r.stderr
    r = run(home, "tag", "update", "--resource-id", RG_ID, "--operation", "Merge", "--tags", "")
    assert r.returncode == 1 and "Tags could not be empty." in r.stderr


# ------------------------------------------------------------------ a workspace's dependents
def resource_ids(home, group="aml-rg", **kw):
    return {r["id"].lower(): r for r in ok(home, "resource", "list", "--resource-group", group, **kw)}


def test_a_v2_workspace_makes_storage_key_vault_insights_and_log_analytics_in_its_group(home):
    setup(home, "v2")
    ok(home, "group", "create", "-l", "centralus", "-n", "aml-rg")
    assert ok(home, "resource", "list", "-g", "aml-rg") == []
    ws = ok(home, "ml", "workspace", "create", "-n", "aml", "-g", "aml-rg", env={"AZSIM_SMART_DETECTION_AFTER": "4"})
    listed = resource_ids(home)
    types = sorted(r["type"] for r in listed.values())
    assert types == ["Microsoft.Insights/components", "Microsoft.KeyVault/vaults",
                     "Microsoft.MachineLearningServices/workspaces", "Microsoft.OperationalInsights/workspaces",
                     "Microsoft.Storage/storageAccounts"]  # fmt: skip
    for key in ("storage_account", "key_vault", "application_insights"):
        assert ws[key].lower() in listed  # the ids in the workspace's JSON (casing varies: compare lowered)
    assert "container_registry" not in ws and ws["tags"] == {"createdByToolkit": "cli-v2-2.30.0"}
    insights = ok(home, "resource", "show", "--ids", ws["application_insights"])
    analytics = insights["properties"]["WorkspaceResourceId"]
    assert analytics.lower() in listed and analytics not in json.dumps(ws)  # named only by the insights
    item = next(iter(listed.values()))
    assert item["properties"] is None and item["provisioningState"] == "Succeeded" and item["createdTime"]
    assert all(r["tags"] == {"createdByToolkit": "cli-v2-2.30.0"} for r in listed.values())
    # Azure adds smart detection a little later (here: from the fourth call after the create).
    assert len(resource_ids(home)) == 5
    later = resource_ids(home)
    rule = f"{RG_ID}/providers/microsoft.alertsmanagement/smartDetectorAlertRules/Failure Anomalies - {insights['name']}"
    action = f"{RG_ID}/providers/microsoft.insights/actiongroups/Application Insights Smart Detection"
    assert set(later) - set(listed) == {rule.lower(), action.lower()}
    assert later[rule.lower()]["tags"] is None and later[action.lower()]["location"] == "Global"


def test_a_v1_workspace_makes_storage_key_vault_and_classic_insights_with_ids_in_lower_case(home):
    setup(home, "v1")
    ok(home, "group", "create", "-l", "centralus", "-n", "aml-rg")
    ws = ok(home, "ml", "workspace", "create", "-w", "aml", "-g", "aml-rg", env={"AZSIM_SMART_DETECTION_AFTER": "9"})
    listed = resource_ids(home)
    assert sorted(r["type"] for r in listed.values()) == [
        "Microsoft.Insights/components", "Microsoft.KeyVault/vaults", "Microsoft.MachineLearningServices/workspaces",
        "Microsoft.Storage/storageAccounts"]  # fmt: skip
    for key in ("storageAccount", "keyVault", "applicationInsights"):
        assert ws[key].lower() in listed and "/providers/microsoft." in ws[key]
        assert ws[key] not in {r["id"] for r in listed.values()}  # the same id, another casing
    assert "containerRegistry" not in ws and ws["tags"] == {"createdByToolkit": "cli-v1-1.41.0"}
    insights = ok(home, "resource", "show", "--ids", ws["applicationInsights"])
    assert "WorkspaceResourceId" not in insights["properties"]


def test_smart_detection_shares_one_action_group_and_never_comes_to_a_deleted_group(home):
    setup(home, "v2")
    for group in ("aml-rg", "gone-rg"):
        ok(home, "group", "create", "-l", "centralus", "-n", group)
    env = {"AZSIM_SMART_DETECTION_AFTER": "2"}
    ok(home, "ml", "workspace", "create", "-n", "aml", "-g", "aml-rg", env=env)
    ok(home, "ml", "workspace", "create", "-n", "aml2", "-g", "aml-rg", env=env)
    ok(home, "ml", "workspace", "create", "-n", "aml3", "-g", "gone-rg", env=env)
    ok(home, "group", "delete", "-n", "gone-rg", "--yes")
    types = [r["type"] for r in resource_ids(home).values()]
    assert types.count("microsoft.insights/actiongroups") == 1
    assert types.count("microsoft.alertsmanagement/smartDetectorAlertRules") == 2
    assert not any("gone-rg" in rid for rid in state(home)["resources"])


def test_a_users_own_resources_in_the_group_are_listed_with_the_workspaces(home):
    setup(home, "v2", resources=True)
    ok(home, "storage", "account", "create", "-n", "mine1", "-g", "aml-rg")
    listed = resource_ids(home)
    assert RG_ID.lower() + "/providers/microsoft.storage/storageaccounts/mine1" in listed
    assert len(listed) == 8
    r = run(home, "resource", "list", "-g", "nogroup")
    assert r.returncode == 3 and "Resource group 'nogroup' could not be found." in r.stderr
    only = ok(home, "resource", "list", "-g", "aml-rg", "--resource-type", "microsoft.storage/storageaccounts")
    assert len(only) == 2


def test_resource_delete_by_ids_and_what_a_missing_group_does_to_the_others(home):
    setup(home, "v2", resources=True)
    ws = ok(home, "ml", "workspace", "show", "-n", "aml", "-g", "aml-rg")
    single = run(home, "resource", "delete", "--ids", ws["key_vault"])
    assert (single.returncode, single.stdout) == (0, "")
    assert ws["key_vault"].lower() not in resource_ids(home)
    assert ok(home, "resource", "delete", "--ids", ws["key_vault"], ws["storage_account"]) == [None, None]  # 204 for the gone one
    elsewhere = f"/subscriptions/{SUB}/resourceGroups/nogroup/providers/Microsoft.KeyVault/vaults/x"
    r = run(home, "resource", "delete", "--ids", elsewhere, ws["application_insights"])
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("ERROR: Some resources failed to be deleted (run with `--verbose` for more information):\n"
                        f"{elsewhere}\n")  # fmt: skip
    assert ws["application_insights"].lower() not in resource_ids(home)  # deleted all the same
    r = run(home, "resource", "delete", "--ids", WS_ID.replace("/aml", "/nows") + "/computes/c")
    assert r.returncode == 1  # a child of a missing parent: the RP's 404
    ok(home, "resource", "delete", "--ids", WS_ID)
    assert "aml-rg/aml" in state(home)["deleted_workspaces"]  # a plain DELETE soft-deletes


def test_v2_delete_all_resources_takes_what_the_workspace_links_to_and_nothing_else(home):
    setup(home, "v2", resources=True)
    ok(home, "storage", "account", "create", "-n", "mine1", "-g", "aml-rg")
    assert len(resource_ids(home)) == 8  # the workspace, its 4, Azure's 2 (made by now), the user's account
    ok(home, "ml", "workspace", "delete", "-n", "aml", "-g", "aml-rg", "--all-resources", "--yes")
    left = {r["name"]: r["type"] for r in resource_ids(home).values()}
    assert sorted(left.values()) == ["Microsoft.Storage/storageAccounts", "microsoft.alertsmanagement/smartDetectorAlertRules",
                                     "microsoft.insights/actiongroups"]  # fmt: skip
    assert left["mine1"] == "Microsoft.Storage/storageAccounts"
    assert "aml-rg/aml" in state(home)["deleted_workspaces"]


def test_the_arm_purge_deletes_only_the_workspace(home):
    setup(home, "v2", resources=True)
    before = set(resource_ids(home))
    ok(home, "rest", "--method", "delete", "--url", f"https://management.azure.com{WS_ID}?api-version=2024-10-01&forceToPurge=true")
    assert before - set(resource_ids(home)) == {WS_ID.lower()} and len(before) == 7


def test_v1_delete_dependent_resources_and_a_group_delete_take_them(home):
    setup(home, "v1", resources=True)
    ok(home, "ml", "workspace", "create", "-w", "aml2", "-g", "aml-rg")
    ok(home, "ml", "workspace", "delete", "-w", "aml", "-g", "aml-rg", "--delete-dependent-resources")
    assert sorted(r["type"] for r in resource_ids(home).values()) == [
        "Microsoft.Insights/components", "Microsoft.KeyVault/vaults", "Microsoft.MachineLearningServices/workspaces",
        "Microsoft.Storage/storageAccounts", "microsoft.alertsmanagement/smartDetectorAlertRules",
        "microsoft.insights/actiongroups"]  # aml2's, and what Azure added for aml's insights  # fmt: skip
    ok(home, "group", "delete", "-n", "aml-rg", "--yes")
    st = state(home)
    assert not [rid for rid in st["resources"] if "/resourcegroups/aml-rg/" in rid]
    assert [a["resource_group"] for a in st["storage_accounts"].values()] == ["adls-rg"]


# ------------------------------------------------------------------ another terminal's `az account set`
def test_another_terminal_switches_the_default_subscription_after_n_calls(home):
    setup(home, "v1", resources=True)
    env = {"AZSIM_SWITCH_SUBSCRIPTION_AFTER": "2"}
    assert ok(home, "account", "show", env=env)["id"] == SUB
    assert ok(home, "group", "exists", "-n", "adls-rg", env=env) is True
    assert ok(home, "account", "show", env=env)["id"] == OTHER  # the third call: switched
    assert ok(home, "group", "exists", "-n", "adls-rg", env=env) is False
    made = ok(home, "group", "create", "-l", "centralus", "-n", "adls-rg", env=env)  # the same name, the other one
    assert made["id"] == f"/subscriptions/{OTHER}/resourceGroups/adls-rg"
    ok(home, "group", "delete", "-n", "adls-rg", "--yes", env=env)  # deletes the other subscription's
    assert ok(home, "group", "exists", "-n", "adls-rg", "--subscription", SUB, env=env) is True
    assert ok(home, "resource", "show", "--ids", ACCT_ID, env=env)["name"] == "acct1"  # an id names its subscription
    assert ok(home, "resource", "list", env=env) == []
    assert ok(home, "account", "show", env=env)["id"] == OTHER  # once: it does not switch back
    assert ok(home, "account", "show")["id"] == OTHER  # and stays so without the knob


def test_both_subscriptions_hold_groups_and_workspaces_of_the_same_names(home):
    setup(home, "v2", resources=True)
    ok(home, "account", "set", "--subscription", OTHER)
    ok(home, "group", "create", "-l", "westus", "-n", "aml-rg")
    other = ok(home, "ml", "workspace", "create", "-n", "aml", "-g", "aml-rg")
    assert other["id"] == WS_ID.replace(SUB, OTHER)
    r = run(home, "storage", "account", "create", "-n", "acct1", "-g", "adls-rg")
    assert r.returncode == 1  # no adls-rg here
    ok(home, "group", "create", "-l", "westus", "-n", "adls-rg")
    r = run(home, "storage", "account", "create", "-n", "acct1", "-g", "adls-rg")
    assert r.returncode == 1 and "already taken" in r.stderr  # account names are global
    assert run(home, "storage", "account", "show", "-n", "acct1", "-g", "adls-rg").returncode == 3
    assert ok(home, "ml", "workspace", "show", "-n", "aml", "-g", "aml-rg", "--subscription", SUB)["id"] == WS_ID
    ok(home, "group", "delete", "-n", "aml-rg", "--yes")
    assert ok(home, "resource", "show", "--ids", WS_ID)["id"] == WS_ID  # the first subscription's is untouched
    assert len(state(home)["workspaces"]) == 1


def test_help_and_summary_name_the_new_switches_and_resources(home):
    setup(home, "v2", resources=True)
    shown = run(home, "--help").stdout
    for switch in ("AZSIM_SMART_DETECTION_AFTER", "AZSIM_SWITCH_SUBSCRIPTION_AFTER", "AZSIM_SWITCH_SUBSCRIPTION_TO",
                   "AZSIM_RBAC_COLLISION"):  # fmt: skip
        assert switch in shown
    summary = run(home, "--summary").stdout
    assert "other resources (5):" in summary and "(Microsoft.KeyVault/vaults) in aml-rg" in summary  # Azure's 2 too
