"""Security end to end on the simulator: nothing holding the secret outlives a killed run; SIGHUP/SIGQUIT."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_azwrap_sim import SIM
from .test_reliability import (ACCOUNT, AZWRAP, SLOW, Result, alive, kill_started, make_place, start_azwrap,
                               wait_for_call)


def start_and_signal(place, args, match: str, signum: int, tmpdir: Path):
    """Run azwrap with the call matching `match` slowed down; send signum to azwrap once that call runs."""
    trace = tmpdir / "azsim-trace"
    env = {**place.env, "TMPDIR": str(tmpdir), "AZSIM_LATENCY_PROFILE": json.dumps({match: SLOW}), "AZSIM_TRACE": str(trace)}
    proc = start_azwrap(list(args), place, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    target = None
    try:
        target = wait_for_call(proc, trace, match)
        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=20)
    except BaseException:
        kill_started(proc, target)  # a SIGKILLed azwrap leaves its az call running: the caller ends it
        raise
    return Result(proc.returncode, stdout, stderr), target


def files_holding(root: Path, secret: str, skip: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and skip not in path.parents:
            try:
                if secret in path.read_text(encoding="utf-8", errors="replace"):
                    found.append(str(path))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("dialect,match", [("v1", "ml datastore attach-adls-gen2"), ("v2", "ml datastore create")])
def test_sigkill_during_the_datastore_call_leaves_no_file_with_the_secret_after_the_next_run(tmp_path, dialect, match):
    place = make_place(tmp_path / "place")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(mode=0o700)
    killed, child = start_and_signal(place, ["all", "--account", ACCOUNT, "--ml-cli", dialect, "--quiet"], match,
                                     signal.SIGKILL, tmpdir)  # fmt: skip
    assert killed.exit_code == -signal.SIGKILL
    # The orphaned az call would finish (or not) on its own; end it here, as nothing waits for it. Its
    # process group is the one azwrap gave the call.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child, signal.SIGKILL)
    while alive(child):
        time.sleep(0.01)
    [sp] = json.loads((place.home / "state.json").read_text())["service_principals"].values()
    secret = sp["password"]
    state_dir = place.cwd / ".azwrap"
    # The secret went by pipe: no file anywhere holds it but azwrap's state (and the simulator's own).
    assert files_holding(tmpdir, secret, place.home) == []
    assert files_holding(place.cwd, secret, place.home) == [str(state_dir / "state.json")]
    if dialect == "v2":
        assert [p.name for p in tmpdir.iterdir() if p.name.startswith("azwrap-")], "the v2 YAML's directory is left"
    resumed = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", dialect, "--quiet", extra_env={"TMPDIR": str(tmpdir)})
    assert resumed.exit_code == 0
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("azwrap-")] == []  # removed at start
    assert [p.name for p in state_dir.iterdir() if p.name.startswith(".state-")] == []


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT], ids=["SIGHUP", "SIGQUIT"])
def test_sighup_and_sigquit_stop_a_run_like_sigterm(tmp_path, signum):
    place = make_place(tmp_path / "place")
    result, child = start_and_signal(place, ["all", "--account", ACCOUNT], "ml workspace create", signum, tmp_path)
    assert result.exit_code == 130, result.stderr
    assert "Interrupted during step workspace; run the same command again to resume." in result.stderr
    assert not alive(child), "the az child still runs after azwrap exited"
    assert not list(tmp_path.glob("core*")) and not list(place.cwd.glob("core*"))


def test_v2_values_yaml_would_read_as_numbers_or_null_reach_the_datastore_as_strings(tmp_path):
    place = make_place(tmp_path / "place")
    place.azwrap("all", "--account", "123456", "--filesystem", "null", "--datastore", "2024", "--ml-cli", "v2", "--quiet")
    datastore = json.loads((place.home / "state.json").read_text())["datastores"]["aml-rg/aml/2024"]
    assert (datastore["name"], datastore["account_name"], datastore["filesystem"]) == ("2024", "123456", "null")


def sim_state(place) -> dict:
    return json.loads((place.home / "state.json").read_text())


def datastore_works(sim: dict, key: str = "aml-rg/aml/MLData") -> bool:
    """The datastore's recorded secret is one its principal accepts now (the simulator checks it at attach)."""
    datastore = sim["datastores"][key]
    sp = sim["service_principals"].get(datastore["client_id"])
    return sp is not None and datastore["client_secret"] in [c["secret"] for c in sp["passwords"]]


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_rotate_end_to_end_the_datastore_then_works_with_the_new_secret_only(tmp_path, dialect):
    place = make_place(tmp_path / "place")
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", dialect, "--quiet")
    before = sim_state(place)
    [old] = [sp["password"] for sp in before["service_principals"].values()]
    assert datastore_works(before)
    rotated = place.azwrap("rotate", "--account", ACCOUNT, "--ml-cli", dialect)
    after = sim_state(place)
    [sp] = after["service_principals"].values()
    assert [c["secret"] for c in sp["passwords"]] == [sp["password"]] and sp["password"] != old  # the old one is gone
    assert after["datastores"]["aml-rg/aml/MLData"]["client_secret"] == sp["password"] and datastore_works(after)
    assert sp["password"] not in rotated.stdout + rotated.stderr
    env = subprocess.run([AZWRAP, "env", "--shell", "bash"], cwd=place.cwd, env=place.env, capture_output=True, text=True,
                         timeout=60)  # env prints the secret on purpose: not judged by place.azwrap
    assert env.stdout == f"export SP_PASSWORD='{sp['password']}'\n"
    assert len(after["service_principals"]) == 1
    again = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", dialect, "--quiet")  # nothing left to do
    assert again.exit_code == 0 and datastore_works(sim_state(place))


def test_rotate_failed_half_way_is_finished_by_the_next_rotate(tmp_path):
    place = make_place(tmp_path / "place")
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    fault = {"AZSIM_FAIL_MATCH": "ml datastore attach-adls-gen2"}
    place.azwrap("rotate", "--account", ACCOUNT, extra_env=fault, ok=(1,))
    assert "aml-rg/aml/MLData" not in sim_state(place)["datastores"]  # detached, the attach failed
    place.azwrap("rotate", "--account", ACCOUNT)
    sim = sim_state(place)
    assert sum(call[:4] == ["ad", "app", "credential", "reset"] for call in sim["calls"]) == 1  # not reset twice
    assert datastore_works(sim)


def test_rotate_keeps_the_apps_other_passwords_and_an_interrupted_one_leaves_the_old_secret_working(tmp_path):
    place = make_place(tmp_path / "place")
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")
    [app_id] = sim_state(place)["service_principals"]
    # The user gives the app a password of their own, for a CI pipeline.
    ci = json.loads(subprocess.run([sys.executable, str(SIM), "ad", "app", "credential", "reset", "--id", app_id,
                                    "--append", "--display-name", "ci"], env=place.env, capture_output=True, text=True,
                                   check=True).stdout)["password"]  # fmt: skip
    # A rotation cut short after the new secret (its re-attach fails): the old one still works meanwhile.
    place.azwrap("rotate", "--account", ACCOUNT, "--ml-cli", "v2", extra_env={"AZSIM_FAIL_MATCH": "ml datastore create"},
                 ok=(1,))  # fmt: skip
    assert datastore_works(sim_state(place))  # the datastore still has the earlier secret, which still works
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")  # `all` finishes the rotation
    sim = sim_state(place)
    [sp] = sim["service_principals"].values()
    secrets = [c["secret"] for c in sp["passwords"]]
    assert ci in secrets and len(secrets) == 2  # the user's, and the new one: azwrap's earlier secret is gone
    assert datastore_works(sim) and sim["datastores"]["aml-rg/aml/MLData"]["client_secret"] != ci


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_force_sp_deletes_the_old_principal_and_its_role_assignments(tmp_path, dialect):
    place = make_place(tmp_path / "place")
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", dialect, "--quiet")
    [old] = sim_state(place)["service_principals"]
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", dialect, "--force", "sp", "--quiet")
    sim = sim_state(place)
    [new] = sim["service_principals"]
    assert new != old and sim["deleted_apps"] == [old]
    assert {r["appId"] for r in sim["role_assignments"]} == {new} and len(sim["role_assignments"]) == 2
    assert datastore_works(sim) and sim["datastores"]["aml-rg/aml/MLData"]["client_id"] == new


def test_keep_old_sp_keeps_it(tmp_path):
    place = make_place(tmp_path / "place")
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")
    place.azwrap("sp", "--account", ACCOUNT, "--force", "--keep-old-sp", "--quiet")
    assert len(sim_state(place)["service_principals"]) == 2 and "deleted_apps" not in sim_state(place)
