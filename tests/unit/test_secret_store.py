"""--secret-store: the client secret in the OS credential store (an in-memory keyring here, never a real one)."""

import json

import keyring
import keyring.backend
import keyring.errors
import pytest

from azwrap.store import secrets
from azwrap.store import state

from .conftest import ACCOUNT, BOOK, FRESH_STEP, SECRET, SP, TOKEN_EXPIRY, absent, seed_state


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps passwords in a dict: no OS store is touched by the tests.

    (Defining it registers it with keyring, which may then pick it by itself: each test sets the backend.)"""

    priority = 1

    def __init__(self):
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}
        self.fail = False

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        if self.fail:
            raise keyring.errors.PasswordSetError("the store is locked")
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        self.passwords.pop((service, username), None)


@pytest.fixture
def memory():
    previous = keyring.get_keyring()
    store = MemoryKeyring()
    keyring.set_keyring(store)
    yield store
    keyring.set_keyring(previous)


def on_disk(workdir):
    return json.loads((workdir / ".azwrap" / "state.json").read_text())


def test_keyring_store_keeps_the_secret_out_of_the_state_file(memory, fake, cli, workdir):
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--secret-store", "keyring")
    assert result.exit_code == 0, result.output
    assert memory.passwords == {("azwrap", SP["appId"]): SECRET}
    recorded = on_disk(workdir)["outputs"]["sp"]
    assert "password" not in recorded and recorded["secret_store"] == "keyring"
    assert SECRET not in (workdir / ".azwrap" / "state.json").read_text()
    assert fake.secret_file_contents == [SECRET]  # the datastore got it, from the keyring's copy in memory
    assert "The client secret is in the OS credential store (keyring, service 'azwrap'" in result.stderr
    assert "mode 600" not in result.stderr
    assert cli("env", "--shell", "powershell").stdout == f"$env:SP_PASSWORD = '{SECRET}'\n"  # read back from the keyring


def test_a_later_step_reads_the_secret_from_the_keyring(memory, fake, cli, workdir, monkeypatch):
    seed_state(workdir, done=["extension", "workspace", "storage"])
    fake.book(["sp"])
    assert cli("sp", "--account", ACCOUNT, "--secret-store", "keyring").exit_code == 0
    fake.fp.calls.clear()
    fake.logged_in()
    for args in FRESH_STEP["datastore"]:  # no datastore there yet
        fake.on(args, **absent(args))
    fake.on(BOOK[12][1])
    monkeypatch.setenv("AZWRAP_SECRET_STORE", "keyring")
    result = cli("datastore", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert fake.secret_file_contents == [SECRET]


@pytest.mark.parametrize("platform,expected", [("win32", "keyring"), ("darwin", "keyring"), ("linux", "file")])
def test_auto_means_the_keyring_on_windows_and_macos_the_file_elsewhere(monkeypatch, platform, expected):
    monkeypatch.setattr(secrets, "platform", lambda: platform)
    assert secrets.resolve("auto") == expected
    assert secrets.resolve("file") == "file" and secrets.resolve("keyring") == "keyring"


def test_auto_on_linux_keeps_the_file_and_says_mode_600(fake, cli, workdir):
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert on_disk(workdir)["outputs"]["sp"]["password"] == SECRET
    assert "The client secret is in .azwrap/state.json (mode 600)." in result.stderr


def test_on_windows_the_file_store_does_not_claim_mode_600(fake, cli, workdir, monkeypatch):
    monkeypatch.setattr(state, "posix", lambda: False)
    monkeypatch.setattr(secrets, "posix", lambda: False)
    fake.doctor()
    fake.book()
    result = cli("all", "--account", ACCOUNT, "--secret-store", "file")
    assert result.exit_code == 0, result.output
    assert "mode 600" not in result.stderr and "Windows does not use file modes" in result.stderr


def test_no_usable_keyring_stops_before_any_az_call(fake, cli, workdir, monkeypatch):
    import keyring.backends.fail

    # What keyring finds where there is no OS credential store (as on this machine).
    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.backends.fail.Keyring())
    result = cli("sp", "--account", ACCOUNT, "--secret-store", "keyring")
    assert result.exit_code == 2, result.output
    assert "no OS credential store is available" in result.stderr
    assert fake.calls() == []


def test_keyring_not_installed_is_a_clear_usage_error(fake, cli, workdir, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_keyring(name, *args, **kwargs):
        if name == "keyring" or name.startswith("keyring."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_keyring)
    result = cli("sp", "--account", ACCOUNT, "--secret-store", "keyring")
    assert result.exit_code == 2
    assert "needs the keyring package (pip install keyring)" in result.stderr
    assert fake.calls() == []


def test_a_keyring_that_refuses_the_new_secret_names_the_principal_to_delete(memory, fake, cli, workdir):
    memory.fail = True
    seed_state(workdir, done=["storage"])
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(BOOK[9][1])
    result = cli("sp", "--account", ACCOUNT, "--secret-store", "keyring")
    assert result.exit_code == 2, result.output
    assert "the store is locked" in result.stderr and f"az ad app delete --id {SP['appId']}" in result.stderr
    assert SECRET not in result.output
    assert fake.calls() == [["account", "show"], TOKEN_EXPIRY, BOOK[9][1]]


def test_a_secret_missing_from_the_keyring_is_a_clear_error(memory, fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, "steps": {}, "outputs": {
        "sp": {"appId": SP["appId"], "tenant": SP["tenant"], "secret_store": "keyring"}}}))
    result = cli("env")
    assert result.exit_code == 2
    assert "is not in the OS credential store" in result.stderr and "azwrap rotate" in result.stderr


def test_doctor_says_where_the_secret_is(memory, fake, cli, workdir):
    from .test_doctor import register

    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, "steps": {}, "outputs": {
        "sp": {"appId": SP["appId"], "tenant": SP["tenant"], "secret_store": "keyring"}}}))
    (workdir / ".azwrap" / "state.json").chmod(0o600)  # private, so that the only question is the store
    register(fake)
    fake.on(["ad", "app", "credential", "list", "--id", SP["appId"]], stdout="[]")
    result = cli("doctor", "--account", ACCOUNT, "--format", "json")
    assert result.exit_code == 0, result.output  # a note does not fail doctor
    [store] = [c for c in json.loads(result.stdout) if c["check"] == "store"]
    assert store["status"] == "ok" and "the OS credential store" in store["detail"]


def test_switching_stores_moves_the_secret_at_the_next_save(memory):
    recorded = {"version": 1, "steps": {}, "outputs": {"sp": {"appId": SP["appId"], "tenant": SP["tenant"],
                                                              "password": SECRET}}}  # fmt: skip
    to_keyring = secrets.for_disk(recorded, "keyring")
    assert to_keyring["outputs"]["sp"] == {"appId": SP["appId"], "tenant": SP["tenant"], "secret_store": "keyring"}
    assert memory.passwords[("azwrap", SP["appId"])] == SECRET
    revealed = json.loads(json.dumps(to_keyring))
    assert secrets.reveal(revealed) == SECRET
    back = secrets.for_disk(revealed, "file")
    assert back["outputs"]["sp"] == {"appId": SP["appId"], "tenant": SP["tenant"], "password": SECRET}
