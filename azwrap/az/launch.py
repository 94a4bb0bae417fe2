"""How az is started: where it is found, and the argv prefix and environment that run it.

On Windows az is the MSI's `az.cmd`, a batch file: running it hands every argument to cmd.exe,
which interprets `& | < > ^ % ( ) " !` in a value Python did not quote (it quotes only values
with a space or a tab). So when az.cmd is the MSI's own launcher (REFERENCE.md section 6), azwrap
runs what it runs, `..\\python.exe -IBm azure.cli ARGS` with AZ_INSTALLER=MSI, without cmd.exe.
A batch file it does not recognise still goes through cmd.exe, and values that cmd.exe would
interpret are refused. The platform facts are small functions, so tests can patch them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..book.quoting import shown as quoted

# What cmd.exe interprets in an argument of a batch file (REFERENCE.md section 6), and line breaks.
CMD_SPECIAL = '&|<>^%()"!\r\n'
# The two shapes of the MSI's az.cmd: both set AZ_INSTALLER=MSI and run the bundled python.
_MSI_INSTALLER = re.compile(r"^\s*@?\s*SET\s+AZ_INSTALLER=MSI\s*$", re.IGNORECASE | re.MULTILINE)
_MSI_RUN = re.compile(r'^\s*"%~dp0\\?\.\.\\python\.exe"\s+-IBm\s+azure\.cli\s+%\*\s*$', re.IGNORECASE | re.MULTILINE)


class Unsafe(Exception):
    """A value cmd.exe would interpret cannot be passed to a batch file az; exit 2, nothing run."""


def is_windows() -> bool:
    """Whether az is started the Windows way (az.cmd, PATHEXT); tests patch it."""
    return os.name == "nt"


def secret_by_pipe() -> bool:
    """Whether az can read the secret from an inherited pipe as @/dev/fd/N (POSIX: Linux, macOS)."""
    return not is_windows()


def disable_core_dumps() -> None:
    """No core file of azwrap, which holds the secret in memory (RLIMIT_CORE 0; POSIX only)."""
    try:
        import resource
    except ImportError:  # Windows
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


def _names(program: str) -> list[str]:
    """The file names a command name stands for: on Windows with each PATHEXT extension (az -> az.CMD)."""
    if not is_windows():
        return [program]
    extensions = [ext for ext in os.environ.get("PATHEXT", ".COM;.EXE;.BAT;.CMD").split(";") if ext]
    if any(program.lower().endswith(ext.lower()) for ext in extensions):
        return [program]
    return [program + ext for ext in extensions]


def _runnable(path: str) -> bool:
    return os.path.isfile(path) and (is_windows() or os.access(path, os.X_OK))


def search_path(program: str) -> str | None:
    """program in PATH's directories only: never the current directory (shutil.which on Windows looks
    there first, so an az.cmd in a cloned repository would win), nor a relative PATH entry."""
    separator = ";" if is_windows() else os.pathsep
    for directory in os.environ.get("PATH", "").split(separator):
        directory = directory.strip('"')
        if not directory or not _is_absolute(directory):
            continue
        for name in _names(program):
            candidate = os.path.join(directory, name)
            if _runnable(candidate):
                return candidate
    return None


def _is_absolute(directory: str) -> bool:
    # "C:\\bin" or a UNC path on Windows; "C:bin" and "bin" are relative to the current directory.
    return os.path.isabs(directory) or bool(re.match(r"[A-Za-z]:[\\/]|[\\/]{2}", directory))


def find(given: str | None) -> str | None:
    """The az program: --az as named when it is a path, else the name searched in PATH."""
    program = given or "az"
    if any(sep in program for sep in ("/", "\\" if is_windows() else "/")):
        for name in _names(program):
            if _runnable(name):
                return name
        return None
    return search_path(program)


@dataclass(frozen=True)
class Launcher:
    """How to start az: the argv before az's arguments, extra environment, and whether cmd.exe reads them."""

    program: str
    prefix: tuple[str, ...]
    env: dict = field(default_factory=dict)
    via_cmd: bool = False

    def refuse_unsafe(self, value: str, what: str) -> None:
        """Raise Unsafe when value would be interpreted by cmd.exe on its way to az."""
        if not self.via_cmd:
            return
        shown = cmd_specials(value)
        if shown:
            raise Unsafe(f"{what} {quoted(value)} holds {shown}, which cmd.exe would interpret on its way to {self.program} "
                         f"(a batch file azwrap does not recognise as the Azure CLI's). Choose a value without them, "
                         "or name the Azure CLI's az.cmd (or its python.exe) with --az")  # fmt: skip


def cmd_specials(value: str) -> str:
    """The characters of value that cmd.exe interprets, quoted for a message ("" when none)."""
    return " ".join(repr(ch) for ch in sorted({ch for ch in value if ch in CMD_SPECIAL}))


def refuse_in_powershell_script(value: str, what: str) -> None:
    """A PowerShell script runs az.cmd, and PowerShell double-quotes an argument only when it holds a
    space: cmd.exe would interpret these characters in it (and % and ! even inside quotes)."""
    shown = cmd_specials(value)
    if shown:
        raise Unsafe(f"{what} {quoted(value)} holds {shown}, which cmd.exe would interpret when the PowerShell script "
                     "runs az.cmd; choose a value without them, or use --shell bash")  # fmt: skip


def msi_python(cmd_path: str) -> str | None:
    """The python.exe the MSI's az.cmd runs, when cmd_path is that az.cmd and the python is there."""
    try:
        with open(cmd_path, encoding="utf-8", errors="replace") as handle:
            content = handle.read(64 * 1024)
    except OSError:
        return None
    if not (_MSI_INSTALLER.search(content) and _MSI_RUN.search(content)):
        return None
    # %~dp0 is az.cmd's directory with a trailing separator: ...\CLI2\wbin\ -> ...\CLI2\python.exe
    python = os.path.normpath(os.path.join(os.path.dirname(cmd_path), "..", "python.exe"))
    return python if os.path.isfile(python) else None


def launcher(program: str) -> Launcher:
    """How to run the az at program (found by find())."""
    if is_windows() and program.lower().endswith((".cmd", ".bat")):
        python = msi_python(program)
        if python:
            return Launcher(program, (python, "-IBm", "azure.cli"), {"AZ_INSTALLER": "MSI"})
        return Launcher(program, (program,), via_cmd=True)
    return Launcher(program, (program,))
