"""`azwrap doctor`: one line per check, a fix for each failure; exit 0 only when all pass."""

import json
import stat

import pytest

from .conftest import (ACCOUNT, ACCOUNT_SHOW, GROUP_LIST, LIST_AVAILABLE, LIST_LOCATIONS, LOCATIONS, MY_ROLES, NOT_FOUND,
                       NOT_LOGGED_IN, OFFERED, SUB, TOKEN_EXPIRES, TOKEN_EXPIRY, VERSION, role_assignment)  # fmt: skip

CHECK_NAME = ["storage", "account", "check-name", "--name", ACCOUNT]
IN_MY_GROUP = ["storage", "account", "show", "--resource-group", "adls-rg", "--name", ACCOUNT]


# Every call doctor (and the refresh before `all`'s doctor) may make, argv in full: read-only probes, nothing else.
READ_ONLY = [["version"], ["account", "show"], TOKEN_EXPIRY, GROUP_LIST, LIST_AVAILABLE, LIST_LOCATIONS, CHECK_NAME,
             IN_MY_GROUP, MY_ROLES]  # fmt: skip
EXPIRED = {"returncode": 1, "stdout": "", "stderr": "ERROR: AADSTS700082: The refresh token has expired due to "
           "inactivity.\nInteractive authentication is needed. Please run:\naz login --scope "
           "https://management.core.windows.net//.default\n"}  # fmt: skip


def register(fake, *, version=None, login=True, token=None, extensions=(), offered=None, locations=None, name=None,
             mine=None, roles=None):  # fmt: skip
    # `az version` names the installed extensions too.
    fake.on(["version"], **(version or {"stdout": json.dumps({**VERSION, "extensions": {n: "1.0" for n in extensions}})}))
    if login:
        fake.on(["account", "show"], stdout=json.dumps(ACCOUNT_SHOW))
        fake.on(TOKEN_EXPIRY, **(token or {"stdout": TOKEN_EXPIRES}))
    else:
        fake.on(["account", "show"], returncode=1, stdout="", stderr=NOT_LOGGED_IN + "\n")
    fake.on(LIST_AVAILABLE, **(offered or {"stdout": json.dumps(OFFERED)}))
    if login:
        fake.on(LIST_LOCATIONS, stdout=json.dumps(LOCATIONS if locations is None else locations))
        fake.on(CHECK_NAME, stdout=json.dumps(name or {"nameAvailable": True, "reason": None, "message": None}))
        fake.on(MY_ROLES, **(roles or {"stdout": json.dumps([role_assignment("Owner")])}))
    if mine is not None:
        fake.on(IN_MY_GROUP, **mine)


def read_only(fake) -> bool:
    return all(call in READ_ONLY for call in fake.calls())


def checks(result):
    return {c["check"]: c for c in json.loads(result.stdout)}


def test_all_checks_pass(fake, cli, workdir):
    register(fake, extensions=["ml"])
    result = cli("doctor", "--account", ACCOUNT, "--ml-cli", "v2", "--format", "json")
    assert result.exit_code == 0, result.output
    found = checks(result)
    assert {c["status"] for c in found.values()} == {"ok"}
    assert set(found) == {"az", "login", "token", "extension", "location", "account", "rights", "source", "upload",
                          "state", "writable", "store"}  # fmt: skip
    assert read_only(fake)
    assert "azure-cli 2.91.0" in found["az"]["detail"]
    assert "Pay-As-You-Go" in found["login"]["detail"]


def test_v1_passes_with_a_retirement_note(fake, cli, workdir):
    register(fake)
    result = cli("doctor", "--account", ACCOUNT)
    assert result.exit_code == 0
    assert "note ml-cli" in result.stdout and "--ml-cli v2" in result.stdout


@pytest.mark.parametrize("case", ["az-version", "login", "extension", "invalid", "taken", "source", "state"])
def test_each_failing_check_exits_1_with_its_fix(case, fake, cli, workdir):
    options = {}
    if case == "az-version":
        options["version"] = {"returncode": 1, "stdout": "", "stderr": "ERROR: broken install\n"}
    if case == "login":
        options["login"] = False
    if case == "extension":
        options["extensions"] = ["azure-cli-ml"]
    if case == "invalid":
        options["name"] = {"nameAvailable": False, "reason": "AccountNameInvalid",
                           "message": "mydatalake is not a valid storage account name."}  # fmt: skip
    if case == "taken":
        options["name"] = {"nameAvailable": False, "reason": "AlreadyExists", "message": "taken"}
        options["mine"] = NOT_FOUND
    if case == "source":
        (workdir / "input.csv").unlink()
    if case == "state":
        (workdir / ".azwrap").mkdir()
        (workdir / ".azwrap" / "state.json").write_text("{}")
        (workdir / ".azwrap" / "state.json").chmod(0o644)
    register(fake, **options)
    result = cli("doctor", "--account", ACCOUNT, "--ml-cli", "v2", "--format", "json")
    assert result.exit_code == 1
    failed = {name: c for name, c in checks(result).items() if c["status"] == "FAIL"}
    expected_check = {"az-version": "az", "invalid": "account", "taken": "account"}.get(case, case)
    assert list(failed) == [expected_check]
    assert failed[expected_check]["fix"]
    assert read_only(fake)


def test_an_account_taken_in_the_users_own_group_is_fine(fake, cli, workdir):
    register(fake, name={"nameAvailable": False, "reason": "AlreadyExists", "message": "taken"},
             mine={"stdout": json.dumps({"id": "/x", "name": ACCOUNT})})  # fmt: skip
    result = cli("doctor", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert "exists in your resource group adls-rg" in result.stdout


def test_no_az_is_a_failed_check(fp, cli, workdir, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = cli("doctor", "--account", ACCOUNT)
    assert result.exit_code == 1
    assert result.stdout.startswith("FAIL az")
    assert "Install the Azure CLI" in result.stdout
    assert len(fp.calls) == 0


def test_doctor_changes_nothing(fake, cli, workdir):
    (workdir / ".azwrap").mkdir()
    path = workdir / ".azwrap" / "state.json"
    path.write_text(json.dumps({"version": 1, "steps": {}, "outputs": {}}))
    path.chmod(0o644)
    register(fake)
    result = cli("doctor", "--account", ACCOUNT)
    assert "readable by others" in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # reported, not fixed: doctor is read-only
    assert read_only(fake)


def _uploaded_state(workdir, sha256="0" * 64):
    (workdir / ".azwrap").mkdir(mode=0o700)
    path = workdir / ".azwrap" / "state.json"
    settings = {"filesystem": "fs1", "upload_path": "models/highspenders/input.csv", "source": "input.csv", "account": ACCOUNT}
    path.write_text(json.dumps({"version": 1, "outputs": {},
                                "steps": {"upload": {"done_at": "2026-11-30T10:00:00+00:00", "settings": settings, "sha256": sha256}}}))  # fmt: skip
    path.chmod(0o600)
    (workdir / ".azwrap" / ".gitignore").write_text("*\n")


NEW_CHECKS = {
    "token": ({"token": EXPIRED}, "run `azwrap login`"),
    "location": ({"locations": [loc for loc in LOCATIONS if loc["name"] != "centralus"]}, "--location"),
    "rights": ({"roles": {"stdout": json.dumps([role_assignment("Contributor")])}}, "User Access Administrator"),
    "extension": ({"offered": {"stdout": json.dumps([o for o in OFFERED if o["name"] != "azure-cli-ml"])}}, "--ml-cli v2"),
    "upload": ({}, "--force upload"),
}


@pytest.mark.parametrize("case", NEW_CHECKS)
def test_each_new_check_fails_alone_with_its_fix_and_only_probes(case, fake, cli, workdir):
    options, fix = NEW_CHECKS[case]
    if case == "upload":
        _uploaded_state(workdir)  # the recorded sha256 is not input.csv's
    register(fake, **options)
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert result.exit_code == 1, result.output
    failed = {name: c for name, c in checks(result).items() if c["status"] == "FAIL"}
    assert list(failed) == [case]
    assert fix in failed[case]["fix"]
    assert read_only(fake)


@pytest.mark.parametrize("case", [case for case in NEW_CHECKS if case != "upload"])  # upload: the next tests
def test_all_stops_before_any_change_when_a_new_check_fails(case, fake, cli, workdir):
    options, _ = NEW_CHECKS[case]
    register(fake, **options)
    fake.on(GROUP_LIST, stdout="[]")  # the refresh: nothing there yet
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    # An expired sign-in stops the refresh, before doctor; doctor's other failed checks stop `all` after it.
    assert ("the sign-in no longer works" if case == "token" else "doctor: 1 check(s) failed") in result.stderr
    assert ("run `azwrap login`" if case == "token" else "nothing was changed") in result.stderr
    assert read_only(fake)  # every call a probe: no az login, no create


def test_a_changed_source_without_force_stops_all_before_doctor(fake, cli, workdir):
    _uploaded_state(workdir)
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 2
    assert "--force upload" in result.stderr
    assert fake.calls() == []


def test_a_changed_source_under_force_upload_is_a_note(workdir):
    from azwrap.core import doctor
    from azwrap.core.session import Session
    from azwrap.az.redact import Redactor
    from azwrap.az.runner import Runner
    from azwrap.book.settings import Settings

    _uploaded_state(workdir)
    runner = Runner("az", Redactor(), shell="bash")
    session = Session(Settings(account=ACCOUNT), runner, workdir / ".azwrap" / "state.json")
    forced = doctor._upload(session, frozenset({"upload"}))
    assert (forced.status, "--force upload overwrites it" in forced.detail) == ("note", True)
    plain = doctor._upload(session, frozenset())
    assert plain.status == "FAIL"
    other_place = doctor._upload(Session(Settings(account=ACCOUNT, upload_path="elsewhere.csv"), runner,
                                         workdir / ".azwrap" / "state.json"), frozenset())  # fmt: skip
    assert other_place.status == "ok"  # a new destination: nothing to overwrite


def test_the_region_matches_by_name_or_display_name(fake, cli, workdir):
    register(fake)
    result = cli("doctor", "--account", ACCOUNT, "--location", "westeurope")
    assert result.exit_code == 0, result.output
    assert "ok   location  westeurope is a region" in result.stdout


def test_an_unknown_region_names_the_value(fake, cli, workdir):
    register(fake)
    result = cli("doctor", "--account", ACCOUNT, "--location", "Mars Base 1")
    assert result.exit_code == 1
    assert "'Mars Base 1' is not a region of this subscription" in result.stdout


@pytest.mark.parametrize("assignments,status", [
    ([role_assignment("Owner")], "ok"),
    ([role_assignment("User Access Administrator", "/providers/Microsoft.Management/managementGroups/mg")], "ok"),
    ([role_assignment("Owner", f"/subscriptions/{SUB}/resourceGroups/aml-rg"),
      role_assignment("Role Based Access Control Administrator", f"/subscriptions/{SUB}/resourceGroups/adls-rg")], "ok"),
    ([role_assignment("Owner", f"/subscriptions/{SUB}/resourceGroups/aml-rg")], "FAIL"),  # not on adls-rg
    ([role_assignment("Owner", f"/subscriptions/{SUB}/resourceGroups/other-rg")], "FAIL"),
    ([], "FAIL"),
    ([role_assignment("Role Based Access Control Administrator", condition="@Request[...] ForAnyOfAnyValues")], "note"),
    ([role_assignment("Contributor"), role_assignment("Our Custom Deployer")], "note"),
])  # fmt: skip
def test_the_rights_check_reads_roles_and_scopes(assignments, status, fake, cli, workdir):
    register(fake, roles={"stdout": json.dumps(assignments)})
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert checks(result)["rights"]["status"] == status, checks(result)["rights"]
    assert result.exit_code == (1 if status == "FAIL" else 0)


@pytest.mark.parametrize("case", ["rights", "extension"])
def test_a_probe_that_cannot_answer_is_a_note_not_a_failure(case, fake, cli, workdir):
    broken = {"returncode": 1, "stdout": "", "stderr": "ERROR: Insufficient privileges to complete the operation.\n"}
    register(fake, **({"roles": broken} if case == "rights" else {"offered": broken}))
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert result.exit_code == 0, result.output
    assert checks(result)[case]["status"] == "note"
    assert "Insufficient privileges" in checks(result)[case]["detail"]


def test_an_installed_v1_extension_needs_no_index(fake, cli, workdir):
    register(fake, extensions=["azure-cli-ml"])
    result = cli("doctor", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert LIST_AVAILABLE not in fake.calls()


def test_the_same_source_as_uploaded_passes(fake, cli, workdir):
    from azwrap.core.session import sha256_of

    _uploaded_state(workdir, sha256_of("input.csv"))
    register(fake)
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert result.exit_code == 0, result.output
    assert checks(result)["upload"]["status"] == "ok"


def test_the_token_is_never_read(fake, cli, workdir):
    register(fake)
    cli("doctor", "--account", ACCOUNT)
    [token_call] = [call for call in fake.calls() if call[:2] == ["account", "get-access-token"]]
    assert token_call == TOKEN_EXPIRY  # --query [expires_on, expiresOn]: az prints the expiry, not the token


@pytest.fixture
def utc(monkeypatch):
    """The machine's local time is UTC (az's expiresOn is local time; azwrap shows expires_on in local time)."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# REFERENCE.md section 8: expires_on (POSIX seconds) is the field to read; expiresOn (local time) is
# deprecated, and older CLIs print expires_on as a numeric string or not at all.
TOKEN_ANSWERS = {
    "az 2.91: both": ('[1796119200, "2026-12-01 10:00:00.000000"]', "valid until 2026-12-01 10:00:00 UTC"),
    "expiresOn removed": ("[1796119200, null]", "valid until 2026-12-01 10:00:00 UTC"),
    "expires_on as a string": ('["1796119200", null]', "valid until 2026-12-01 10:00:00 UTC"),
    "an older az: expiresOn only": ('[null, "2026-12-01 10:00:00.000000"]', "valid until 2026-12-01 10:00:00.000000"),
    "neither": ("[null, null]", "the sign-in works"),
}


@pytest.mark.parametrize("case", TOKEN_ANSWERS)
def test_the_token_check_reads_expires_on_then_expiresOn_and_passes_without_either(case, fake, cli, workdir, utc):
    printed, shown = TOKEN_ANSWERS[case]
    register(fake, token={"stdout": printed})
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert result.exit_code == 0, result.output
    token = checks(result)["token"]
    assert token["status"] == "ok" and shown in token["detail"]
    assert "class" not in token["detail"] and "None" not in token["detail"]
