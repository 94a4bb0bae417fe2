"""`azwrap rotate` across runs on the simulator: a rotation cut short meets a changed app (its earlier
secret deleted by hand, the setup destroyed and made again)."""

from __future__ import annotations

import json

from .test_azwrap_sim import ACCOUNT, make_place
from .test_security import datastore_works, sim_state
from .test_setup_state import sim

CUT_AT_THE_DATASTORE = {"AZSIM_FAIL_MATCH": "ml datastore attach-adls-gen2"}


def azwrap_state(place) -> dict:
    return json.loads((place.cwd / ".azwrap" / "state.json").read_text(encoding="utf-8"))


def _rotation_cut_short(tmp_path):
    place = make_place(tmp_path / "place")
    sim(place, "login")
    place.azwrap("all", "--account", ACCOUNT, "--quiet")
    place.azwrap("rotate", "--account", ACCOUNT, extra_env=CUT_AT_THE_DATASTORE, ok=(1,))
    assert azwrap_state(place)["rotation"]["stage"] == "datastore"
    return place


def test_a_rotation_whose_earlier_secret_was_deleted_by_hand_finishes_and_stays_finished(tmp_path):
    place = _rotation_cut_short(tmp_path)
    app_id, old_key = azwrap_state(place)["outputs"]["sp"]["appId"], azwrap_state(place)["rotation"]["old_key"]
    sim(place, "ad", "app", "credential", "delete", "--id", app_id, "--key-id", old_key)
    finished = place.azwrap("rotate", "--account", ACCOUNT)
    assert "nothing to delete" in finished.stderr and "rotation" not in azwrap_state(place)
    assert datastore_works(sim_state(place))
    start = len(sim_state(place)["calls"])
    assert place.azwrap("all", "--quiet").exit_code == 0  # and later runs stay green
    assert not any(argv[:4] == ["ad", "app", "credential", "delete"] for argv in sim_state(place)["calls"][start:])


def test_destroy_then_all_after_a_rotation_cut_short_makes_a_setup_that_works(tmp_path):
    place = _rotation_cut_short(tmp_path)
    old = azwrap_state(place)["outputs"]["sp"]["appId"]
    place.azwrap("destroy", "--yes", "--quiet")
    start = len(sim_state(place)["calls"])
    place.azwrap("all", "--quiet")
    new = azwrap_state(place)["outputs"]["sp"]["appId"]
    assert new != old and "rotation" not in azwrap_state(place)
    # The old app's rotation is not finished on the new app: no reset, no delete of a password of the new app.
    calls = sim_state(place)["calls"][start:]
    assert not any(argv[:4] in (["ad", "app", "credential", "reset"], ["ad", "app", "credential", "delete"])
                   for argv in calls)  # fmt: skip
    assert datastore_works(sim_state(place))
    assert place.azwrap("all", "--quiet").exit_code == 0
