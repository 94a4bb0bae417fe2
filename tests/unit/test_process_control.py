"""The runner's control of az processes: process groups per platform, the token-cache lock retry,
and the state lock, with patched platform facts where Windows is concerned."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from azwrap.store import lock
from azwrap.az import process, replies, runner
from azwrap.az.redact import Redactor

# What az prints when another az holds its token cache's lock (REFERENCE.md section 8), by platform: az
# reports an unexpected error with its traceback, whose last line names the exception.
UNEXPECTED = "ERROR: The command failed with an unexpected error. Here is the traceback:\n"
LOCKED_CACHE = {
    "windows": UNEXPECTED + "ERROR: [Errno 13] Permission denied: 'C:\\\\Users\\\\me\\\\.azure\\\\msal_token_cache.bin.lockfile'\n"
               "Traceback (most recent call last):\n  File \"D:\\a\\_work\\1\\s\\build_scripts\\windows\\artifacts\\cli\\Lib\\"
               "site-packages\\msal_extensions\\cache_lock.py\", line 38, in __init__\n"
               "PermissionError: [Errno 13] Permission denied: 'C:\\\\Users\\\\me\\\\.azure\\\\msal_token_cache.bin.lockfile'\n",
    "linux-portalocker": UNEXPECTED + "ERROR: [Errno 11] Resource temporarily unavailable\n"
                         "Traceback (most recent call last):\n  File \"/opt/az/lib/python3.12/site-packages/portalocker/"
                         "portalocker.py\", line 118, in lock\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n"
                         "portalocker.exceptions.LockException: [Errno 11] Resource temporarily unavailable\n",
    "macos-portalocker": UNEXPECTED + "ERROR: [Errno 35] Resource temporarily unavailable\n"
                         "portalocker.exceptions.LockException: [Errno 35] Resource temporarily unavailable\n",
    "msal-extensions": UNEXPECTED + "ERROR: Unable to obtain lock, despite trying for 5 second(s). You may want to "
                       "delete the /home/me/.azure/msal_token_cache.bin.lockfile file.\n",
}  # fmt: skip
NOT_LOCKED = {
    "authorization": "ERROR: (AuthorizationFailed) Permission denied on scope /subscriptions/x\n",
    "a socket's EAGAIN": "ERROR: HTTPSConnectionPool(host='management.azure.com', port=443): [Errno 11] Resource "
                         "temporarily unavailable\n",
    "another lock file": "ERROR: [Errno 13] Permission denied: '/home/me/.azure/commandIndex.json.lockfile'\n",
}  # fmt: skip


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


@pytest.mark.parametrize("text", LOCKED_CACHE.values(), ids=LOCKED_CACHE)
def test_each_platforms_token_cache_lock_error_is_recognised(text):
    assert replies.token_cache_locked(text.splitlines())


@pytest.mark.parametrize("text", NOT_LOCKED.values(), ids=NOT_LOCKED)
def test_other_errors_are_not_taken_for_the_token_cache_lock(text):
    assert not replies.token_cache_locked(text.splitlines())


@pytest.mark.parametrize("text", LOCKED_CACHE.values(), ids=LOCKED_CACHE)
def test_a_call_failing_on_the_token_cache_lock_is_retried(fp, tmp_path, text):
    az = str(tmp_path / "az")
    fp.register([az, "group", "create", "--name", "g"], returncode=1, stderr=text)
    fp.register([az, "group", "create", "--name", "g"], stdout=json.dumps({"name": "g"}))
    slept = []
    run = runner.Runner(az, Redactor(), quiet=True, echo=lambda line: None, sleep=slept.append)
    run.run("workspace", ["group", "create", "--name", "g"])
    assert fp.call_count([az, "group", "create", "--name", "g"]) == 2
    assert slept == [runner.TOKEN_LOCK_FIRST_DELAY]


# A real child: it reads every @path argument, as az does before it parses, and fails on the token
# cache's lock the first time.
SECRET_READER = """#!{python}
import json, os, sys
reads = []
for arg in sys.argv[1:]:
    if arg.startswith("@"):
        with open(arg[1:], encoding="utf-8") as handle:
            reads.append(handle.read())
count = os.path.join(os.path.dirname(sys.argv[0]), "calls")
calls = int(open(count).read()) + 1 if os.path.exists(count) else 1
open(count, "w").write(str(calls))
with open(os.path.join(os.path.dirname(sys.argv[0]), "reads"), "a") as log:
    log.write(json.dumps(reads) + "\\n")
if calls == 1:
    sys.stderr.write({locked!r})
    sys.exit(1)
"""


@pytest.mark.skipif(process._windows(), reason="the secret's pipe is POSIX")
def test_a_call_given_a_secret_is_retried_with_the_secret_sent_again_through_a_fresh_pipe(tmp_path):
    import sys

    az = tmp_path / "az"
    az.write_text(SECRET_READER.format(python=sys.executable, locked=LOCKED_CACHE["linux-portalocker"]))
    az.chmod(0o755)
    run = runner.Runner(str(az), Redactor(), quiet=True, echo=lambda line: None, sleep=lambda seconds: None)
    run.run("datastore", ["ml", "datastore", "attach-adls-gen2", "--client-secret", runner.Secret("s3cr3t-value")])
    reads = [json.loads(line) for line in (tmp_path / "reads").read_text().splitlines()]
    assert reads == [["s3cr3t-value"], ["s3cr3t-value"]]  # the pipe read by the failed call is not used again


def test_the_token_cache_lock_retry_is_bounded(fp, tmp_path):
    az = str(tmp_path / "az")
    for _ in range(runner.TOKEN_LOCK_RETRIES + 1):
        fp.register([az, "version"], returncode=1, stderr=LOCKED_CACHE["msal-extensions"])
    slept = []
    run = runner.Runner(az, Redactor(), quiet=True, echo=lambda line: None, sleep=slept.append)
    with pytest.raises(runner.AzFailed):
        run.run("doctor", ["version"])
    assert fp.call_count([az, "version"]) == runner.TOKEN_LOCK_RETRIES + 1
    assert slept == [0.5, 1.0, 2.0]  # README: up to 3 times, after 0.5 s, 1 s, 2 s


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
