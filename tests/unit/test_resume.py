"""Safe to repeat, safe to interrupt: skip what is done, rerun what changed, never a second principal."""

import json
import os
import signal
import stat
import sys
import threading
import time

import pytest

from azwrap.az import process as az_process
from azwrap.book.steps import BY_NAME

from .conftest import (ACC_ID, ACC_SHOW, ACCOUNT, AML_ID, BOOK, NAME_AVAILABLE, NOT_FOUND, PROBES, SECRET, SP, TOKEN_EXPIRES,
                       TOKEN_EXPIRY, doctor_calls, normalised, refresh_probes, seed_state, succeeded)

ACCOUNT_SHOW = ["account", "show"]


def sp_ready(fake, workdir):
    """`azwrap sp` in a later session: storage done earlier, signed in."""
    seed_state(workdir, done=["storage"])
    fake.logged_in()

SP_SHOW = ["ad", "sp", "show", "--id", SP["appId"]]


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
    fake.doctor(installed=True)
    fake.present()
    result = cli("all")  # no options: the settings are the recorded ones
    assert result.exit_code == 0, result.output
    # read-only checks, then one probe per resource the setup holds (the extension's is doctor's:
    # asked once), and no change at all
    assert fake.calls() == doctor_calls(installed=True) + [args for args, _ in refresh_probes()][1:]
    for step in ("extension", "workspace", "compute", "storage", "upload", "sp", "datastore", "grant"):
        assert f"{step}: done earlier, skipped" in result.stderr


def test_changed_account_reruns_the_steps_that_use_it_and_says_why(done, fake, cli):
    other = "otherlake"
    fake.doctor(installed=True)
    swap = lambda args: [a.replace(ACCOUNT, other) if isinstance(a, str) else a for a in args]  # noqa: E731
    fake.on(["storage", "account", "check-name", "--name", other], stdout=json.dumps(NAME_AVAILABLE))
    fake.present(["extension", "workspace", "compute", "grant"])
    fake.on(PROBES[5][0], stdout="true")  # adls-rg is there: not created again
    fake.on(swap(PROBES[6][0]), **NOT_FOUND)
    fake.on(swap(BOOK[6][1]))
    fake.on(swap(PROBES[7][0]), stdout='{"exists": false}')
    fake.on(swap(BOOK[7][1]))
    fake.on(swap(BOOK[8][1]))
    fake.on(SP_SHOW, stdout=json.dumps({"appId": SP["appId"]}))
    fake.on(swap(BOOK[10][1]), stdout=json.dumps({"id": "/subscriptions/x/storageAccounts/otherlake"}))
    fake.on(["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", SP["appId"],
             "--scope", "/subscriptions/x/storageAccounts/otherlake"])  # fmt: skip
    # azwrap's datastore points at the old account: v1 cannot replace it, so it is detached first
    fake.on(PROBES[12][0], stdout=json.dumps([{"name": "MLData", "clientId": SP["appId"], "accountName": ACCOUNT,
                                                "filesystem": "fs1"}]))  # fmt: skip
    fake.on(["ml", "datastore", "detach", "--name", "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg"])
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


def test_force_sp_creates_a_new_principal_and_reruns_what_used_the_old_one(done, fake, cli):
    new = {**SP, "appId": "0a0a0a0a-1111-2222-3333-444455556666", "password": "n3w~secret-value-1234567890abcdef"}
    fake.doctor()
    fake.present(["extension", "workspace", "compute", "storage", "upload"])
    fake.on(BOOK[9][1], stdout=json.dumps(new))
    fake.on(BOOK[10][1])
    fake.on(["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", new["appId"],
             "--scope", BOOK[11][1][-1]])  # fmt: skip
    # Once the new principal is recorded and assigned, the old one goes: its role assignments, then its app.
    old_roles = [{"id": ACC_ID + "/providers/Microsoft.Authorization/roleAssignments/1"},
                 {"id": AML_ID + "/providers/Microsoft.Authorization/roleAssignments/2"}]  # fmt: skip
    fake.on(["role", "assignment", "list", "--assignee", SP["appId"], "--all"], stdout=json.dumps(old_roles))
    fake.on(["role", "assignment", "delete", "--ids", *(r["id"] for r in old_roles)], stdout="")
    fake.on(["ad", "app", "delete", "--id", SP["appId"]], stdout="")
    fake.on(PROBES[12][0], stdout=json.dumps([{"name": "MLData", "clientId": SP["appId"]}]))  # the old principal's
    # v1's attach cannot replace a datastore: the one azwrap attached with the old principal is detached first.
    detach = ["ml", "datastore", "detach", "--name", "MLData", "--workspace-name", "aml", "--resource-group", "aml-rg"]
    fake.on(detach)
    fake.on([a if a != SP["appId"] else new["appId"] for a in BOOK[12][1]])
    fake.on(BOOK[13][1])
    fake.on(["role", "assignment", "create", "--role", "Contributor", "--assignee", new["appId"], "--scope", BOOK[14][1][-1]])
    result = cli("all", "--account", ACCOUNT, "--force", "sp")
    assert result.exit_code == 0, result.output
    assert "sp: running again: forced with --force" in result.stderr
    assert "datastore: running again: the service principal it used has changed" in result.stderr
    assert "was made by azwrap for an earlier principal or dialect; removing it first" in result.stderr
    assert "grant: running again: the service principal it used has changed" in result.stderr
    assert state(done)["outputs"]["sp"]["password"] == new["password"]  # the new secret is kept
    assert fake.secret_file_contents[-1] == new["password"]  # ... and attached
    assert new["password"] not in result.output
    assert f"sp: deleted the replaced service principal {SP['appId']}" in result.stderr
    assert "retired_sp" not in state(done)
    calls = fake.calls()
    new_role = ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", new["appId"],
                "--scope", BOOK[11][1][-1]]  # fmt: skip
    assert calls.index(["ad", "app", "delete", "--id", SP["appId"]]) > calls.index(new_role)
    assert calls.index(detach) == calls.index(PROBES[12][0]) + 1
    assert calls.count(["ad", "sp", "create-for-rbac"]) == 1


def test_a_v1_datastore_azwrap_did_not_make_is_refused_with_the_detach_command(done, fake, cli):
    fake.logged_in()
    fake.on(PROBES[12][0], stdout=json.dumps([{"name": "MLData", "clientId": "c0c0c0c0-0000-0000-0000-000000000000"}]))
    record = state(done)
    del record["steps"]["datastore"], record["resources"]["datastore"]
    (done / ".azwrap" / "state.json").write_text(json.dumps(record))
    result = cli("datastore", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert "not made by azwrap" in result.stderr and "az ml datastore detach --name MLData" in result.stderr
    assert fake.calls() == [ACCOUNT_SHOW, PROBES[12][0]]


def test_a_principal_deleted_behind_azwraps_back_is_made_again(fake, cli, workdir):
    seed_state(workdir, done=["storage"])
    fake.book(["sp"])  # sp once: records the principal
    assert cli("sp", "--account", ACCOUNT).exit_code == 0
    fake.fp.calls.clear()
    new = {**SP, "appId": "0a0a0a0a-1111-2222-3333-444455556666", "password": "n3w~secret-value-1234567890abcdef"}
    fake.logged_in()
    fake.present(["storage"])
    fake.on(SP_SHOW, **NOT_FOUND)
    fake.on(BOOK[9][1], stdout=json.dumps(new))
    fake.on(BOOK[10][1])
    role = ["role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", new["appId"],
            "--scope", ACC_ID]  # fmt: skip
    fake.on(role)
    result = cli("sp")  # the account is remembered
    assert result.exit_code == 0, result.output
    assert "recorded done, but the service principal (app registration) and its secret and " in result.stderr
    assert f"the service principal {SP['appId']} recorded in" in result.stderr and "creating a new one" in result.stderr
    # its storage role went with it: not probed, just made again for the new principal
    assert fake.calls() == [ACCOUNT_SHOW, SP_SHOW, BOOK[9][1], BOOK[10][1], role]
    assert state(workdir)["outputs"]["sp"]["appId"] == new["appId"]


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
    fake.on(BOOK[8][1] + ["--overwrite"])
    result = cli("upload", "--account", ACCOUNT, "--force")
    assert result.exit_code == 0, result.output
    assert fake.calls() == [ACCOUNT_SHOW, BOOK[8][1] + ["--overwrite"]]
    fake.logged_in()
    fake.present(["storage", "upload"])
    assert cli("upload", "--quiet").stderr.strip() == "upload: done earlier, skipped"


@pytest.mark.parametrize("index", [2, 3, 4, 5, 6, 7],
                         ids=["aml-group", "workspace", "compute", "adls-group", "account", "filesystem"])
def test_existing_resource_found_by_probe_is_not_created_again(index, fake, cli, workdir):
    step, args = BOOK[index]
    seed_state(workdir, done=BY_NAME[step].needs)
    fake.logged_in()
    probe = PROBES[index][0]
    found = {2: "true", 5: "true", 6: json.dumps(ACC_SHOW), 7: '{"exists": true}'}.get(index, json.dumps({"name": "x", "id": "/x"}))
    fake.on(probe, stdout=found)
    for other_index, (other_step, other_args) in enumerate(BOOK):
        if other_step == step and other_args != args:
            if other_index in PROBES:
                fake.on(PROBES[other_index][0], **PROBES[other_index][1])
            fake.on(other_args)
    result = cli(step, *(["--account", ACCOUNT] if step == "storage" else []))
    assert result.exit_code == 0, result.output
    assert args not in fake.calls()
    assert "exists already, not created again" in result.stderr
    # found, not made: `azwrap destroy` will leave it alone
    key = {2: "aml_group", 3: "workspace", 4: "compute", 5: "adls_group", 6: "account", 7: "filesystem"}[index]
    assert state(workdir)["resources"][key]["created"] is False


WS2_ID = AML_ID.replace("/workspaces/aml", "/workspaces/ws2")
RG2_AML_ID = AML_ID.replace("/resourceGroups/aml-rg/", "/resourceGroups/rg2/")
# A changed setting names another resource, which exists already: it is the user's, whatever azwrap made
# under the old setting. (option, probes with their answers, what the step then creates, the resource's key)
FOUND_UNDER_NEW_SETTINGS = {
    "workspace": (["--workspace", "ws2"], [(["group", "exists", "--name", "aml-rg"], {"stdout": "true"}),
                                           (["resource", "show", "--ids", WS2_ID], {"stdout": json.dumps({"id": WS2_ID})})],
                  [], "workspace", "workspace ws2 in aml-rg"),
    "aml-group": (["--aml-group", "rg2"], [(["group", "exists", "--name", "rg2"], {"stdout": "true"}),
                                           (["resource", "show", "--ids", RG2_AML_ID], NOT_FOUND)],
                  [["ml", "workspace", "create", "--workspace-name", "aml", "--location", "Central US",
                    "--resource-group", "rg2"]], "aml_group", "resource group rg2"),
}  # fmt: skip


@pytest.mark.parametrize("case", FOUND_UNDER_NEW_SETTINGS)
def test_a_resource_found_under_changed_settings_is_the_users_though_azwrap_made_the_old_one(case, done, fake, cli):
    option, probes, creates, key, label = FOUND_UNDER_NEW_SETTINGS[case]
    assert state(done)["resources"][key]["created"] is True  # azwrap made the one of the old settings
    fake.logged_in()
    for args, answer in probes:
        fake.on(args, **answer)
    for args in creates:
        fake.on(args)
    result = cli("workspace", *option)
    assert result.exit_code == 0, result.output
    assert state(done)["resources"][key]["created"] is False
    fake.logged_in()
    what_if = cli("destroy", "--what-if")
    assert f"  - {label}: yours: it existed before azwrap used it" in what_if.stderr


def test_a_datastore_removed_while_the_workspace_keeps_others_is_attached_again(done, fake, cli):
    fake.logged_in()
    fake.present(["extension", "workspace", "storage", "sp"])
    others = [{"name": "workspaceblobstore", "accountName": "amlstorage1234", "filesystem": None},
              {"name": "Other", "clientId": SP["appId"], "accountName": ACCOUNT, "filesystem": "fs1"}]
    fake.on(PROBES[12][0], stdout=json.dumps(others))
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
    fake.on(PROBES[1][0], **PROBES[1][1])
    fake.on(BOOK[1][1])
    fake.on(TOKEN_EXPIRY, stdout=TOKEN_EXPIRES)  # the fan-out's fresh token
    for index in (2, 5):  # workspace's and storage's first calls, which may run at once
        fake.on(PROBES[index][0], **PROBES[index][1])
        fake.on(BOOK[index][1], callback=run_until_stopped)
    result = cli("all", "--account", ACCOUNT, "--jobs", "2")
    assert result.exit_code == 130, result.output
    assert "Interrupted during step workspace, storage; run the same command again to resume." in result.stderr


def test_status_shows_progress_but_never_the_secret(done, cli):
    text = cli("status")
    assert text.exit_code == 0
    assert "sp         done" in text.stdout and f"$sp.appId = {SP['appId']}" in text.stdout
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
    fake.on(["extension", "list"], stdout="[]")
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
    fake.present(["storage", "upload"])
    same = cli("upload", "--account", ACCOUNT, "--source", "copy.csv")
    assert same.exit_code == 0 and "upload: done earlier, skipped" in same.stderr
    assert fake.calls() == [ACCOUNT_SHOW, *(args for args, _ in refresh_probes(["storage", "upload"]))]


def test_force_still_probes_so_a_forced_step_does_not_create_twice(done, fake, cli):
    fake.logged_in()
    fake.present(["storage"])
    result = cli("storage", "--account", ACCOUNT, "--force")
    assert result.exit_code == 0, result.output
    assert not {tuple(BOOK[i][1]) for i in (5, 6, 7)} & {tuple(call) for call in fake.calls()}
    assert "filesystem fs1 exists already" in result.stderr
