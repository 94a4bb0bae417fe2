"""A private, temporary az configuration directory (AZURE_CONFIG_DIR) for signing in as someone else.

az keeps its sign-in there: for a service principal its secret too (service_principal_entries.json, in
plain text on Linux and macOS). So the directory is made 0700 before az sees it (az would make a missing
one 0777 less the umask), named like the other private directories (a later azwrap removes it if this one
is killed), and removed when the block ends, however it ends: the user's own directory is never used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator

from .handover import PRIVATE_PREFIX


@contextlib.contextmanager
def private_config_dir() -> Iterator[str]:
    """A new 0700 directory for AZURE_CONFIG_DIR, removed afterwards (also on Ctrl-C and SIGTERM, which azwrap
    turns into KeyboardInterrupt once the az call running is stopped)."""
    path = tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-az-")  # 0700 (a per-user folder on Windows)
    try:
        yield path
    finally:
        remove(path)


def remove(path: str) -> None:
    """Remove path and all in it; a second Ctrl-C while doing so does not stop the removal."""
    interrupted = None
    while os.path.lexists(path):
        try:
            shutil.rmtree(path, **_ON_ERROR)
        except KeyboardInterrupt as error:
            interrupted = error
        except OSError:
            break  # reported below
    if os.path.lexists(path):
        raise OSError(f"could not remove the private az configuration directory {path}; it holds a secret: remove it")
    if interrupted is not None:
        raise interrupted


def _make_writable_and_retry(function, path, _error) -> None:
    # Windows refuses to delete read-only files (a token cache az marked so).
    os.chmod(path, stat.S_IWRITE | stat.S_IREAD | stat.S_IEXEC)
    function(path)


_ON_ERROR = {"onexc" if sys.version_info >= (3, 12) else "onerror": _make_writable_and_retry}
