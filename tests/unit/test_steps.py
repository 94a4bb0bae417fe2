"""Each step command alone runs its own book invocations; later steps read what `sp` recorded."""

import json

import pytest

from azwrap.steps import STEPS

from .conftest import ACCOUNT, SECRET, SP, expected, normalised

# Step commands and the options they need beyond the defaults.
ARGS = {"storage": ["--account", ACCOUNT], "upload": ["--account", ACCOUNT], "sp": ["--account", ACCOUNT],
        "datastore": ["--account", ACCOUNT]}  # fmt: skip


def record_sp(workdir):
    """The state `azwrap sp` leaves behind, as if run in an earlier session."""
    state_dir = workdir / ".azwrap"
    state_dir.mkdir(mode=0o700)
    path = state_dir / "state.json"
    path.write_text(json.dumps({"version": 1, "steps": {}, "outputs": {"sp": {k: SP[k] for k in ("appId", "password", "tenant")}}}))
    path.chmod(0o600)


@pytest.mark.parametrize("step", [s.name for s in STEPS])
def test_step_alone_runs_its_book_invocations(step, fake, cli, workdir):
    if step in ("datastore", "grant"):
        record_sp(workdir)
    fake.book([step])
    result = cli(step, *ARGS.get(step, []))
    assert result.exit_code == 0, result.output
    assert normalised(fake.calls()) == expected([step])
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("step", ["datastore", "grant"])
def test_step_without_a_recorded_principal_says_run_sp_first(step, fake, cli, workdir):
    result = cli(step, *ARGS.get(step, []))
    assert result.exit_code == 2
    assert "run `azwrap sp` first" in result.stderr
    assert fake.calls() == []


def test_sp_reuses_a_recorded_principal_instead_of_creating_another(fake, cli, workdir):
    record_sp(workdir)
    fake.on(["ad", "sp", "show", "--id", SP["appId"]], stdout=json.dumps({"appId": SP["appId"], "id": "obj"}))
    fake.book(["sp"])
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert ["ad", "sp", "create-for-rbac"] not in fake.calls()
    assert normalised(fake.calls()) == [["ad", "sp", "show", "--id", SP["appId"]], *expected(["sp"])[1:]]
    assert f"reusing the service principal {SP['appId']}" in result.stderr


def test_steps_in_separate_processes_pass_the_principal_through_the_state(fake, cli, workdir):
    fake.book(["sp", "datastore"])
    assert cli("sp", "--account", ACCOUNT).exit_code == 0
    assert cli("datastore", "--account", ACCOUNT).exit_code == 0
    assert fake.secret_file_contents == [SECRET]


def test_state_file_option_and_env_var(fake, cli, workdir, monkeypatch):
    fake.book(["sp"])
    assert cli("sp", "--account", ACCOUNT, "--state-file", "elsewhere/s.json").exit_code == 0
    assert (workdir / "elsewhere" / "s.json").exists()
    assert not (workdir / ".azwrap").exists()
    monkeypatch.setenv("AZWRAP_STATE", "elsewhere/s.json")
    fake.book(["grant"])
    assert cli("grant").exit_code == 0


def test_env_prints_the_line_that_sets_sp_password(cli, workdir):
    record_sp(workdir)
    powershell = cli("env")
    assert powershell.exit_code == 0
    assert powershell.stdout == f"$env:SP_PASSWORD = '{SECRET}'\n"
    bash = cli("env", "--shell", "bash")
    assert bash.stdout == f"export SP_PASSWORD='{SECRET}'\n"


def test_env_without_a_principal_says_run_sp_first(cli, workdir):
    result = cli("env")
    assert result.exit_code == 2
    assert "run `azwrap sp` first" in result.stderr
