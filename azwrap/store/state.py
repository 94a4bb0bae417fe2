"""azwrap's state file: what earlier steps did and captured, kept private and written atomically.

It holds the service principal's client secret (unless the OS keyring keeps it), so it is 0600
in a 0700 directory, and a directory azwrap creates gets a .gitignore holding `*`. Nothing here
follows a symbolic link: the state directory, the state file, its temporary file and .gitignore
are each checked with lstat or opened with O_NOFOLLOW/O_EXCL, so a link planted by someone else
(or committed in a repository) cannot make azwrap write or chmod a file elsewhere.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

from .schema import damaged_field

DEFAULT_PATH = Path(".azwrap") / "state.json"
VERSION = 1
GITIGNORE = "*\n"  # nothing in azwrap's directory is meant for git: the state holds a secret
# Added to a `.azwrap` the user made (no .gitignore yet): ignores all the same, but does not mark the
# directory as made by azwrap (GITIGNORE exactly does), so its modes stay the user's.
ADDED_GITIGNORE = "# added by azwrap: the state file here holds a secret\n*\n"
TEMP_PREFIX, TEMP_SUFFIX = ".state-", ".tmp"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, where planting a link needs admin rights


class StateError(Exception):
    """The state file exists but cannot be used; it is left untouched."""


def posix() -> bool:
    """Whether file modes and owners mean anything here (not on Windows); tests patch it."""
    return os.name == "posix"


def empty() -> dict:
    """steps: what each step did; outputs: the values captured from az's JSON ($sp, $acc, $aml);
    resources: what the setup uses and whether azwrap made it; settings and subscription: the setup's."""
    return {"version": VERSION, "steps": {}, "outputs": {}, "resources": {}}


def load(path: Path) -> dict:
    """The state at path, or an empty state when there is none yet."""
    _check_parents(path)
    _refuse_directory(path.parent)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return empty()
    except OSError as error:
        raise _open_error(path, error, "read") from None
    info = os.fstat(fd)
    try:
        _refuse_file(path, info)
    except StateError:
        os.close(fd)
        raise
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        try:
            text = handle.read()
        except (OSError, UnicodeError) as error:
            raise StateError(f"cannot read state file {path}: {getattr(error, 'strerror', None) or error}") from None
        state = _parse(path, text)
        mode = stat.S_IMODE(info.st_mode)
        if posix() and mode & 0o077:
            print(f"azwrap: state file {path} was readable by others (mode {mode:o}); set it to 600", file=sys.stderr)
            os.fchmod(fd, 0o600)
    _make_directory_private(path.parent)
    remove_stale_temps(path.parent)
    return state


def _check_parents(path: Path) -> None:
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise StateError(f"cannot read state file {path}: a parent of it is a file")


def _open_error(path: Path, error: OSError, doing: str) -> StateError:
    if error.errno == errno.ELOOP:
        return StateError(f"state file {path} is a symbolic link; azwrap never follows one for its state. "
                          f"Remove the link (rm {path}), or name the real file with --state-file")  # fmt: skip
    return StateError(f"cannot {doing} state file {path}: {error.strerror}")


def _refuse_file(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise StateError(f"cannot read state file {path}: it is not a regular file")
    if posix() and info.st_uid != os.getuid():
        raise StateError(f"state file {path} belongs to another user (uid {info.st_uid}); azwrap uses only a state "
                         "file of your own: move it away, or name another with --state-file")  # fmt: skip


def _directory_refusal(directory: Path) -> str | None:
    """Why azwrap must not use directory for its state (a link, someone else's, writable by others)."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"state directory {directory} cannot be read: {error.strerror}"
    if stat.S_ISLNK(info.st_mode):
        return (f"state directory {directory} is a symbolic link; azwrap never follows one for its state. "
                f"Remove the link (rm {directory}), or name a real directory with --state-file")
    if not stat.S_ISDIR(info.st_mode) or not posix():
        return None
    if info.st_uid != os.getuid():
        return (f"state directory {directory} belongs to another user (uid {info.st_uid}); "
                "name a directory of your own with --state-file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        return (f"state directory {directory} can be written by others (mode {mode:o}), who could replace the state; "
                f"fix: chmod go-w {directory} (azwrap's own directory: chmod 700 {directory})")
    return None


def _refuse_directory(directory: Path) -> None:
    refusal = _directory_refusal(directory)
    if refusal:
        raise StateError(refusal)


def _parse(path: Path, text: str) -> dict:
    try:
        state = json.loads(text)
    except ValueError:
        raise StateError(f"state file {path} is not valid JSON; move it away or fix it (it is left as it is)") from None
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise StateError(f"state file {path} is not an azwrap state (version {VERSION}); it is left as it is")
    state.setdefault("steps", {})
    state.setdefault("outputs", {})
    state.setdefault("resources", {})
    damage = damaged_field(state)
    if damage:
        raise StateError(f"state file {path} is damaged ({damage}); move it away or fix it (it is left as it is)")
    return state


def problem(path: Path) -> str | None:
    """Why the state file at path is unusable or not private; None when it is fine. Changes nothing."""
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        return f"state file {path} cannot be created: a parent of it is a file"
    refusal = _directory_refusal(path.parent)
    if refusal:
        return refusal
    if not os.path.lexists(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as error:
        return str(_open_error(path, error, "read"))
    info = os.fstat(fd)
    try:
        _refuse_file(path, info)
    except StateError as error:
        os.close(fd)
        return str(error)
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        try:
            _parse(path, handle.read())
        except (OSError, UnicodeError, StateError) as error:
            return str(error)
    mode = stat.S_IMODE(info.st_mode)
    if posix() and mode & 0o077:
        return f"state file {path} is readable by others (mode {mode:o}): chmod 600 {path}, or run azwrap, which fixes it"
    directory_problem = _directory_problem(path.parent)
    if directory_problem:
        return f"{directory_problem}: chmod 700 {path.parent}, or run azwrap, which fixes it"
    return None


def peek(path: Path) -> dict:
    """The state at path, read without repairing anything (for doctor); empty when unusable or absent."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return empty()
    try:
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            return _parse(path, handle.read())
    except (OSError, UnicodeError, StateError):
        return empty()


def writable_problem(path: Path) -> str | None:
    """Why the state could not be written at path (read-only, someone else's, a link...); changes nothing."""
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        return f"state file {path} cannot be created: a parent of it is a file"
    found = _directory_refusal(path.parent)
    if found:
        return found
    if os.path.islink(path):
        return str(_open_error(path, OSError(errno.ELOOP, "link"), "write"))
    directory = path.parent
    while not directory.exists():
        directory = directory.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"state directory {directory} is not writable"
    if os.path.lexists(path) and not os.access(directory, os.W_OK):
        return f"state file {path} cannot be replaced"
    return None


def check_writable(path: Path, state: dict) -> None:
    """Raise StateError unless a state like `state` can be saved at path now.

    Called before any step that creates something: a principal made while the state cannot be
    written would be lost with its secret. It writes (and removes) a temporary file of the same
    size, so a full disk or a read-only directory shows before az runs.
    """
    found = writable_problem(path)
    if found:
        raise StateError(f"{found}; nothing was changed")
    try:
        _ensure_directory(path.parent)
        temp = _write_temp(path.parent, state)
        os.unlink(temp)
    except OSError as error:
        raise StateError(f"cannot write state file {path}: {error.strerror}; nothing was changed") from None


def save(path: Path, state: dict) -> None:
    """Write state atomically: a temp file in the same directory, fsync, rename."""
    _refuse_directory(path.parent)
    try:
        _ensure_directory(path.parent)
        temp = _write_temp(path.parent, state)
        try:
            if os.path.islink(path):  # rename would replace the link itself, but say so rather than surprise
                raise StateError(str(_open_error(path, OSError(errno.ELOOP, "link"), "write")))
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)
    except OSError as error:
        raise StateError(f"cannot write state file {path}: {error.strerror}") from None


def ensure_directory(directory: Path) -> None:
    """The state's directory, made if missing (0700, with a .gitignore holding `*`), kept private."""
    _ensure_directory(directory)


def _ensure_directory(directory: Path) -> None:
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        _create_gitignore(directory)
    elif directory.name == ".azwrap" and not os.path.lexists(directory / ".gitignore"):
        _create_gitignore(directory, ADDED_GITIGNORE)  # keep the secret out of git, even in a .azwrap of yours
    _make_directory_private(directory)


def _write_temp(directory: Path, state: dict) -> str:
    # mkstemp opens with O_EXCL (mode 0600): a planted name or link makes it pick another.
    # The pid in the name tells a later run whether its writer is gone (remove_stale_temps).
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return temp


def remove_stale_temps(directory: Path) -> None:
    """Remove temporary state files whose writer is gone (killed between fsync and rename): they hold the secret."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
            continue
        candidate = directory / name
        try:
            info = os.lstat(candidate)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or (posix() and info.st_uid != os.getuid()):
            continue
        pid = name[len(TEMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            candidate.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process of that id runs (a reused id only keeps a stale file a little longer)."""
    if pid == os.getpid():
        return True
    if not posix():
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    """OpenProcess/GetExitCodeProcess (os.kill(pid, 0) would terminate the process on Windows)."""
    try:
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return True  # cannot tell: keep it
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # ERROR_ACCESS_DENIED: it runs, as someone else
    try:
        code = ctypes.c_ulong()
        return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _is_azwraps(directory: Path) -> bool:
    """A directory azwrap made: it holds azwrap's .gitignore (a regular file holding `*`, not a link).

    Only such a directory is made private; one of the user's own is left as it is.
    """
    gitignore = directory / ".gitignore"
    try:
        if not stat.S_ISREG(os.lstat(gitignore).st_mode):
            return False
        fd = os.open(gitignore, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as handle:
        return handle.read() == GITIGNORE


def _create_gitignore(directory: Path, content: str = GITIGNORE) -> None:
    # O_EXCL: never write through a link or over a file that is already there.
    try:
        fd = os.open(directory / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def _directory_problem(directory: Path) -> str | None:
    if not posix() or not _is_azwraps(directory) or os.path.islink(directory) or not directory.is_dir():
        return None
    mode = stat.S_IMODE(os.lstat(directory).st_mode)
    if mode & 0o077:
        return f"state directory {directory} is open to others (mode {mode:o})"
    return None


def _make_directory_private(directory: Path) -> None:
    problem = _directory_problem(directory)
    if problem:
        print(f"azwrap: {problem}; fixed (mode 700)", file=sys.stderr)
        directory.chmod(0o700)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX; no-op elsewhere).
    if not posix():
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
