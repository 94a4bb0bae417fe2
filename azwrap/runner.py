"""The one place where azwrap starts a child process: az, with argv as a list, never a shell.

az runs through `subprocess`, not the `sh` package: `sh` does not import on Windows (where az is
az.cmd) and forks by itself, so pytest-subprocess could not fake it.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

from . import launch
from .commands import with_subscription
from .quoting import command_line, echo_shell
from .redact import Redactor
from .state import pid_alive, posix

# REFERENCE.md section 4: force JSON whatever the user's `az config` says, no colour codes in
# the output, and no prompt to install a missing extension in the middle of a run.
CHILD_ENV = {
    "AZURE_CORE_OUTPUT": "json",
    "AZURE_CORE_NO_COLOR": "1",
    "AZURE_EXTENSION_USE_DYNAMIC_INSTALL": "no",
}
STDERR_TAIL_LINES = 15
NOT_FOUND = 3  # az's exit code when a `show` finds nothing (REFERENCE.md section 4)
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
    """SIGINT or SIGTERM arrived while az ran; the child has been stopped."""

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


class Runner:
    """Runs az calls for the steps: echoes each, streams az's stderr, parses JSON, raises AzFailed."""

    def __init__(self, az: str, redact: Redactor, *, quiet: bool = False, echo: Callable[[str], None] = _echo_err,
                 shell: str | None = None, subscription: str | None = None):  # fmt: skip
        self.az, self.redact, self.quiet, self.echo = az, redact, quiet, echo
        self.launch = launch.launcher(az)
        self.shell = shell or echo_shell()  # how echoed lines are quoted: "powershell" or "bash"
        self.subscription = subscription  # added to every command that takes --subscription

    def display(self, argv: list[str]) -> str:
        """The line shown for argv (echo, logs, errors), quoted for the user's shell; secrets masked."""
        # Masked before quoting too: quoting may change how a secret inside a value is spelled.
        return self.redact(command_line(self.shell, ["az", *map(self.redact, map(str, argv[1:]))]))

    def run(self, step: str, args: list, *, capture: bool = False, not_found_ok: bool = False, shape: type = object,
            changes: bool = False):
        """Run `az *args`; with capture, return the JSON it printed, which must be of `shape`
        (None: not found, if that is ok). `changes`: the call may change something (WhatIf skips it)."""
        args = with_subscription(tuple(args), self.subscription)
        with Handover() as handover:
            argv = [self.az, *(self._arg(arg, handover) for arg in args)]
            for value in argv[1:]:
                self.launch.refuse_unsafe(self.redact(value), "the argument")
            command = self.display(argv)
            if not self.quiet:
                self.echo(f"$ {command}")
            # Capturing calls (create-for-rbac above all) may print a secret we do not know yet:
            # hold their stderr back until their output is read and any secret in it registered.
            try:
                code, stdout, stderr_lines = self._call(step, [*self.launch.prefix, *argv[1:]], live_stderr=not capture,
                                                        handover=handover)  # fmt: skip
            except OSError as error:  # e.g. --az names a file that is not a program
                raise AzNotFound(f"could not start {self.az}: {error.strerror}. {INSTALL_HINT}") from None
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
            self.echo(line)
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

    def _call(self, step: str, argv: list[str], *, live_stderr: bool, handover: Handover | None = None
              ) -> tuple[int, str, list[str]]:  # fmt: skip
        """Run argv; return its exit code, its stdout, and its stderr (the tail only when live)."""
        held: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES if live_stderr else None)
        stdout_chunks: list[str] = []
        env = {**os.environ, **CHILD_ENV, **self.launch.env}
        proc = None
        try:  # from the start: a signal that lands as az starts must stop it too
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                text=True, encoding="utf-8", errors="replace",
                pass_fds=handover.fds if handover else (),
            )  # fmt: skip
            if handover:
                handover.started()
            # stdout is drained in a thread so that a large output cannot block az while we read stderr.
            reader = threading.Thread(target=lambda: stdout_chunks.append(proc.stdout.read()), daemon=True)
            reader.start()
            for raw in proc.stderr:
                line = self.redact(raw.rstrip("\n"))
                held.append(line)
                if live_stderr:
                    self.echo(line)
            code = proc.wait()
        except KeyboardInterrupt:
            if proc is not None:
                _stop(proc)
            raise Interrupted(step) from None
        reader.join()
        return code, "".join(stdout_chunks), list(held)


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


def _stop(proc: subprocess.Popen) -> None:
    """Stop an interrupted az call: terminate, then kill if it does not exit promptly."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class WhatIf(Runner):
    """`azwrap all --what-if`: the read-only calls run; a call that would change something is listed, not run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.would_run: list[tuple[str, str]] = []  # (step, command as displayed)

    def run(self, step: str, args: list, *, capture: bool = False, not_found_ok: bool = False, shape: type = object,
            changes: bool = False):
        if not changes:
            return super().run(step, args, capture=capture, not_found_ok=not_found_ok, shape=shape)
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
