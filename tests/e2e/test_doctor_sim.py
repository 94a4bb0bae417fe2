"""doctor's checks against the simulator: each knob makes one check fail, and `azwrap all` then
stops (exit 2) having made read-only probes only; the simulator fails late without them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .test_azwrap_sim import ACCOUNT, SIM, make_place

USER = "sim-user@example.com"
# Every call the refresh and doctor of a fresh `all` may make before a change, argv in full (docs/reference.md).
READ_ONLY = [["account", "show"], ["version"], ["account", "get-access-token", "--query", "[expires_on, expiresOn]"],
             ["group", "list"], ["extension", "list-available"], ["account", "list-locations"],
             ["storage", "account", "check-name", "--name", ACCOUNT],
             ["role", "assignment", "list", "--assignee", USER, "--include-inherited", "--include-groups"]]  # fmt: skip


def sim(place, *args, env=None):
    return subprocess.run([sys.executable, str(SIM), *args], env={**place.env, **(env or {})}, capture_output=True,
                          text=True, timeout=30)  # fmt: skip


@pytest.fixture
def place(tmp_path):
    place = make_place(tmp_path / "p")
    assert sim(place, "--reset").returncode == 0
    assert sim(place, "login").returncode == 0  # signed in earlier, as a user would be
    return place


KNOBS = {
    "location": ({}, ["--location", "Mars Base 1"], "--location"),
    "rights": ({"AZSIM_USER_ROLES": "Contributor"}, [], "User Access Administrator"),
    "extension": ({"AZSIM_RETIRED_EXTENSIONS": "azure-cli-ml"}, [], "--ml-cli v2"),
}


@pytest.mark.parametrize("check", KNOBS)
def test_all_stops_before_any_change_when_a_check_fails(check, place):
    knobs, args, fix = KNOBS[check]
    calls_before = len(place.state()["calls"])
    result = place.azwrap("all", "--account", ACCOUNT, *args, ok=(2,), extra_env=knobs)
    assert "nothing was changed" in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert line.split()[1] == check
    assert fix in result.stderr
    calls = place.state()["calls"][calls_before:]
    # (the refresh's probes name the subscription checked first, as every later call of the run does)
    unpinned = [call[:-2] if call[-2:] == ["--subscription", "00000000-0000-0000-0000-00000000c0de"] else call
                for call in calls]  # fmt: skip
    assert [call for call in unpinned if call not in READ_ONLY] == []


def test_an_expired_sign_in_stops_all_at_the_refresh_before_any_change(place):
    calls_before = len(place.state()["calls"])
    result = place.azwrap("all", "--account", ACCOUNT, ok=(2,), extra_env={"AZSIM_TOKEN_EXPIRED": "1"})
    assert "the sign-in no longer works" in result.stderr and "AADSTS700082" in result.stderr
    assert "run `azwrap login`" in result.stderr and "nothing was changed" in result.stderr
    assert place.state()["calls"][calls_before:] == [["account", "show"], READ_ONLY[2]]


def test_a_taken_account_name_says_what_helps_and_not_skip_doctor(place):
    result = place.azwrap("all", "--account", ACCOUNT, ok=(2,), extra_env={"AZSIM_TAKEN_ACCOUNTS": ACCOUNT})
    error = result.stderr.split("Error: ", 1)[1]
    assert error.startswith("doctor: 1 check(s) failed (account: choose another --account (globally unique));")
    assert "run the same command again" in error and "--skip-doctor" not in error  # skipping would not help


def test_without_the_rights_check_the_run_fails_after_making_the_principal(place):
    result = place.azwrap("all", "--account", ACCOUNT, "--skip-doctor", ok=(1,), extra_env={"AZSIM_USER_ROLES": "Reader"})
    assert "AuthorizationFailed" in result.stderr
    assert len(place.state()["service_principals"]) == 1  # what the check spares the user


def test_an_expired_sign_in_passes_account_show_and_fails_everything_else(place):
    expired = {"AZSIM_TOKEN_EXPIRED": "1"}
    assert sim(place, "account", "show", env=expired).returncode == 0  # it reads the cache (REFERENCE section 7)
    token = sim(place, "account", "get-access-token", env=expired)
    assert token.returncode == 1 and "AADSTS700082" in token.stderr
    assert sim(place, "group", "create", "-l", "centralus", "-n", "g", env=expired).returncode == 1
    assert sim(place, "login", env=expired).returncode == 0  # signing in again fixes it
    again = sim(place, "account", "get-access-token", env=expired)
    assert again.returncode == 0 and set(json.loads(again.stdout)) >= {"accessToken", "expiresOn", "expires_on", "tenant"}


def test_the_doctor_probes_have_azs_shapes(place):
    locations = json.loads(sim(place, "account", "list-locations").stdout)
    assert {"name": "centralus", "displayName": "Central US"}.items() <= locations[0].items()
    [owner] = json.loads(sim(place, *READ_ONLY[-1]).stdout)
    assert (owner["roleDefinitionName"], owner["principalName"], owner["scope"]) == ("Owner", USER, f"/subscriptions/{owner['scope'].split('/')[2]}")
    offered = json.loads(sim(place, "extension", "list-available").stdout)
    assert {e["name"] for e in offered} == {"azure-cli-ml", "ml"}
    retired = {"AZSIM_RETIRED_EXTENSIONS": "azure-cli-ml"}
    assert "azure-cli-ml" not in {e["name"] for e in json.loads(sim(place, "extension", "list-available", env=retired).stdout)}
    assert sim(place, "extension", "add", "-n", "azure-cli-ml", env=retired).returncode == 1
    bad = sim(place, "group", "create", "-l", "Mars Base 1", "-n", "g")
    assert bad.returncode == 1 and "LocationNotAvailableForResourceGroup" in bad.stderr


@pytest.mark.parametrize("fields", ["expiresOn,expires_on", "expires_on", "expiresOn"])
def test_doctor_passes_on_a_fresh_simulator_whichever_expiry_field_az_prints(place, fields):
    result = place.azwrap("doctor", "--account", ACCOUNT, extra_env={"AZSIM_TOKEN_EXPIRY": fields})
    [token] = [line for line in result.stdout.splitlines() if line.split()[1:2] == ["token"]]
    assert "the sign-in works (a token valid until 20" in token
    passed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith(("ok", "note"))]
    assert [name for name in passed if name in ("token", "extension", "location", "rights", "upload")] == [
        "token", "extension", "location", "rights", "upload"]
    assert "FAIL" not in result.stdout
