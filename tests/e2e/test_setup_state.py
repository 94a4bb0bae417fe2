"""The state knows the setup (issue 8), end to end on the simulator: refresh, remembered settings, the
subscription, what azwrap made and what it only used, and `azwrap destroy`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import sh

from ..unit import powershell
from .test_azwrap_sim import ACC_ID, ACCOUNT, AML_ID, SIM, SIM_BIN, SUB, Place, make_place

COMPUTE_ID = AML_ID + "/computes/d1compute"

APP_ID_CHANGES = ("create", "delete", "upload", "add", "attach-adls-gen2", "detach", "reset", "remove", "set",
                  "create-for-rbac")  # fmt: skip
OTHER_SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


def words(argv: list[str]) -> list[str]:
    out = []
    for token in argv:
        if token.startswith("-"):
            break
        out.append(token)
    return out


def changing(argv: list[str]) -> bool:
    """A call that changes something in (simulated) Azure or in az's own configuration."""
    if argv[:1] == ["rest"]:
        return argv[argv.index("--method") + 1].lower() != "get" if "--method" in argv else False
    return any(word in APP_ID_CHANGES for word in words(argv))


def changes_since(place: Place, start: int) -> list[str]:
    return [" ".join(words(argv)) for argv in place.state()["calls"][start:] if changing(argv)]


def sim(place: Place, *args: str, env: dict | None = None) -> str:
    return str(sh.Command(str(SIM))(*args, _env={**place.env, **(env or {})}))


def copy_place(origin: Place, root: Path) -> Place:
    shutil.copytree(origin.cwd, root)
    place = make_place(root)
    return place


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Place:
    """A completed `azwrap all`; tests copy it."""
    place = make_place(tmp_path_factory.mktemp("done") / "place")
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    return place


@pytest.fixture
def place(done, tmp_path) -> Place:
    return copy_place(done, tmp_path / "place")


def azwrap_state(place: Place) -> dict:
    return json.loads((place.cwd / ".azwrap" / "state.json").read_text(encoding="utf-8"))


def app_id(place: Place) -> str:
    return azwrap_state(place)["outputs"]["sp"]["appId"]


WORKSPACE_PURGE = ["rest", "--method", "delete", "--url",
                   f"https://management.azure.com{AML_ID}?api-version=2024-10-01&forceToPurge=true"]  # fmt: skip

# What is removed behind azwrap's back, and the changing calls the next `azwrap all` makes: exactly
# that resource, and what depends on it.
REMOVED = {
    "extension": (lambda p: ["extension", "remove", "-n", "azure-cli-ml"], ["extension add"]),
    "compute": (lambda p: ["ml", "computetarget", "delete", "--name", "d1compute", "-w", "aml", "-g", "aml-rg"],
                ["ml computetarget create amlcompute"]),
    "workspace (purged)": (lambda p: WORKSPACE_PURGE,
                           ["ml workspace create", "ml computetarget create amlcompute", "ml datastore attach-adls-gen2",
                            "role assignment create"]),
    "adls group": (lambda p: ["group", "delete", "-n", "adls-rg", "--yes"],
                   ["group create", "storage account create", "storage fs create", "storage fs file upload",
                    "role assignment create"]),
    "account": (lambda p: ["storage", "account", "delete", "-n", ACCOUNT, "-g", "adls-rg", "--yes"],
                ["storage account create", "storage fs create", "storage fs file upload", "role assignment create"]),
    "filesystem": (lambda p: ["storage", "fs", "delete", "--name", "fs1", "--account-name", ACCOUNT, "--yes"],
                   ["storage fs create", "storage fs file upload"]),
    "upload": (lambda p: ["storage", "fs", "file", "delete", "--file-system", "fs1", "--path",
                          "models/highspenders/input.csv", "--account-name", ACCOUNT, "--yes"],
               ["storage fs file upload"]),
    # A deleted app's role assignments stay behind in Azure: azwrap deletes them by their recorded ids.
    "principal": (lambda p: ["ad", "app", "delete", "--id", app_id(p)],
                  ["ad sp create-for-rbac", "role assignment create", "role assignment delete", "ml datastore detach",
                   "ml datastore attach-adls-gen2", "role assignment create"]),
    "storage role": (lambda p: ["role", "assignment", "delete", "--assignee", app_id(p), "--role",
                                "Storage Blob Data Contributor", "--scope", ACC_ID], ["role assignment create"]),
    "datastore": (lambda p: ["ml", "datastore", "detach", "--name", "MLData", "-w", "aml", "-g", "aml-rg"],
                  ["ml datastore attach-adls-gen2"]),
    "workspace role": (lambda p: ["role", "assignment", "delete", "--assignee", app_id(p), "--role", "Contributor",
                                  "--scope", AML_ID], ["role assignment create"]),
}  # fmt: skip


@pytest.mark.parametrize("what", list(REMOVED))
def test_what_was_removed_behind_azwraps_back_is_made_again_and_nothing_else(done, place, what):
    remove, remade = REMOVED[what]
    sim(place, *remove(place), env={"AZSIM_PURGE_LAG": "0"})
    start = len(place.state()["calls"])
    result = place.azwrap("all", "--quiet")  # no options: everything remembered
    assert "is not there any more" in result.stderr or "no longer exists" in result.stderr
    assert sorted(changes_since(place, start)) == sorted(remade)  # (in any order: steps may run in parallel)
    assert len(place.state()["service_principals"]) == 1
    now, clean = place.essential(), done.essential()
    if what == "workspace (purged)":  # the purge deletes the workspace only: what it made stays (REFERENCE.md 8)
        assert now.pop("made with a workspace") == sorted(clean.pop("made with a workspace") * 2)
    assert now == clean  # the old principal's role assignments too: none left behind
    assert_wired_to_the_recorded_principal(place)


def assert_wired_to_the_recorded_principal(place: Place) -> None:
    state, recorded = place.state(), app_id(place)
    assert [sp["appId"] for sp in state["service_principals"].values()] == [recorded]
    assert sorted(r["roleDefinitionName"] for r in state["role_assignments"] if r["appId"] == recorded) == [
        "Contributor", "Storage Blob Data Contributor"]
    assert [d["client_id"] for d in state["datastores"].values()] == [recorded]


def test_a_completed_setup_rerun_changes_nothing(place):
    start = len(place.state()["calls"])
    result = place.azwrap("all", "--quiet")
    assert changes_since(place, start) == []
    assert result.stderr.count("done earlier, skipped") == 8


def test_settings_are_remembered_by_every_command(tmp_path):
    place = make_place(tmp_path / "place")
    options = ["--account", "lake2", "--workspace", "myws", "--aml-group", "my-aml", "--location", "westeurope",
               "--ml-cli", "v2"]  # fmt: skip
    place.azwrap("all", *options, "--quiet")
    start = len(place.state()["calls"])
    for command in ("grant", "workspace", "upload", "compute", "datastore"):
        result = place.azwrap(command, "--quiet")
        assert f"{command}: done earlier, skipped" in result.stderr
    assert changes_since(place, start) == []  # no second workspace in Central US, no v1 call
    assert set(place.state()["groups"]) == {"my-aml", "adls-rg"}
    report = json.loads(place.azwrap("status", "--format", "json").stdout)
    assert report["settings"]["workspace"] == {"value": "myws", "source": "state", "recorded": "myws"}
    assert report["settings"]["vm_size"] == {"value": "STANDARD_D1_V2", "source": "state", "recorded": "STANDARD_D1_V2"}
    report = json.loads(place.azwrap("status", "--format", "json", extra_env={"AZWRAP_VM_SIZE": "STANDARD_D2_V2"}).stdout)
    assert report["settings"]["vm_size"]["source"] == "environment"
    assert place.azwrap("env", "--shell", "bash").stdout.startswith("export SP_PASSWORD=")
    listed = place.azwrap("destroy", "--what-if").stdout
    assert "workspace myws in my-aml" in listed and "lake2" in listed


def test_a_changed_setting_is_announced_with_what_it_makes_anew(place):
    result = place.azwrap("all", "--workspace", "ws2", "--quiet")
    announced = next(line for line in result.stderr.splitlines() if "will run again" in line)
    assert "workspace (settings changed since it ran: workspace 'aml' -> 'ws2'; creates workspace ws2 in aml-rg anew)" in announced
    assert "aml-rg/ws2" in place.state()["workspaces"]


def test_another_subscription_stops_before_any_change(place):
    sim(place, "account", "set", "--subscription", OTHER_SUBSCRIPTION)
    start = len(place.state()["calls"])
    for command in (["all"], ["storage"], ["destroy", "--yes"]):
        result = place.azwrap(*command, ok=(2,))
        assert "belongs to subscription 'Azure Sim Subscription'" in result.stderr
        assert "az account set --subscription 00000000-0000-0000-0000-00000000c0de" in result.stderr
    assert changes_since(place, start) == []
    # --subscription reaches every ARM command (and none of `az ad`): the run then works
    result = place.azwrap("all", "--subscription", "00000000-0000-0000-0000-00000000c0de", "--quiet")
    assert result.stderr.count("done earlier, skipped") == 8
    calls = place.state()["calls"][start:]
    assert all("--subscription" in argv for argv in calls if argv[:2] in (["group", "exists"], ["resource", "show"]))
    assert not any("--subscription" in argv for argv in calls if argv[:1] == ["ad"])


def test_a_users_group_and_account_are_used_as_they_are_and_never_deleted(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    sim(place, "group", "create", "--location", "centralus", "--name", "adls-rg", "--tags", "owner=me", "cost=team")
    sim(place, "storage", "account", "create", "--name", ACCOUNT, "--resource-group", "adls-rg",
        "--enable-hierarchical-namespace", "true", "--sku", "Standard_LRS")
    start = len(place.state()["calls"])
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    state = place.state()
    assert state["groups"]["adls-rg"]["tags"] == {"owner": "me", "cost": "team"}  # no PUT reset them
    assert state["storage_accounts"][ACCOUNT]["sku"] == "Standard_LRS"
    creates = [" ".join(argv) for argv in state["calls"][start:] if argv[:2] == ["group", "create"]]
    assert creates == ["group create --location Central US --name aml-rg --subscription 00000000-0000-0000-0000-00000000c0de"]
    assert not any(argv[:3] == ["storage", "account", "create"] for argv in state["calls"][start:])
    listed = place.azwrap("destroy", "--what-if").stdout
    assert "resource group adls-rg: yours" in listed and f"storage account {ACCOUNT} in adls-rg: yours" in listed
    place.azwrap("destroy", "--yes", "--quiet")
    state = place.state()
    assert set(state["groups"]) == {"adls-rg"} and set(state["storage_accounts"]) == {ACCOUNT}
    assert state["filesystems"] == {} and state["service_principals"] == {}  # azwrap's filesystem and app went


def test_an_account_without_hierarchical_namespace_is_refused(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    sim(place, "group", "create", "--location", "centralus", "--name", "adls-rg")
    sim(place, "storage", "account", "create", "--name", ACCOUNT, "--resource-group", "adls-rg")
    result = place.azwrap("storage", "--account", ACCOUNT, ok=(2,))
    assert "without hierarchical namespace" in result.stderr


def test_destroy_deletes_what_azwrap_made_then_all_builds_it_again(done, place):
    listed = place.azwrap("destroy", "--what-if")
    assert place.state()["groups"], "what-if deleted something"
    assert "resource group aml-rg (and everything in it)" in listed.stdout
    old_app = app_id(place)
    start = len(place.state()["calls"])
    result = place.azwrap("destroy", "--yes")
    state = place.state()
    assert (state["groups"], state["workspaces"], state["service_principals"], state["role_assignments"]) == ({}, {}, {}, [])
    assert state["deleted_workspaces"] == {} or all(w.get("purging") for w in state["deleted_workspaces"].values())
    assert old_app in state["deleted_apps"]
    assert "Destroyed" in result.stderr
    assert [c for c in changes_since(place, start)] == [
        "role assignment delete", "role assignment delete", "rest", "group delete", "group delete", "ad app delete"]
    report = json.loads(place.azwrap("status", "--format", "json").stdout)
    assert {s["status"] for s in report["steps"]} == {"pending"}
    assert "sp" not in azwrap_state(place)["outputs"]  # the secret is forgotten
    place.azwrap("env", ok=(2,))
    # The purged workspace's name may stay blocked a little (AZSIM_PURGE_LAG=1): all waits it out.
    place.azwrap("all", "--quiet")
    assert place.essential() == done.essential()
    assert app_id(place) != old_app and len(place.state()["service_principals"]) == 1


def test_destroy_after_a_partial_setup(tmp_path):
    place = make_place(tmp_path / "place")
    place.azwrap("all", "--account", ACCOUNT, "--quiet", extra_env={"AZSIM_FAIL_MATCH": "ad sp create-for-rbac"}, ok=(1,))
    place.azwrap("destroy", "--yes", "--quiet")
    state = place.state()
    assert (state["groups"], state["workspaces"], state["storage_accounts"]) == ({}, {}, {})


DELETIONS = ["role assignment delete", "rest --method delete", "group delete --name aml-rg", "group delete --name adls-rg",
             "ad app delete"]  # fmt: skip


@pytest.mark.parametrize("fault", DELETIONS)
def test_a_failed_deletion_exits_1_and_destroy_again_finishes(place, fault):
    failed = place.azwrap("destroy", "--yes", "--quiet", extra_env={"AZSIM_FAIL_MATCH": fault}, ok=(1,))
    assert "Error: step 'destroy' failed (exit 1)" in failed.stderr
    place.azwrap("destroy", "--yes", "--quiet")
    state = place.state()
    assert (state["groups"], state["service_principals"], state["role_assignments"]) == ({}, {}, [])
    assert {s["status"] for s in json.loads(place.azwrap("status", "--format", "json").stdout)["steps"]} == {"pending"}


def test_destroy_without_a_terminal_asks_for_yes_and_deletes_nothing(place):
    start = len(place.state()["calls"])
    result = place.azwrap("destroy", ok=(2,))
    assert "no terminal to confirm" in result.stderr and "--yes" in result.stderr
    assert changes_since(place, start) == []


def test_a_workspace_soft_deleted_with_its_group_stops_all_with_the_way_out(place):
    sim(place, "group", "delete", "-n", "aml-rg", "--yes")
    start = len(place.state()["calls"])
    result = place.azwrap("all", ok=(2,))
    assert "a soft-deleted workspace holds the name" in result.stderr
    assert "`azwrap destroy` (it made this workspace) purges it" in result.stderr
    assert changes_since(place, start) == ["group create", "ml workspace create"]  # then nothing in that branch


def test_plan_destroy_prints_the_teardown(place):
    script = place.azwrap("plan", "--destroy", "--shell", "bash").stdout.replace(" \\\n", " ")
    assert f"az role assignment delete --ids {ACC_ID}/providers/Microsoft.Authorization/roleAssignments/" in script
    # every ARM delete names the setup's subscription, as `azwrap destroy` runs it; Graph's takes none
    assert f"az group delete --name aml-rg --yes --subscription {SUB}\n" in script
    assert f"az ad app delete --id {app_id(place)}\n" in script
    assert place.state()["groups"], "plan deleted something"


def _run_bash(place: Place, script: str) -> sh.RunningCommand:
    """The script run by bash with the simulator as `az` on PATH."""
    (place.cwd / "teardown.sh").write_text(script, encoding="utf-8")
    env = {**place.env, "PATH": f"{SIM_BIN}{os.pathsep}{place.env.get('PATH', '')}"}
    return sh.bash(str(place.cwd / "teardown.sh"), _env=env, _cwd=str(place.cwd), _ok_code=list(range(256)),
                   _tty_out=False, _in="", _timeout=90, _return_cmd=True)  # fmt: skip


def test_the_bash_teardown_has_its_own_header_and_runs_to_the_end_on_the_simulator(place):
    script = place.azwrap("plan", "--destroy", "--shell", "bash").stdout
    header = script.split("\n\n")[0]
    assert "teardown" in header and "one-shot" in header and "'azwrap destroy' is the checked way" in header
    assert "  - resource group aml-rg (and everything in it)" in header
    assert "set -euo pipefail" in script.splitlines()
    assert "SP_PASSWORD" not in script and "create-for-rbac" not in script and "$sp" not in script  # no setup tail
    proc = _run_bash(place, script)
    assert proc.exit_code == 0, proc.stderr.decode()
    state = place.state()
    assert (state["groups"], state["workspaces"], state["service_principals"], state["role_assignments"]) == ({}, {}, {}, [])


def test_with_nothing_to_delete_the_teardown_says_so_and_runs(tmp_path):
    place = make_place(tmp_path / "place")
    script = place.azwrap("plan", "--destroy", "--shell", "bash").stdout
    assert "Nothing is left to delete" in script and "\naz " not in script
    proc = _run_bash(place, script)
    assert proc.exit_code == 0, proc.stderr.decode()
    powershell_script = place.azwrap("plan", "--destroy", "--shell", "powershell").stdout
    assert powershell.errors(powershell_script) == [] and powershell.az_commands(powershell_script) == []


def test_the_powershell_teardown_parses_to_the_commands_of_the_plan(place):
    script = place.azwrap("plan", "--destroy", "--shell", "powershell").stdout
    assert script.startswith("#Requires -Version 7.3\n") and "'azwrap destroy' is the checked way" in script
    assert powershell.errors(script) == []
    planned = [entry["argv"] for entry in json.loads(place.azwrap("plan", "--destroy", "--format", "json").stdout)]
    assert [argv for _, argv in powershell.az_commands(script)] == planned and len(planned) == 6
    assert "SP_PASSWORD" not in script and "$sp" not in script


def listed(result) -> list[list[str]]:
    """The commands `all --what-if` lists, as argv after `az`."""
    import shlex

    return [shlex.split(line.split("] ", 1)[1])[1:] for line in result.stdout.splitlines() if line.startswith("  [")]


def test_what_if_changes_nothing_and_lists_what_a_real_run_does(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    start = len(place.state()["calls"])
    preview = place.azwrap("all", "--account", ACCOUNT, "--what-if", "--quiet")
    assert "what-if: nothing was changed" in preview.stdout
    assert changes_since(place, start) == []
    assert not (place.cwd / ".azwrap" / "state.json").exists()
    commands = listed(preview)
    # the book's invocations but `az login`, and azwrap's own after a creation: the groups' azwrap-id tags,
    # the identity of the workspace and the compute, the new secret's key id
    assert len(commands) == 14 + 5
    start = len(place.state()["calls"])
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    real = place.state()["calls"][start:]
    assert len([argv for argv in real if changing(argv)]) == len([argv for argv in commands if changing(argv)])
    # Those with no run-time value stand in the real run as listed, in the same order.
    fixed = [argv for argv in commands if not any("$" in arg or "***" in arg for arg in argv)]
    positions = [real.index(argv) for argv in fixed]
    assert positions == sorted(positions)


def test_what_if_on_a_completed_setup_lists_nothing_to_run(place):
    start = len(place.state()["calls"])
    preview = place.azwrap("all", "--what-if", "--quiet")
    assert "Nothing would run." in preview.stdout and preview.stdout.count("  skipped: ") == 8
    assert changes_since(place, start) == []


def test_what_if_after_a_removal_lists_only_what_is_made_again(place):
    sim(place, "ml", "computetarget", "delete", "--name", "d1compute", "-w", "aml", "-g", "aml-rg")
    preview = place.azwrap("all", "--what-if", "--quiet")
    assert [argv[:4] for argv in listed(preview)] == [["ml", "computetarget", "create", "amlcompute"],
                                                      ["resource", "show", "--ids", COMPUTE_ID]]  # its identity


def test_status_refresh_prints_the_report_on_stdout_and_azs_warnings_once_on_stderr(place):
    result = place.azwrap("status", "--refresh")
    assert "WARNING" not in result.stdout and "present" in result.stdout
    # The filesystem's and the file's probes both warn about account keys: the notice is shown once, with its step.
    notice = "[refresh] WARNING: There are no credentials provided in your command and environment"
    assert result.stderr.count(notice) == 1
    assert all(line.startswith("[refresh] ") for line in result.stderr.splitlines())


def test_log_shows_the_setup_after_a_destroy_what_if(place):
    place.azwrap("destroy", "--what-if")
    shown = place.azwrap("log", extra_env={"COLUMNS": "200"}).stdout
    assert shown.startswith("Run 1 of 2: azwrap all, started ") and "az ml workspace create" in shown
    listed = json.loads(place.azwrap("log", "--list", "--output", "json").stdout)
    assert [(run["command"], run["changes"]) for run in listed] == [("all", True), ("destroy --what-if", False)]
