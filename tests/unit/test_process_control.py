"""The runner's control of az processes: process groups per platform, the token-cache lock retry,
and the state lock, with patched platform facts where Windows is concerned."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from azwrap.store import lock
from azwrap.az import process, runner
from azwrap.az.redact import Redactor

LOCKED_CACHE = ("ERROR: [Errno 11] Resource temporarily unavailable: "
                "'/home/me/.azure/msal_token_cache.bin.lockfile' (msal_token_cache)")  # fmt: skip


def test_posix_calls_get_a_session_of_their_own():
    assert process.group_options(windows=False) == {"start_new_session": True}


def test_windows_calls_get_a_process_group_of_their_own():
    assert process.group_options(windows=True) == {"creationflags": 0x00000200}  # CREATE_NEW_PROCESS_GROUP


class FakeProcess:
    def __init__(self, pid=4242, returncode=None):
        self.pid, self.returncode, self.signals = pid, returncode, []

    def poll(self):
        return self.returncode

    def send_signal(self, signum):
        self.signals.append(signum)


def test_windows_stop_sends_ctrl_break_to_the_group_then_kills_the_tree(fp):
    proc = FakeProcess()
    process.stop_tree(proc, urgent=False, windows=True)
    assert proc.signals == [getattr(signal, "CTRL_BREAK_EVENT", 1)]
    fp.register(["taskkill", "/F", "/T", "/PID", "4242"])
    process.stop_tree(proc, urgent=True, windows=True)
    assert fp.call_count(["taskkill", "/F", "/T", "/PID", "4242"]) == 1


def test_a_stop_never_signals_pid_0_which_is_azwraps_own_group(monkeypatch):
    sent = []
    monkeypatch.setattr(process.os, "killpg", lambda pid, signum: sent.append((pid, signum)))
    process.stop_tree(FakeProcess(pid=0), urgent=True, windows=False)
    process.stop_tree(FakeProcess(pid=77), urgent=True, windows=False)
    assert sent == [(77, signal.SIGKILL)]


def test_the_token_cache_lock_error_is_recognised_and_others_are_not():
    assert runner.token_cache_locked([LOCKED_CACHE])
    assert runner.token_cache_locked(["PermissionError: [Errno 13] Permission denied: "
                                      "'C:\\\\Users\\\\me\\\\.azure\\\\msal_token_cache.bin.lockfile'"])  # fmt: skip
    assert not runner.token_cache_locked(["ERROR: (AuthorizationFailed) Permission denied"])


def test_a_call_failing_on_the_token_cache_lock_is_retried(fp, tmp_path):
    az = str(tmp_path / "az")
    fp.register([az, "group", "create", "--name", "g"], returncode=1, stderr=LOCKED_CACHE + "\n")
    fp.register([az, "group", "create", "--name", "g"], stdout=json.dumps({"name": "g"}))
    slept = []
    run = runner.Runner(az, Redactor(), quiet=True, echo=lambda line: None, sleep=slept.append)
    run.run("workspace", ["group", "create", "--name", "g"])
    assert fp.call_count([az, "group", "create", "--name", "g"]) == 2
    assert slept == [runner.TOKEN_LOCK_FIRST_DELAY]


def test_the_token_cache_lock_retry_is_bounded(fp, tmp_path):
    az = str(tmp_path / "az")
    for _ in range(runner.TOKEN_LOCK_RETRIES + 1):
        fp.register([az, "version"], returncode=1, stderr=LOCKED_CACHE + "\n")
    run = runner.Runner(az, Redactor(), quiet=True, echo=lambda line: None, sleep=lambda seconds: None)
    with pytest.raises(runner.AzFailed):
        run.run("doctor", ["version"])
    assert fp.call_count([az, "version"]) == runner.TOKEN_LOCK_RETRIES + 1


def test_a_second_holder_of_the_state_lock_is_told_the_first_ones_pid(tmp_path):
    state_path = tmp_path / ".azwrap" / "state.json"
    holder = subprocess.Popen(
        ["python3", "-c", "import sys, time; from pathlib import Path; sys.path.insert(0, sys.argv[2])\n"
         "from azwrap.store import lock\nwith lock.hold(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(state_path), str(Path(lock.__file__).parents[1])],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(lock.Locked, match=f"another azwrap \\(pid {holder.pid}\\)"):
            with lock.hold(state_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with lock.hold(state_path):  # the killed holder's lock is gone with it
        assert (tmp_path / ".azwrap" / "state.json.lock").stat().st_mode & 0o777 == 0o600
