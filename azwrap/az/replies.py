"""What az printed, read: its JSON, the secrets in it, the kind of JSON it is, and its token cache lock errors."""

from __future__ import annotations

import json
import re

# REFERENCE.md sections 6 and 8: az's token cache writes take a non-blocking exclusive lock and fail when
# another az holds it, before any request is sent, so the call is safe to repeat. What az prints then
# depends on the platform and on msal-extensions (each text is from the stack that raises it):
TOKEN_CACHE_LOCK_ERRORS = (
    # Windows: the lock file cannot be opened while another az holds it ("[Errno 13] Permission denied:
    # '...msal_token_cache.bin.lockfile'"); Resource temporarily unavailable with the file's name too.
    re.compile(r"(Permission denied|Resource temporarily unavailable).*msal_token_cache\S*lockfile", re.S),
    # Linux and macOS, portalocker: no file name ([Errno 11], EAGAIN; EAGAIN is 35 on macOS).
    re.compile(r"LockException: \[Errno \d+\] Resource temporarily unavailable"),
    # msal-extensions 1.3 and later without portalocker, after its own 5 s of trying.
    re.compile(r"Unable to obtain lock, despite trying for \d+ second"),
)


def token_cache_locked(stderr_lines: list[str]) -> bool:
    """Whether az failed on the MSAL token cache's lock (another az was writing it)."""
    text = "\n".join(stderr_lines)
    return any(error.search(text) for error in TOKEN_CACHE_LOCK_ERRORS)


# The JSON kinds a call's output is checked against, as the user reads them (never a Python type).
_SHAPES = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "a number",
           float: "a number"}  # fmt: skip


def shape_name(shape: type) -> str:
    return _SHAPES.get(shape, "what was expected")


# JSON fields whose values are secrets wherever they appear (create-for-rbac's "password").
SECRET_KEYS = ("password", "secret")


def read_json(text: str):
    """(parsed JSON, True), or (None, False) when text is not JSON."""
    try:
        return json.loads(text), True
    except ValueError:
        return None, False


def secrets_in(data) -> list[str]:
    """Values of secret-looking keys anywhere in parsed JSON (objects inside lists included)."""
    if isinstance(data, list):
        return [secret for item in data for secret in secrets_in(item)]
    if not isinstance(data, dict):
        return []
    found = []
    for key, value in data.items():
        if isinstance(value, str) and any(word in key.lower() for word in SECRET_KEYS):
            found.append(value)
        else:
            found += secrets_in(value)
    return found
