"""The simulator's principal: sign-ins per AZURE_CONFIG_DIR, extensions per directory, role assignments that
apply a set number of calls later, and what az 2.91 does to a careless caller (az-facts 10)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .test_reliability import SIM, make_place

TENANT = "00000000-0000-0000-0000-000000007e1a"


@pytest.fixture
def lake(tmp_path):
    """A user signed in (default directory), an account with a file, and a principal with no role yet."""
    place = make_place(tmp_path / "p")
    place.env.update(AZSIM_GRAPH_DELAY="0", AZSIM_RBAC_DELAY="3")

    def az(*args, env=None, cwd=None):
        return subprocess.run([sys.executable, str(SIM), *args], env={**place.env, **(env or {})}, cwd=cwd or place.cwd,
                              capture_output=True, text=True, timeout=30)  # fmt: skip

    for args in (["login"], ["extension", "add", "-n", "ml"], ["group", "create", "-l", "centralus", "-n", "g"],
                 ["storage", "account", "create", "-n", "lake1", "-g", "g", "--hns", "true"],
                 ["storage", "fs", "create", "--account-name", "lake1", "-n", "fs1"],
                 ["storage", "fs", "file", "upload", "-f", "fs1", "-p", "d/input.csv", "-s", "input.csv",
                  "--account-name", "lake1"]):  # fmt: skip
        assert az(*args).returncode == 0
    sp = json.loads(az("ad", "sp", "create-for-rbac").stdout)
    (place.cwd / "secret").write_text(sp["password"])
    return place, az, sp


def sign_in(az, sp, config_dir, *extra):
    return az("login", "--service-principal", "-u", sp["appId"], "--password=@secret", "--tenant", TENANT,
              "--allow-no-subscriptions", *extra, env={"AZURE_CONFIG_DIR": str(config_dir)} if config_dir else {})


def test_a_role_applies_after_the_set_number_of_calls_and_403s_until_then(lake, tmp_path):
    place, az, sp = lake
    account_id = json.loads(az("storage", "account", "show", "-n", "lake1", "-g", "g").stdout)["id"]
    assert az("role", "assignment", "create", "--role", "Storage Blob Data Reader", "--assignee", sp["appId"],
              "--scope", account_id).returncode == 0  # fmt: skip
    config = tmp_path / "cfg"
    assert sign_in(az, sp, config).returncode == 0  # call 1 after the assignment
    as_principal = {"AZURE_CONFIG_DIR": str(config)}
    read = ["storage", "fs", "file", "download", "-f", "fs1", "-p", "d/input.csv", "-d", "./out.csv",
            "--account-name", "lake1", "--auth-mode", "login"]  # fmt: skip
    refused = [az(*read, env=as_principal) for _ in range(2)]  # calls 2 and 3
    assert [r.returncode for r in refused] == [1, 1]
    assert "You do not have the required permissions" in refused[0].stderr
    assert "AuthorizationPermissionMismatch" in refused[1].stderr
    assert az(*read, env=as_principal).returncode == 0  # call 4: applied
    assert (place.cwd / "out.csv").read_text() == (place.cwd / "input.csv").read_text()
    bare = az(*[arg if arg != "./out.csv" else "out.csv" for arg in read], env=as_principal)
    assert bare.returncode == 1 and "unexpected error" in bare.stderr  # az 2.91 takes out.csv for a directory
    key_mode = az(*read[:-2], env=as_principal)  # no --auth-mode login: the account key, which it may not list
    assert key_mode.returncode == 1 and "listKeys" in key_mode.stderr


def test_signing_in_without_a_directory_of_its_own_replaces_the_users_sign_in(lake):
    place, az, sp = lake
    assert sign_in(az, sp, None).returncode == 0
    assert json.loads(az("account", "show").stdout)["user"] == {"name": sp["appId"], "type": "servicePrincipal"}


def test_a_fresh_configuration_directory_is_signed_out_and_has_no_extensions(lake, tmp_path):
    place, az, sp = lake
    fresh = {"AZURE_CONFIG_DIR": str(tmp_path / "fresh")}
    assert "Please run 'az login'" in az("group", "exists", "--name", "g", env=fresh).stderr
    assert json.loads(az("extension", "list", env=fresh).stdout) == []
    [ml] = json.loads(az("extension", "list").stdout)
    with_extensions = {**fresh, "AZURE_EXTENSION_DIR": ml["path"].rsplit("/", 1)[0]}
    assert [e["name"] for e in json.loads(az("extension", "list", env=with_extensions).stdout)] == ["ml"]


def test_login_refuses_an_unknown_app_a_wrong_secret_and_an_expired_one(lake, tmp_path):
    place, az, sp = lake
    unknown = az("login", "--service-principal", "-u", "11111111-1111-1111-1111-111111111111", "--password=@secret",
                 "--tenant", TENANT, env={"AZURE_CONFIG_DIR": str(tmp_path / "a")})  # fmt: skip
    assert unknown.returncode == 1 and "AADSTS700016" in unknown.stderr
    assert "No subscriptions found" in az("login", "--service-principal", "-u", sp["appId"], "--password=@secret",
                                          "--tenant", TENANT, env={"AZURE_CONFIG_DIR": str(tmp_path / "b")}).stderr
    (place.cwd / "secret").write_text("not-the-secret-at-all")
    assert "AADSTS7000215" in sign_in(az, sp, tmp_path / "c").stderr
    (place.cwd / "secret").write_text(sp["password"])
    state = json.loads((place.home / "state.json").read_text())
    state["service_principals"][sp["appId"]]["passwords"][0]["endDateTime"] = "2020-01-01T00:00:00Z"
    (place.home / "state.json").write_text(json.dumps(state))
    assert "AADSTS7000222" in sign_in(az, sp, tmp_path / "d").stderr
    assert not (tmp_path / "d" / "service_principal_entries.json").exists()
