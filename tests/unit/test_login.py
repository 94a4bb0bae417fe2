"""Signing in: `az login` options (device code, tenant), and what `all` says about it."""

import json
import re

from . import powershell
from .conftest import SUB, ACCOUNT, ACCOUNT_SHOW, TOKEN_EXPIRY, doctor_calls, expected, normalised

TENANT = "contoso.onmicrosoft.com"
DEVICE_LOGIN = ["login", "--use-device-code", "--tenant", TENANT]


def test_login_passes_device_code_and_tenant_to_az_login(fake, cli, workdir):
    fake.on(DEVICE_LOGIN)
    result = cli("login", "--use-device-code", "--tenant", TENANT)
    assert result.exit_code == 0, result.output
    assert fake.calls() == [DEVICE_LOGIN]


def test_login_options_come_from_the_environment_too(fake, cli, workdir, monkeypatch):
    monkeypatch.setenv("AZWRAP_TENANT", TENANT)
    monkeypatch.setenv("AZWRAP_USE_DEVICE_CODE", "1")
    fake.on(DEVICE_LOGIN)
    assert cli("login").exit_code == 0
    assert fake.calls() == [DEVICE_LOGIN]


def test_all_passes_the_login_options_and_tells_one_story(fake, cli, workdir):
    tenant = ACCOUNT_SHOW["tenantId"].upper()  # compared without case
    login = ["login", "--use-device-code", "--tenant", tenant]
    fake.logged_in(False)
    fake.on(login)
    fake.doctor()  # signed in now: account show answers
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--use-device-code", "--tenant", tenant)
    assert result.exit_code == 0, result.output
    assert fake.calls()[:4] == [["account", "show"], login, ["account", "show"], TOKEN_EXPIRY]
    lines = [line for line in result.stderr.splitlines() if not re.fullmatch(r"\[login\] done in \d+\.\ds", line)]
    assert lines.pop(0).startswith("WARNING: --ml-cli v1")  # the book's retired default, said first
    # Signed in, then asked again whom az is signed in as; then the refresh, then doctor's checks.
    assert lines[:6] == ["[login] $ az account show", "login: not signed in (az account show failed); signing in",
                         f"[login] $ az {' '.join(login)}", "[login] $ az account show",
                         "[refresh] $ az account get-access-token --query '[expires_on, expiresOn]'", "[refresh] $ az version"]  # fmt: skip
    assert lines[lines.index("[refresh] $ az group list --subscription " + SUB) + 1] == "doctor: read-only checks before any change"
    assert "already signed in" not in result.stderr  # it signed in a moment ago


def test_all_signs_in_again_when_signed_in_to_another_tenant(fake, cli, workdir):
    fake.logged_in(True)  # signed in to ACCOUNT_SHOW's tenant, not TENANT
    fake.on(["login", "--tenant", TENANT])
    fake.on(["account", "show"], stdout=json.dumps(ACCOUNT_SHOW | {"tenantDefaultDomain": TENANT}))
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--tenant", TENANT)
    assert result.exit_code == 0, result.output
    assert fake.calls()[:4] == [["account", "show"], ["login", "--tenant", TENANT], ["account", "show"], TOKEN_EXPIRY]
    assert f"signed in to tenant {ACCOUNT_SHOW['tenantId']}, not {TENANT}; signing in" in result.stderr


def test_all_signed_in_to_the_tenant_asked_for_skips_login(fake, cli, workdir):
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--tenant", ACCOUNT_SHOW["tenantId"])
    assert result.exit_code == 0, result.output
    assert [call for call in fake.calls() if call[0] == "login"] == []
    assert normalised(fake.calls()) == [*doctor_calls(), *expected()]
    assert "login: already signed in" in result.stderr


def test_a_bad_tenant_is_refused_before_any_call(fp, az_path, cli, workdir):
    result = cli("login", "--tenant", "not a tenant")
    assert result.exit_code == 2
    assert "tenant id (GUID) or domain" in result.stderr
    assert len(fp.calls) == 0


def test_plan_shows_the_login_options(cli):
    script = cli("plan", "--shell", "powershell", "--account", ACCOUNT, "--tenant", TENANT, "--use-device-code").stdout
    assert powershell.az_commands(script)[0] == (None, ["az", "login", "--use-device-code", "--tenant", TENANT])


def test_a_tenant_by_custom_domain_is_trusted_once_signed_in_to_it(fake, cli, workdir):
    fake.logged_in(False)
    fake.on(["login", "--tenant", "contoso.com"])
    fake.doctor()  # account show names the tenant by id only: contoso.com cannot be compared
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--tenant", "contoso.com")
    assert result.exit_code == 0, result.output
    assert [call for call in fake.calls() if call[0] == "login"] == [["login", "--tenant", "contoso.com"]]
