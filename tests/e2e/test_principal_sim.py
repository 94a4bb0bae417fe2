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
