"""azwrap's state file: what earlier steps did and captured, kept private and written atomically.

It holds the service principal's client secret, so it is 0600 in a 0700 directory, and a
directory azwrap creates gets a .gitignore holding `*`.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

DEFAULT_PATH = Path(".azwrap") / "state.json"
VERSION = 1


class StateError(Exception):
    """The state file exists but cannot be used; it is left untouched."""


def empty() -> dict:
    return {"version": VERSION, "steps": {}, "outputs": {}}


def load(path: Path) -> dict:
    """The state at path, or an empty state when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return empty()
    except OSError as error:
        raise StateError(f"cannot read state file {path}: {error.strerror}") from None
    state = _parse(path, text)
    _make_private(path)
    _make_directory_private(path.parent)
    return state


def _parse(path: Path, text: str) -> dict:
    try:
        state = json.loads(text)
    except ValueError:
        raise StateError(f"state file {path} is not valid JSON; move it away or fix it (it is left as it is)") from None
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise StateError(f"state file {path} is not an azwrap state (version {VERSION}); it is left as it is")
    state.setdefault("steps", {})
    state.setdefault("outputs", {})
    if not _well_formed(state):
        raise StateError(f"state file {path} is damaged (unexpected content); move it away or fix it "
                         "(it is left as it is)")  # fmt: skip
    return state


def _well_formed(state: dict) -> bool:
    """steps: name -> record object; outputs: name -> object of text values (what azwrap writes)."""
    steps, outputs = state["steps"], state["outputs"]
    return (
        isinstance(steps, dict)
        and all(isinstance(record, dict) and isinstance(record.get("settings", {}), dict) for record in steps.values())
        and isinstance(outputs, dict)
        and all(isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values()) for fields in outputs.values())
    )


def problem(path: Path) -> str | None:
    """Why the state file at path is unusable or not private; None when it is fine. Changes nothing."""
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        return f"state file {path} cannot be created: a parent of it is a file"
    if not path.exists():
        return None
    try:
        _parse(path, path.read_text(encoding="utf-8"))
    except (OSError, StateError) as error:
        return str(error)
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        return f"state file {path} is readable by others (mode {mode:o}): chmod 600 {path}, or run azwrap, which fixes it"
    directory_problem = _directory_problem(path.parent)
    if directory_problem:
        return f"{directory_problem}: chmod 700 {path.parent}, or run azwrap, which fixes it"
    return None


def save(path: Path, state: dict) -> None:
    """Write state atomically: a temp file in the same directory, fsync, rename."""
    try:
        _save(path, state)
    except OSError as error:
        raise StateError(f"cannot write state file {path}: {error.strerror}") from None


def _save(path: Path, state: dict) -> None:
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        (directory / ".gitignore").write_text("*\n", encoding="utf-8")
    _make_directory_private(directory)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".state-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _make_private(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        print(f"azwrap: state file {path} was readable by others (mode {mode:o}); set it to 600", file=sys.stderr)
        path.chmod(0o600)


def _own_directory(directory: Path) -> bool:
    """A directory that holds only azwrap's state: `.azwrap`, or one azwrap made (its .gitignore is `*`).

    Only such a directory is made private; a state file put in the user's own folder leaves it alone.
    """
    gitignore = directory / ".gitignore"
    return directory.name == ".azwrap" or (gitignore.is_file() and gitignore.read_text(encoding="utf-8") == "*\n")


def _directory_problem(directory: Path) -> str | None:
    if os.name != "posix" or not _own_directory(directory) or not directory.is_dir():
        return None
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        return f"state directory {directory} is open to others (mode {mode:o})"
    if not (directory / ".gitignore").exists():
        return f"state directory {directory} has no .gitignore keeping it out of git"
    return None


def _make_directory_private(directory: Path) -> None:
    problem = _directory_problem(directory)
    if problem:
        print(f"azwrap: {problem}; fixed (mode 700, .gitignore holding *)", file=sys.stderr)
        directory.chmod(0o700)
        # Nothing in azwrap's directory is meant for git: the state holds a secret.
        (directory / ".gitignore").write_text("*\n", encoding="utf-8")


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX; no-op elsewhere).
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
