"""What apply writes into the state: a thing found again keeps what tells it apart and what it made; one
taken back from an earlier generation is no longer listed apart; a creating call leaves a note of when it
began, so that a lost answer can be told apart from the user's resource."""

from __future__ import annotations

from types import SimpleNamespace

from azwrap.book.settings import Settings
from azwrap.core import record

SETTINGS = Settings(account="mydatalake")
WORKSPACE = SETTINGS.subset(("workspace", "aml_group"))


def session(resources: dict | None = None, **state) -> SimpleNamespace:
    saved = []
    s = SimpleNamespace(settings=SETTINGS, state={"steps": {}, "outputs": {}, "resources": resources or {}, **state},
                        saved=saved)  # fmt: skip
    s.save = lambda: saved.append(True)
    return s


def test_a_thing_found_again_under_its_names_keeps_its_identity_and_what_it_made():
    made = {"created": True, "settings": WORKSPACE, "dialect": "v1", "identity": {"workspaceid": "w1"},
            "dependents": ["/subscriptions/s/x/storageAccounts/amlstore"]}  # fmt: skip
    s = session({"workspace": dict(made)})
    record.resource(s, "workspace", created=False)  # a step resumed after a failure finds it
    assert s.state["resources"]["workspace"] == made and s.saved


def test_a_thing_made_anew_does_not_inherit_the_identity_of_the_one_before():
    s = session({"workspace": {"created": True, "settings": WORKSPACE, "identity": {"workspaceid": "w1"}}})
    record.resource(s, "workspace", created=True)
    assert "identity" not in s.state["resources"]["workspace"]


def test_a_thing_found_under_other_names_is_not_azwraps_and_the_earlier_one_stays_listed():
    other = {"created": True, "settings": {"workspace": "old", "aml_group": "aml-rg"}, "identity": {"workspaceid": "w0"}}
    s = session({"workspace": other})
    record.resource(s, "workspace", created=False)
    assert s.state["resources"]["workspace"]["created"] is False
    assert "identity" not in s.state["resources"]["workspace"]
    assert s.state["earlier"] == [{"key": "workspace", "record": other}]


def test_a_thing_taken_back_from_an_earlier_generation_is_azwraps_and_not_listed_twice():
    earlier = {"created": True, "settings": WORKSPACE, "identity": {"workspaceid": "w1"}, "dialect": "v1"}
    current = {"created": True, "settings": {"workspace": "new", "aml_group": "aml-rg"}, "identity": {"workspaceid": "w2"}}
    s = session({"workspace": current}, earlier=[{"key": "workspace", "record": earlier}])
    record.resource(s, "workspace", created=False, reclaim={**earlier, "generation": 0})
    assert s.state["resources"]["workspace"] == {"created": True, "settings": WORKSPACE, "dialect": "v1",
                                                 "identity": {"workspaceid": "w1"}}  # fmt: skip
    assert s.state["earlier"][0]["deleted"] is True  # the taken-back generation
    assert s.state["earlier"][1] == {"key": "workspace", "record": current}  # the one it replaces as current


def test_a_creating_call_is_noted_before_it_runs_and_the_note_goes_with_its_record():
    s = session()
    record.pending(s, "account")
    assert s.state["pending"]["account"]["settings"] == {"account": "mydatalake", "adls_group": "adls-rg"}
    assert s.state["pending"]["account"]["started"] <= record.now()
    record.resource(s, "account", created=True)
    assert s.state["pending"] == {}


def test_a_second_create_for_rbac_after_a_lost_answer_keeps_when_the_first_began():
    s = session(pending={"sp": {"settings": {}, "started": "2026-12-01T09:59:58+00:00"}})
    record.pending(s, "sp")
    assert s.state["lost_apps"] == ["2026-12-01T09:59:58+00:00"]
    assert s.state["pending"]["sp"]["started"] != "2026-12-01T09:59:58+00:00"
