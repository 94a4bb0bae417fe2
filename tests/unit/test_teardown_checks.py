"""Destroy's checks (review of `azwrap destroy`): a group's lost tag, what the live workspace links to, the
principals azwrap replaced, the user's data in azwrap's account, and what counts as "already gone"."""

import pytest

from azwrap.az.runner import AzFailed
from azwrap.book import ml
from azwrap.book.settings import Settings
from azwrap.core import destroy
from azwrap.core.apply import gone
from azwrap.core.facts import Snapshot

from .conftest import ACC_ID, ACCOUNT, AML_ID, SP, SUB
from .test_destroy import PURGE, argv, full_state, record

SETTINGS = Settings(account=ACCOUNT)
WORKSPACE_ID = "7d1e0c2a-0000-4000-8000-00000000abcd"
CREATED = "2026-11-26T06:00:00.0000000Z"
AML_RG = f"/subscriptions/{SUB}/resourceGroups/aml-rg/providers"
OWN = {"storageAccount": f"{AML_RG}/Microsoft.Storage/storageAccounts/amlstorage1",
       "keyVault": f"{AML_RG}/Microsoft.KeyVault/vaults/amlkeyvault1",
       "applicationInsights": f"{AML_RG}/Microsoft.Insights/components/amlinsights1"}  # fmt: skip
SHARED_LOGS = (f"/subscriptions/{SUB}/resourceGroups/DefaultResourceGroup-CUS/providers/"
               f"Microsoft.OperationalInsights/workspaces/DefaultWorkspace-{SUB}-CUS")


def identified(dialect="v1", **overrides) -> dict:
    """A full setup whose records carry their identities (as azwrap records them now)."""
    state = full_state(**overrides)
    records = state["resources"]
    records["aml_group"]["identity"] = {"tag": "t-aml"}
    records["adls_group"]["identity"] = {"tag": "t-adls"}
    records["workspace"].update(identity={"workspaceid": WORKSPACE_ID}, dependents=list(OWN.values()), dialect=dialect)
    records["account"]["identity"] = {"creationtime": CREATED}
    return state


def live(tags=("t-aml", "t-adls"), links=None, insights=None, contents=None, storage=None) -> Snapshot:
    """What refresh finds: both groups (with these azwrap-id tags; None: the tag is gone), the workspace and
    account with their identities, the workspace linking to `links`."""
    groups = {name: {"name": name, "tags": {"azwrap-id": tag} if tag else None} for name, tag in zip(("aml-rg", "adls-rg"), tags, strict=True)}
    workspace = {"id": AML_ID, "type": "Microsoft.MachineLearningServices/workspaces",
                 "properties": {"workspaceId": WORKSPACE_ID, **OWN, "containerRegistry": None, **(links or {})},
                 "systemData": {"createdAt": CREATED}}  # fmt: skip
    arm = {AML_ID.lower(): workspace, ACC_ID.lower(): {"id": ACC_ID, "properties": {"creationTime": CREATED}},
           OWN["applicationInsights"].lower(): {"id": OWN["applicationInsights"], "properties": insights or {}}}
    for extra in ("/computes/d1compute", "/datastores/MLData"):
        arm[(AML_ID + extra).lower()] = {"id": AML_ID + extra, "properties": {}}
    return Snapshot(groups=groups, arm=arm, contents=contents or {}, storage=storage or {})


def deletes_group(teardown, name) -> bool:
    return ["group", "delete", "--name", name, "--yes"] in argv(teardown)


# --- 1: a group whose tag is gone --------------------------------------------------------------------

def test_a_group_whose_tag_is_gone_is_azwraps_when_what_azwrap_made_in_it_still_has_its_identity():
    teardown = destroy.plan(identified(), SETTINGS, SUB, live(tags=(None, None)))
    assert deletes_group(teardown, "aml-rg") and deletes_group(teardown, "adls-rg")
    assert teardown.doubtful == [] and not [why for _, why in teardown.kept if "made again" in why]


def test_a_group_whose_tag_is_gone_with_nothing_to_prove_it_is_kept_and_stays_recorded():
    snapshot = live(tags=("t-aml", None))
    del snapshot.arm[ACC_ID.lower()]  # the account is not there to tell (deleted by hand)
    snapshot.arm[ACC_ID.lower()] = None
    teardown = destroy.plan(identified(), SETTINGS, SUB, snapshot)
    assert not deletes_group(teardown, "adls-rg") and deletes_group(teardown, "aml-rg")
    assert ("adls_group", None) in teardown.doubtful
    assert "azwrap-id tag is gone" in dict(teardown.kept)["resource group adls-rg"]


def test_another_tag_value_still_proves_the_group_was_made_again():
    snapshot = live(tags=("t-aml", "someone-else"))
    snapshot.arm[ACC_ID.lower()] = {"id": ACC_ID, "properties": {"creationTime": "2027-01-01T00:00:00Z"}}
    teardown = destroy.plan(identified(), SETTINGS, SUB, snapshot)
    assert not deletes_group(teardown, "adls-rg") and teardown.doubtful == []
    assert "made again" in dict(teardown.kept)["resource group adls-rg"]
    assert not any(args[:3] == ["storage", "account", "delete"] for args in argv(teardown))


class _Session:
    def __init__(self, state):
        self.state, self.saved = state, 0
        self.runner = _Runner()

    def save(self):
        self.saved += 1


class _Runner:
    def __init__(self):
        self.calls = []

    def run(self, step, args, **_):
        self.calls.append(args)

    def echo(self, line):
        pass


def test_destroy_keeps_the_records_of_what_it_kept_in_doubt_and_forgets_the_rest():
    state = identified()
    snapshot = live(tags=("t-aml", None))
    snapshot.arm[ACC_ID.lower()] = None
    state["rotation"] = {"stage": "reset"}
    session = _Session(state)
    destroy.run(session, destroy.plan(state, SETTINGS, SUB, snapshot))
    assert list(state["resources"]) == ["adls_group"]
    assert "rotation" not in state and state["outputs"] == {}


# --- 2, 3: what the live workspace links to ----------------------------------------------------------

def test_a_shared_log_analytics_workspace_in_another_group_is_kept_never_deleted():
    contents = {"aml-rg": [{"id": AML_ID, "name": "aml"}, {"id": f"{AML_RG}/Microsoft.Storage/storageAccounts/userlake",
                                                             "name": "userlake", "type": "Microsoft.Storage/storageAccounts"}]}
    for dialect in ("v1", "v2"):
        teardown = destroy.plan(identified(dialect), SETTINGS, SUB,
                                live(insights={"WorkspaceResourceId": SHARED_LOGS}, contents=contents))
        assert not any(SHARED_LOGS in args for args in argv(teardown))
        assert any(what.startswith(f"log analytics workspace DefaultWorkspace-{SUB}-CUS") and "shared" in why
                   for what, why in teardown.kept)  # fmt: skip
        assert ml.v2_workspace_delete(SETTINGS) not in [tuple(a) for a in argv(teardown)]  # never --all-resources


def test_a_registry_of_the_users_linked_to_a_v2_workspace_keeps_all_resources_from_running():
    registry = f"/subscriptions/{SUB}/resourceGroups/mine/providers/Microsoft.ContainerRegistry/registries/myacr"
    for tags in (("t-aml", "t-adls"), (None, "t-adls")):  # the group deleted whole, or (no proof needed) too
        teardown = destroy.plan(identified("v2"), SETTINGS, SUB, live(tags=tags, links={"containerRegistry": registry}))
        commands = argv(teardown)
        assert list(ml.v2_workspace_delete(SETTINGS, all_resources=False)) in commands
        assert not any("--all-resources" in args for args in commands) and not any(registry in a for a in commands)
        assert ("container registry myacr", "workspace aml in aml-rg links to it, but azwrap did not make it: kept") in teardown.kept


def test_in_a_group_that_stays_a_v2_workspace_with_a_users_link_has_its_own_dependents_deleted_by_id():
    registry = f"/subscriptions/{SUB}/resourceGroups/mine/providers/Microsoft.ContainerRegistry/registries/myacr"
    contents = {"aml-rg": [{"id": f"/subscriptions/{SUB}/resourceGroups/aml-rg/providers/Microsoft.Web/sites/userapp",
                            "name": "userapp", "type": "Microsoft.Web/sites"}]}  # the group holds the user's app: it stays
    teardown = destroy.plan(identified("v2"), SETTINGS, SUB, live(links={"containerRegistry": registry}, contents=contents))
    commands = argv(teardown)
    assert [["resource", "delete", "--ids", d] for d in OWN.values()] == [c for c in commands if c[:2] == ["resource", "delete"]]
    assert commands.index(["resource", "delete", "--ids", OWN["storageAccount"]]) < commands.index(
        list(ml.v2_workspace_delete(SETTINGS, all_resources=False)))


@pytest.mark.parametrize("made, deleted", [("2026-12-01T10:00:00Z", True), ("2020-01-01T00:00:00Z", False),
                                           (None, False)])  # no time: nothing proves azwrap's workspace made it
def test_a_registry_azure_ml_made_in_the_workspaces_group_after_it_goes_with_it(made, deleted):
    registry = f"{AML_RG}/Microsoft.ContainerRegistry/registries/amlacr1"
    entry = {"id": registry, "name": "amlacr1", "type": "Microsoft.ContainerRegistry/registries",
             **({"createdTime": made} if made else {})}
    teardown = destroy.plan(identified(), SETTINGS, SUB, live(links={"containerRegistry": registry},
                                                               contents={"aml-rg": [entry]}))
    assert deletes_group(teardown, "aml-rg") is deleted  # else it holds a registry azwrap did not make
    assert (("container registry amlacr1", "workspace aml in aml-rg links to it, but azwrap did not make it: kept")
            in teardown.kept) is not deleted


def test_a_record_of_the_users_is_listed_once_not_again_from_the_groups_contents():
    state = identified(account=record(False, account="lake2", adls_group="adls-rg"))
    lake2 = f"/subscriptions/{SUB}/resourceGroups/adls-rg/providers/Microsoft.Storage/storageAccounts/lake2"
    teardown = destroy.plan(state, Settings(account="lake2"), SUB, live(
        contents={"adls-rg": [{"id": lake2, "name": "lake2", "type": "Microsoft.Storage/storageAccounts"}]}))
    why = dict(teardown.kept)["resource group adls-rg"]
    assert why.count("lake2") == 1 and "storage account lake2 in adls-rg (yours)" in why


# --- 7: replaced principals ----------------------------------------------------------------------------

def test_replaced_principals_are_deleted_roles_first_and_recorded_as_they_go():
    state = identified()
    state["retired_sp"] = [{"appId": "old-1", "assignments": ["/role/a"], "gone": False},
                           {"appId": "old-2", "assignments": ["/role/b"], "gone": True}]
    teardown = destroy.plan(state, SETTINGS, SUB, live())
    commands = argv(teardown)
    assert commands[-3:] == [["role", "assignment", "delete", "--ids", "/role/a"], ["ad", "app", "delete", "--id", "old-1"],
                             ["role", "assignment", "delete", "--ids", "/role/b"]]
    assert ["ad", "app", "delete", "--id", "old-2"] not in commands  # gone already: only its role was left
    session = _Session(state)
    destroy.run(session, teardown)
    assert "retired_sp" not in state


# --- 8: the user's data in azwrap's account ----------------------------------------------------------------

def test_the_users_files_and_filesystems_in_azwraps_account_are_named_before_deleting():
    storage = {ACCOUNT: {"filesystems": ["fs1", "backup"], "files": {"fs1": ["models/highspenders/input.csv", "mine.csv"]}}}
    teardown = destroy.plan(identified(), SETTINGS, SUB, live(storage=storage))
    assert teardown.data == [f"storage account {ACCOUNT} holds 1 file and 1 filesystem besides azwrap's upload: "
                             "they are deleted with it"]
    assert "with data azwrap did not put there:" in destroy.describe(teardown)
    clean = {ACCOUNT: {"filesystems": ["fs1"], "files": {"fs1": ["models/highspenders/input.csv"]}}}
    assert destroy.plan(identified(), SETTINGS, SUB, live(storage=clean)).data == []


# --- 4: gone ------------------------------------------------------------------------------------------------

def failed(command: str, code: int, *stderr: str) -> AzFailed:
    return AzFailed("destroy", command, code, list(stderr))


@pytest.mark.parametrize("error, is_gone", [
    (failed("az group delete --name adls-rg --yes", 1,
            "ERROR: Subscription '00000000-0000-0000-0000-00000000c0de' not found. Check the spelling and casing and try again."), False),
    (failed("az group delete --name adls-rg --yes", 3, "ERROR: (SubscriptionNotFound) The subscription 'x' could not be found."), False),
    (failed("az group delete --name adls-rg --yes", 3, "ERROR: (ResourceGroupNotFound) Resource group 'adls-rg' could not be found."), True),
    (failed("az group delete --name adls-rg --yes", 1, "ERROR: (ResourceGroupNotFound) Resource group 'adls-rg' could not be found."), True),
    (failed("az group delete --name adls-rg --yes", 1, "ERROR: (ResourceGroupNotFound) Resource group 'adls-rg2' could not be found."), False),
    (failed("az group delete --name adls-rg --yes", 1, "ERROR: The client's token was not found in the cache."), False),
    (failed(f"az ad app delete --id {SP['appId']}", 1,
            f"ERROR: Resource '{SP['appId']}' does not exist or one of its queried reference-property objects are not present."), True),
    (failed(f"az ad app delete --id {SP['appId']}", 1,
            "ERROR: Resource 'another-app' does not exist or one of its queried reference-property objects are not present."), False),
    (failed("az storage fs delete --name fs1 --account-name lake1 --yes", 1,
            "ERROR: Storage account 'lake1' not found."), True),  # what holds the target is gone: so is the target
    (failed("az storage fs delete --name fs1 --account-name lake1 --yes", 1,
            "ERROR: The specified filesystem does not exist.", "ErrorCode:FilesystemNotFound"), True),
    (failed(f"az rest --method delete --url 'https://management.azure.com{AML_ID}?api-version=1&forceToPurge=true'", 1,
            "ERROR: Not Found({\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"The Resource 'aml' was not found.\"}})"), True),
])  # fmt: skip
def test_only_a_not_found_naming_the_target_counts_as_gone(error, is_gone):
    assert gone(error) is is_gone


def test_a_target_given_replaces_the_one_read_from_the_command():
    error = failed("az ad app credential list --id X", 1, "ERROR: Resource 'Y' does not exist ...")
    assert gone(error, "Y") and not gone(error)


def test_plan_without_checks_still_purges_and_deletes_everything():
    assert PURGE in argv(destroy.plan(full_state(), SETTINGS, SUB))


def test_what_a_lost_answer_may_have_made_is_listed_to_check_not_deleted():
    from azwrap.book.settings import Settings
    from azwrap.core import teardown

    state = {"steps": {}, "outputs": {}, "resources": {},
             "pending": {"account": {"settings": {"account": "lake2", "adls_group": "adls-rg"},
                                     "started": "2026-12-01T09:59:58+00:00"}},
             "lost_apps": ["2026-12-01T08:00:01+00:00"]}  # fmt: skip
    planned = teardown.plan(state, Settings(account="lake2"), "sub", None)
    assert planned.deletions == []
    [(account, look), (app, listing)] = planned.left
    assert account.startswith("storage account lake2 in adls-rg, if a run whose answer was lost") and \
        look == "az resource list --resource-group adls-rg --output table"
    assert "create-for-rbac may have made" in app and "--display-name azure-cli-2026-12-01-08 " in listing
