"""Where the client secret lives: in the state file (0600), or in the OS credential store.

`--secret-store keyring` keeps it with the `keyring` package (Windows Credential Manager, macOS
Keychain, the Secret Service on Linux desktops), under service "azwrap" and the principal's appId;
the state file then holds only `"secret_store": "keyring"` in place of the password. `auto` means
the keyring on Windows and macOS, where POSIX file modes do not protect the file (Windows) or a
keychain is always there (macOS), and the 0600 file elsewhere. `keyring` is imported only when used.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

from .state import StateError, posix

STORES = ("auto", "file", "keyring")
SERVICE = "azwrap"
KEYRING = "keyring"  # outputs.sp.secret_store when the password is in the OS credential store
INSTALL = "pip install keyring"


class SecretStoreError(StateError):
    """The OS credential store cannot be used (not installed, no backend, refused); exit 2."""


def platform() -> str:
    """sys.platform; tests patch it."""
    return sys.platform


def resolve(choice: str) -> str:
    """'file' or 'keyring' for the --secret-store value."""
    if choice == "auto":
        return KEYRING if platform() in ("win32", "darwin") else "file"
    return choice


def _keyring():
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise SecretStoreError(f"--secret-store keyring needs the keyring package ({INSTALL}), "
                               "or use --secret-store file") from None  # fmt: skip
    return keyring


def _backend_name() -> str:
    backend = _keyring().get_keyring()
    return getattr(backend, "name", type(backend).__name__)


def check_usable(store: str) -> None:
    """Raise SecretStoreError unless the secret can be stored there (before anything is created)."""
    if store != KEYRING:
        return
    keyring = _keyring()
    backend = keyring.get_keyring()
    if type(backend).__module__.endswith(".fail") or getattr(backend, "priority", 1) <= 0:
        raise SecretStoreError(f"no OS credential store is available to keyring ({_backend_name()}); "
                               "use --secret-store file, or install a keyring backend")  # fmt: skip


def reveal(state: dict) -> str | None:
    """The recorded client secret, from wherever the state says it is (None: no principal recorded)."""
    sp = state["outputs"].get("sp")
    if not sp:
        return None
    if "password" in sp:
        return sp["password"]
    if sp.get("secret_store") != KEYRING:
        return None
    keyring = _keyring()
    try:
        password = keyring.get_password(SERVICE, sp["appId"])
    except keyring.errors.KeyringError as error:
        raise SecretStoreError(f"cannot read the client secret of {sp['appId']} from the OS credential store: {error}") from None
    if password is None:
        raise SecretStoreError(f"the client secret of {sp['appId']} is not in the OS credential store (service "
                               f"'{SERVICE}'); run `azwrap rotate` to make a new one")  # fmt: skip
    sp["password"] = password  # in memory only: for_disk takes it out again
    return password


def for_disk(state: dict, store: str) -> dict:
    """The state as it is written: with the keyring store, the password moved to the OS credential store."""
    sp = state["outputs"].get("sp")
    if not sp or "password" not in sp:
        return state
    if store != KEYRING:
        if sp.get("secret_store") != KEYRING:
            return state
        on_disk = copy.deepcopy(state)  # back from the keyring into the file (the keyring entry is left)
        del on_disk["outputs"]["sp"]["secret_store"]
        return on_disk
    keyring = _keyring()
    try:
        if keyring.get_password(SERVICE, sp["appId"]) != sp["password"]:
            keyring.set_password(SERVICE, sp["appId"], sp["password"])
    except keyring.errors.KeyringError as error:
        raise SecretStoreError(f"cannot keep the client secret of {sp['appId']} in the OS credential store: {error}") from None
    on_disk = copy.deepcopy(state)
    del on_disk["outputs"]["sp"]["password"]
    on_disk["outputs"]["sp"]["secret_store"] = KEYRING
    return on_disk


def in_keyring(state: dict) -> bool:
    """Whether the state file says the recorded secret is in the OS credential store."""
    return (state["outputs"].get("sp") or {}).get("secret_store") == KEYRING


def where(store: str, state_path: Path, app_id: str | None = None) -> str:
    """Where the secret is kept with that store, truthfully, for messages and doctor."""
    if store == KEYRING:
        return f"the OS credential store (keyring, service '{SERVICE}', user {app_id or 'the appId'})"
    if posix():
        return f"{state_path} (mode 600)"
    return (f"{state_path} (Windows does not use file modes: it is as private as its folder, "
            f"{os.path.dirname(os.path.abspath(state_path))}; --secret-store keyring keeps it in Credential Manager)")
