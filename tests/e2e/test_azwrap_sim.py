"""End-to-end tests of the installed `azwrap` program against scripts/az-sim, the offline az simulator.

POSIX-only: the `sh` package does not import on Windows, the simulator locks its state with
fcntl.flock, and the generated plan is run under bash.

Every test drives the installed `azwrap` console script as a real process through `sh` (never
pytest-subprocess), with AZWRAP_AZ pointing at the simulator and AZSIM_HOME inside a temporary
directory of its own, and checks what happened by reading the simulator's state.json, not
azwrap's output. The tests that only read the result of one plain `azwrap all` share a single
module-scoped run (`book`) to keep this module fast: every `all` makes ~16 simulator processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sh

from .simstate import essential, only_principal, recorded_principal

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "scripts" / "az-sim"
SIM_BIN = REPO / "scripts" / "sim-bin"
AZWRAP = sh.Command(str(Path(sys.executable).parent / "azwrap"))
SUB = "00000000-0000-0000-0000-00000000c0de"
ACCOUNT = "e2edatalake"
UPLOAD_KEY = f"{ACCOUNT}/fs1/models/highspenders/input.csv"
ACC_ID = f"/subscriptions/{SUB}/resourceGroups/adls-rg/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
AML_ID = f"/subscriptions/{SUB}/resourceGroups/aml-rg/providers/Microsoft.MachineLearningServices/workspaces/aml"
STEP_COMMANDS = ["login", "extension", "workspace", "compute", "storage", "upload", "sp", "datastore", "grant"]
NEEDS_ACCOUNT = {"storage", "upload", "sp", "datastore"}
SAMPLE_CSV = REPO / "azwrap" / "demo-input.csv"  # also what `make demo` uploads


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class Place:
    """One test's private directory: azwrap runs in `cwd` (input.csv, .azwrap/), the sim keeps `home`."""

    cwd: Path
    home: Path
    env: dict

    def azwrap(self, *args: str, ok: tuple[int, ...] = (0,), extra_env: dict | None = None) -> Result:
        """Run the installed azwrap; fail the test unless it exits with a code in `ok`."""
        proc = AZWRAP(*args, _env={**self.env, **(extra_env or {})}, _cwd=str(self.cwd), _ok_code=list(range(256)),
                      _tty_out=False, _in="", _timeout=90, _return_cmd=True)  # fmt: skip
        result = Result(proc.exit_code, proc.stdout.decode(), proc.stderr.decode())
        assert result.exit_code in ok, f"azwrap {' '.join(args)} exited {result.exit_code}:\n{result.stderr}"
        return result

    def state(self) -> dict:
        return json.loads((self.home / "state.json").read_text(encoding="utf-8"))

    def essential(self) -> dict:
        """The simulator's essential state, with the principal azwrap recorded (or the only one) as "the principal"."""
        state = self.state()
        return essential(state, recorded_principal(self.cwd) or only_principal(state))


def make_place(root: Path) -> Place:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_CSV, root / "input.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_", "AZWRAP_"))}
    env.update(AZSIM_HOME=str(root / ".az-sim"), AZWRAP_AZ=str(SIM))
    # The simulator's `#!/usr/bin/env python3` then finds this Python directly, not a slower shim.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # These tests (and test_setup_state's) compare calls in the book's order; test_parallel.py runs the fan-out.
    env["AZWRAP_JOBS"] = "1"
    return Place(cwd=root, home=root / ".az-sim", env=env)


def the_principal(state: dict) -> dict:
    principals = list(state["service_principals"].values())
    assert len(principals) == 1, f"expected exactly one service principal, found {len(principals)}"
    return principals[0]


def assert_book_state(state: dict, source: Path, vm_size: str = "STANDARD_D1_V2", max_nodes: int = 1) -> None:
    """The simulated Azure holds everything chapter 7 sets up, wired to the one principal."""
    assert state["logged_in"] is True
    assert set(state["extensions"]) == {"azure-cli-ml"}
    assert {name: g["location"] for name, g in state["groups"].items()} == {"aml-rg": "centralus", "adls-rg": "centralus"}
    workspace = state["workspaces"]["aml-rg/aml"]
    assert (workspace["name"], workspace["resource_group"], workspace["id"]) == ("aml", "aml-rg", AML_ID)
    compute = state["computes"]["aml-rg/aml/d1compute"]
    assert (compute["vm_size"], compute["max_nodes"], compute["type"]) == (vm_size, max_nodes, "AmlCompute")
    account = state["storage_accounts"][ACCOUNT]
    assert (account["hns"], account["resource_group"], account["id"]) == (True, "adls-rg", ACC_ID)
    assert list(state["filesystems"]) == [f"{ACCOUNT}/fs1"]
    local = source.read_bytes()
    assert state["files"] == {UPLOAD_KEY: {"sha256": hashlib.sha256(local).hexdigest(), "size": len(local)}}

    sp = the_principal(state)
    assignments = {(r["roleDefinitionName"], r["scope"], r["appId"]) for r in state["role_assignments"]}
    assert len(state["role_assignments"]) == 2
    assert assignments == {("Storage Blob Data Contributor", ACC_ID, sp["appId"]), ("Contributor", AML_ID, sp["appId"])}
    assert state["datastores"] == {"aml-rg/aml/MLData": {
        "account_name": ACCOUNT, "filesystem": "fs1", "name": "MLData", "type": "azure_data_lake_gen2", "api": "v1",
        "client_id": sp["appId"], "client_secret": sp["password"], "tenant_id": sp["tenant"],
    }}  # fmt: skip


def assert_no_secret(secret: str, results: list[Result], state: dict) -> None:
    assert len(secret) >= 16
    for result in results:
        assert secret not in result.stdout and secret not in result.stderr
    leaked = [argv for argv in state["calls"] if any(secret in arg for arg in argv)]
    assert leaked == [], "the secret reached az's command line"


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> tuple[Place, Result]:
    """One plain `azwrap all --account e2edatalake` in a fresh place; read-only for the tests using it."""
    place = make_place(tmp_path_factory.mktemp("book"))
    return place, place.azwrap("all", "--account", ACCOUNT)


def test_all_sets_up_the_book(book):
    place, result = book
    assert result.exit_code == 0
    assert_book_state(place.state(), place.cwd / "input.csv")


def test_all_keeps_the_secret_out_of_output_and_argv(book):
    place, result = book
    state = place.state()
    assert_no_secret(the_principal(state)["password"], [result], state)
    # The datastore got the secret anyway: through --client-secret @<file>, expanded by az.
    attach = [argv for argv in state["calls"] if argv[:3] == ["ml", "datastore", "attach-adls-gen2"]]
    assert len(attach) == 1
    assert attach[0][attach[0].index("--client-secret") + 1].startswith("@")


def test_env_prints_the_principal_password(book):
    place, _ = book
    result = place.azwrap("env", "--shell", "bash")
    lines = [line for line in result.stdout.splitlines() if line.startswith("export SP_PASSWORD=")]
    assert len(lines) == 1, result.stdout
    # Let bash evaluate the line, so quoting is checked as well as the value.
    value = sh.bash("-c", f'{lines[0]}\nprintf %s "$SP_PASSWORD"', _env=place.env, _tty_out=False, _return_cmd=True)
    assert value.stdout.decode() == the_principal(place.state())["password"]


def test_all_with_compute_options(tmp_path):
    place = make_place(tmp_path)
    place.azwrap("all", "--account", ACCOUNT, "--max-nodes", "3", "--vm-size", "STANDARD_D2_V2")
    assert_book_state(place.state(), place.cwd / "input.csv", vm_size="STANDARD_D2_V2", max_nodes=3)


def test_all_twice_succeeds_with_one_principal(tmp_path):
    place = make_place(tmp_path)
    first = place.azwrap("all", "--account", ACCOUNT, "--quiet")
    second = place.azwrap("all", "--account", ACCOUNT, "--quiet", ok=tuple(range(256)))
    state = place.state()
    # Both facts at once, so that a failure shows whether a second principal was made too.
    assert (second.exit_code, len(state["service_principals"])) == (0, 1), second.stderr
    assert_book_state(state, place.cwd / "input.csv")
    assert_no_secret(the_principal(state)["password"], [first, second], state)


def test_step_commands_one_by_one_reach_the_same_state(tmp_path, book):
    place = make_place(tmp_path)
    results = []
    for step in STEP_COMMANDS:
        account = ["--account", ACCOUNT] if step in NEEDS_ACCOUNT else []
        results.append(place.azwrap(step, *account, "--quiet"))
    state = place.state()
    assert place.essential() == book[0].essential()
    assert_book_state(state, place.cwd / "input.csv")
    assert_no_secret(the_principal(state)["password"], results, state)


def _run_script(place: Place, text: str):
    script = place.cwd / "setup.sh"
    script.write_text(text, encoding="utf-8")
    assert shutil.which("jq"), "the generated bash script needs jq (CI installs it in .ci/run)"
    env = {**place.env, "PATH": f"{SIM_BIN}{os.pathsep}{place.env.get('PATH', '')}"}
    return sh.bash(str(script), _env=env, _cwd=str(place.cwd), _ok_code=list(range(256)), _tty_out=False, _in="",
                   _timeout=90, _return_cmd=True)  # fmt: skip


def test_generated_bash_script_reaches_the_same_state(tmp_path, book):
    place = make_place(tmp_path)
    # A user whose az prints tables by default: the script asks for JSON itself (jq reads it).
    sh.Command(str(SIM))("config", "set", "core.output=table", _env=place.env)
    proc = _run_script(place, place.azwrap("plan", "--shell", "bash", "--account", ACCOUNT).stdout)
    assert proc.exit_code == 0, proc.stderr.decode()
    assert place.essential() == book[0].essential()


def test_a_script_with_the_placeholder_left_refuses_to_start_until_it_is_replaced(tmp_path, book):
    place = make_place(tmp_path)
    script = place.azwrap("plan", "--shell", "bash").stdout
    refused = _run_script(place, script)
    assert refused.exit_code == 2
    assert "replace <your-adls-account> in this script" in refused.stderr.decode()
    assert not (place.home / "state.json").exists()  # no az call at all
    proc = _run_script(place, script.replace("<your-adls-account>", ACCOUNT))  # as an editor's "replace all" does
    assert proc.exit_code == 0, proc.stderr.decode()
    assert place.essential() == book[0].essential()


def test_injected_role_assignment_failure_fails_step_sp(tmp_path):
    place = make_place(tmp_path)
    knobs = {"AZSIM_FAIL_MATCH": "role assignment create", "AZSIM_FAIL_STDERR": "ERROR: injected: AuthorizationFailed"}
    result = place.azwrap("all", "--account", ACCOUNT, extra_env=knobs, ok=(1,))
    assert "Error: step 'sp' failed" in result.stderr
    assert "injected: AuthorizationFailed" in result.stderr  # az's stderr is relayed
    assert "Traceback" not in result.stderr + result.stdout
    state = place.state()
    sp = the_principal(state)
    assert state["role_assignments"] == [] and state["datastores"] == {}  # nothing after the failure ran
    assert state["calls"][-1][:3] == ["role", "assignment", "create"]
    assert_no_secret(sp["password"], [result], state)

    # The principal was recorded before the failing call: running the step again reuses it.
    place.azwrap("sp", "--account", ACCOUNT, "--quiet")
    state = place.state()
    assert the_principal(state)["appId"] == sp["appId"]
    assert [(r["roleDefinitionName"], r["scope"]) for r in state["role_assignments"]] == [
        ("Storage Blob Data Contributor", ACC_ID)
    ]


# --- the current ml extension (--ml-cli v2) ---------------------------------------------------


def assert_v2_state(state: dict, source: Path) -> None:
    """The v2 setup: the same resources, made with the ml extension, the datastore from YAML."""
    assert set(state["extensions"]) == {"ml"}
    compute = state["computes"]["aml-rg/aml/d1compute"]
    assert (compute["vm_size"], compute["max_nodes"]) == ("STANDARD_D1_V2", 1)
    assert state["workspaces"]["aml-rg/aml"]["id"] == AML_ID
    local = source.read_bytes()
    assert state["files"] == {UPLOAD_KEY: {"sha256": hashlib.sha256(local).hexdigest(), "size": len(local)}}
    sp = the_principal(state)
    assert {(r["roleDefinitionName"], r["scope"], r["appId"]) for r in state["role_assignments"]} == {
        ("Storage Blob Data Contributor", ACC_ID, sp["appId"]), ("Contributor", AML_ID, sp["appId"])}
    datastore = state["datastores"]["aml-rg/aml/MLData"]
    assert datastore["api"] == "v2"
    assert (datastore["account_name"], datastore["filesystem"], datastore["type"]) == (ACCOUNT, "fs1", "azure_data_lake_gen2")
    assert (datastore["client_id"], datastore["client_secret"], datastore["tenant_id"]) == (
        sp["appId"], sp["password"], sp["tenant"])


@pytest.fixture(scope="module")
def book_v2(tmp_path_factory) -> tuple[Place, Result]:
    place = make_place(tmp_path_factory.mktemp("v2"))
    return place, place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2")


def test_all_v2_sets_up_the_same_with_the_ml_extension(book_v2):
    place, result = book_v2
    state = place.state()
    assert_v2_state(state, place.cwd / "input.csv")
    assert_no_secret(the_principal(state)["password"], [result], state)
    ml_calls = [" ".join(call[:3]) for call in state["calls"] if call[:1] == ["ml"]]
    assert "ml datastore create" in ml_calls and not any("computetarget" in c or "attach" in c for c in ml_calls)


def test_generated_v2_bash_script_reaches_the_same_state(tmp_path, book_v2):
    place = make_place(tmp_path)
    script = place.cwd / "setup.sh"
    script.write_text(place.azwrap("plan", "--shell", "bash", "--ml-cli", "v2", "--account", ACCOUNT).stdout)
    env = {**place.env, "PATH": f"{SIM_BIN}{os.pathsep}{place.env.get('PATH', '')}"}
    proc = sh.bash(str(script), _env=env, _cwd=str(place.cwd), _ok_code=list(range(256)), _tty_out=False, _in="",
                   _timeout=90, _return_cmd=True)  # fmt: skip
    assert proc.exit_code == 0, proc.stderr.decode()
    assert_v2_state(place.state(), place.cwd / "input.csv")
    assert place.essential() == book_v2[0].essential()


def test_switching_an_existing_v1_setup_to_v2(tmp_path):
    place = make_place(tmp_path)
    place.azwrap("all", "--account", ACCOUNT)
    refused = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", ok=(2,))
    assert "az extension remove --name azure-cli-ml" in refused.stderr
    assert len(place.state()["datastores"]) == 1 and place.state()["extensions"].keys() == {"azure-cli-ml"}
    sh.Command(str(SIM))("extension", "remove", "--name", "azure-cli-ml", _env=place.env)
    # v1's datastore is made anew by v2's create (azwrap made it, in the other dialect).
    result = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2")
    assert "will run again: extension" in result.stderr
    state = place.state()
    assert_v2_state(state, place.cwd / "input.csv")
    assert sum(1 for call in state["calls"] if "create-for-rbac" in call) == 1


def test_essential_state_shows_a_datastore_or_role_bound_to_another_principal(book):
    place, _ = book
    state, principal = place.state(), recorded_principal(place.cwd)
    assert essential(state, principal) == place.essential()
    stale = "00000000-5ta1-e000-0000-000000000000"
    datastore = json.loads(json.dumps(state))
    datastore["datastores"]["aml-rg/aml/MLData"]["client_id"] = stale
    role = json.loads(json.dumps(state))
    role["role_assignments"][1]["appId"] = stale
    secret = json.loads(json.dumps(state))
    secret["datastores"]["aml-rg/aml/MLData"]["client_secret"] = "an-old-secret-0123456789"
    for changed in (datastore, role, secret):
        assert essential(changed, principal) != essential(state, principal)
    assert essential(state, stale) != essential(state, principal)  # a recorded principal that is not there
