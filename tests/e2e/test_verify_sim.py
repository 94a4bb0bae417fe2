"""`azwrap verify`, `azwrap all --verify` and `azwrap sdk-config` end to end against the simulator.

The simulator applies each role assignment AZSIM_RBAC_DELAY calls after it was made (it counts calls,
no clock), signs a service principal in into the AZURE_CONFIG_DIR it is given (writing the secret there,
as az does), and refuses the principal's data-plane and workspace calls until a role on the right scope
applies. Each test judges by the simulator's state and the files left on disk as much as by azwrap's words.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_reliability import ACCOUNT, SIM, Place, Result, alive, make_place, start_azwrap, wait_for_call

PRINCIPAL_CHECKS = ("sign-in", "read", "list", "workspace")
ALL_CHECKS = ("you", "datastore", "compute", *PRINCIPAL_CHECKS)


def sim(place: Place, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SIM), *args], env={**place.env, **(env or {})}, capture_output=True,
                          text=True, timeout=30)  # fmt: skip


def set_up(root: Path, *, rbac_delay: int = 0, dialect: str = "v2", env: dict | None = None) -> Place:
    """A place with a complete setup made by `azwrap all` (its role assignments applied at once by default)."""
    place = make_place(root)
    place.env.update(AZSIM_RBAC_DELAY=str(rbac_delay), TMPDIR=str(private_tmp(root)), **(env or {}))
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", dialect, "--quiet")
    return place


def private_tmp(root: Path) -> Path:
    tmp = root / "tmp"
    tmp.mkdir(mode=0o700, exist_ok=True)
    return tmp


def statuses(output: str) -> dict[str, str]:
    """check -> status from the checklist's lines (`ok   read      ...`)."""
    found = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] in ("ok", "FAIL", "skip") and words[1] in ALL_CHECKS:
            found[words[1]] = words[0]
    return found


def fail_line(output: str, check: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("FAIL") and line.split()[1] == check]
    return line


def principal(place: Place) -> tuple[str, str]:
    """(appId, secret) of the principal azwrap recorded."""
    sp = json.loads((place.cwd / ".azwrap" / "state.json").read_text())["outputs"]["sp"]
    return sp["appId"], sp["password"]


def leftover_private_dirs(place: Place) -> list[str]:
    return sorted(p.name for p in Path(place.env["TMPDIR"]).iterdir() if p.name.startswith("azwrap-"))


def principal_config_dirs(place: Place) -> list[str]:
    """The configuration directories the simulator saw a principal sign in to."""
    return [d for d, s in place.state().get("config_dirs", {}).items() if s.get("principal")]


def assert_secret_nowhere(place: Place, result: Result) -> None:
    """Not in the argv of any az call (the simulator records each raw), azwrap's output or its call log."""
    _, secret = principal(place)
    assert secret not in json.dumps(place.state()["calls"])
    assert secret not in result.stdout + result.stderr
    assert secret not in (place.cwd / ".azwrap" / "log.jsonl").read_text()
    logins = [call for call in place.state()["calls"] if call[:2] == ["login", "--service-principal"]]
    assert logins and all(any(arg.startswith("--password=@/dev/fd/") for arg in call) for call in logins)


# --------------------------------------------------------------------------- it works


def test_all_verify_waits_for_the_roles_to_apply_then_every_check_holds(tmp_path):
    place = make_place(tmp_path / "p")
    place.env.update(AZSIM_RBAC_DELAY="20", TMPDIR=str(private_tmp(tmp_path / "p")))
    result = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet", "--verify")
    assert statuses(result.stderr) == dict.fromkeys(ALL_CHECKS, "ok"), result.stderr
    waits = [line for line in result.stderr.splitlines() if line.startswith("wait ")]
    assert any("403 as the principal" in line and "has not applied yet" in line for line in waits), result.stderr
    assert all("waited" in line and "of 600s (--timeout)" in line and "next try in" in line for line in waits)
    downloads = [c for c in place.state()["calls"] if c[:4] == ["storage", "fs", "file", "download"]]
    assert len(downloads) > 1  # refused while the role applied, then read
    assert_secret_nowhere(place, result)
    # The principal signed in in a directory of its own, gone now; nothing of azwrap's is left in TMPDIR.
    [config_dir] = principal_config_dirs(place)
    assert not os.path.exists(config_dir) and leftover_private_dirs(place) == []
    assert "Wrote .azureml/config.json" in result.stderr


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_verify_on_a_setup_whose_roles_applied_passes_at_once_with_json(tmp_path, dialect):
    place = set_up(tmp_path / "p", dialect=dialect)
    result = place.azwrap("verify", "--output", "json")
    checks = json.loads(result.stdout)
    assert [(c["check"], c["status"]) for c in checks] == [(name, "ok") for name in ALL_CHECKS]
    assert all(c["waited"] == 0 and c["causes"] == [] for c in checks)
    assert "wait " not in result.stderr
    same = place.azwrap("verify", "--format", "json")  # the older spelling still works
    assert [c["status"] for c in json.loads(same.stdout)] == ["ok"] * len(ALL_CHECKS)


def test_the_users_own_sign_in_and_az_configuration_are_untouched(tmp_path):
    user_dir = tmp_path / "p" / "user-azure"  # the user's own AZURE_CONFIG_DIR (like ~/.azure)
    place = set_up(tmp_path / "p", env={"AZURE_CONFIG_DIR": str(user_dir)})

    def snapshot() -> tuple:
        files = {str(p.relative_to(user_dir)): p.read_bytes() for p in sorted(user_dir.rglob("*")) if p.is_file()}
        state = place.state()
        return files, state["config_dirs"][str(user_dir)], state["logged_in"], state["extensions"]

    before = snapshot()
    assert before[1]["logged_in"] and "principal" not in before[1]  # the user, signed in there
    result = place.azwrap("verify")
    assert snapshot() == before
    account = json.loads(sim(place, "account", "show").stdout)
    assert account["user"] == {"name": "sim-user@example.com", "type": "user"}
    # The principal found the ml extension where the user's az keeps it (its own fresh directory has none).
    assert statuses(result.stdout)["workspace"] == "ok"
    assert list(place.state()["extension_dirs"]) == [str(user_dir / "cliextensions")]


# --------------------------------------------------------------------------- each cause fails with its line


def test_roles_that_never_apply_fail_after_the_timeout_with_the_causes_in_order(tmp_path):
    place = set_up(tmp_path / "p", rbac_delay=100000)
    result = place.azwrap("verify", "--timeout", "0.3", ok=(1,))
    assert statuses(result.stdout) == {**dict.fromkeys(ALL_CHECKS, "ok"), "read": "FAIL", "list": "FAIL",
                                       "workspace": "FAIL"}  # fmt: skip
    assert "still after" in fail_line(result.stdout, "read") and "(--timeout 0.3)" in fail_line(result.stdout, "read")
    causes = [line.split(". ", 1)[1].split(":")[0] for line in result.stdout.splitlines()
              if line.strip()[:3] in ("1. ", "2. ", "3. ", "4. ")]  # fmt: skip
    assert causes[:4] == ["still propagating", "wrong scope", "principal replaced", "secret expired or replaced"]
    app_id, _ = principal(place)
    assert f"shows it: az role assignment list --assignee {app_id} --all" in result.stdout
    assert f"shows it: az ad app credential list --id {app_id}" in result.stdout
    assert leftover_private_dirs(place) == []


def test_a_data_role_on_the_wrong_scope_fails_at_once(tmp_path):
    place = set_up(tmp_path / "p")
    app_id, _ = principal(place)
    state = place.state()
    [data_role] = [r for r in state["role_assignments"] if r["roleDefinitionName"] == "Storage Blob Data Contributor"]
    aml_group = "/subscriptions/{}/resourceGroups/aml-rg".format(data_role["scope"].split("/")[2])
    assert sim(place, "role", "assignment", "delete", "--ids", data_role["id"]).returncode == 0
    assert sim(place, "role", "assignment", "create", "--role", "Storage Blob Data Contributor", "--assignee", app_id,
               "--scope", aml_group, env={"AZSIM_GRAPH_DELAY": "0"}).returncode == 0  # fmt: skip
    result = place.azwrap("verify", ok=(1,))
    line = fail_line(result.stdout, "read")
    assert f"no role of the principal's allows this on storage account {ACCOUNT}" in line
    assert f"Storage Blob Data Contributor on {aml_group}" in line
    assert statuses(result.stdout)["workspace"] == "ok" and "wait " not in result.stderr


def test_a_deleted_principal_fails_the_sign_in(tmp_path):
    place = set_up(tmp_path / "p")
    app_id, _ = principal(place)
    assert sim(place, "ad", "app", "delete", "--id", app_id).returncode == 0
    result = place.azwrap("verify", ok=(1,))
    assert f"the service principal {app_id} recorded in the state no longer exists" in fail_line(result.stdout, "sign-in")
    assert "azwrap all --force sp" in result.stdout
    assert {statuses(result.stdout)[name] for name in ("read", "list", "workspace")} == {"skip"}


def test_a_secret_reset_elsewhere_fails_the_sign_in(tmp_path):
    place = set_up(tmp_path / "p")
    app_id, _ = principal(place)
    assert sim(place, "ad", "app", "credential", "reset", "--id", app_id).returncode == 0
    result = place.azwrap("verify", ok=(1,))
    assert "the recorded secret is not among" in fail_line(result.stdout, "sign-in")
    assert "azwrap rotate" in result.stdout


def test_an_expired_secret_fails_the_sign_in(tmp_path):
    place = set_up(tmp_path / "p")
    path = place.home / "state.json"
    state = json.loads(path.read_text())
    [sp] = state["service_principals"].values()
    for credential in sp["passwords"]:
        credential["endDateTime"] = "2020-01-01T00:00:00Z"  # a year went by
    path.write_text(json.dumps(state))
    result = place.azwrap("verify", ok=(1,))
    assert "has expired" in fail_line(result.stdout, "sign-in") and "AADSTS7000222" in result.stdout


def test_a_datastore_of_another_principal_and_a_failed_compute_fail_their_lines(tmp_path):
    place = set_up(tmp_path / "p")
    path = place.home / "state.json"
    state = json.loads(path.read_text())
    [datastore] = state["datastores"].values()
    datastore["client_id"] = "11111111-1111-1111-1111-111111111111"
    [compute] = state["computes"].values()
    compute["provisioning_state"] = "Failed"
    path.write_text(json.dumps(state))
    result = place.azwrap("verify", ok=(1,))
    assert "client id '11111111-1111-1111-1111-111111111111'" in fail_line(result.stdout, "datastore")
    assert "is Failed" in fail_line(result.stdout, "compute")
    assert statuses(result.stdout)["read"] == "ok"


def test_no_setup_is_a_usage_error(tmp_path):
    place = make_place(tmp_path / "p")
    result = place.azwrap("verify", ok=(2,))
    assert "no complete setup is recorded" in result.stderr and "azwrap all" in result.stderr


# --------------------------------------------------------------------------- the private directory


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_an_interrupt_while_the_principal_reads_removes_its_configuration_directory(tmp_path, signum):
    place = set_up(tmp_path / "p")
    trace = tmp_path / "trace"
    env = {**place.env, "AZSIM_TRACE": str(trace), "AZSIM_LATENCY_PROFILE": json.dumps({"storage fs file download": 20})}
    proc = start_azwrap(["verify", "--quiet"], place, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        child = wait_for_call(proc, trace, "storage fs file download")
        [during] = leftover_private_dirs(place)  # the principal is signed in there, its secret with it
        assert (Path(place.env["TMPDIR"]) / during / "service_principal_entries.json").is_file()
        assert (os.stat(Path(place.env["TMPDIR"]) / during).st_mode & 0o777) == 0o700
        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Interrupted during verify" in stderr and "Traceback" not in stderr
    while alive(child):  # stopped with its process group; wait for the kernel to reap it
        time.sleep(0.05)
    assert leftover_private_dirs(place) == []
    assert not os.path.exists(principal_config_dirs(place)[0])


# --------------------------------------------------------------------------- the SDK's config.json


def test_config_json_has_the_sdks_documented_format(tmp_path):
    """azure-ai-ml is not installed for the tests (about 64 packages, 138 MB): the file is checked against
    what MLClient.from_config() documents and reads (REFERENCE.md section 8)."""
    place = set_up(tmp_path / "p")
    path = place.cwd / ".azureml" / "config.json"
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    config = json.loads(raw.decode("utf-8"))
    [workspace] = place.state()["workspaces"].values()
    # .../subscriptions/<sub>/resourceGroups/<group>/providers/Microsoft.MachineLearningServices/workspaces/<name>
    pieces = workspace["id"].split("/")
    assert config == {"subscription_id": pieces[2], "resource_group": pieces[4], "workspace_name": pieces[8]}
    assert "Scope" not in config  # it would take precedence over the three fields
    assert all(isinstance(value, str) and value for value in config.values())
    _, secret = principal(place)
    assert secret not in raw.decode("utf-8")


def test_sdk_config_refuses_another_workspaces_file_without_force(tmp_path):
    place = set_up(tmp_path / "p")
    path = place.cwd / ".azureml" / "config.json"
    mine = path.read_text()
    same = place.azwrap("sdk-config")
    assert "names workspace aml in aml-rg already" in same.stderr and path.read_text() == mine
    other = '{"subscription_id": "s", "resource_group": "other-rg", "workspace_name": "other"}\n'
    path.write_text(other)
    refused = place.azwrap("sdk-config", ok=(2,))
    assert "names workspace 'other' in 'other-rg'" in refused.stderr and "--force" in refused.stderr
    assert path.read_text() == other
    again = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")  # `all` leaves it alone too
    assert "note:" in again.stderr and path.read_text() == other
    place.azwrap("sdk-config", "--force")
    assert path.read_text() == mine
