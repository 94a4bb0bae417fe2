"""Safe to repeat, safe to interrupt: skip what is done, rerun what changed, never a second principal."""

import json
import re
import os
import signal
import stat
import sys
import threading
import time

import pytest

from azwrap.az import process as az_process
from azwrap.book.steps import BY_NAME

from .conftest import (OWN, pin, key_id_read, SUB, FRESH_ALL, ACC_ID, ACCOUNT, AML_ID, ARM, BOOK, COMPUTE_ID, DATASTORE_ID, FILE_EXISTS, FS_EXISTS, GROUP_LIST,
                       MY_ROLES, NAME_AVAILABLE, NOT_FOUND, ROLES, ROLES_OF_SP, SECRET, SP, SP_SHOW, TOKEN_EXPIRES, TOKEN_EXPIRY,
                       VERSION_CALL, absent, group, normalised, refresh_probes, resources_show, seed_state,
                       succeeded)  # fmt: skip

ACCOUNT_SHOW = ["account", "show"]


def sp_ready(fake, workdir):
    """`azwrap sp` in a later session: storage done earlier, signed in."""
    seed_state(workdir, done=["storage"])
    fake.logged_in()


@pytest.fixture
def done(fake, cli, workdir):
    """A workdir where `azwrap all` has completed; fp's call log cleared."""
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    fake.fp.calls.clear()
    return workdir


def state(workdir):
    return json.loads((workdir / ".azwrap" / "state.json").read_text())


def test_second_run_skips_every_done_step(done, fake, cli):
    fake.doctor(installed=True)  # registered, but a run that creates nothing runs none of doctor's checks
    fake.present()
    result = cli("all")  # no options: the settings are the recorded ones
    assert result.exit_code == 0, result.output
    # whom az is signed in as, then the refresh: 7 read-only calls batched for every resource the setup
    # holds, and no change at all (8 az processes)
    assert fake.calls() == [ACCOUNT_SHOW, TOKEN_EXPIRY, VERSION_CALL, GROUP_LIST, SP_SHOW,
                            resources_show(AML_ID, COMPUTE_ID, ACC_ID, DATASTORE_ID), ROLES_OF_SP, FILE_EXISTS]
    for step in ("extension", "workspace", "compute", "storage", "upload", "sp", "datastore", "grant"):
        assert f"{step}: done earlier, skipped" in result.stderr


def test_changed_account_reruns_the_steps_that_use_it_and_says_why(done, fake, cli):
    other = "otherlake"
    other_id = ACC_ID.replace(ACCOUNT, other)
    swap = lambda args: [a.replace(ACCOUNT, other) if isinstance(a, str) else a for a in args]  # noqa: E731
    fake.logged_in()
    # The refresh: the setup as recorded, and the account under its new name, which is not there yet:
    # az fails the batched show for it (exit 3), so each id is asked alone.
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(VERSION_CALL, stdout=json.dumps({"azure-cli": "2.91.0", "extensions": {"azure-cli-ml": "1.41.0"}}))
    fake.on(GROUP_LIST, stdout=json.dumps([group("aml-rg"), group("adls-rg")]))  # adls-rg is there: not created again
    fake.on(SP_SHOW, stdout=json.dumps({"appId": SP["appId"]}))
    ids = [AML_ID, COMPUTE_ID, ACC_ID, other_id, DATASTORE_ID]
    fake.on(resources_show(*ids), **NOT_FOUND)
    for resource_id, found in zip(ids, [ARM["workspace"], ARM["compute"], ARM["account"], None, ARM["datastore"]],
                                  strict=True):
        fake.on(resources_show(resource_id), **(NOT_FOUND if found is None else {"stdout": json.dumps(found)}))
    fake.on(ROLES_OF_SP, stdout=json.dumps(ROLES))
    fake.on(FILE_EXISTS, stdout='{"exists": true}')  # (the new account's filesystem: not asked, its account is not there)
    # doctor's checks of what the run creates: a storage account (its name) and a role assignment
    fake.doctor(installed=True)
    fake.on(["storage", "account", "check-name", "--name", other], stdout=json.dumps(NAME_AVAILABLE))
    fake.on(swap(BOOK[6][1]))
    fake.on(swap(BOOK[7][1]))
    fake.on(swap(BOOK[8][1]))
    fake.on(swap(BOOK[10][1]), stdout=json.dumps({"id": other_id}))
    new_role = ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", SP["appId"],
                "--scope", other_id]  # fmt: skip
    fake.on(new_role)
    # azwrap's datastore points at the old account: v1 cannot replace it, so it is detached first
    detach = ["ml", "datastore", "detach", "--name", "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg"]
    fake.on(detach)
    fake.on(swap(BOOK[12][1]))
    result = cli("all", "--account", other)
    assert result.exit_code == 0, result.output
    for step in ("storage", "upload", "sp", "datastore"):
        assert f"{step}: running again: settings changed since it ran: account 'mydatalake' -> 'otherlake'" in result.stderr
    for step in ("extension", "workspace", "compute", "grant"):
        assert f"{step}: done earlier, skipped" in result.stderr
    assert ["ad", "sp", "create-for-rbac"] not in fake.calls()
    assert state(done)["steps"]["storage"]["settings"]["account"] == other
    assert BOOK[5][1] not in fake.calls()  # the existing group was not PUT again
    assert "creates storage account otherlake in adls-rg" in result.stderr  # announced before it ran
    assert normalised(fake.calls()) == [
        ACCOUNT_SHOW, TOKEN_EXPIRY, VERSION_CALL, GROUP_LIST, SP_SHOW, resources_show(*ids),
        *(resources_show(resource_id) for resource_id in ids), ROLES_OF_SP, FILE_EXISTS,
        ["storage", "account", "check-name", "--name", other], MY_ROLES,
        swap(BOOK[6][1]), swap(BOOK[7][1]), swap(BOOK[8][1]), swap(BOOK[10][1]), new_role, detach, swap(BOOK[12][1])]


def record_role_ids(workdir):
    """The fake's role assignment create prints one id; give the workspace's its own, as Azure does."""
    record = state(workdir)
    record["resources"]["workspace_role"]["id"] = ROLES[1]["id"]
    (workdir / ".azwrap" / "state.json").write_text(json.dumps(record))


def test_force_sp_creates_a_new_principal_and_reruns_what_used_the_old_one(done, fake, cli):
    record_role_ids(done)
    new = {**SP, "appId": "0a0a0a0a-1111-2222-3333-444455556666", "password": "n3w~secret-value-1234567890abcdef"}
    fake.logged_in()
    fake.present()  # the refresh finds the whole setup, the old principal's datastore included
    fake.doctor()  # (of doctor's checks, only the right to assign roles matters for what this run creates)
    fake.on(BOOK[9][1], stdout=json.dumps(new))
    fake.on(key_id_read(new["appId"]), stdout="[]")
    fake.on(BOOK[10][1])
    new_role = ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", new["appId"],
                "--scope", BOOK[11][1][-1]]  # fmt: skip
    fake.on(new_role)
    # Once the new principal is recorded and assigned, the old one goes: its role assignments by their
    # recorded ids, then its app.
    # (pinned: the clean-up names the setup's subscription)
    delete_roles = ["role", "assignment", "delete", "--ids", ROLES[0]["id"], ROLES[1]["id"], "--subscription", SUB]
    fake.on(delete_roles, stdout="")
    fake.on(["ad", "app", "delete", "--id", SP["appId"]], stdout="")
    # v1's attach cannot replace a datastore: the one azwrap attached with the old principal is detached first.
    detach = ["ml", "datastore", "detach", "--name", "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg"]
    fake.on(detach)
    attach = [a if a != SP["appId"] else new["appId"] for a in BOOK[12][1]]
    fake.on(attach)
    fake.on(BOOK[13][1])
    new_grant = ["role", "assignment", "create", "--role", "Contributor", "--assignee", new["appId"], "--scope",
                 BOOK[14][1][-1]]  # fmt: skip
    fake.on(new_grant)
    result = cli("all", "--account", ACCOUNT, "--force", "sp")
    assert result.exit_code == 0, result.output
    assert "sp: running again: forced with --force" in result.stderr
    assert "datastore: running again: the service principal it uses is new" in result.stderr
    assert "was made by azwrap for an earlier principal or dialect; removing it first" in result.stderr
    assert "grant: running again: the service principal it uses is new" in result.stderr
    assert state(done)["outputs"]["sp"]["password"] == new["password"]  # the new secret is kept
    assert fake.secret_file_contents[-1] == new["password"]  # ... and attached
    assert new["password"] not in result.output
    assert f"sp: deleted the replaced service principal {SP['appId']}" in result.stderr
    assert "retired_sp" not in state(done)
    # every ARM call names the subscription checked first (another terminal's `az account set` must not matter)
    assert normalised(fake.calls(pinned=True)) == [pin(call) for call in [
        ACCOUNT_SHOW, *(args for args, _ in refresh_probes()), MY_ROLES,
        BOOK[9][1], key_id_read(new["appId"]), BOOK[10][1], new_role, delete_roles, ["ad", "app", "delete", "--id", SP["appId"]],
        detach, attach, BOOK[13][1], new_grant]]


def test_a_v1_datastore_azwrap_did_not_make_is_refused_with_the_detach_command(done, fake, cli):
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    theirs = json.loads(json.dumps(ARM["datastore"]))
    theirs["properties"]["credentials"]["clientId"] = "c0c0c0c0-0000-0000-0000-000000000000"
    fake.on(resources_show(DATASTORE_ID), stdout=json.dumps(theirs))
    record = state(done)
    del record["steps"]["datastore"], record["resources"]["datastore"]
    (done / ".azwrap" / "state.json").write_text(json.dumps(record))
    result = cli("datastore", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert "not made by azwrap" in result.stderr and "az ml datastore detach --name MLData" in result.stderr
    assert fake.calls() == [ACCOUNT_SHOW, TOKEN_EXPIRY, resources_show(DATASTORE_ID)]


def test_a_principal_deleted_behind_azwraps_back_is_made_again(fake, cli, workdir):
    seed_state(workdir, done=["storage"])
    fake.book(["sp"])  # sp once: records the principal
    assert cli("sp", "--account", ACCOUNT).exit_code == 0
    fake.fp.calls.clear()
    new = {**SP, "appId": "0a0a0a0a-1111-2222-3333-444455556666", "password": "n3w~secret-value-1234567890abcdef"}
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(SP_SHOW, **NOT_FOUND)
    fake.on(BOOK[9][1], stdout=json.dumps(new))
    fake.on(key_id_read(new["appId"]), stdout="[]")
    fake.on(BOOK[10][1])
    role = ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", new["appId"],
            "--scope", ACC_ID]  # fmt: skip
    fake.on(role)
    # Azure keeps a deleted principal's role assignments (orphaned): the recorded one is deleted by its id.
    orphaned = ["role", "assignment", "delete", "--ids", ROLES[0]["id"], "--subscription", SUB]
    fake.on(orphaned, stdout="")
    result = cli("sp")  # the account is remembered
    assert result.exit_code == 0, result.output
    assert "recorded done, but the service principal (app registration) and its secret and " in result.stderr
    assert f"the service principal {SP['appId']} recorded in" in result.stderr and "creating a new one" in result.stderr
    # its storage role is not probed (its principal is gone), just made again for the new principal;
    # the app is gone already: no `az ad app delete`
    assert fake.calls(pinned=True) == [pin(call) for call in [ACCOUNT_SHOW, TOKEN_EXPIRY, SP_SHOW, BOOK[9][1],
                                                              key_id_read(new["appId"]), BOOK[10][1], role, orphaned]]
    assert state(workdir)["outputs"]["sp"]["appId"] == new["appId"]
    assert "retired_sp" not in state(workdir)


def test_changed_source_is_not_uploaded_without_force_upload(done, fake, cli):
    (done / "input.csv").write_text("customer_id,total_spend\n1,1.0\n")
    fake.doctor()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 2
    assert "input.csv differs from the file uploaded" in result.stderr and "--force upload" in result.stderr
    assert fake.calls() == []  # refused before any az call, the probe included


def test_force_upload_overwrites(done, fake, cli):
    (done / "input.csv").write_text("customer_id,total_spend\n1,1.0\n")
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(FILE_EXISTS, stdout='{"exists": true}')
    fake.on(BOOK[8][1] + ["--overwrite"])
    result = cli("upload", "--account", ACCOUNT, "--force")
    assert result.exit_code == 0, result.output
    assert fake.calls() == [ACCOUNT_SHOW, TOKEN_EXPIRY, FILE_EXISTS, BOOK[8][1] + ["--overwrite"]]
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(FILE_EXISTS, stdout='{"exists": true}')
    assert cli("upload", "--quiet").stderr.strip() == "upload: done earlier, skipped"


# Per BOOK index: the refresh of its step command when that resource (and what holds it) is there,
# each probe with az's answer (a dict with a returncode: az failed), and the BOOK indexes found.
EXPIRY = TOKEN_EXPIRES
FOUND = {
    2: ([(GROUP_LIST, [group("aml-rg")]), (resources_show(AML_ID), NOT_FOUND)], {2}),
    3: ([(GROUP_LIST, [group("aml-rg")]), (resources_show(AML_ID), ARM["workspace"])], {2, 3}),
    4: ([(resources_show(COMPUTE_ID), ARM["compute"])], {4}),
    # the account not there: its filesystem is not asked about
    5: ([(GROUP_LIST, [group("adls-rg")]), (resources_show(ACC_ID), NOT_FOUND)], {5}),
    6: ([(GROUP_LIST, [group("adls-rg")]), (resources_show(ACC_ID), ARM["account"]), (FS_EXISTS, {"exists": False})],
        {5, 6}),
    7: ([(GROUP_LIST, [group("adls-rg")]), (resources_show(ACC_ID), ARM["account"]), (FS_EXISTS, {"exists": True})],
        {5, 6, 7}),
}  # fmt: skip


@pytest.mark.parametrize("index", [2, 3, 4, 5, 6, 7],
                         ids=["aml-group", "workspace", "compute", "adls-group", "account", "filesystem"])
def test_existing_resource_found_by_probe_is_not_created_again(index, fake, cli, workdir):
    step, args = BOOK[index]
    seed_state(workdir, done=BY_NAME[step].needs)
    fake.logged_in()
    probes, found = FOUND[index]
    probes = [(TOKEN_EXPIRY, {"stdout": EXPIRY}), *probes]
    for probe, answer in probes:
        fake.on(probe, **(answer if "returncode" in answer else {"stdout": json.dumps(answer)}))
    made = []
    for other_index, (other_step, other_args) in enumerate(BOOK):
        if other_step == step and other_index not in found:
            fake.on(other_args)
            made.append(other_args)
            for own, answer in OWN.get(other_index, ()):  # azwrap's own call after what it made
                fake.on(own, stdout=json.dumps(answer))
                made.append(own)
    result = cli(step, *(["--account", ACCOUNT] if step == "storage" else []))
    assert result.exit_code == 0, result.output
    assert args not in fake.calls()
    assert normalised(fake.calls()) == [ACCOUNT_SHOW, *(probe for probe, _ in probes), *made]
    assert "exists already, not created again" in result.stderr
    # found, not made: `azwrap destroy` will leave it alone
    key = {2: "aml_group", 3: "workspace", 4: "compute", 5: "adls_group", 6: "account", 7: "filesystem"}[index]
    assert state(workdir)["resources"][key]["created"] is False


WS2_ID = AML_ID.replace("/workspaces/aml", "/workspaces/ws2")
RG2_AML_ID = AML_ID.replace("/resourceGroups/aml-rg/", "/resourceGroups/rg2/")
# A changed setting names another resource, which exists already: it is the user's, whatever azwrap made
# under the old setting. (option, probes with their answers, what the step then creates, the resource's key)
FOUND_UNDER_NEW_SETTINGS = {
    "workspace": (["--workspace", "ws2"],
                  [(TOKEN_EXPIRY, {"stdout": TOKEN_EXPIRES}), (GROUP_LIST, {"stdout": json.dumps([group("aml-rg")])}),
                   (resources_show(AML_ID, WS2_ID), {"stdout": json.dumps([ARM["workspace"], {"id": WS2_ID}])})],
                  [], "workspace", "workspace ws2 in aml-rg"),
    "aml-group": (["--aml-group", "rg2"],
                  [(TOKEN_EXPIRY, {"stdout": TOKEN_EXPIRES}),
                   (GROUP_LIST, {"stdout": json.dumps([group("aml-rg"), group("rg2")])}),
                   (resources_show(AML_ID, RG2_AML_ID), NOT_FOUND),  # one of them missing: each asked alone
                   (resources_show(AML_ID), {"stdout": json.dumps(ARM["workspace"])}),
                   (resources_show(RG2_AML_ID), NOT_FOUND)],
                  [["ml", "workspace", "create", "--workspace-name", "aml", "--location", "Central US",
                    "--resource-group", "rg2"], resources_show(RG2_AML_ID)], "aml_group", "resource group rg2"),
}  # fmt: skip


@pytest.mark.parametrize("case", FOUND_UNDER_NEW_SETTINGS)
def test_a_resource_found_under_changed_settings_is_the_users_though_azwrap_made_the_old_one(case, done, fake, cli):
    from azwrap.book.settings import Settings
    from azwrap.core import destroy

    option, probes, creates, key, label = FOUND_UNDER_NEW_SETTINGS[case]
    assert state(done)["resources"][key]["created"] is True  # azwrap made the one of the old settings
    fake.logged_in()
    for args, answer in probes:
        fake.on(args, **answer)
    for args in creates:
        fake.on(args, stdout=json.dumps({"id": RG2_AML_ID, "properties": {"workspaceId": "w2"}}))
    result = cli("workspace", *option)
    assert result.exit_code == 0, result.output
    assert state(done)["resources"][key]["created"] is False
    settings = Settings(account=ACCOUNT, **{option[0][2:].replace("-", "_"): option[1]})
    kept = dict(destroy.plan(state(done), settings, SUB).kept)
    assert kept[label] == "yours: it existed before azwrap used it"


def test_a_datastore_removed_while_the_workspace_keeps_others_is_attached_again(done, fake, cli):
    # The datastore is looked up by its own ARM id, not in the workspace's list: other datastores (the
    # workspace's own, another of the user's) cannot pass for it.
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, stdout=TOKEN_EXPIRES)
    fake.on(resources_show(DATASTORE_ID), **NOT_FOUND)
    fake.on(BOOK[12][1])
    result = cli("datastore")
    assert result.exit_code == 0, result.output
    assert "datastore MLData in workspace aml is not there any more" in result.stderr
    assert normalised(fake.calls())[-1] == BOOK[12][1]


def other_threads_frames() -> list:
    """The frames of every thread but this one (fp runs the fake az's callback in a thread of its own;
    azwrap waits for az in the thread that runs the step, which the scheduler starts)."""
    frames = []
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
    return frames


def waiting_in(function):
    """A frame running `function` now, or None (an observable event, not a guess of time)."""
    return next((frame for frame in other_threads_frames() if frame.f_code is function.__code__), None)


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


# Ctrl-C during each of the book's invocations (but `az login`, which `all` skips when signed in), and the
# other stop signals once: the end-to-end tests interrupt real processes at a few of them.
INTERRUPTS = [pytest.param(index, signal.SIGINT, id=f"SIGINT-{index}-{' '.join(BOOK[index][1][:3])}")
              for index in range(1, len(BOOK))] + [
    pytest.param(6, signal.SIGTERM, id="SIGTERM-6-storage account create"),
    pytest.param(9, signal.SIGHUP, id="SIGHUP-9-ad sp create-for-rbac"),
    pytest.param(12, signal.SIGQUIT, id="SIGQUIT-12-ml datastore attach-adls-gen2"),
]  # fmt: skip
BOOK_STEPS = ["extension", "workspace", "compute", "storage", "upload", "sp", "datastore", "grant"]


@pytest.mark.parametrize(("index", "signum"), INTERRUPTS)
def test_a_signal_during_each_invocation_stops_it_exits_130_and_records_nothing_of_its_step(
        index, signum, fake, cli, workdir, default_sigint, monkeypatch):  # fmt: skip
    from azwrap.az.runner import Runner

    stopping, real_stop_all = threading.Event(), Runner.stop_all

    def stop_all(self, urgent=False):
        stopping.set()
        return real_stop_all(self, urgent)

    monkeypatch.setattr(Runner, "stop_all", stop_all)

    def signal_azwrap_while_running(process):
        # The fake az runs in a thread of fp's: signal once azwrap waits for it, and run on until
        # azwrap asks the runner to stop every call (fp's fake cannot be stopped: it ends when this does).
        assert wait_until(lambda: waiting_in(az_process.wait)), "azwrap never waited for az"
        os.kill(os.getpid(), signum)
        assert stopping.wait(10), "azwrap did not stop its az calls"

    step = BOOK[index][0]
    fake.doctor()
    fake.book(fail_at=index, fail={"callback": signal_azwrap_while_running, "stdout": "", "stderr": ""})
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 130, result.output
    assert f"Interrupted during step {step}; run the same command again to resume." in result.stderr
    recorded = state(workdir)["steps"] if (workdir / ".azwrap" / "state.json").exists() else {}
    assert step not in recorded
    assert set(BOOK_STEPS[: BOOK_STEPS.index(step)]) <= set(recorded)  # --jobs 1: the book's order
    # Nothing ran after the interrupted call. (That the call itself is stopped is checked on real
    # processes in test_signals.py and tests/e2e.)
    assert normalised(fake.calls())[-1] == BOOK[index][1]
    log = [json.loads(line) for line in (workdir / ".azwrap" / "log.jsonl").read_text().splitlines()]
    assert (log[-1]["step"], log[-1]["interrupted"]) == (step, True) and not any(r["interrupted"] for r in log[:-1])
    if index > 9:  # the principal is recorded the moment create-for-rbac returns, before the step ends
        assert state(workdir)["outputs"]["sp"]["appId"] == SP["appId"]


def test_an_interrupt_in_the_fan_out_names_every_step_it_stopped(fake, cli, workdir, default_sigint, monkeypatch):
    from azwrap.az.runner import Runner

    stopping, real_stop_all = threading.Event(), Runner.stop_all

    def stop_all(self, urgent=False):
        stopping.set()
        return real_stop_all(self, urgent)

    monkeypatch.setattr(Runner, "stop_all", stop_all)
    both_running = threading.Barrier(2, timeout=10)

    def run_until_stopped(process):
        if both_running.wait() == 0:  # the two group creates run at once: interrupt once
            os.kill(os.getpid(), signal.SIGINT)
        assert stopping.wait(10), "azwrap did not stop its az calls"

    fake.doctor()
    for args in FRESH_ALL:  # the refresh: nothing there yet
        fake.on(args, **absent(args))
    fake.on(BOOK[1][1])
    for index in (2, 5):  # workspace's and storage's first calls, which may run at once
        fake.on(BOOK[index][1], callback=run_until_stopped)
    result = cli("all", "--account", ACCOUNT, "--jobs", "2")
    assert result.exit_code == 130, result.output
    assert "Interrupted during step workspace, storage; run the same command again to resume." in result.stderr


def test_status_shows_progress_but_never_the_secret(done, cli):
    text = cli("status")
    assert text.exit_code == 0
    assert re.search(r"\n  sp +done ", text.stdout) and re.search(rf"\n  \$sp\.appId +{SP['appId']}\n", text.stdout)
    report = json.loads(succeeded(cli("status", "--format", "json")).stdout)
    assert [s["status"] for s in report["steps"]] == ["done"] * 8
    assert report["outputs"]["$sp.appId"] == SP["appId"]
    assert SECRET not in text.stdout + text.stderr + json.dumps(report)


def test_status_of_a_fresh_directory_lists_every_step_pending(cli, workdir):
    report = json.loads(succeeded(cli("status", "--format", "json")).stdout)
    assert {s["status"] for s in report["steps"]} == {"pending"}


def test_datastore_refuses_a_principal_recorded_for_another_account(done, fake, cli):
    result = cli("datastore", "--account", "otherlake", "--force")
    assert result.exit_code == 2
    assert "which ran with account 'mydatalake', not 'otherlake'" in result.stderr
    assert fake.calls() == []


def test_state_readable_by_others_is_made_private_with_a_warning(done, fake, cli):
    path = done / ".azwrap" / "state.json"
    path.chmod(0o644)
    result = cli("status")
    assert result.exit_code == 0
    assert "was readable by others" in result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_state_written_elsewhere_than_in_azwraps_own_directory_gets_no_gitignore(fake, cli, workdir):
    fake.on(VERSION_CALL, **absent(VERSION_CALL))  # no extension installed
    fake.on(["extension", "add", "-n", "azure-cli-ml"])
    assert cli("extension", "--state-file", "s.json").exit_code == 0
    assert not (workdir / ".gitignore").exists()
    assert stat.S_IMODE((workdir / "s.json").stat().st_mode) == 0o600


def test_another_source_for_the_same_destination_is_refused_unless_the_same_content(done, fake, cli):
    (done / "other.csv").write_text("customer_id,total_spend\n9,9.9\n")
    result = cli("upload", "--account", ACCOUNT, "--source", "other.csv")
    assert result.exit_code == 2
    assert "other.csv differs from the file uploaded" in result.stderr
    assert "--force (azwrap upload)" in result.stderr
    (done / "copy.csv").write_bytes((done / "input.csv").read_bytes())
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, stdout=EXPIRY)
    fake.on(FILE_EXISTS, stdout='{"exists": true}')
    same = cli("upload", "--account", ACCOUNT, "--source", "copy.csv")
    assert same.exit_code == 0 and "upload: done earlier, skipped" in same.stderr
    assert fake.calls() == [ACCOUNT_SHOW, TOKEN_EXPIRY, FILE_EXISTS]  # the uploaded file is still there


def test_force_still_probes_so_a_forced_step_does_not_create_twice(done, fake, cli):
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, stdout=EXPIRY)
    fake.on(GROUP_LIST, stdout=json.dumps([group("aml-rg"), group("adls-rg")]))
    fake.on(resources_show(ACC_ID), stdout=json.dumps(ARM["account"]))
    fake.on(FS_EXISTS, stdout='{"exists": true}')
    result = cli("storage", "--account", ACCOUNT, "--force")
    assert result.exit_code == 0, result.output
    assert fake.calls() == [ACCOUNT_SHOW, TOKEN_EXPIRY, GROUP_LIST, resources_show(ACC_ID), FS_EXISTS]  # nothing made
    assert "filesystem fs1 exists already" in result.stderr


def test_all_with_force_upload_overwrites_a_changed_source(done, fake, cli):
    (done / "input.csv").write_text("customer_id,total_spend\n1,1.0\n")
    fake.logged_in()
    fake.present()
    fake.on(BOOK[8][1] + ["--overwrite"])
    result = cli("all", "--force", "upload")
    assert result.exit_code == 0, result.output
    assert "upload: running again: forced with --force" in result.stderr
    assert "note upload" in result.stderr  # doctor knows the overwrite is asked for
    assert fake.calls() == [ACCOUNT_SHOW, *(args for args, _ in refresh_probes()), BOOK[8][1] + ["--overwrite"]]
