"""Quoting one argument for PowerShell or a POSIX shell: the generated scripts and the echoed
`$ az ...` lines use these, so a command is quoted the same way wherever it is shown."""

from __future__ import annotations

import os
import re
import shlex

# PowerShell ends a single-quoted string at any of these quote characters; inside one, each is
# doubled to stand for itself.
PS_QUOTES = "'\u2018\u2019\u201a\u201b"
# Passed as typed in argument mode: flags, and words of these characters that start plainly.
_PS_BARE = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*|[A-Za-z0-9_][A-Za-z0-9_./:=+-]*")

ECHO_SHELL_VAR = "AZWRAP_ECHO_SHELL"
ECHO_SHELLS = ("powershell", "bash")


def ps_single_quoted(value: str) -> str:
    """value as a PowerShell single-quoted string: nothing inside is expanded."""
    return "'" + "".join(ch * 2 if ch in PS_QUOTES else ch for ch in value) + "'"


def ps_quote(value: str) -> str:
    """value as one PowerShell argument: bare when it is plainly safe, else single-quoted."""
    return value if _PS_BARE.fullmatch(value) else ps_single_quoted(value)


QUOTE = {"powershell": ps_quote, "bash": shlex.quote}


def command_line(shell: str, argv: list[str]) -> str:
    """argv as one line the user could paste into shell ("powershell" or "bash")."""
    return " ".join(map(QUOTE[shell], argv))


def shown(value) -> str:
    """A value as a message names it: in single quotes, as typed (a repr would double a Windows path's
    backslashes, and show a Python type's spelling)."""
    return f"'{value}'"


def platform_shell(os_name: str | None = None) -> str:
    """The shell people type in on this platform: PowerShell on Windows (where the book's readers
    work), a POSIX shell elsewhere. The default of `env`, `plan` and the echoed commands."""
    return "powershell" if (os_name or os.name) == "nt" else "bash"


def echo_shell(environ=os.environ, os_name: str | None = None) -> str:
    """How echoed commands are quoted: AZWRAP_ECHO_SHELL, else the platform's shell. ValueError for
    another value."""
    chosen = environ.get(ECHO_SHELL_VAR, "").strip().lower()
    if not chosen:
        return platform_shell(os_name)
    if chosen not in ECHO_SHELLS:
        raise ValueError(f"{ECHO_SHELL_VAR}={shown(environ[ECHO_SHELL_VAR])} is not one of: {', '.join(ECHO_SHELLS)}")
    return chosen
