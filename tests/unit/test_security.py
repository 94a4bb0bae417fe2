"""Security (issue 10): the state cannot be hijacked or lost, damaged state names the field."""

import json
import os

import pytest

from azwrap.store import state as state_module

from .conftest import ACC_ID, ACCOUNT, BOOK, FRESH_STEP, SECRET, SP, TOKEN_EXPIRY, absent, seed_state, step_record


def test_a_state_that_cannot_be_written_stops_sp_before_any_az_call(fake, cli, workdir, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(state_module.tempfile, "mkstemp", read_only)
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert "Read-only file system; nothing was changed" in result.stderr
    assert fake.calls() == []  # no principal created


def test_a_state_directory_of_another_user_stops_sp_before_any_az_call(fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    os.chown(workdir / ".azwrap", 65534, 65534)
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert "belongs to another user" in result.stderr
    assert fake.calls() == []


def test_a_save_failing_right_after_create_for_rbac_names_the_principal_and_its_delete_command(fake, cli, workdir,
                                                                                                monkeypatch):  # fmt: skip
    real_save = state_module.save

    def save_fails_once_created(path, content):
        if "sp" in content["outputs"]:
            raise state_module.StateError(f"cannot write state file {path}: No space left on device")
        real_save(path, content)

    monkeypatch.setattr(state_module, "save", save_fails_once_created)
    seed_state(workdir, done=["storage"])
    fake.logged_in()
    fake.on(TOKEN_EXPIRY, **absent(TOKEN_EXPIRY))
    fake.on(BOOK[9][1])
    result = cli("sp", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert f"The service principal {SP['appId']} was created but could not be recorded" in result.stderr
    assert f"az ad app delete --id {SP['appId']}" in result.stderr
    assert SECRET not in result.output
    assert fake.calls() == [["account", "show"], TOKEN_EXPIRY, BOOK[9][1]]  # nothing after it


@pytest.mark.parametrize("outputs", [
    {"sp": {"password": SECRET, "tenant": SP["tenant"]}},  # no appId
    {"sp": {"appId": SP["appId"], "tenant": SP["tenant"]}, "acc": {"id": "@/etc/passwd"}},
])  # fmt: skip
@pytest.mark.parametrize("command", [["env"], ["status"], ["grant"], ["datastore", "--account", ACCOUNT]])
def test_damaged_principal_or_ids_exit_2_naming_the_field(command, outputs, fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({"version": 1, "steps": {}, "outputs": outputs}))
    result = cli(*command)
    assert result.exit_code == 2, result.output
    assert "is damaged (outputs." in result.stderr
    assert "Traceback" not in result.output
    assert fake.calls() == []


@pytest.mark.parametrize("retired", [
    ["not-a-guid"],
    [{"appId": SP["appId"], "assignments": ["--scope"], "gone": False}],  # passed to az as --ids
    [{"appId": SP["appId"], "assignments": [ACC_ID], "gone": False}],  # an account, not a role assignment
    [{"appId": "x", "assignments": []}],
    [{"appId": SP["appId"], "assignments": [], "gone": False, "kept": "yes"}],  # truthy text is not a flag
])  # fmt: skip
def test_a_damaged_principal_to_delete_exits_2_naming_the_field(retired, fake, cli, workdir):
    seed_state(workdir, done=["storage"], sp=True)
    path = workdir / ".azwrap" / "state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "retired_sp": retired}))
    result = cli("sp")
    assert result.exit_code == 2, result.output
    assert "is damaged (retired_sp: " in result.stderr
    assert fake.calls() == []


def test_a_principal_to_delete_is_read_by_appid_or_with_its_role_assignments(fake, cli, workdir):
    seed_state(workdir, sp=True)
    path = workdir / ".azwrap" / "state.json"
    role_id = ACC_ID + "/providers/Microsoft.Authorization/roleAssignments/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    for retired in (["0a0a0a0a-1111-2222-3333-444455556666"],
                    [{"appId": "0a0a0a0a-1111-2222-3333-444455556666", "assignments": [role_id], "gone": False}]):
        path.write_text(json.dumps({**json.loads(path.read_text()), "retired_sp": retired}))
        assert cli("status").exit_code == 0


def test_a_state_file_of_another_user_exits_2(fake, cli, workdir):
    (workdir / ".azwrap").mkdir(mode=0o700)
    path = workdir / ".azwrap" / "state.json"
    path.write_text(json.dumps(state_module.empty()))
    os.chown(path, 65534, 65534)
    for command in (["status"], ["env"], ["grant"]):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert "belongs to another user" in result.stderr


# --- the secret in flight ------------------------------------------------------------------------

READER = """#!{python}
import json, sys
# Reads every @path argument as azure-cli does (a plain open) and says what it got.
reads = []
for arg in sys.argv[1:]:
    if arg.startswith("@"):
        try:
            with open(arg[1:], encoding="utf-8") as handle:
                reads.append(len(handle.read()))
        except OSError:
            reads.append("literal " + arg)
print(json.dumps({{"reads": reads, "argv": sys.argv[1:]}}))
"""


def _runner(tmp_path, body=READER):
    import sys

    from azwrap.az.redact import Redactor
    from azwrap.az.runner import Runner

    program = tmp_path / "az"
    program.write_text(body.format(python=sys.executable))
    program.chmod(0o755)
    return Runner(str(program), Redactor(), quiet=True)


def test_a_large_secret_reaches_a_real_child_through_its_own_pipe(tmp_path):
    from azwrap.az.runner import Secret

    big = "s" * (1 << 20)  # far beyond a pipe's buffer: written from a thread, so no deadlock
    seen = _runner(tmp_path).run("datastore", ["--a", Secret(big), "--b", Secret("second")], capture=True, shape=dict)
    assert seen["reads"] == [len(big), len("second")]  # one pipe per secret: each read once, whole
    first, second = seen["argv"][1], seen["argv"][3]
    assert first.startswith("@/dev/fd/") and second.startswith("@/dev/fd/") and first != second
    assert not any(big in arg or "second" == arg for arg in seen["argv"])


def test_a_pipe_can_be_read_once_only_so_a_second_read_gets_nothing(tmp_path):
    from azwrap.az.runner import Secret

    twice = READER.replace("for arg in sys.argv[1:]:", "for arg in sys.argv[1:] * 2:")
    seen = _runner(tmp_path, twice).run("datastore", ["--a", Secret("abcd")], capture=True, shape=dict)
    assert seen["reads"] == [4, 0]  # why every secret argument gets a pipe of its own


def test_a_child_that_never_reads_its_pipe_does_not_block_azwrap(tmp_path):
    from azwrap.az.runner import Secret

    _runner(tmp_path, "#!/bin/sh\nexit 0\n").run("datastore", ["--client-secret", Secret("s" * (1 << 20))])


def test_on_windows_the_secret_is_a_private_file_removed_after_the_call(fake, cli, workdir, monkeypatch):
    from azwrap.az import launch

    monkeypatch.setattr(launch, "secret_by_pipe", lambda: False)
    fake.on(BOOK[12][1])
    (workdir / ".azwrap").mkdir(mode=0o700)
    (workdir / ".azwrap" / "state.json").write_text(json.dumps({
        "version": 1, "steps": {"sp": {"settings": {"account": ACCOUNT}}, **step_record("extension", "workspace", "storage")},
        "outputs": {"sp": {k: SP[k] for k in ("appId", "password", "tenant")}, "acc": {"id": ACC_ID}}}))
    fake.logged_in()
    for args in FRESH_STEP["datastore"]:  # no datastore there yet
        fake.on(args, **absent(args))
    result = cli("datastore", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert fake.secret_file_kinds == ["file"] and fake.secret_file_modes == [0o600]
    assert fake.secret_file_contents == [SECRET]
    [call] = [c for c in fake.calls() if "--client-secret" in c]
    path = call[call.index("--client-secret") + 1][1:]
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_stale_private_directories_of_dead_runs_are_removed(tmp_path):
    from azwrap.az.handover import remove_stale_private_dirs

    dead = tmp_path / "azwrap-999999999-abcd"  # no such pid: killed mid-call
    live = tmp_path / f"azwrap-{os.getpid()}-efgh"
    other = tmp_path / "azwrapper-1"
    for directory in (dead, live, other):
        directory.mkdir()
        (directory / "secret").write_text("s")
    remove_stale_private_dirs(str(tmp_path))
    assert not dead.exists() and live.exists() and other.exists()


def test_a_run_disables_core_dumps(fake, cli, workdir):
    import resource

    assert cli("status").exit_code == 0
    assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)


def test_no_pipe_is_left_open_when_az_cannot_start(tmp_path):
    from azwrap.az.redact import Redactor
    from azwrap.az.runner import AzNotFound, Runner, Secret

    broken = tmp_path / "az"
    broken.write_bytes(b"\x7fELF not really a program")
    broken.chmod(0o755)
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(AzNotFound):
        Runner(str(broken), Redactor(), quiet=True).run("datastore", ["--client-secret", Secret("s3cr3t-value")])
    assert set(os.listdir("/proc/self/fd")) == before
