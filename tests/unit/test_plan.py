"""The plan as a pure function: settings, state, live facts and --force in, ordered actions with reasons
out. No process, no file, no clock: each test runs it with those forbidden."""

from __future__ import annotations

import builtins
import subprocess
import time
from dataclasses import replace

import pytest

from azwrap.book.settings import Settings
from azwrap.book.steps import STEPS
from azwrap.core import plan as planner
from azwrap.core.facts import Snapshot
from azwrap.errors import MissingInput, Refused

SUB = "00000000-0000-0000-0000-00000000c0de"
APP, OTHER_APP = "6f1c2a9e-0d3b-4e57-9a1c-2b3c4d5e6f70", "0a0a0a0a-1111-2222-3333-444455556666"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ACCOUNT = "mydatalake"
ACC_ID = f"/subscriptions/{SUB}/resourceGroups/adls-rg/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
AML_ID = f"/subscriptions/{SUB}/resourceGroups/aml-rg/providers/Microsoft.MachineLearningServices/workspaces/aml"
ROLE_IDS = {"storage_role": ACC_ID + "/providers/Microsoft.Authorization/roleAssignments/r1",
            "workspace_role": AML_ID + "/providers/Microsoft.Authorization/roleAssignments/r2"}  # fmt: skip
SETTINGS = Settings(account=ACCOUNT)
SHA = "ab" * 32
ALL = tuple(step.name for step in STEPS)

def TAG(group: str) -> list[str]:  # noqa: N802  (azwrap's own: a group's azwrap-id tag, made up when it runs)
    return ["tag", "update", "--resource-id", f"/subscriptions/{SUB}/resourceGroups/{group}", "--operation", "Merge",
            "--tags", "azwrap-id=$new.id"]  # fmt: skip


# The book's invocations (argv after az) of a fresh v1 run, by hand (REFERENCE.md section 1), $refs
# unresolved, with azwrap's own calls right after a creation (a group's tag, ARM's identity, the key id).
FRESH = [
    ("extension", ["extension", "add", "-n", "azure-cli-ml"]),
    ("workspace", ["group", "create", "--location", "Central US", "--name", "aml-rg"]),
    ("workspace", TAG("aml-rg")),
    ("workspace", ["ml", "workspace", "create", "--workspace-name", "aml", "--location", "Central US",
                   "--resource-group", "aml-rg"]),
    ("workspace", ["resource", "show", "--ids", AML_ID]),
    ("compute", ["ml", "computetarget", "create", "amlcompute", "--max-nodes", "1", "--name", "d1compute",
                 "--vm-size", "STANDARD_D1_V2", "--workspace-name", "aml", "--resource-group", "aml-rg"]),
    ("compute", ["resource", "show", "--ids", AML_ID + "/computes/d1compute"]),
    ("storage", ["group", "create", "--location", "Central US", "--name", "adls-rg"]),
    ("storage", TAG("adls-rg")),
    ("storage", ["storage", "account", "create", "--name", ACCOUNT, "--resource-group", "adls-rg",
                 "--enable-hierarchical-namespace", "true"]),
    ("storage", ["storage", "fs", "create", "--account-name", ACCOUNT, "--name", "fs1"]),
    ("upload", ["storage", "fs", "file", "upload", "--file-system", "fs1", "--path", "models/highspenders/input.csv",
                "--source", "input.csv", "--account-name", ACCOUNT]),
    ("sp", ["ad", "sp", "create-for-rbac"]),
    ("sp", ["ad", "app", "credential", "list", "--id", "$sp.appId"]),
    ("sp", ["storage", "account", "show", "--name", ACCOUNT]),
    ("sp", ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", "$sp.appId",
            "--scope", "$acc.id"]),
    ("datastore", ["ml", "datastore", "attach-adls-gen2", "--account-name", ACCOUNT, "--client-id", "$sp.appId",
                   "--client-secret", "$sp.password", "--tenant-id", "$sp.tenant", "--file-system", "fs1", "--name",
                   "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg"]),
    ("grant", ["ml", "workspace", "show", "--workspace-name", "aml", "--resource-group", "aml-rg"]),
    ("grant", ["role", "assignment", "create", "--role", "Contributor", "--assignee", "$sp.appId", "--scope", "$aml.id"]),
]  # fmt: skip


@pytest.fixture(autouse=True)
def pure(monkeypatch):
    """The plan may start no process, open no file and read no clock."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the plan must be a pure function")

    for target, name in ((subprocess, "Popen"), (builtins, "open"), (time, "time"), (time, "monotonic")):
        monkeypatch.setattr(target, name, forbidden)


def completed_state(settings: Settings = SETTINGS, app: str = APP) -> dict:
    """The state `azwrap all` leaves: every step and resource recorded, made by azwrap."""
    from azwrap.book import resources

    state = {"version": 1, "settings": {}, "subscription": {"id": SUB}, "outputs": {
        "sp": {"appId": app, "password": "s3cret", "tenant": TENANT}, "acc": {"id": ACC_ID}, "aml": {"id": AML_ID}},
        "steps": {}, "resources": {}}  # fmt: skip
    for step in STEPS[1:]:
        state["steps"][step.name] = {"done_at": "t", "settings": settings.subset(step.uses), "inputs": {}}
    state["steps"]["upload"]["sha256"] = SHA
    # The run-time values each step took from an earlier one (not from its own captures).
    state["steps"]["datastore"]["inputs"] = {"$sp.appId": app, "$sp.tenant": TENANT}
    state["steps"]["grant"]["inputs"] = {"$sp.appId": app}
    for resource in resources.RESOURCES:
        record = {"created": True, "settings": settings.subset(resource.uses)}
        if resource.key in ROLE_IDS:
            record["id"] = ROLE_IDS[resource.key]
        if resource.key in ("workspace", "compute", "datastore"):
            record["dialect"] = "v1"
        if resource.key in IDENTITIES:
            record["identity"] = dict(IDENTITIES[resource.key])
        state["resources"][resource.key] = record
    return state


# What the current azwrap records of each resource's identity (the facts live() shows).
CREATED_AT = "2026-12-01T10:00:00.0000000Z"
IDENTITIES = {"aml_group": {"tag": "tag-aml"}, "adls_group": {"tag": "tag-adls"}, "workspace": {"workspaceid": "ws-1"},
              "compute": {"createdon": CREATED_AT}, "account": {"creationtime": CREATED_AT},
              "datastore": {"clientId": APP}}  # fmt: skip


def live(app: str = APP, *, without=(), location="centralus", vm_size="STANDARD_D1_V2", hns=True,
         extensions=("azure-cli-ml",)) -> Snapshot:
    """What refresh finds of a completed setup (each of `without` not there)."""
    arm = {
        AML_ID.lower(): {"id": AML_ID, "location": location, "properties": {"workspaceId": "ws-1"},
                         "systemData": {"createdAt": CREATED_AT}},
        (AML_ID + "/computes/d1compute").lower(): {"properties": {"createdOn": CREATED_AT, "properties": {
            "vmSize": vm_size, "scaleSettings": {"maxNodeCount": 1}}}},
        ACC_ID.lower(): {"id": ACC_ID, "location": location, "properties": {"isHnsEnabled": hns,
                                                                            "creationTime": CREATED_AT}},
        (AML_ID + "/datastores/MLData").lower(): {"properties": {"accountName": ACCOUNT, "filesystem": "fs1",
                                                                 "credentials": {"clientId": app}}},
    }  # fmt: skip
    keys = {"workspace": AML_ID, "compute": AML_ID + "/computes/d1compute", "account": ACC_ID,
            "datastore": AML_ID + "/datastores/MLData"}  # fmt: skip
    for key in without:
        if key in keys:
            arm[keys[key].lower()] = None
    groups = {name: None if key in without else {"name": name, "location": location,
                                                 "tags": {"azwrap-id": IDENTITIES[key]["tag"]}}
              for key, name in (("aml_group", "aml-rg"), ("adls_group", "adls-rg"))}  # fmt: skip
    paths = {("fs", ACCOUNT, "fs1"): "filesystem" not in without,
             ("file", ACCOUNT, "fs1", "models/highspenders/input.csv"): "upload" not in without}  # fmt: skip
    assignments = [{"id": ROLE_IDS[key]} for key in ROLE_IDS if key not in without]
    return Snapshot(extensions=frozenset(extensions), groups=groups, arm=arm, paths=paths,
                    principals={app: None if "sp" in without else {"appId": app}},
                    assignments={app: None if "sp" in without else assignments})  # fmt: skip


def inputs(state=None, snapshot=None, scope=ALL, settings=SETTINGS, **options) -> planner.Inputs:
    return planner.Inputs(settings, state if state is not None else {"steps": {}, "resources": {}, "outputs": {}},
                          snapshot or Snapshot(extensions=frozenset(), groups={"aml-rg": None, "adls-rg": None}),
                          scope, subscription_id=SUB, **{"source_sha": SHA, **options})  # fmt: skip


def argv(action) -> list[str]:
    return [str(arg) for arg in action.invocation.args]


def calls(plan) -> list[tuple[str, list[str]]]:
    return [(action.step, argv(action)) for action in plan.actions]


def test_a_fresh_run_plans_the_books_invocations_in_order_each_because_it_is_not_done():
    plan = planner.make(inputs())
    assert calls(plan) == FRESH
    assert {step.reason for step in plan.steps} == {"not done yet"}
    reads = (["storage", "account", "show"], ["ml", "workspace", "show"], ["resource", "show", "--ids"],
             ["ad", "app", "credential"])  # fmt: skip
    assert [a.changes for a in plan.actions] == [argv(a)[:3] not in reads for a in plan.actions]


def test_a_completed_setup_that_is_all_there_plans_nothing():
    plan = planner.make(inputs(completed_state(), live()))
    assert plan.actions == [] and not plan.changes and plan.notes == ()
    assert {step.skipped_because for step in plan.steps} == {"done earlier, and still there"}


# What removing each resource makes the next run do: the steps that run again, and their first call.
REMOVED = {
    "compute": ({"compute"}, "ml computetarget create"),
    "workspace": ({"workspace", "compute", "datastore", "grant"}, "ml workspace create"),
    "aml_group": ({"workspace", "compute", "datastore", "grant"}, "group create"),
    "account": ({"storage", "upload", "sp"}, "storage account create"),
    "filesystem": ({"storage", "upload"}, "storage fs create"),
    "upload": ({"upload"}, "storage fs file upload"),
    "datastore": ({"datastore"}, "ml datastore attach-adls-gen2"),
    "workspace_role": ({"grant"}, "ml workspace show"),
    "storage_role": ({"sp"}, "storage account show"),
}


@pytest.mark.parametrize("removed", list(REMOVED))
def test_what_is_gone_is_made_again_and_nothing_else(removed):
    without = {removed} | ({"compute", "datastore", "workspace_role"} if removed in ("workspace", "aml_group") else set())
    without |= {"filesystem", "upload", "storage_role"} if removed == "account" else set()
    without |= {"upload"} if removed == "filesystem" else set()
    plan = planner.make(inputs(completed_state(), live(without=tuple(without))))
    steps, first = REMOVED[removed]
    assert {step.step for step in plan.running} == steps
    assert " ".join(argv(plan.actions[0])).startswith(first)
    for step in plan.running:
        assert step.reason.startswith("recorded done, but ") and "not there any more" in step.reason


def test_without_refresh_a_recorded_step_is_trusted_whatever_the_facts_say():
    plan = planner.make(inputs(completed_state(), live(without=("compute",)), refresh=False))
    assert plan.actions == [] and {s.skipped_because for s in plan.steps} == {"done earlier"}


def test_a_forced_step_runs_again_but_does_not_create_what_its_guard_finds():
    plan = planner.make(inputs(completed_state(), live(), force=frozenset({"storage"})))
    [storage] = plan.running
    assert storage.reason == "forced with --force" and storage.actions == ()
    assert [what for _, what in storage.found] == ["resource group adls-rg", "storage account mydatalake",
                                                   "filesystem fs1"]  # fmt: skip


def test_a_forced_upload_overwrites():
    plan = planner.make(inputs(completed_state(), live(), force=frozenset({"upload"})))
    assert [argv(a)[-1] for a in plan.actions] == ["--overwrite"]


def test_another_source_for_the_same_upload_is_refused_without_force():
    with pytest.raises(Refused, match="differs from the file uploaded to models/highspenders/input.csv"):
        planner.make(inputs(completed_state(), live(), source_sha="cd" * 32))


def test_a_changed_account_reruns_the_steps_that_use_it_and_says_what_it_makes_anew():
    settings = replace(SETTINGS, account="otherlake")
    snapshot = live().merged(arm={ACC_ID.replace(ACCOUNT, "otherlake").lower(): None})
    plan = planner.make(inputs(completed_state(), snapshot, settings=settings))
    assert [s.step for s in plan.running] == ["storage", "upload", "sp", "datastore"]
    assert plan.step("storage").reason == "settings changed since it ran: account 'mydatalake' -> 'otherlake'"
    assert "storage account otherlake in adls-rg" in plan.step("storage").anew
    assert ["group", "create"] not in [argv(a)[:2] for a in plan.actions]  # adls-rg is there: found
    assert "creates storage account otherlake in adls-rg" in plan.notes[0]
    # The principal stays: no second one.
    assert ["ad", "sp", "create-for-rbac"] not in [argv(a) for a in plan.actions]


def test_a_changed_location_of_what_exists_is_refused_naming_it_and_the_way_out():
    settings = replace(SETTINGS, location="West Europe")
    with pytest.raises(Refused) as refused:
        planner.make(inputs(completed_state(), live(), settings=settings))
    message = str(refused.value)
    assert "--location 'West Europe'" in message and "exists in centralus" in message
    assert "azwrap destroy" in message and "cannot move" in message


def test_a_compute_of_another_size_is_refused():
    state = completed_state()
    del state["steps"]["compute"], state["resources"]["compute"]
    with pytest.raises(Refused, match="compute d1compute exists with vm size STANDARD_D2_V2"):
        planner.make(inputs(state, live(vm_size="STANDARD_D2_V2")))


def test_an_account_without_hierarchical_namespace_is_refused():
    with pytest.raises(Refused, match="without hierarchical namespace"):
        planner.make(inputs(snapshot=live(hns=False).merged(groups={"aml-rg": None}), scope=("storage",)))


def test_a_datastore_azwrap_did_not_make_is_refused():
    state = completed_state()
    del state["steps"]["datastore"], state["resources"]["datastore"]
    with pytest.raises(Refused, match="datastore MLData exists in workspace aml, not made by azwrap"):
        planner.make(inputs(state, live(app=APP).merged(arm={(AML_ID + "/datastores/MLData").lower(): {
            "properties": {"accountName": "theirs", "filesystem": "x", "credentials": {"clientId": OTHER_APP}}}})))


def test_the_other_dialects_extension_is_refused_with_the_way_out():
    with pytest.raises(Refused, match="az extension remove --name ml"):
        planner.make(inputs(snapshot=Snapshot(extensions=frozenset({"ml"}), groups={"aml-rg": None, "adls-rg": None})))


def test_a_group_the_user_has_is_found_not_created():
    snapshot = Snapshot(extensions=frozenset(), groups={"aml-rg": {"name": "aml-rg", "location": "centralus"},
                                                        "adls-rg": None}, arm={AML_ID.lower(): None})  # fmt: skip
    plan = planner.make(inputs(snapshot=snapshot))
    assert ("workspace", ["group", "create", "--location", "Central US", "--name", "aml-rg"]) not in calls(plan)
    assert plan.step("workspace").found == (("aml_group", "resource group aml-rg"),)


def test_a_principal_gone_is_replaced_its_role_assignments_deleted_by_recorded_id_and_its_users_rerun():
    plan = planner.make(inputs(completed_state(), live(without=("sp",))))
    sp = plan.step("sp")
    assert sp.forget_sp and sp.reason.startswith("recorded done, but the service principal")
    assert [argv(a) for a in sp.actions] == [
        ["ad", "sp", "create-for-rbac"], ["ad", "app", "credential", "list", "--id", "$sp.appId"],
        ["storage", "account", "show", "--name", ACCOUNT],
        ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", "$sp.appId",
         "--scope", "$acc.id"],
        ["role", "assignment", "delete", "--ids", *ROLE_IDS.values()],  # the app is gone already: no delete of it
    ]  # fmt: skip
    assert plan.step("datastore").reason == "the service principal it uses is new"
    assert plan.step("grant").reason == "the service principal it uses is new"
    # v1 cannot replace the datastore azwrap attached with the old principal: detached first.
    assert [argv(a)[:3] for a in plan.step("datastore").actions] == [["ml", "datastore", "detach"],
                                                                      ["ml", "datastore", "attach-adls-gen2"]]


def test_force_sp_retires_the_old_principal_after_the_new_one_is_assigned():
    plan = planner.make(inputs(completed_state(), live(), force=frozenset({"sp"})))
    tail = [argv(a) for a in plan.step("sp").actions][-2:]
    assert tail == [["role", "assignment", "delete", "--ids", *ROLE_IDS.values()], ["ad", "app", "delete", "--id", APP]]
    assert all(a.gone_ok for a in plan.step("sp").actions[-2:])


def test_keep_old_sp_retires_nothing():
    plan = planner.make(inputs(completed_state(), live(), force=frozenset({"sp"}), keep_old_sp=True))
    assert [argv(a)[:3] for a in plan.step("sp").actions] == [["ad", "sp", "create-for-rbac"],
                                                              ["ad", "app", "credential"],
                                                              ["storage", "account", "show"],
                                                              ["role", "assignment", "create"]]  # fmt: skip


def test_a_step_alone_without_the_principal_it_needs_is_refused_before_anything():
    with pytest.raises(MissingInput, match="run `azwrap sp` first"):
        planner.precheck(inputs(scope=("datastore",)))


def test_a_step_alone_before_what_it_builds_on_is_refused_with_the_step_to_run_first():
    state = {"steps": {"extension": {}}, "resources": {}, "outputs": {}}
    with pytest.raises(Refused, match="run `azwrap workspace` first"):
        planner.make(inputs(state, Snapshot(groups={"aml-rg": None}, arm={AML_ID.lower(): None}), scope=("compute",)))


# --- what azwrap made, known again: identity read anew, earlier generations, answers that were lost ----------

def test_a_found_record_of_azwraps_without_its_identity_gets_azwraps_identity_read():
    state = completed_state()
    del state["resources"]["workspace"]["identity"]  # the read after its creation failed
    del state["steps"]["workspace"]
    plan = planner.make(inputs(state, live(), scope=("workspace",)))
    assert [argv(a) for a in plan.actions] == [["resource", "show", "--ids", AML_ID]]
    assert [key for key, _ in plan.step("workspace").found] == ["aml_group", "workspace"]
    # with its identity recorded, nothing runs but the step's record
    plan = planner.make(inputs({**completed_state(), "steps": {k: v for k, v in completed_state()["steps"].items()
                                                                if k != "workspace"}}, live(), scope=("workspace",)))
    assert plan.actions == []


def _switched_back(identity: str) -> dict:
    """The state after `all --account mydatalake` then `all --account otherlake`: mydatalake's storage is an
    earlier generation (with the account's creation time as its identity)."""
    from azwrap.book import resources

    state = completed_state(replace(SETTINGS, account="otherlake"))
    state["earlier"] = [{"key": key, "record": {"created": True, "settings": SETTINGS.subset(resources.BY_KEY[key].uses),
                                                **({"identity": {"creationtime": identity}} if key == "account" else {})}}
                        for key in ("account", "filesystem", "upload")]  # fmt: skip
    return state


def test_going_back_to_an_earlier_account_takes_back_what_azwrap_made_there():
    plan = planner.make(inputs(_switched_back(CREATED_AT), live()))
    storage = plan.step("storage")
    assert [a.invocation.args[:3] for a in storage.actions] == []  # all there: nothing made again
    assert {key: record.get("generation") for key, record in storage.reclaim} == {"account": 0, "filesystem": 1}
    # azwrap's own earlier upload is uploaded over with today's file (az refuses without --overwrite)
    [upload] = plan.step("upload").actions
    assert argv(upload)[:4] == ["storage", "fs", "file", "upload"] and argv(upload)[-1] == "--overwrite"


def test_an_account_made_again_by_someone_under_the_earlier_name_is_not_taken_back():
    with pytest.raises(Refused) as refused:  # the file there is not azwrap's: not uploaded over
        planner.make(inputs(_switched_back("2026-11-01T08:00:00.0000000Z"), live()))
    assert "azwrap did not upload it" in str(refused.value) and "--force upload" in str(refused.value)
    plan = planner.make(inputs(_switched_back("2026-11-01T08:00:00.0000000Z"), live(), scope=("storage",)))
    assert plan.step("storage").reclaim == ()


def _lost_account_answer(started: str) -> dict:
    """`storage account create` ran, but its answer never came (interrupted, garbled)."""
    state = completed_state()
    del state["steps"]["storage"]
    for key in ("account", "filesystem"):
        del state["resources"][key]
    state["pending"] = {"account": {"settings": SETTINGS.subset(("account", "adls_group")), "started": started}}
    return state


def test_what_a_call_whose_answer_was_lost_made_is_azwraps():
    plan = planner.make(inputs(_lost_account_answer("2026-12-01T09:59:58+00:00"), live(), scope=("storage",)))
    [(key, record)] = plan.step("storage").reclaim
    assert key == "account" and record["created"] and record["identity"] == {"creationtime": CREATED_AT}
    assert not any("without an answer" in note for note in plan.notes)


def test_what_was_there_before_a_lost_answers_call_began_stays_the_users_and_is_said():
    plan = planner.make(inputs(_lost_account_answer("2026-12-01T11:00:00+00:00"), live(), scope=("storage",)))
    assert plan.step("storage").reclaim == ()
    assert any(note.startswith("storage account mydatalake: an earlier run's call that makes it ended without an "
                               "answer") and "will not delete it" in note for note in plan.notes)


def test_a_lost_create_for_rbac_answer_says_where_to_find_the_app_it_may_have_made():
    state = completed_state()
    del state["steps"]["sp"], state["outputs"]["sp"]
    state["pending"] = {"sp": {"settings": {}, "started": "2026-12-01T09:59:58+00:00"}}
    plan = planner.make(inputs(state, live(), scope=("sp",)))
    [note] = [note for note in plan.notes if "create-for-rbac" in note]
    assert "az ad app list --display-name azure-cli-2026-12-01-09 " in note and "az ad app delete" in note


def test_a_changed_location_where_everything_found_is_there_already_plans_without_a_refusal():
    """All found in the new region (made there by the user): the filesystem's fact (a path: no location)
    does not stop the check."""
    settings = replace(SETTINGS, location="West Europe")
    plan = planner.make(inputs(completed_state(), live(location="westeurope"), settings=settings, scope=("storage",)))
    assert [key for key, _ in plan.step("storage").found] == ["adls_group", "account", "filesystem"]
