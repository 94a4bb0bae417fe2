"""The state file: private, atomic, and left alone when it cannot be read."""

import json
import os
import stat

import pytest

from azwrap.store import state


def test_save_then_load_round_trips_privately(tmp_path):
    path = tmp_path / ".azwrap" / "state.json"
    state.save(path, {"version": 1, "steps": {"sp": {"done_at": "now"}}, "outputs": {}})
    assert state.load(path)["steps"] == {"sp": {"done_at": "now"}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (path.parent / ".gitignore").read_text() == "*\n"


def test_missing_file_is_an_empty_state(tmp_path):
    assert state.load(tmp_path / "none.json") == state.empty()


def test_a_failed_rename_leaves_the_previous_state_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    state.save(path, {"version": 1, "steps": {"first": {}}, "outputs": {}})

    def crash(src, dst):
        raise KeyboardInterrupt  # e.g. Ctrl-C between writing the temp file and the rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        state.save(path, {"version": 1, "steps": {"second": {}}, "outputs": {}})
    monkeypatch.undo()
    assert list(state.load(path)["steps"]) == ["first"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


@pytest.mark.parametrize("content,message", [
    ("{torn", "is not valid JSON"),
    ("[]", "is not an azwrap state"),
    (json.dumps({"version": 99}), "is not an azwrap state"),
    (json.dumps({"version": 1, "steps": [], "outputs": []}), "is damaged"),
    (json.dumps({"version": 1, "steps": {}, "outputs": {"sp": "x"}}), "is damaged"),
    (json.dumps({"version": 1, "steps": {}, "outputs": {"sp": {"password": 5}}}), "is damaged"),
    (json.dumps({"version": 1, "steps": {"sp": "done"}, "outputs": {}}), "is damaged"),
])  # fmt: skip
def test_unusable_state_raises_and_is_left_untouched(tmp_path, content, message):
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(state.StateError, match=message):
        state.load(path)
    assert path.read_text() == content


def test_a_directory_in_place_of_the_state_file_is_a_clear_error(tmp_path):
    (tmp_path / "s.json").mkdir()
    with pytest.raises(state.StateError, match="cannot read state file"):
        state.load(tmp_path / "s.json")


def test_an_open_state_directory_that_azwrap_made_is_made_private_on_load_with_a_warning(tmp_path, capsys):
    directory = tmp_path / ".azwrap"
    state.save(directory / "state.json", state.empty())
    directory.chmod(0o755)
    assert "open to others" in state.problem(directory / "state.json")
    state.load(directory / "state.json")
    assert "open to others" in capsys.readouterr().err
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert (directory / ".gitignore").read_text() == "*\n"
    assert state.problem(directory / "state.json") is None


def test_a_directory_the_user_made_is_never_chmodded(tmp_path):
    directory = tmp_path / ".azwrap"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    state.save(directory / "state.json", state.empty())
    state.load(directory / "state.json")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    # ... but the secret is kept out of git all the same
    assert (directory / ".gitignore").read_text().endswith("\n*\n")
    state.load(directory / "state.json")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755


def test_the_users_own_folder_is_left_as_it_is(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    state.save(folder / "s.json", state.empty())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert not (folder / ".gitignore").exists()


def test_a_state_path_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "afile" / "state.json"
    assert "a parent of it is a file" in state.problem(path)
    with pytest.raises(state.StateError, match="cannot write state file"):
        state.save(path, state.empty())
    with pytest.raises(state.StateError, match="cannot read state file"):
        state.load(path)


# --- hijacking: links, other users, directories others can write -------------------------------


def test_a_gitignore_link_is_never_written_through(tmp_path):
    elsewhere = tmp_path / "victim.txt"
    elsewhere.write_text("precious\n")
    directory = tmp_path / ".azwrap"
    directory.mkdir(mode=0o700)
    (directory / ".gitignore").symlink_to(elsewhere)
    state.save(directory / "state.json", state.empty())
    state.load(directory / "state.json")
    assert elsewhere.read_text() == "precious\n"
    assert (directory / ".gitignore").is_symlink()


def test_a_state_directory_that_is_a_link_is_refused_and_nothing_is_written_there(tmp_path):
    other = tmp_path / "other"
    other.mkdir(mode=0o755)
    other.chmod(0o755)
    (tmp_path / ".azwrap").symlink_to(other)
    path = tmp_path / ".azwrap" / "state.json"
    for action in (lambda: state.load(path), lambda: state.save(path, state.empty()),
                   lambda: state.check_writable(path, state.empty())):  # fmt: skip
        with pytest.raises(state.StateError, match="is a symbolic link.*rm "):
            action()
    assert "symbolic link" in state.problem(path)
    assert list(other.iterdir()) == []
    assert stat.S_IMODE(other.stat().st_mode) == 0o755


def test_a_state_file_that_is_a_link_is_refused(tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(state.empty()))
    (tmp_path / "s.json").symlink_to(target)
    with pytest.raises(state.StateError, match="is a symbolic link"):
        state.load(tmp_path / "s.json")
    with pytest.raises(state.StateError, match="is a symbolic link"):
        state.save(tmp_path / "s.json", state.empty())
    assert json.loads(target.read_text()) == state.empty()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_state_directory_others_can_write_is_refused_with_the_fix(tmp_path, mode):
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(mode)
    path = directory / "state.json"
    with pytest.raises(state.StateError, match=f"can be written by others.*chmod go-w {directory}"):
        state.load(path)
    with pytest.raises(state.StateError, match="can be written by others"):
        state.save(path, state.empty())
    assert not path.exists()
    assert stat.S_IMODE(directory.stat().st_mode) == mode  # not azwrap's: refused, never chmodded


def test_state_of_another_user_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(state.empty()))
    os.chown(path, 65534, 65534)  # the tests run as root, who can hand a file to nobody
    with pytest.raises(state.StateError, match="belongs to another user"):
        state.load(path)
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, 65534, 65534)
    with pytest.raises(state.StateError, match="belongs to another user"):
        state.load(directory / "s.json")


def test_on_windows_modes_and_owners_are_not_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "posix", lambda: False)
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o777)
    state.save(directory / "s.json", state.empty())
    assert state.load(directory / "s.json") == state.empty()


def test_a_stale_temporary_state_of_a_dead_writer_is_removed_a_live_ones_kept(tmp_path):
    path = tmp_path / ".azwrap" / "state.json"
    state.save(path, state.empty())
    stale = path.parent / ".state-999999999-abc.tmp"  # no such pid
    legacy = path.parent / ".state-abc.tmp"  # written by an azwrap that did not name its pid
    live = path.parent / f".state-{os.getpid()}-xyz.tmp"
    for temp in (stale, legacy, live):
        temp.write_text('{"secret": "x"}')
    state.load(path)
    assert not stale.exists() and not legacy.exists()
    assert live.exists()


# --- damaged content names the field ----------------------------------------------------------

GUID = "6f1c2a9e-0d3b-4e57-9a1c-2b3c4d5e6f70"
ACC = "/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/adls-rg/providers/Microsoft.Storage/storageAccounts/acc1"


@pytest.mark.parametrize("outputs,field", [
    ({"sp": {"tenant": GUID, "password": "p"}}, "outputs.sp.appId: missing"),
    ({"sp": {"appId": GUID, "password": "p"}}, "outputs.sp.tenant: missing"),
    ({"sp": {"appId": "not-a-guid", "tenant": GUID}}, "outputs.sp.appId: not a GUID"),
    ({"sp": {"appId": GUID, "tenant": "@/etc/passwd"}}, "outputs.sp.tenant: not a GUID"),
    ({"sp": {"appId": GUID, "tenant": GUID, "password": 7}}, "outputs.sp.password: not text"),
    ({"acc": {"id": "/subscriptions/x"}}, "outputs.acc.id: not a storage account id"),
    ({"acc": {"id": ACC.replace("Microsoft.Storage/storageAccounts", "Microsoft.Compute/disks")}},
     "outputs.acc.id: not a storage account id"),
    ({"aml": {"id": ACC}}, "outputs.aml.id: not an Azure ML workspace id"),
    ({"acc": {}}, "outputs.acc.id: missing"),
])  # fmt: skip
def test_damaged_outputs_are_named(tmp_path, outputs, field):
    path = tmp_path / "s.json"
    content = json.dumps({"version": 1, "steps": {}, "outputs": outputs})
    path.write_text(content)
    with pytest.raises(state.StateError, match=f"is damaged \\({field}\\)"):
        state.load(path)
    assert path.read_text() == content


def test_a_recorded_setting_starting_with_at_is_damage(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": 1, "steps": {"upload": {"settings": {"source": "@/etc/shadow"}}},
                                "outputs": {}}))  # fmt: skip
    with pytest.raises(state.StateError, match="steps.upload.settings.source: starts with '@'"):
        state.load(path)


def test_a_sound_state_loads(tmp_path):
    path = tmp_path / "s.json"
    sound = {"version": 1, "steps": {"sp": {"done_at": "2026-01-01T00:00:00+00:00", "settings": {"account": "acc1"}}},
             "outputs": {"sp": {"appId": GUID, "tenant": GUID, "password": "@may~start.with_at"}, "acc": {"id": ACC}}}
    path.write_text(json.dumps(sound))
    assert state.load(path) == {**sound, "resources": {}}  # what this round added, empty


def test_check_writable_stops_on_a_read_only_filesystem_and_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / ".azwrap" / "state.json"
    real_mkstemp = state.tempfile.mkstemp

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(state.tempfile, "mkstemp", read_only)
    with pytest.raises(state.StateError, match="Read-only file system; nothing was changed"):
        state.check_writable(path, state.empty())
    monkeypatch.setattr(state.tempfile, "mkstemp", real_mkstemp)
    state.check_writable(path, state.empty())
    assert sorted(p.name for p in path.parent.iterdir()) == [".gitignore"]


def test_on_windows_the_liveness_check_never_signals(monkeypatch):
    # os.kill(pid, 0) terminates a process on Windows: the Windows path must not call it.
    monkeypatch.setattr(state, "posix", lambda: False)
    monkeypatch.setattr(os, "kill", lambda *args: pytest.fail("os.kill called on Windows"))
    assert state.pid_alive(999999999) is True  # no kernel32 here: cannot tell, so kept


def test_the_temporary_file_is_written_in_the_states_own_directory(tmp_path, monkeypatch):
    """Observed while the save runs: a rename is atomic only within one directory (one filesystem)."""
    import tempfile

    path = tmp_path / ".azwrap" / "state.json"
    state.save(path, state.empty())
    elsewhere = tmp_path / "tmpdir"  # where tempfile would put a file without dir=
    elsewhere.mkdir()
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    seen = []
    real_fsync = os.fsync

    def look_then_fsync(fd):
        # The first fsync is the temporary file's, after it is written and before the rename.
        seen.append((sorted(p.name for p in path.parent.iterdir()), sorted(p.name for p in elsewhere.iterdir()),
                     os.fstat(fd)))  # fmt: skip
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", look_then_fsync)
    state.save(path, {"version": 1, "steps": {"sp": {}}, "outputs": {}})
    in_directory, in_tmpdir, written = seen[0]
    temporary = [name for name in in_directory if name not in (".gitignore", "state.json")]
    assert len(temporary) == 1 and in_tmpdir == [], (in_directory, in_tmpdir)
    assert stat.S_ISREG(written.st_mode) and stat.S_IMODE(written.st_mode) == 0o600
    assert (written.st_dev, written.st_ino) == (os.stat(path).st_dev, os.stat(path).st_ino)  # renamed into place
    assert sorted(p.name for p in path.parent.iterdir()) == [".gitignore", "state.json"]
