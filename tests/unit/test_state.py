"""The state file: private, atomic, and left alone when it cannot be read."""

import json
import os
import stat

import pytest

from azwrap import state


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


def test_an_open_state_directory_is_made_private_on_load_with_a_warning(tmp_path, capsys):
    directory = tmp_path / ".azwrap"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    (directory / "state.json").write_text(json.dumps(state.empty()))
    (directory / "state.json").chmod(0o600)
    assert "open to others" in state.problem(directory / "state.json")
    state.load(directory / "state.json")
    assert "open to others" in capsys.readouterr().err
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert (directory / ".gitignore").read_text() == "*\n"
    assert state.problem(directory / "state.json") is None


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
