"""`azwrap all` runs the book's invocations in order and passes JSON fields between them."""

import json
import os
import stat

import pytest

from azwrap.book import quoting

from .conftest import SUB, ACC_ID, ACCOUNT, AML_ID, BOOK, SECRET, SP, doctor_calls, expected, normalised, seed_state



def test_all_runs_the_book_in_order_when_signed_in(fake, cli, workdir):
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert normalised(fake.calls()) == [*doctor_calls(), *expected()]
    assert "login: already signed in" in result.stderr


def test_all_logs_in_when_account_show_fails(fake, cli, workdir):
    fake.doctor(logged_in=False)
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert normalised(fake.calls()) == [*doctor_calls(logged_in=False), *expected()]
    assert fake.calls().count(["login"]) == 1


def test_values_flow_from_captured_json_into_later_argv(fake, cli, workdir):
    fake.doctor()
    fake.book()
    assert cli("all", "--account", ACCOUNT).exit_code == 0
    calls = fake.calls()
    storage_role, contributor = [call for call in calls if call[:3] == ["role", "assignment", "create"]]
    [datastore] = [call for call in calls if call[:3] == ["ml", "datastore", "attach-adls-gen2"]]
    assert storage_role[storage_role.index("--assignee") + 1] == SP["appId"]
    assert storage_role[storage_role.index("--scope") + 1] == ACC_ID
    assert datastore[datastore.index("--client-id") + 1] == SP["appId"]
    assert datastore[datastore.index("--tenant-id") + 1] == SP["tenant"]
    assert contributor[contributor.index("--scope") + 1] == AML_ID


def test_secret_goes_to_az_through_a_pipe_never_on_argv(fake, cli, workdir):
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    # Read inside the fp callback, while the call ran: the pipe held exactly the secret.
    assert fake.secret_file_contents == [SECRET]
    assert fake.secret_file_kinds == ["pipe"]
    for call in fake.calls():
        assert not any(SECRET in arg for arg in call)
    [datastore] = [call for call in fake.calls() if "--client-secret" in call]
    secret_arg = datastore[datastore.index("--client-secret") + 1]
    assert secret_arg.startswith("@/dev/fd/")
    # ... and the file is gone once the call returned.
    assert not os.path.exists(secret_arg[1:])


def test_secret_is_never_printed_by_all(fake, cli, workdir):
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert "azwrap env" in result.stderr


def test_state_records_the_principal_privately(fake, cli, workdir):
    fake.doctor()
    fake.book()
    assert cli("all", "--account", ACCOUNT).exit_code == 0
    state_path = workdir / ".azwrap" / "state.json"
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_path.parent.stat().st_mode) == 0o700
    assert (workdir / ".azwrap" / ".gitignore").read_text() == "*\n"
    state = json.loads(state_path.read_text())
    assert state["outputs"]["sp"] == {"appId": SP["appId"], "password": SECRET, "tenant": SP["tenant"]}
    assert set(state["steps"]) == {step for step, _ in BOOK} - {"login"}


def test_each_command_is_echoed_to_stderr_unless_quiet(fake, cli, workdir):
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert "$ az group create --location 'Central US' --name aml-rg" in result.stderr
    assert "$ az ad sp create-for-rbac" in result.stderr



def test_quiet_silences_the_echo_but_not_azs_stderr(fake, cli, workdir):
    seed_state(workdir, done=["storage"])
    fake.book(["sp"])
    quiet = cli("sp", "--account", ACCOUNT, "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert "$ az" not in quiet.stderr
    assert "WARNING: The output includes credentials" in quiet.stderr


def test_child_environment_forces_json_and_no_prompts(fp, az_path, cli, workdir, monkeypatch):
    monkeypatch.setenv("AZURE_CORE_OUTPUT", "table")  # a user whose default output is a table
    monkeypatch.setenv("AZURE_CORE_ONLY_SHOW_ERRORS", "true")  # a CI pipeline that turns az's warnings off
    seen = {}

    def record(process):
        seen.update(process.kwargs["env"])
        process.returncode = 0

    fp.register([az_path, "version"], stdout=json.dumps({"azure-cli": "2.91.0", "extensions": {}}))
    fp.register([az_path, "extension", "add", "-n", "azure-cli-ml"], callback=record)
    assert cli("extension").exit_code == 0
    assert seen["AZURE_CORE_OUTPUT"] == "json"
    assert seen["AZURE_CORE_NO_COLOR"] == "1"
    assert seen["AZURE_EXTENSION_USE_DYNAMIC_INSTALL"] == "no"
    assert seen["AZURE_CORE_ONLY_SHOW_ERRORS"] == "false"  # azwrap reads some warnings (create-for-rbac's)
    assert seen["PATH"]  # the user's environment is passed on, not replaced


@pytest.mark.parametrize("platform,hint", [
    ("bash", "eval \"$(azwrap env --state-file 'deep/my dir/my.json')\""),
    ("powershell", "Invoke-Expression (azwrap env --state-file 'deep/my dir/my.json')"),
])  # fmt: skip
def test_the_closing_hint_runs_env_in_the_platforms_shell_with_the_same_state_file(platform, hint, fake, cli, workdir,
                                                                                     monkeypatch):
    monkeypatch.setattr(quoting, "platform_shell", lambda os_name=None: platform)
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--state-file", "deep/my dir/my.json")
    assert result.exit_code == 0, result.output
    assert f"To set SP_PASSWORD as the book does: {hint}" in result.stderr.splitlines()


def test_the_closing_hint_names_no_state_file_when_it_is_the_default(fake, cli, workdir, monkeypatch):
    monkeypatch.setattr(quoting, "platform_shell", lambda os_name=None: "bash")
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert 'To set SP_PASSWORD as the book does: eval "$(azwrap env)"' in result.stderr.splitlines()


def test_all_with_v1_starts_with_a_one_line_warning(fake, cli, workdir):
    fake.doctor()
    fake.book()
    first = cli("all", "--account", ACCOUNT).stderr.splitlines()[0]
    assert first == ("WARNING: --ml-cli v1 (the book's azure-cli-ml extension) is retired: its support ended on "
                     "30 September 2025; for a new setup, use --ml-cli v2 (the current ml extension)")


# README "Settings": --subscription goes on every command that accepts it: the ARM commands, and `az account
# show`, which takes it as its own option; not `az ad ...`, `az login`, `az version`, `az extension ...`.
ARM_COMMANDS = ("group", "storage", "role", "ml", "resource", "rest", "tag")
OTHER = "11111111-2222-3333-4444-555555555555"


def test_subscription_reaches_every_arm_command_and_no_other(fake, cli, workdir, monkeypatch):
    register = fake.on

    def with_subscription(args, **answer):
        takes_it = args[0] in ARM_COMMANDS or args[:2] == ["account", "show"]
        return register([*args, "--subscription", OTHER] if takes_it else args, **answer)

    monkeypatch.setattr(fake, "on", with_subscription)
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--subscription", OTHER)
    assert result.exit_code == 0, result.output
    calls = fake.calls()
    assert {call[0] for call in calls} >= {"group", "storage", "role", "ml", "ad", "extension", "version"}
    for call in calls:
        takes_it = call[0] in ARM_COMMANDS or call[:2] == ["account", "show"]
        assert (call[-2:] == ["--subscription", OTHER]) == takes_it, call
        assert call.count("--subscription") == int(takes_it), call


def test_without_subscription_every_arm_call_names_the_one_checked_first(fake, cli, workdir):
    """Another terminal's `az account set` during a run must not move a create, a detach or a delete: once
    the subscription is checked, each ARM call names it; Graph, sign-in and extension calls cannot."""
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    calls = fake.calls(pinned=True)
    assert calls[0] == ["account", "show"]
    assert {call[0] for call in calls} >= {"group", "storage", "role", "ml", "resource", "tag", "ad", "extension"}
    for call in calls[1:]:
        takes_it = call[0] in ARM_COMMANDS
        assert (call[-2:] == ["--subscription", SUB]) == takes_it, call
        assert call.count("--subscription") == int(takes_it), call
