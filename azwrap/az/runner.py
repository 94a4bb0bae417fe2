"""The one place where azwrap starts a child process: az, with argv as a list, never a shell.

az runs through `subprocess`, not the `sh` package: `sh` does not import on Windows (where az is
az.cmd) and forks by itself, so pytest-subprocess could not fake it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

from . import launch
from ..book.commands import with_subscription
from ..ui.events import CallEnded, CallStarted, Line
from ..book.quoting import command_line, echo_shell
from .redact import Redactor
from ..store.state import pid_alive, posix

# REFERENCE.md section 4: force JSON whatever the user's `az config` says, no colour codes in
# the output, and no prompt to install a missing extension in the middle of a run.
CHILD_ENV = {
    "AZURE_CORE_OUTPUT": "json",
    "AZURE_CORE_NO_COLOR": "1",
    "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
}
STDERR_TAIL_LINES = 15
NOT_FOUND = 3  # az's exit code when a `show` finds nothing (REFERENCE.md section 4)
# An interrupted az gets SIGTERM (Windows: CTRL_BREAK) for its whole process tree, then SIGKILL.
STOP_GRACE_SECONDS = 5.0
# REFERENCE.md section 6: az's token cache writes take a non-blocking exclusive lock and fail when
# another az holds it. The failure comes before any request is sent, so the call is safe to repeat.
TOKEN_CACHE_LOCKED = re.compile(r"msal_token_cache.*lockfile|lockfile.*msal_token_cache", re.S)
TOKEN_CACHE_LOCK_ERRORS = ("Permission denied", "Resource temporarily unavailable")
TOKEN_LOCK_RETRIES, TOKEN_LOCK_FIRST_DELAY = 3, 0.5
INSTALL_HINT = "Install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli) or name it with --az PATH."


class AzNotFound(Exception):
    """No az executable: the user must install the Azure CLI or point --az at it."""


@dataclass(frozen=True)
class Secret:
    """A secret argument: az receives it as @/dev/fd/N of a pipe (POSIX) or @<0600 file> (Windows),
    never on its command line."""

    value: str

    def __repr__(self) -> str:
        return "Secret(***)"


@dataclass(frozen=True)
class Joined:
    """One argument joined from parts, e.g. `credentials.client_secret=` + Secret -> `...=@<file>`."""

    parts: tuple


@dataclass(frozen=True)
class PrivateFile:
    """A file az reads (the v2 datastore YAML): written 0600 in the call's private directory."""

    name: str
    content: str


class AzFailed(Exception):
    """An az call failed, or printed something other than the JSON it was asked for."""

    def __init__(self, step: str, command: str, exit_code: int, stderr_tail: list[str], reason: str = "",
                 shown: bool = False):  # fmt: skip
        self.step, self.command, self.exit_code = step, command, exit_code
        self.stderr_tail, self.reason = stderr_tail, reason
        self.shown = shown  # az's messages reached the user as they came: not repeated here
        super().__init__(self.message())

    def message(self) -> str:
        what = self.reason or f"exit {self.exit_code}"
        lines = [f"step '{self.step}' failed ({what}): {self.command}"]
        if self.shown:
            lines.append("  (az's messages are above)")
        else:
            lines += [f"  {line}" for line in self.stderr_tail]
        return "\n".join(lines)


class Interrupted(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived while az ran; the child and its process tree have been stopped."""

    def __init__(self, step: str):
        self.step = step
        super().__init__(f"Interrupted during step {step}; run the same command again to resume.")


def find_az(given: str | None) -> str:
    """Resolve the az program once: in PATH's directories, never the current one (launch.find)."""
    path = launch.find(given)
    if path is None:
        where = f"'{given}' is not an executable" if given else "az was not found on PATH"
        raise AzNotFound(f"{where}. {INSTALL_HINT}")
    return path


def _echo_err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def token_cache_locked(stderr_lines: list[str]) -> bool:
    """Whether az failed on the MSAL token cache's lock (another az was writing it)."""
    text = "\n".join(stderr_lines)
    return bool(TOKEN_CACHE_LOCKED.search(text)) and any(error in text for error in TOKEN_CACHE_LOCK_ERRORS)


class Runner:
    """Runs az calls for the steps: reports each as events, parses JSON, raises AzFailed.

    Calls may run from several threads at once. Each az call runs in a process group of its own,
    so that stop_all() reaches everything it started, launchers that do not exec included.
    """

    def __init__(self, az: str, redact: Redactor, *, quiet: bool = False, echo: Callable[[str], None] = _echo_err,
                 shell: str | None = None, subscription: str | None = None,
                 events: Callable[[object], None] | None = None, sleep: Callable[[float], None] = time.sleep):  # fmt: skip
        self.az, self.redact, self.quiet, self.echo = az, redact, quiet, echo
        self.launch = launch.launcher(az)
        self.shell = shell or echo_shell()  # how echoed lines are quoted: "powershell" or "bash"
        self.subscription = subscription  # added to every command that takes --subscription
        self.events = events or self._print_event
        self.sleep = sleep
        # Wraps each call's wait (the engine lets other steps' code run meanwhile).
        self.around_call: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
        self._lock = threading.Lock()  # guards _live and _stopping
        self._live: set[subprocess.Popen] = set()
        self._stopping = False
        # A probe asked again before anything changed gets its first answer (doctor's checks, then the
        # refresh probes and the guards, ask some of the same things): one call per question.
        self._answers: dict[tuple, object] = {}

    def _print_event(self, event) -> None:
        """Without a progress view: echo each command (unless quiet) and az's stderr lines."""
        if isinstance(event, CallStarted) and not self.quiet:
            self.echo(f"$ {event.command}")
        elif isinstance(event, Line):
            self.echo(event.text)

    def display(self, argv: list[str]) -> str:
        """The line shown for argv (echo, logs, errors), quoted for the user's shell; secrets masked."""
        # Masked before quoting too: quoting may change how a secret inside a value is spelled.
        return self.redact(command_line(self.shell, ["az", *map(self.redact, map(str, argv[1:]))]))

    def run(self, step: str, args: list, *, capture: bool = False, not_found_ok: bool = False, shape: type = object,
            probe: bool = False):
        """Run `az *args`; with capture, return the JSON it printed, which must be of `shape`
        (None: not found, if that is ok). `probe`: a read-only call of azwrap's own, not the book's (the call
        log says which; WhatIf runs only these; a probe's answer serves until a call that is not one)."""
        if not (probe and capture):
            with self._lock:
                self._answers.clear()  # this call may change what a probe would find
            return self._run(step, args, capture=capture, not_found_ok=not_found_ok, shape=shape, probe=probe)
        key = (tuple(map(str, args)), not_found_ok, shape)
        with self._lock:
            if key in self._answers:
                return self._answers[key]
        answer = self._run(step, args, capture=capture, not_found_ok=not_found_ok, shape=shape, probe=probe)
        with self._lock:
            self._answers[key] = answer
        return answer

    def _run(self, step: str, args: list, *, capture: bool, not_found_ok: bool, shape: type, probe: bool):
        args = with_subscription(tuple(args), self.subscription)
        with Handover() as handover, self.around_call():
            argv = [self.az, *(self._arg(arg, handover) for arg in args)]
            for value in argv[1:]:
                self.launch.refuse_unsafe(self.redact(value), "the argument")
            command = self.display(argv)
            # Capturing calls (create-for-rbac above all) may print a secret we do not know yet:
            # hold their stderr back until their output is read and any secret in it registered.
            try:
                code, stdout, stderr_lines = self._call(step, [*self.launch.prefix, *argv[1:]], live_stderr=not capture,
                                                        handover=handover, command=command, probe=probe)  # fmt: skip
            except OSError as error:  # e.g. --az names a file that is not a program
                raise AzNotFound(f"could not start {self.az}: {error.strerror}. {INSTALL_HINT}") from None
            # A pipe handed over for a secret is read once: a retry needs new ones, so only calls
            # without a secret are retried here (the token lock error comes before any secret is read).
            delay = TOKEN_LOCK_FIRST_DELAY
            for _ in range(TOKEN_LOCK_RETRIES):
                if code == 0 or handover.fds or not token_cache_locked(stderr_lines):
                    break
                self.echo(f"{step}: az's token cache was locked by another az call; retrying in {delay:g}s")
                self.sleep(delay)
                delay *= 2
                code, stdout, stderr_lines = self._call(step, [*self.launch.prefix, *argv[1:]], live_stderr=not capture,
                                                        handover=handover, command=command, probe=probe)  # fmt: skip
        parsed, readable = _read_json(stdout) if capture else (None, True)  # only a capture's output is read
        if capture:
            for secret in _secrets_in(parsed):
                self.redact.add(secret)
            if stdout.strip() and not readable:
                # We cannot tell whether az's messages repeat a secret that its output held.
                stderr_lines = [WITHHELD] if stderr_lines else []
            stderr_lines = [self.redact(line) for line in stderr_lines]
        tail = stderr_lines[-STDERR_TAIL_LINES:]
        if code == NOT_FOUND and not_found_ok:
            return None
        if code != 0:
            raise AzFailed(step, command, code, tail, shown=not capture and bool(tail))
        if not capture:
            return None
        if not readable:
            # Never quote stdout here: a non-JSON create-for-rbac output would hold the secret.
            raise AzFailed(step, command, code, tail, reason=f"az printed {len(stdout)} characters that are not JSON")
        if not isinstance(parsed, shape):
            raise AzFailed(step, command, code, tail, reason=f"az printed JSON that is not {_SHAPES.get(shape, shape)}")
        for line in stderr_lines:
            self.events(Line(step, line))
        return parsed

    def _arg(self, arg, handover: Handover) -> str:
        if isinstance(arg, Secret):
            self.redact.add(arg.value)
            return "@" + handover.secret(arg.value)
        if isinstance(arg, Joined):
            return "".join(self._arg(part, handover) for part in arg.parts)
        if isinstance(arg, PrivateFile):
            return handover.file(arg.name, arg.content)
        return str(arg)

    def _call(self, step: str, argv: list[str], *, live_stderr: bool, handover: Handover | None = None,
              command: str = "", probe: bool = False) -> tuple[int, str, list[str]]:  # fmt: skip
        """Run argv; return its exit code, its stdout, and its stderr (the tail only when live)."""
        held: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES if live_stderr else None)
        stdout_chunks: list[str] = []
        env = {**os.environ, **CHILD_ENV, **self.launch.env}
        proc = None
        started_at, started = time.time(), time.monotonic()
        try:  # from the start: a signal that lands as az starts must stop it too
            with self._lock:  # no call starts once stop_all() has begun
                if self._stopping:
                    raise Interrupted(step)
                proc = subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                    text=True, encoding="utf-8", errors="replace",
                    pass_fds=handover.fds if handover else (), **group_options(),
                )  # fmt: skip
                self._live.add(proc)
            if handover:
                handover.started()
            self.events(CallStarted(step, command, probe))
            # stdout is drained in a thread so that a large output cannot block az while we read stderr.
            reader = threading.Thread(target=lambda: stdout_chunks.append(proc.stdout.read()), daemon=True)
            reader.start()
            for raw in proc.stderr:
                line = self.redact(raw.rstrip("\n"))
                held.append(line)
                if live_stderr:
                    self.events(Line(step, line))
            code = proc.wait()
        except KeyboardInterrupt:  # only in the main thread: a step command, or the steps before the fan-out
            if proc is not None:
                self.stop_all()
                self._wait_stopped(proc)
            raise Interrupted(step) from None
        finally:
            if proc is not None:
                with self._lock:
                    self._live.discard(proc)
        reader.join()
        stopped = self._stopping
        if stopped:
            _wait_group_gone(proc)
        self.events(CallEnded(step, command, probe, started_at, time.monotonic() - started, code, stopped))
        if stopped:
            raise Interrupted(step)
        return code, "".join(stdout_chunks), list(held)

    def stop_all(self, urgent: bool = False) -> None:
        """Stop every running az call with its process tree, and start no new one.

        TERM first (a timer sends KILL after STOP_GRACE_SECONDS); urgent: KILL at once."""
        with self._lock:
            first = not self._stopping
            self._stopping = True
            live = list(self._live)
        for proc in live:
            stop_tree(proc, urgent)
        if first and not urgent:
            timer = threading.Timer(STOP_GRACE_SECONDS, self.stop_all, kwargs={"urgent": True})
            timer.daemon = True
            timer.start()

    def _wait_stopped(self, proc: subprocess.Popen) -> None:
        """Wait for a stopped call; a second Ctrl-C kills it at once."""
        while True:
            try:
                proc.wait()
                _wait_group_gone(proc)
                return
            except KeyboardInterrupt:
                self.stop_all(urgent=True)


WITHHELD = "(az's messages are withheld: its output was not JSON and may hold a secret)"
_SHAPES = {dict: "an object", list: "a list"}
# JSON fields whose values are secrets wherever they appear (create-for-rbac's "password").
SECRET_KEYS = ("password", "secret")


def _read_json(text: str):
    """(parsed JSON, True), or (None, False) when text is not JSON."""
    try:
        return json.loads(text), True
    except ValueError:
        return None, False


def _secrets_in(data) -> list[str]:
    """Values of secret-looking keys anywhere in parsed JSON (objects inside lists included)."""
    if isinstance(data, list):
        return [secret for item in data for secret in _secrets_in(item)]
    if not isinstance(data, dict):
        return []
    found = []
    for key, value in data.items():
        if isinstance(value, str) and any(word in key.lower() for word in SECRET_KEYS):
            found.append(value)
        else:
            found += _secrets_in(value)
    return found


PRIVATE_PREFIX = "azwrap-"


class Handover:
    """What one az call reads besides its argv: secrets and private files, gone when the call ends.

    On POSIX a secret goes through a pipe that the child inherits, as @/dev/fd/N (azure-cli reads
    any @path with a plain open, REFERENCE.md section 7), so it never touches a disk. A pipe can be
    read once only: one per secret argument. azwrap writes it from a thread, so a value larger than
    the pipe's buffer cannot block the call. Where that is impossible (Windows), the secret is a
    0600 file in a 0700 temporary directory, like the v2 YAML (which holds no secret).
    """

    def __init__(self) -> None:
        self.fds: tuple[int, ...] = ()
        self._writers: list[tuple[threading.Thread, int]] = []  # (writer, its pipe's write end)
        self._directory: str | None = None

    def __enter__(self) -> Handover:
        return self

    def secret(self, value: str) -> str:
        if not launch.secret_by_pipe():
            return self.file("secret", value)
        read_end, write_end = os.pipe()
        self.fds += (read_end,)
        writer = threading.Thread(target=_write_all, args=(write_end, value.encode("utf-8")), daemon=True)
        self._writers.append((writer, write_end))
        return f"/dev/fd/{read_end}"

    def file(self, name: str, content: str) -> str:
        if self._directory is None:
            # The pid in the name lets a later run remove it if this one is killed (remove_stale_private_dirs).
            self._directory = tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-")  # created 0700
        path = os.path.join(self._directory, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)  # no newline: az reads the file's whole content as the value
        return path

    def started(self) -> None:
        """The child holds its copies of the pipes now: write them."""
        for writer, _ in self._writers:
            writer.start()

    def __exit__(self, *exc) -> None:
        for fd in self.fds:  # a writer still blocked (az never read) gets EPIPE and ends
            os.close(fd)
        for writer, write_end in self._writers:
            if writer.ident is not None:
                writer.join()  # it closes its write end
            else:
                os.close(write_end)  # az never started
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # EPIPE: az ended without reading it
        pass
    finally:
        os.close(fd)


def remove_stale_private_dirs(directory: str | None = None) -> None:
    """Remove this user's azwrap-* temporary directories whose azwrap is gone (killed mid-call)."""
    directory = directory or tempfile.gettempdir()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.startswith(PRIVATE_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (posix() and info.st_uid != os.getuid()):
            continue
        pid = name[len(PRIVATE_PREFIX):].split("-", 1)[0]
        # Older azwraps did not name their pid: theirs are stale once older than any az call.
        stale = not pid_alive(int(pid)) if pid.isdigit() else time.time() - info.st_mtime > 3600
        if stale:
            shutil.rmtree(path, ignore_errors=True)


def _windows() -> bool:
    return os.name == "nt"


# Windows' flag, spelled out: the subprocess constant exists only on Windows.
CREATE_NEW_PROCESS_GROUP = 0x00000200


def group_options(windows: bool | None = None) -> dict:
    """Popen options that give each az call a process group of its own.

    POSIX: a new session (and group), so a signal to the group reaches python under a launcher that
    does not exec (Debian's /usr/bin/az, Homebrew's az) and the terminal's Ctrl-C reaches only azwrap.
    Windows: a new process group, so CTRL_BREAK reaches cmd.exe running az.cmd and python under it."""
    if _windows() if windows is None else windows:
        return {"creationflags": CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def stop_tree(proc: subprocess.Popen, urgent: bool, windows: bool | None = None) -> None:
    """Ask an az call and everything it started to stop (urgent: kill it)."""
    if proc.pid <= 0 or (proc.poll() is not None and not urgent):
        return  # pid 0 would be azwrap's own group (a faked process in the tests has it)
    if _windows() if windows is None else windows:
        if urgent:
            # taskkill /T ends the whole tree (cmd.exe, python, whatever it started).
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)  # fmt: skip
        else:
            proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", 1))
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL if urgent else signal.SIGTERM)  # its group id is its pid
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


def _wait_group_gone(proc: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """After a stopped call's first process ended, wait until no process of its group is left
    (python under a launcher may outlive the launcher by a moment), killing it after the grace."""
    if _windows():
        return  # taskkill /T has ended the tree
    deadline, killed = time.monotonic() + grace, False
    while _group_alive(proc.pid):
        if time.monotonic() > deadline:
            if killed:
                return  # only zombies can be left, for their new parent to reap
            os.killpg(proc.pid, signal.SIGKILL)
            deadline, killed = time.monotonic() + 1.0, True
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    if pgid <= 0:
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class WhatIf(Runner):
    """`azwrap all --what-if`: the probes run (read-only); every other call is listed, not run (the book's
    invocations, reads among them, and any delete)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.would_run: list[tuple[str, str]] = []  # (step, command as displayed)

    def run(self, step: str, args: list, *, capture: bool = False, not_found_ok: bool = False, shape: type = object,
            probe: bool = False):
        if probe:
            return super().run(step, args, capture=capture, not_found_ok=not_found_ok, shape=shape, probe=probe)
        shown = [self.az, *(_shown(arg) for arg in with_subscription(tuple(args), self.subscription))]
        command = self.display(shown)
        self.would_run.append((step, command))
        self.echo(f"what-if: would run: {command}")
        return _Unknown(command) if capture else None


def _shown(arg) -> str:
    """An argument as the what-if list shows it: secrets as their placeholder, files by name."""
    if isinstance(arg, Secret):
        return "***"
    if isinstance(arg, Joined):
        return "".join(_shown(part) for part in arg.parts)
    if isinstance(arg, PrivateFile):
        return arg.name
    return str(arg)


class _Unknown(dict):
    """The JSON a call that did not run would print: every field is `<from az ...>`."""

    def __init__(self, command: str):
        super().__init__()
        self.command = command

    def get(self, key, default=None):
        return f"<{key} from {self.command.split(' --')[0]}>"

    def __getitem__(self, key):
        return self.get(key)
