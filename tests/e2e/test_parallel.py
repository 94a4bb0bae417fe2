"""`azwrap all` in parallel, end to end on the simulator: overlap, dependency order, the jobs limit,
a failure in one branch, signals with a launcher that does not exec, the state lock, the call log,
and what the user sees on a terminal and through a pipe.

POSIX-only (signals, /proc, a pseudo-terminal). Each test has its own directory and AZSIM_HOME.
The simulator records each call's start (before its latency) and end (its state saved) in its
`timeline`; azwrap's call log names the step of each call, in the same order per command.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from azwrap.book.steps import NEEDS, STEPS

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "scripts" / "az-sim"
SIM_DEB = REPO / "scripts" / "sim-bin" / "az-deb"  # bash launcher that does not exec, like Debian's az
BIN = Path(sys.executable).parent
AZWRAP = str(BIN / "azwrap")
ACCOUNT = "parallellake"
PROFILE = json.loads((REPO / "scripts" / "latency-profile.json").read_text(encoding="utf-8"))
BOOK_ORDER = [step.name for step in STEPS]


@dataclass
class Place:
    cwd: Path
    home: Path
    env: dict

    def run(self, *args: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run([AZWRAP, *args], cwd=self.cwd, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    def start(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        """azwrap in the background, with default signal handlers however the suite was started (with SIGINT
        ignored, `trap '' INT`, azwrap would inherit that, as a background job does)."""
        return subprocess.Popen([AZWRAP, *args], cwd=self.cwd, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=default_signals)  # fmt: skip

    def sim(self) -> dict:
        return json.loads((self.home / "state.json").read_text(encoding="utf-8"))

    def log(self) -> list[dict]:
        return json.loads(self.run("log", "--format", "json").stdout)

    def secrets(self) -> set[str]:
        return {sp["password"] for sp in self.sim()["service_principals"].values()}


def default_signals() -> None:
    """In the child, before exec: the signals the tests send act by default."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


def kill_all(place: Place, *procs: subprocess.Popen) -> None:
    """In a test's finally: whatever it started and left running (azwrap, and the simulator's processes)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid in az_processes(place.home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def make_place(root: Path, *, launcher: Path = SIM, scale: float | None = 0.02) -> Place:
    root.mkdir(parents=True, exist_ok=True)
    (root / "input.csv").write_text("customer_id,total_spend\n1,120.5\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZSIM_", "AZURE_", "AZWRAP_"))}
    env.update(AZSIM_HOME=str(root / ".az-sim"), AZWRAP_AZ=str(launcher), AZWRAP_RETRY_DELAY="0.01",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
    if scale is not None:
        env.update(AZSIM_LATENCY_PROFILE=json.dumps(PROFILE), AZSIM_CLOCK_SCALE=str(scale))
    return Place(cwd=root, home=root / ".az-sim", env=env)


def calls_with_steps(place: Place) -> list[dict]:
    """The simulator's timeline, each call given the step azwrap's call log names for it."""
    log = place.log()
    timeline = place.sim()["timeline"]
    assert len(log) == len(timeline), "azwrap's call log and the simulator disagree on the number of calls"
    by_command: dict[str, list[str]] = {}
    for record in sorted(log, key=lambda record: record["start"]):
        by_command.setdefault(record["command"], []).append(record["step"])
    calls = []
    for entry in sorted(timeline, key=lambda entry: entry["start"]):
        command = shlex.join(["az", *entry["argv"]])
        calls.append({**entry, "step": by_command[command].pop(0), "command": command})
    return calls


def overlap(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def most_at_once(calls: list[dict]) -> int:
    edges = sorted([(c["start"], 1) for c in calls] + [(c["end"], -1) for c in calls])
    now = most = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    return most


def needs_closure(step: str) -> set[str]:
    found: set[str] = set()
    for need in NEEDS[step]:
        found |= {need} | needs_closure(need)
    return found


def az_processes(home: Path) -> list[int]:
    """Live processes started for this place's simulator (found by AZSIM_HOME in their environment)."""
    marker = f"AZSIM_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") and b"Z" not in _state(entry):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _state(proc_dir: Path) -> bytes:
    return (proc_dir / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]


def wait_for(condition, what: str, timeout: float = 30):
    """Poll an observable condition (a process, a file) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# --------------------------------------------------------------------------- overlap and order


# Linux's text for az's token cache held by another az (REFERENCE.md section 8), on the call that takes
# the secret through a pipe: az reads the pipe, then fails.
TOKEN_LOCK = {"AZSIM_TOKEN_LOCK": "portalocker", "AZSIM_TOKEN_LOCK_MATCH": "attach-adls-gen2", "AZSIM_TOKEN_LOCK_COUNT": "1"}


@pytest.fixture(scope="module")
def parallel_run(tmp_path_factory) -> tuple[Place, subprocess.CompletedProcess]:
    place = make_place(tmp_path_factory.mktemp("parallel"))
    result = place.run("all", "--account", ACCOUNT, env=TOKEN_LOCK)
    assert result.returncode == 0, result.stderr
    return place, result


def test_calls_overlap_and_each_starts_after_every_call_it_depends_on(parallel_run):
    place, _ = parallel_run
    calls = calls_with_steps(place)
    fan_out = [c for c in calls if c["step"] not in ("login", "refresh", "doctor", "extension")]
    # The workspace and storage branches run at the same time.
    assert any(overlap(a, b) for a in fan_out for b in fan_out if a["step"] != b["step"])
    assert 2 <= most_at_once(calls) <= 4  # the default --jobs 4
    for call in fan_out:
        for earlier in calls:
            if earlier["step"] in needs_closure(call["step"]) | {"extension", "login", "refresh", "doctor"}:
                assert call["start"] > earlier["end"], f"{call['command']} started before {earlier['command']} ended"
    # Within a step, the book's order: each call starts after the step's previous call ended.
    for step in BOOK_ORDER:
        own = [c for c in calls if c["step"] == step]
        assert all(b["start"] > a["end"] for a, b in zip(own, own[1:], strict=False))
    # The token probe opens the refresh: before the extension and the fan-out, and before the refresh's
    # other probes, so that none of them has to renew az's token cache while others run.
    [extension_add] = [c for c in calls if c["argv"][:2] == ["extension", "add"]]
    [token] = [c for c in calls if c["argv"][:2] == ["account", "get-access-token"]]
    probes = [c for c in calls if c["step"] == "refresh" and c is not token]
    assert token["end"] < extension_add["start"] and all(token["end"] < c["start"] for c in fan_out + probes)


def test_the_state_records_each_steps_timing_and_the_summary_adds_them(parallel_run):
    place, result = parallel_run
    status = json.loads(place.run("status", "--format", "json").stdout)
    for step in status["steps"]:
        assert step["seconds"] > 0 and step["started_at"] < step["ended_at"], step
    assert "Summary (seconds per step):" in result.stderr
    assert "saved by running in parallel" in result.stderr
    text = place.run("status").stdout
    assert "workspace  done" in text and "s (" in text


def test_the_call_log_has_every_call_masked_and_private(parallel_run):
    place, _ = parallel_run
    log_path = place.cwd / ".azwrap" / "log.jsonl"
    assert log_path.stat().st_mode & 0o777 == 0o600
    records = place.log()
    assert len({record["run"] for record in records}) == 1
    assert {record["kind"] for record in records} == {"probe", "book"}
    assert all(record["exit_code"] in (0, 1, 3) for record in records)
    [create] = [r for r in records if r["command"] == "az ad sp create-for-rbac"]
    assert create["kind"] == "book" and create["step"] == "sp"
    text = log_path.read_text(encoding="utf-8")
    for secret in place.secrets():
        assert secret not in text
    table = place.run("log").stdout
    assert "az ml workspace create" in table and "book" in table and "probe" in table


def test_a_call_failing_on_the_token_cache_lock_is_retried_with_its_secret_through_a_fresh_pipe(parallel_run):
    place, result = parallel_run
    assert result.stderr.count("datastore: az's token cache was locked by another az call; retrying in") == 1
    attaches = [argv for argv in place.sim()["calls"] if argv[:3] == ["ml", "datastore", "attach-adls-gen2"]]
    assert len(attaches) == 2
    # The simulator accepts a datastore only with a secret its principal accepts: the last try had it.
    [datastore] = place.sim()["datastores"].values()
    assert datastore["client_secret"] in place.secrets()


def test_plain_lines_through_a_pipe_name_their_step_and_hold_no_control_codes(parallel_run):
    _, result = parallel_run
    assert "[workspace] $ az ml workspace create" in result.stderr
    assert "[storage] done in" in result.stderr
    assert "\x1b" not in result.stderr + result.stdout


def test_jobs_1_runs_the_book_in_order_one_call_at_a_time(tmp_path):
    place = make_place(tmp_path / "p", scale=None)
    result = place.run("all", "--account", ACCOUNT, "--jobs", "1")
    assert result.returncode == 0, result.stderr
    calls = calls_with_steps(place)
    assert all(b["start"] > a["end"] for a, b in zip(calls, calls[1:], strict=False))
    steps = [c["step"] for c in calls if c["step"] in BOOK_ORDER and c["step"] != "login"]
    assert steps == sorted(steps, key=BOOK_ORDER.index)
    [extension_add] = [c for c in calls if c["argv"][:2] == ["extension", "add"]]
    # No token probe before a fan-out: nothing runs beside anything.
    assert not any(c["argv"][:2] == ["account", "get-access-token"] and c["start"] > extension_add["end"] for c in calls)


# --------------------------------------------------------------------------- a failure in one branch


def test_a_failure_in_one_branch_lets_running_steps_finish_and_starts_no_new_one(tmp_path):
    place = make_place(tmp_path / "p")
    failed = place.run("all", "--account", ACCOUNT, env={"AZSIM_FAIL_MATCH": "storage account create"})
    assert failed.returncode == 1, failed.stderr
    assert "Error: step 'storage' failed (exit 1): az storage account create" in failed.stderr
    recorded = json.loads((place.cwd / ".azwrap" / "state.json").read_text())["steps"]
    # workspace ran beside storage (its create is longer) and finished after the failure: recorded.
    assert "workspace" in recorded
    assert not {"storage", "upload", "sp", "compute", "datastore", "grant"} & set(recorded)
    argvs = [" ".join(argv) for argv in place.sim()["calls"]]
    assert not any(text in argv for argv in argvs for text in ("create-for-rbac", "fs file upload", "computetarget"))
    resumed = place.run("all", "--account", ACCOUNT)
    assert resumed.returncode == 0, resumed.stderr
    assert len(place.sim()["service_principals"]) == 1


# --------------------------------------------------------------------------- signals, with a launcher that does not exec


# Ctrl-C once: SIGTERM, SIGHUP and SIGQUIT take the same way (tests/unit/test_signals.py, and one each in
# test_reliability.py and test_security.py).
@pytest.mark.parametrize("signum", [signal.SIGINT], ids=["SIGINT"])
def test_a_signal_mid_run_stops_every_az_process_and_the_run_resumes(tmp_path, signum):
    place = make_place(tmp_path / "p", launcher=SIM_DEB, scale=0.05)
    proc = place.start("all", "--account", ACCOUNT)
    try:
        # The fan-out has begun when az processes of two steps run at once (launcher + python each).
        wait_for(lambda: proc.poll() is not None or len(az_processes(place.home)) >= 4, "two az calls at once")
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(proc.pid, signum)
        _, stderr = proc.communicate(timeout=30)
        assert az_processes(place.home) == [], "an az process outlived azwrap"
    finally:
        kill_all(place, proc)
    assert proc.returncode == 130, stderr
    assert "Interrupted during step " in stderr and "run the same command again to resume." in stderr
    assert "Traceback" not in stderr
    resumed = place.run("all", "--account", ACCOUNT, env={"AZSIM_CLOCK_SCALE": "0"})
    assert resumed.returncode == 0, resumed.stderr
    sim = place.sim()
    assert len(sim["service_principals"]) == 1 and len(sim["role_assignments"]) == 2


# --------------------------------------------------------------------------- one azwrap per state file


def test_a_second_azwrap_on_the_same_state_exits_2_naming_the_first(tmp_path):
    place = make_place(tmp_path / "p", scale=0.02)
    first = place.start("all", "--account", ACCOUNT)
    lock = place.cwd / ".azwrap" / "state.json.lock"
    try:
        wait_for(lambda: lock.exists() and lock.read_text().partition("\n")[0] == str(first.pid), "the first azwrap's lock")
        second = place.run("sp", "--account", ACCOUNT)
        _, first_err = first.communicate(timeout=60)
    finally:
        kill_all(place, first)
    assert second.returncode == 2
    assert f"another azwrap (pid {first.pid}) is running on .azwrap/state.json" in second.stderr
    assert first.returncode == 0, first_err
    assert len(place.sim()["service_principals"]) == 1


def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path):
    place = make_place(tmp_path / "p", scale=None)
    subprocess.run([str(SIM), "login"], env=place.env, check=True, capture_output=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from azwrap.store import lock\n"
         "with lock.hold(Path('.azwrap/state.json')):\n    print('held', flush=True); time.sleep(60)"],
        cwd=place.cwd, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        blocked = place.run("storage", "--account", ACCOUNT)
    finally:
        holder.kill()
        holder.wait()
    assert blocked.returncode == 2 and f"pid {holder.pid}" in blocked.stderr
    holder.kill()
    holder.wait()
    stale = (place.cwd / ".azwrap" / "state.json.lock").read_text()
    assert stale.partition("\n")[0] == str(holder.pid)  # left behind, naming a pid that is gone
    after = place.run("storage", "--account", ACCOUNT)
    assert after.returncode == 0, after.stderr


# --------------------------------------------------------------------------- the live view on a terminal


def run_on_a_terminal(place: Place, *args: str, env: dict | None = None) -> str:
    """Run azwrap with stdout and stderr on a pseudo-terminal; return all it wrote there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([AZWRAP, *args], cwd=place.cwd, env={**place.env, "TERM": "xterm", "COLUMNS": "160",
                                                                  **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed, azwrap has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_a_live_view_shows_one_line_per_step(tmp_path):
    place = make_place(tmp_path / "p", scale=0.01)
    text = run_on_a_terminal(place, "all", "--account", ACCOUNT)
    assert "\x1b[" in text  # redrawn in place
    assert "\x1b[32m" in text  # done, in green
    final = text.rsplit("Summary", 1)[0]
    for step in ("extension", "workspace", "compute", "storage", "upload", "sp", "datastore", "grant"):
        assert any(line.strip().startswith(step) and "done" in line for line in final.splitlines()), step
    assert "[storage] WARNING: There are no credentials provided" in text  # az's stderr above the view
    for secret in place.secrets():
        assert secret not in text


def test_no_color_on_a_terminal_draws_the_view_without_colours(tmp_path):
    place = make_place(tmp_path / "p", scale=None)
    text = run_on_a_terminal(place, "all", "--account", ACCOUNT, env={"NO_COLOR": "1"})
    assert "done" in text
    assert "\x1b[32m" not in text and "\x1b[33m" not in text
