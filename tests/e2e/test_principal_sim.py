"""The service principal azwrap makes, end to end on the simulator: create-for-rbac's collision seen
whatever the user's warning settings, the identity read while Graph replicates the new app, and a
principal kept by --keep-old-sp that `azwrap destroy` still knows."""

from __future__ import annotations

import json

import pytest

from .test_azwrap_sim import ACCOUNT, make_place
from .test_sim import ok, run, setup
from .test_setup_state import sim


def azwrap_state(place) -> dict:
    return json.loads((place.cwd / ".azwrap" / "state.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ warnings the user turned off
@pytest.mark.parametrize("how", ["env", "config"])
def test_the_simulator_hides_warnings_as_az_does_and_false_in_the_environment_wins(tmp_path, how):
    home = tmp_path / "h"
    setup(home)
    env = {"AZURE_CORE_ONLY_SHOW_ERRORS": "true"} if how == "env" else {}
    if how == "config":
        ok(home, "config", "set", "core.only_show_errors=true")
    hidden = run(home, "ad", "sp", "create-for-rbac", env={**env, "AZSIM_RBAC_COLLISION": "1"})
    assert hidden.returncode == 0 and "WARNING" not in hidden.stderr
    shown = run(home, "ad", "sp", "create-for-rbac", env={"AZURE_CORE_ONLY_SHOW_ERRORS": "false", "AZSIM_RBAC_COLLISION": "1"})
    assert "We will patch it" in shown.stderr  # the environment's false over the config file's true


@pytest.mark.parametrize("how", ["env", "config"])
def test_a_patched_app_is_refused_when_the_user_turned_az_warnings_off(tmp_path, how):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    env = {"AZSIM_RBAC_COLLISION": "1"}
    if how == "env":
        env["AZURE_CORE_ONLY_SHOW_ERRORS"] = "true"  # as CI pipelines set it (Azure/azure-cli#23787)
    else:
        sim(place, "config", "set", "core.only_show_errors=true")
    result = place.azwrap("all", "--account", ACCOUNT, "--quiet", extra_env=env, ok=(2,))
    assert "did not make a new application" in result.stderr
    assert "sp" not in azwrap_state(place)["outputs"]


# ------------------------------------------------------------------ Graph replicating the new app
def test_the_simulator_shows_a_new_app_to_graph_only_after_k_reads(tmp_path):
    home = tmp_path / "h"
    setup(home)
    sp = ok(home, "ad", "sp", "create-for-rbac")
    lag = {"AZSIM_GRAPH_APP_DELAY": "2"}
    for _ in range(2):
        r = run(home, "ad", "app", "credential", "list", "--id", sp["appId"], env=lag)
        assert (r.returncode, r.stdout) == (1, "")
        assert f"Resource '{sp['appId']}' does not exist or one of its queried reference-property" in r.stderr
    assert len(ok(home, "ad", "app", "credential", "list", "--id", sp["appId"], env=lag)) == 1


def test_all_records_the_new_passwords_key_id_while_graph_replicates_the_app(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    place.env["AZWRAP_RETRY_DELAY"] = "0.01"
    result = place.azwrap("all", "--account", ACCOUNT, extra_env={"AZSIM_GRAPH_APP_DELAY": "2"})
    assert result.stderr.count("the new app is not visible to Graph yet (directory replication)") == 2
    app_id = azwrap_state(place)["outputs"]["sp"]["appId"]
    [credential] = [c for c in place.state()["service_principals"][app_id]["passwords"]]
    assert azwrap_state(place)["resources"]["sp"]["identity"] == {"keyId": credential["keyId"]}


# ------------------------------------------------------------------ --keep-old-sp
def test_a_principal_kept_by_keep_old_sp_stays_recorded_and_later_runs_leave_it(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    old = azwrap_state(place)["outputs"]["sp"]["appId"]
    place.azwrap("all", "--force", "sp", "--keep-old-sp", "--quiet")
    [kept] = azwrap_state(place)["retired_sp"]
    assert (kept["appId"], kept["kept"], len(kept["assignments"])) == (old, True, 2)  # for `azwrap destroy`
    middle = azwrap_state(place)["outputs"]["sp"]["appId"]
    place.azwrap("all", "--force", "sp", "--quiet")  # replaces the middle one, and deletes only it
    sims = place.state()
    assert old in sims["service_principals"] and middle not in sims["service_principals"]
    assert [e["appId"] for e in azwrap_state(place)["retired_sp"]] == [old]
    assert place.azwrap("all", "--quiet").exit_code == 0 and old in place.state()["service_principals"]
