"""The one place where azwrap starts a child process: az, with argv as a list, never a shell.

az runs through `subprocess`, not the `sh` package: `sh` does not import on Windows (where az is
az.cmd) and forks by itself, so pytest-subprocess could not fake it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from . import launch
from ..book.commands import with_subscription
from ..ui.events import CallEnded, CallStarted, Line
from ..book.quoting import command_line, echo_shell
from .handover import Handover
from . import process
from .process import STOP_GRACE_SECONDS, group_options, stop_tree
from .redact import Redactor
from .replies import read_json, secrets_in, shape_name, token_cache_locked

# REFERENCE.md section 4: force JSON whatever the user's `az config` says, no colour codes in
# the output, and no prompt to install a missing extension in the middle of a run. az's warnings on:
# azwrap reads some (create-for-rbac's "We will patch it"), and CI pipelines often turn them off
# (Azure/azure-cli#23787); knack reads AZURE_CORE_ONLY_SHOW_ERRORS before the config file.
CHILD_ENV = {
    "AZURE_CORE_OUTPUT": "json",
    "AZURE_CORE_NO_COLOR": "1",
    "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
    "AZURE_CORE_ONLY_SHOW_ERRORS": "false",
}
STDERR_TAIL_LINES = 15
NOT_FOUND = 3  # az's exit code when a `show` finds nothing (REFERENCE.md section 4)
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


_NOT_ASKED = object()


class Runner:
    """Runs az calls for the steps: reports each as events, parses JSON, raises AzFailed.

    Calls may run from several threads at once. Each az call runs in a process group of its own,
    so that stop_all() reaches everything it started, launchers that do not exec included.
    """

    def __init__(self, az: str, redact: Redactor, *, quiet: bool = False, echo: Callable[[str], None] = _echo_err,
                 shell: str | None = None, subscription: str | None = None,
                 events: Callable[[object], None] | None = None, sleep: Callable[[float], None] | None = None):  # fmt: skip
        self.az, self.redact, self.quiet, self.echo = az, redact, quiet, echo
        self.launch = launch.launcher(az)
        self.shell = shell or echo_shell()  # how echoed lines are quoted: "powershell" or "bash"
        self.subscription = subscription  # added to every command that takes --subscription
        self.events = events or self._print_event
        self.sleep = sleep or self.pause  # between tries after a token cache lock error
        # Wraps each call's wait (apply lets other steps' code run meanwhile).
        self.around_call: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
        self._lock = threading.Lock()  # guards _live and _stopping
        self._live: set[subprocess.Popen] = set()
        self._stopping = False
        self._stop_requested = threading.Event()  # set by stop_all(): ends a pause() at once
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

    def with_environment(self, env: dict[str, str]) -> Runner:
        """Every later call of this runner gets these variables too (e.g. another AZURE_CONFIG_DIR)."""
        self.launch = replace(self.launch, env={**self.launch.env, **env})
        return self

    def run(self, step: str, args: list, *, capture: bool = False, not_found_ok: bool = False, shape: type = object,
            probe: bool = False, subscription: str | None = None, warnings: list | None = None):
        """Run `az *args`; with capture, return the JSON it printed, which must be of `shape`
        (None: not found, if that is ok). `probe`: a read-only call of azwrap's own, not the book's (the call
        log says which; a probe's answer serves until a call that is not one). `subscription` pins this
        call to one (else the runner's); `warnings` receives az's stderr lines of a call that succeeded."""
        if subscription or warnings is not None or not (probe and capture):
            with self._lock:
                self._answers.clear()  # this call may change what a probe would find
            return self._run(step, args, capture=capture, not_found_ok=not_found_ok, shape=shape, probe=probe,
                             subscription=subscription, warnings=warnings)  # fmt: skip
        key = (tuple(map(str, args)), not_found_ok)
        with self._lock:
            cached = self._answers.get(key, _NOT_ASKED)
        if cached is not _NOT_ASKED and (cached is None or isinstance(cached, shape)):
            return cached
        answer = self._run(step, args, capture=capture, not_found_ok=not_found_ok, shape=shape, probe=probe)
        with self._lock:
            self._answers[key] = answer
        return answer

    def _run(self, step: str, args: list, *, capture: bool, not_found_ok: bool, shape: type, probe: bool,
             subscription: str | None = None, warnings: list | None = None):
        args = with_subscription(tuple(args), subscription or self.subscription)
        with self.around_call():
            delay = TOKEN_LOCK_FIRST_DELAY
            for attempt in range(TOKEN_LOCK_RETRIES + 1):
                if attempt:
                    self.echo(f"{step}: az's token cache was locked by another az call; retrying in {delay:g}s")
                    self.sleep(delay)
                    delay *= 2
                command, code, stdout, stderr_lines = self._attempt(step, args, capture=capture, probe=probe)
                if code == 0 or not token_cache_locked(stderr_lines):
                    break
        parsed, readable = read_json(stdout) if capture else (None, True)  # only a capture's output is read
        if capture:
            for secret in secrets_in(parsed):
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
            raise AzFailed(step, command, code, tail, reason=f"az printed JSON that is not {shape_name(shape)}")
        for line in stderr_lines:
            self.events(Line(step, line))
        if warnings is not None:
            warnings.extend(stderr_lines)
        return parsed

    def _attempt(self, step: str, args: tuple, *, capture: bool, probe: bool) -> tuple[str, int, str, list[str]]:
        """One az call: (the command as displayed, exit code, stdout, stderr lines).

        Each attempt has a Handover of its own: a pipe can be read once, and az has read the secret's
        before it fails on the token cache's lock, so a retry sends it again through a fresh pipe."""
        with Handover() as handover:
            argv = [self.az, *(_argument(arg, handover, self.redact) for arg in args)]
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
        return command, code, stdout, stderr_lines

    def _call(self, step: str, argv: list[str], *, live_stderr: bool, handover: Handover | None = None,
              command: str = "", probe: bool = False) -> tuple[int, str, list[str]]:  # fmt: skip
        """Run argv; return its exit code, its stdout, and its stderr (the tail only when live).

        az's output is read by two threads; this one only waits, in short waits (process.POLL_SECONDS),
        so that a signal's handler runs at once whatever az does."""
        held: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES if live_stderr else None)
        stdout_chunks: list[str] = []
        env = {**os.environ, **CHILD_ENV, **self.launch.env}
        started_at, started = time.time(), time.monotonic()
        proc: subprocess.Popen | None = None

        try:
            with process.signals_held():  # a started az is in _live at once, where a stop finds it
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
            relay = (lambda line: self.events(Line(step, line))) if live_stderr else (lambda line: None)
            _read_output(proc, stdout_chunks, held, relay=relay, redact=self.redact)
            code = process.wait(proc)
        except KeyboardInterrupt:  # only in the main thread: a step command, or the steps before the fan-out
            if proc is not None:
                self.stop_all()
                self._wait_stopped(proc)
                self.events(CallEnded(step, command, probe, started_at, time.monotonic() - started, proc.returncode,
                                      True))  # fmt: skip
            raise Interrupted(step) from None
        finally:
            if proc is not None:
                with self._lock:
                    self._live.discard(proc)
        stopped = self._stopping
        if stopped:
            self._wait_stopped(proc)
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
        self._stop_requested.set()
        for proc in live:
            stop_tree(proc, urgent)
        if first and not urgent:
            timer = threading.Timer(STOP_GRACE_SECONDS, self.stop_all, kwargs={"urgent": True})
            timer.daemon = True
            timer.start()

    def _wait_stopped(self, proc: subprocess.Popen) -> None:
        process.wait_gone(proc, kill_all=lambda: self.stop_all(urgent=True))

    def pause(self, seconds: float) -> None:
        """Sleep before a retry, in short waits; a stop (stop_all) ends it at once with Interrupted."""
        deadline = time.monotonic() + seconds
        while not self._stop_requested.wait(min(process.POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return
        raise Interrupted("")


def _argument(arg, handover: Handover, redact: Redactor) -> str:
    """One argument as az receives it: a secret as @<its private channel> (and masked from now on)."""
    if isinstance(arg, Secret):
        redact.add(arg.value)
        return "@" + handover.secret(arg.value)
    if isinstance(arg, Joined):
        return "".join(_argument(part, handover, redact) for part in arg.parts)
    if isinstance(arg, PrivateFile):
        return handover.file(arg.name, arg.content)
    return str(arg)


def _read_output(proc: subprocess.Popen, stdout_chunks: list[str], held: collections.deque, *, relay, redact) -> None:
    """az's stdout and stderr, read by two threads while this one waits in short waits (process.join); each
    stderr line masked, kept, and relayed as it comes."""

    def relay_stderr() -> None:
        for raw in proc.stderr:
            line = redact(raw.rstrip("\n"))
            held.append(line)
            relay(line)

    readers = [threading.Thread(target=lambda: stdout_chunks.append(proc.stdout.read()), daemon=True),
               threading.Thread(target=relay_stderr, daemon=True)]  # fmt: skip
    for reader in readers:
        reader.start()
    for reader in readers:
        process.join(reader)


WITHHELD = "(az's messages are withheld: its output was not JSON and may hold a secret)"


