"""Reliability of the installed `azwrap` program, end to end against scripts/az-sim.

POSIX-only: the simulator locks its state with fcntl.flock, the interrupt tests send POSIX signals
and look for child processes with `ps`, the torn-write test kills a process with SIGKILL, and the
generated plan is run under bash.

Every test drives the installed `azwrap` console script as a real process (`subprocess`), each in a
temporary directory of its own (input.csv, .azwrap/, and the simulator's AZSIM_HOME), and judges
by the simulator's state.json more than by azwrap's words:

- fault matrix: an az failure injected at each of the book's 15 invocations stops `azwrap all`
  with exit 1 naming the step; running it again without the fault reaches a clean run's state with
  one service principal;
- interrupts: SIGINT while the principal is made, SIGTERM while az reads the secret's pipe under a
  launcher that does not exec: exit 130, no az process left, the interrupted call never reaches the
  simulator, and running again resumes to the clean state with one service principal (every
  invocation is interrupted in tests/unit/test_resume.py);
- directory replication: every place's simulator makes the first two attempts at each role
  assignment fail (Graph's error, then ARM's PrincipalNotFound), so every `azwrap all` here retries
  in both `sp` and `grant`; other errors are not retried;
- injection: values with shell metacharacters reach az as data, in azwrap and in its bash plan;
- torn write: a state save killed before its rename leaves the previous state readable;
- every azwrap run is scanned for the principals' passwords (`run_azwrap`).

The test environment puts this interpreter's bin directory first on PATH, so the simulator's
`#!/usr/bin/env python3` starts the venv's Python directly (not through a pyenv shim): about 20
simulator processes per `azwrap all`, and this module makes many.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import azwrap.store.state

from .simstate import essential, recorded_principal

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "scripts" / "az-sim"
SIM_BIN = REPO / "scripts" / "sim-bin"
BIN = Path(sys.executable).parent
AZWRAP = str(BIN / "azwrap")
SUB = "00000000-0000-0000-0000-00000000c0de"  # the simulator's subscription: every ARM call of a run names it
ACCOUNT = "reliablelake"
INPUT_CSV = "customer_id,total_spend,visits,high_spender\n1001,1250.40,14,1\n1002,87.15,2,0\n"
SLOW = 5.0  # seconds the targeted invocation sleeps in the interrupt tests (it is interrupted long before)
REPLICATION_ATTEMPTS = 2  # failed attempts per role assignment while a new principal replicates
INTERRUPTED = "Interrupted during step {}; run the same command again to resume."


@dataclass(frozen=True)
class Invocation:
    """One of the book's 15 az invocations, as the fault and interrupt matrices target it."""

    id: str
    step: str  # azwrap's step name, as in "Error: step '<step>' failed"
    match: str  # text only this invocation's raw argv contains (AZSIM_FAIL_MATCH, and to spot its process)
    nth: int  # AZSIM_FAIL_NTH: which call containing `match` is this invocation (a probe may come first)
    prefix: str  # its command words, for AZSIM_LATENCY_PROFILE


BOOK = [
    Invocation("login", "login", "login", 1, "login"),
    Invocation("extension-add", "extension", "extension add", 1, "extension add"),
    # `group exists --name G` probes first: "Central US --name G" is only in the create.
    Invocation("group-create-aml", "workspace", "Central US --name aml-rg", 1, "group create"),
    Invocation("ml-workspace-create", "workspace", "ml workspace create", 1, "ml workspace create"),
    Invocation("ml-computetarget-create", "compute", "ml computetarget create", 1, "ml computetarget create"),
    Invocation("group-create-adls", "storage", "Central US --name adls-rg", 1, "group create"),
    Invocation("storage-account-create", "storage", "storage account create", 1, "storage account create"),
    Invocation("storage-fs-create", "storage", "storage fs create", 1, "storage fs create"),
    Invocation("storage-fs-file-upload", "upload", "storage fs file upload", 1, "storage fs file upload"),
    Invocation("create-for-rbac", "sp", "ad sp create-for-rbac", 1, "ad sp create-for-rbac"),
    # The probe in the storage step names --resource-group first: "show --name" is only the book's.
    Invocation("storage-account-show", "sp", "storage account show --name", 1, "storage account show"),
    Invocation("role-blob-contributor", "sp", "role assignment create --role Storage Blob Data Contributor", 1,
               "role assignment create"),
    Invocation("datastore-attach", "datastore", "ml datastore attach-adls-gen2", 1, "ml datastore attach-adls-gen2"),
    # The probe before `ml workspace create` is `az resource show`: the book's show is the only one.
    Invocation("ml-workspace-show", "grant", "ml workspace show", 1, "ml workspace show"),
    Invocation("role-contributor", "grant", "role assignment create --role Contributor", 1, "role assignment create"),
]  # fmt: skip
BY_ID = {inv.id: inv for inv in BOOK}


# --------------------------------------------------------------------------- running azwrap


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

    def state(self) -> dict:
        return json.loads((self.home / "state.json").read_text(encoding="utf-8"))

    def essential(self) -> dict:
        """The simulator's essential state, with the principal azwrap recorded here as "the principal"."""
        return essential(self.state(), recorded_principal(self.cwd))

    def calls(self) -> list[list[str]]:
        path = self.home / "state.json"
        return self.state()["calls"] if path.exists() else []

    def secrets(self) -> set[str]:
        """Every client secret this place knows: the simulator's principals and azwrap's state file."""
        found = set()
        if (self.home / "state.json").exists():
            found |= {sp["password"] for sp in self.state()["service_principals"].values() if sp.get("password")}
        for state_path in self.cwd.rglob("state.json"):
            if state_path.parent.name == ".azwrap":
                recorded = json.loads(state_path.read_text(encoding="utf-8"))
                password = recorded.get("outputs", {}).get("sp", {}).get("password")
                if password:
                    found.add(password)
        return found

    def azwrap(self, *args: str, ok: tuple[int, ...] = (0,), extra_env: dict | None = None) -> Result:
        """Run the installed azwrap to its end; check its output for secrets and its exit code."""
        proc = subprocess.run([AZWRAP, *args], cwd=self.cwd, env={**self.env, **(extra_env or {})},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)  # fmt: skip
        return self.judge(args, Result(proc.returncode, proc.stdout, proc.stderr), ok)

    def judge(self, args, result: Result, ok: tuple[int, ...]) -> Result:
        assert_no_secret_in_output(self, result)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        assert result.exit_code in ok, f"azwrap {' '.join(args)} exited {result.exit_code}:\n{result.stderr}"
        return result


def assert_no_secret_in_output(place: Place, result: Result) -> None:
    """Every azwrap run of this module passes here: no principal's password in its stdout or stderr.

    Checked right after each run, against every secret the place holds at that moment (a run can
    only print a secret that exists by the time it ends)."""
    for secret in place.secrets():
        assert len(secret) >= 16, "a simulated secret too short to search for"
        assert secret not in result.stdout, "azwrap printed a client secret on stdout"
        assert secret not in result.stderr, "azwrap printed a client secret on stderr"


def make_place(root: Path) -> Place:
    root.mkdir(parents=True, exist_ok=True)
    (root / "input.csv").write_text(INPUT_CSV, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_", "AZWRAP_"))}
    env.update(
        AZSIM_HOME=str(root / ".az-sim"),
        AZSIM_GRAPH_DELAY=str(REPLICATION_ATTEMPTS),
        AZWRAP_AZ=str(SIM),
        AZWRAP_RETRY_DELAY="0.01",
        # The matrices target each invocation in the book's order (the "last call" is the failed
        # one); the parallel fan-out has its own tests in test_parallel.py.
        AZWRAP_JOBS="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return Place(cwd=root, home=root / ".az-sim", env=env)


def copy_place(source: Place, root: Path) -> Place:
    """A new place holding the same sim and azwrap state as source (made by real runs)."""
    shutil.copytree(source.cwd, root)
    return make_place(root)


# --------------------------------------------------------------------------- judging the result


def count_calls(state: dict, text: str) -> int:
    return sum(text in " ".join(argv) for argv in state["calls"])


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    """The essential state of one plain `azwrap all` from a fresh simulator (logged out)."""
    place = make_place(tmp_path_factory.mktemp("clean"))
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    state = place.state()
    assert count_calls(state, "ad sp create-for-rbac") == 1
    assert len(state["role_assignments"]) == 2 and len(state["service_principals"]) == 1
    assert count_calls(state, "role assignment create") == 2 * (REPLICATION_ATTEMPTS + 1)  # both retried
    clean = place.essential()
    assert {role[2] for role in clean["role_assignments"]} == {"the principal"}
    assert clean["datastores"]["aml-rg/aml/MLData"]["client_id"] == "the principal"
    return clean


def assert_resumed_cleanly(place: Place, clean: dict, failed_create_for_rbac: int = 0) -> None:
    """`azwrap all` again, no fault: exit 0, a clean run's state, one create-for-rbac that succeeded."""
    result = place.azwrap("all", "--account", ACCOUNT, "--quiet", ok=tuple(range(256)))
    assert result.exit_code == 0, f"the resumed run failed (exit {result.exit_code}):\n{result.stderr}"
    state = place.state()
    assert place.essential() == clean
    assert count_calls(state, "ad sp create-for-rbac") == 1 + failed_create_for_rbac, "more than one principal made"


# --------------------------------------------------------------------------- 1. fault matrix


@pytest.fixture(scope="module")
def failed_at(tmp_path_factory):
    """inv -> (place, result) of `azwrap all` from a fresh, logged-out simulator with a failure injected
    at inv. Made once per invocation and shared, read-only: tests work on copies (copy_place)."""
    made: dict[str, tuple[Place, Result]] = {}

    def get(inv: Invocation) -> tuple[Place, Result]:
        if inv.id not in made:
            place = make_place(tmp_path_factory.mktemp(f"failed-at-{inv.id}"))
            fault = {"AZSIM_FAIL_MATCH": inv.match, "AZSIM_FAIL_NTH": str(inv.nth)}
            made[inv.id] = place, place.azwrap("all", "--account", ACCOUNT, extra_env=fault, ok=tuple(range(256)))
        return made[inv.id]

    return get


@pytest.mark.parametrize("inv", BOOK, ids=[inv.id for inv in BOOK])
def test_failure_at_each_invocation_then_rerun_resumes(tmp_path, clean, failed_at, inv):
    origin, failed = failed_at(inv)
    assert failed.exit_code == 1, failed.stderr
    assert f"Error: step '{inv.step}' failed" in failed.stderr
    assert "injected failure" in failed.stderr  # az's stderr is relayed
    state = origin.state()
    assert count_calls(state, inv.match) == inv.nth
    assert inv.match in " ".join(state["calls"][-1]), "azwrap went on after the failed call"
    place = copy_place(origin, tmp_path / "place")
    # The injected failure of create-for-rbac is in `calls` too, though it made no principal.
    assert_resumed_cleanly(place, clean, failed_create_for_rbac=int(inv.id == "create-for-rbac"))


# The same, on the current ml extension (--ml-cli v2), at the invocations that differ from the
# book's; the other ten are the same argv in both dialects and run through the same code.
V2_BOOK = [
    Invocation("v2-extension-add", "extension", "extension add -n ml", 1, "extension add"),
    Invocation("v2-ml-workspace-create", "workspace", "ml workspace create", 1, "ml workspace create"),
    Invocation("v2-ml-compute-create", "compute", "ml compute create", 1, "ml compute create"),
    Invocation("v2-ml-datastore-create", "datastore", "ml datastore create", 1, "ml datastore create"),
    Invocation("v2-ml-workspace-show", "grant", "ml workspace show", 1, "ml workspace show"),
]  # fmt: skip


@pytest.fixture(scope="module")
def clean_v2(tmp_path_factory) -> dict:
    place = make_place(tmp_path_factory.mktemp("clean-v2"))
    place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")
    state = place.state()
    assert state["datastores"]["aml-rg/aml/MLData"]["api"] == "v2"
    return place.essential()


@pytest.mark.parametrize("inv", V2_BOOK, ids=[inv.id for inv in V2_BOOK])
def test_v2_failure_at_each_ml_invocation_then_rerun_resumes(tmp_path, clean_v2, inv):
    place = make_place(tmp_path / "place")
    fault = {"AZSIM_FAIL_MATCH": inv.match, "AZSIM_FAIL_NTH": str(inv.nth)}
    failed = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", extra_env=fault, ok=(1,))
    assert f"Error: step '{inv.step}' failed" in failed.stderr
    assert inv.match in " ".join(place.state()["calls"][-1]), "azwrap went on after the failed call"
    resumed = place.azwrap("all", "--account", ACCOUNT, "--ml-cli", "v2", "--quiet")
    assert resumed.exit_code == 0
    state = place.state()
    assert place.essential() == clean_v2
    assert count_calls(state, "ad sp create-for-rbac") == 1


# --------------------------------------------------------------------------- 2. interrupts


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of pid's live child processes (POSIX ps)."""
    out = subprocess.run(["ps", "-A", "-ww", "-o", "pid=", "-o", "ppid=", "-o", "stat=", "-o", "args="],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = []
    for line in out.splitlines():
        fields = line.split(None, 3)
        if len(fields) == 4 and int(fields[1]) == pid and not fields[2].startswith("Z"):
            found.append((int(fields[0]), fields[3]))
    return found


def default_signals() -> None:
    """In the child, before exec: the signals the tests send act by default, however the suite was started.

    A background job of a non-interactive shell (or `trap '' INT`) starts with SIGINT ignored, and
    `nohup` ignores SIGHUP; a child inherits that, and Python then installs no KeyboardInterrupt handler."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


def start_azwrap(args: list[str], place: Place, env: dict, **streams) -> subprocess.Popen:
    """azwrap in a session of its own (a signal goes to azwrap only), with default signal handlers."""
    return subprocess.Popen([AZWRAP, *args], cwd=place.cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=default_signals, **streams)  # fmt: skip


def wait_for_call(proc: subprocess.Popen, trace: Path, match: str, stderr=lambda: "") -> int:
    """The pid of the simulator process of azwrap's az call whose argv holds `match`, once it has traced its
    start (under a launcher that does not exec, a grandchild of azwrap, in its child's process group).

    The simulator writes the trace line after its signal handlers are set and before its latency
    sleep: the call is under way and has changed nothing yet."""
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"azwrap ended (exit {proc.returncode}) before `{match}`:\n{stderr()}"
        assert time.monotonic() < deadline, f"`{match}` never started"
        lines = trace.read_text().split("\n")[:-1] if trace.exists() else []  # whole lines only
        started = [entry["pid"] for entry in map(json.loads, lines) if match in " ".join(entry["argv"])]
        if started:
            assert os.getpgid(started[0]) in [pid for pid, _ in children(proc.pid)], "the traced call is not azwrap's"
            return started[0]
        time.sleep(0.02)


def kill_started(proc: subprocess.Popen, target: int | None) -> None:
    """In a test's finally: azwrap, and the az call's process group if it outlived azwrap."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if target is not None and alive(target):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(target), signal.SIGKILL)


def alive(pid: int) -> bool:
    out = subprocess.run(["ps", "-p", str(pid), "-o", "stat="], capture_output=True, text=True).stdout.strip()
    return bool(out) and not out.startswith("Z")


# Representative cases, each starting where the fault matrix's failed run for the same invocation stopped (a
# copy: the steps before are done, and the targeted call is the first to match its latency prefix). Each
# signal, each launcher and each step reach the same code, which tests/unit cover at every invocation
# (test_resume.py) and at every moment of a call (test_signals.py); SIGHUP and SIGQUIT are in
# test_security.py, the fan-out's stop in test_parallel.py.
INTERRUPT_CASES = [
    # Ctrl-C while the principal is being made, before azwrap could record it: the resumed run makes one.
    pytest.param(BY_ID["create-for-rbac"], signal.SIGINT, SIM, id="SIGINT-create-for-rbac"),
    # SIGTERM while az reads the secret's pipe, under a launcher that does not exec (Debian's /usr/bin/az).
    pytest.param(BY_ID["datastore-attach"], signal.SIGTERM, SIM_BIN / "az-deb", id="SIGTERM-datastore-attach-deb"),
]


@pytest.mark.parametrize(("inv", "signum", "launcher"), INTERRUPT_CASES)
def test_signal_during_an_invocation_then_rerun_resumes(tmp_path, clean, failed_at, inv, signum, launcher):
    origin, failed = failed_at(inv)
    assert failed.exit_code == 1, failed.stderr
    place = copy_place(origin, tmp_path / "place")
    seen_before = count_calls(place.state(), inv.match)
    # create-for-rbac calls so far that made no principal (the injected failure in the create-for-rbac case)
    failed_create_for_rbac = count_calls(place.state(), "ad sp create-for-rbac") - len(place.state()["service_principals"])
    out, err, trace = tmp_path / "azwrap.out", tmp_path / "azwrap.err", tmp_path / "trace"
    env = {**place.env, "AZWRAP_AZ": str(launcher), "AZSIM_LATENCY_PROFILE": json.dumps({inv.prefix: SLOW}),
           "AZSIM_TRACE": str(trace)}  # fmt: skip
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = start_azwrap(["all", "--account", ACCOUNT], place, env, stdout=stdout, stderr=stderr)
    target = None
    try:
        target = wait_for_call(proc, trace, inv.match, err.read_text)
        os.kill(proc.pid, signum)  # azwrap only, not its process group: azwrap must stop the child itself
        code = proc.wait(timeout=20)
    finally:
        kill_started(proc, target)
    result = place.judge(["all"], Result(code, out.read_text(), err.read_text()), ok=(130,))
    assert INTERRUPTED.format(inv.step) in result.stderr
    assert not alive(target), f"the az process {target} still runs after azwrap exited"
    assert count_calls(place.state(), inv.match) == seen_before, "the interrupted call reached the simulator"
    assert_resumed_cleanly(place, clean, failed_create_for_rbac)


# --------------------------------------------------------------------------- 3. directory replication


@pytest.fixture(scope="module")
def before_sp(tmp_path_factory) -> Place:
    """A place where every step before `sp` is done: `azwrap all` failed at create-for-rbac (no principal)."""
    place = make_place(tmp_path_factory.mktemp("before-sp"))
    place.azwrap("all", "--account", ACCOUNT, "--quiet", extra_env={"AZSIM_FAIL_MATCH": "ad sp create-for-rbac"}, ok=(1,))
    assert place.state()["service_principals"] == {}
    return place


# 1 to 5 failures in a row, on each step and message, are unit tests (tests/unit/test_replication.py);
# every other run here meets REPLICATION_ATTEMPTS failures per assignment.
@pytest.mark.parametrize("delay", [5])
def test_role_assignments_wait_for_replication(tmp_path, clean, before_sp, delay):
    place = copy_place(before_sp, tmp_path / "place")
    result = place.azwrap("all", "--account", ACCOUNT, "--quiet", extra_env={"AZSIM_GRAPH_DELAY": str(delay)})
    state = place.state()
    assert place.essential() == clean  # both role assignments, for the one principal
    for step in ("sp", "grant"):  # each assignment met the lag: sp's, then grant's
        assert result.stderr.count(f"{step}: the principal is not visible to role assignments yet") == delay
    assert count_calls(state, "role assignment create") == 2 * (delay + 1)


def test_other_role_assignment_error_is_not_retried(tmp_path, before_sp):
    place = copy_place(before_sp, tmp_path / "place")
    calls_before = len(place.calls())
    knobs = {"AZSIM_FAIL_MATCH": "role assignment create", "AZSIM_FAIL_STDERR": "ERROR: (AuthorizationFailed) no permission"}
    result = place.azwrap("all", "--account", ACCOUNT, "--quiet", extra_env=knobs, ok=(1,))
    assert "Error: step 'sp' failed" in result.stderr
    assert "AuthorizationFailed" in result.stderr and "retrying" not in result.stderr
    new_calls = [" ".join(argv) for argv in place.calls()[calls_before:]]
    assert sum("role assignment create" in call for call in new_calls) == 1
    assert "role assignment create" in new_calls[-1]


def test_retry_timeout_zero_gives_up(tmp_path, before_sp):
    place = copy_place(before_sp, tmp_path / "place")
    result = place.azwrap("all", "--account", ACCOUNT, "--quiet", "--retry-timeout", "0",
                          extra_env={"AZSIM_GRAPH_DELAY": "3"}, ok=(1,))  # fmt: skip
    assert "Error: step 'sp' failed" in result.stderr
    assert "Cannot find user or service principal in graph database" in result.stderr
    assert place.state()["role_assignments"] == []


# --------------------------------------------------------------------------- 4. injection

SOURCE_NAME = "it's $(touch PWNED) `id`; x.csv"
UPLOAD_PATH = "in/a b;$(touch PWNED2)/it's.csv"
HOSTILE = [
    ("--aml-group", "rg;rm -rf x"),
    ("--workspace", "ws`touch PWNED`"),
    ("--compute", "c'; touch PWNED"),
    ("--account", "acc $(id)"),
    ("--datastore", "ML Data"),
    ("--location", "Central US; $(touch PWNED)"),
]


def no_pwned(*roots: Path) -> list[str]:
    """Files named PWNED/PWNED2 (what the payloads would `touch`) under roots."""
    found = []
    for root in roots:
        found += [str(p) for p in root.rglob("PWNED*") if p.name in ("PWNED", "PWNED2")]
    return found


@pytest.mark.parametrize(("option", "value"), HOSTILE, ids=[option for option, _ in HOSTILE])
def test_hostile_setting_is_refused_before_any_az_call(tmp_path, option, value):
    place = make_place(tmp_path)
    settings = {"--account": ACCOUNT, option: value}
    args = [part for item in settings.items() for part in item]
    result = place.azwrap("all", *args, ok=(2,))
    assert option in result.stderr
    assert place.calls() == []
    assert no_pwned(tmp_path) == []


def test_metacharacters_in_source_and_upload_path_are_data(tmp_path):
    place = make_place(tmp_path / "azwrap")
    source = place.cwd / SOURCE_NAME
    source.write_text(INPUT_CSV + "1003,640.00,9,1\n", encoding="utf-8")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    expected = {f"{ACCOUNT}/fs1/{UPLOAD_PATH}": {"sha256": digest, "size": source.stat().st_size}}
    settings = ["--account", ACCOUNT, "--source", SOURCE_NAME, "--upload-path", UPLOAD_PATH]

    place.azwrap("all", *settings)
    assert place.state()["files"] == expected
    upload = [argv for argv in place.calls() if argv[:4] == ["storage", "fs", "file", "upload"]]
    assert upload == [["storage", "fs", "file", "upload", "--file-system", "fs1", "--path", UPLOAD_PATH,
                       "--source", SOURCE_NAME, "--account-name", ACCOUNT, "--subscription", SUB]]  # fmt: skip
    assert no_pwned(tmp_path, REPO) == []

    # The generated bash script, run by bash against a fresh simulator, does the same.
    script = place.cwd / "setup.sh"
    script.write_text(place.azwrap("plan", "--shell", "bash", *settings).stdout, encoding="utf-8")
    assert shutil.which("jq"), "the generated bash script needs jq"
    fresh = tmp_path / "bash-sim"
    # Like the book, the script does not retry a role assignment: this simulator replicates at once.
    env = {**place.env, "AZSIM_HOME": str(fresh), "AZSIM_GRAPH_DELAY": "0", "PATH": f"{SIM_BIN}{os.pathsep}{place.env['PATH']}"}
    proc = subprocess.run(["bash", str(script)], cwd=place.cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bash_state = json.loads((fresh / "state.json").read_text(encoding="utf-8"))
    assert bash_state["files"] == expected
    assert no_pwned(tmp_path, REPO) == []


# --------------------------------------------------------------------------- 5. torn write

FIRST = {
    "version": 1,
    "steps": {"extension": {"done_at": "2024-01-01T00:00:00+00:00", "settings": {}, "inputs": {}}},
    "outputs": {"sp": {"appId": "11111111-1111-4111-8111-111111111111", "tenant": "f1f1f1f1-0000-4000-8000-000000000001", "password": "first-secret-0123456789abcdef"}},
}
SECOND = {
    "version": 1,
    "steps": {"extension": {"done_at": "2024-01-02T00:00:00+00:00", "settings": {}, "inputs": {}},
              "workspace": {"done_at": "2024-01-02T00:00:00+00:00", "settings": {}, "inputs": {}}},
    "outputs": {"sp": {"appId": "22222222-2222-4222-8222-222222222222", "tenant": "f2f2f2f2-0000-4000-8000-000000000002", "password": "second-secret-0123456789abcd"}},
}  # fmt: skip
TORN = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    import azwrap.store.state
    path = Path(sys.argv[1])
    azwrap.store.state.save(path, json.loads(sys.argv[2]))
    os.replace = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)  # dies before the rename
    azwrap.store.state.save(path, json.loads(sys.argv[3]))
    sys.exit(0)
""")


def test_killed_save_leaves_the_previous_state(tmp_path):
    place = make_place(tmp_path)
    path = place.cwd / ".azwrap" / "state.json"
    proc = subprocess.run([sys.executable, "-c", TORN, str(path), json.dumps(FIRST), json.dumps(SECOND)],
                          cwd=place.cwd, env=place.env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert azwrap.store.state.load(path) == {**FIRST, "resources": {}}

    result = place.azwrap("status", "--format", "json")
    report = json.loads(result.stdout)
    assert [(s["step"], s["status"]) for s in report["steps"] if s["status"] == "done"] == [("extension", "done")]
    assert report["outputs"]["$sp.appId"] == "11111111-1111-4111-8111-111111111111"
    text = place.azwrap("status")
    assert "11111111-1111-4111-8111-111111111111" in text.stdout and "second" not in text.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM], ids=["SIGTERM"])
def test_signal_during_doctor_stops_its_probe_and_exits_130(tmp_path, signum):
    place = make_place(tmp_path / "place")
    trace = tmp_path / "trace"
    env = {**place.env, "AZSIM_LATENCY_PROFILE": json.dumps({"version": SLOW}), "AZSIM_TRACE": str(trace)}
    proc = start_azwrap(["doctor", "--account", ACCOUNT], place, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)  # fmt: skip
    target = None
    try:
        target = wait_for_call(proc, trace, "version")
        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        kill_started(proc, target)
    place.judge(["doctor"], Result(proc.returncode, stdout, stderr), ok=(130,))
    assert "Error: Interrupted." in stderr
    assert not alive(target), "the az child still runs after azwrap exited"
