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
