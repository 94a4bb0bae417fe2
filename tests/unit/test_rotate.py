"""`azwrap rotate` where its stages meet a changed app: the earlier secret already gone, two passwords of
its name started in the same second, a rotation another app's capture makes moot."""

import json
from types import SimpleNamespace

from azwrap.core import record

from .conftest import ACCOUNT, BOOK, KEY_ID, NOT_FOUND, SECRET, SP
from . import test_lifecycle
from .test_lifecycle import (CREDENTIALS, DATASTORE, DATASTORE_SHOW, DELETE_OLD, DETACH, LISTED, NAME, NEW, NEW_KEY,
                             PINNED, RESET, ROTATED, state)  # fmt: skip

done, fixed_name = test_lifecycle.done, test_lifecycle.fixed_name  # fixtures

GRAPH_NO_KEY = f"ERROR: No password credential found with keyId as '{KEY_ID}'.\n"


def _interrupted_at_the_datastore(fake, cli):
    """A rotation whose new secret is recorded and whose re-attach failed: stage "datastore"."""
    fake.logged_in()
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(RESET, stdout=json.dumps(ROTATED))
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(DETACH)
    fake.on([*BOOK[12][1], *PINNED], returncode=1, stdout="", stderr="ERROR: (ServiceUnavailable) try later\n")
    assert cli("rotate", "--account", ACCOUNT).exit_code == 1
    fake.fp.calls.clear()


def test_rotate_finishes_when_the_earlier_secret_was_deleted_by_hand(done, fake, cli, fixed_name):
    _interrupted_at_the_datastore(fake, cli)
    fake.logged_in()
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED[1:]))  # `az ad app credential delete` by hand: not listed
    result = cli("rotate", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert DELETE_OLD not in fake.calls() and fake.calls()[-1] == CREDENTIALS
    assert "no longer among its passwords: nothing to delete" in result.stderr
    assert "rotation" not in state(done)


def test_a_delete_graph_refuses_is_done_when_the_key_is_gone_meanwhile(done, fake, cli, fixed_name):
    _interrupted_at_the_datastore(fake, cli)
    fake.logged_in()
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.on(DELETE_OLD, returncode=1, stdout="", stderr=GRAPH_NO_KEY)
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED[1:]))  # deleted between the listing and the delete
    result = cli("rotate", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert fake.calls()[-3:] == [CREDENTIALS, DELETE_OLD, CREDENTIALS] and "rotation" not in state(done)


def test_a_delete_that_fails_while_the_key_is_still_there_fails_and_is_resumed(done, fake, cli, fixed_name):
    _interrupted_at_the_datastore(fake, cli)
    fake.logged_in()
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.on(DELETE_OLD, returncode=1, stdout="", stderr="ERROR: (ServiceUnavailable) later\n")
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    assert cli("rotate", "--account", ACCOUNT).exit_code == 1
    assert state(done)["rotation"]["stage"] == "retire"


def test_the_new_key_is_told_by_its_hint_when_two_of_its_name_started_in_the_same_second(done, fake, cli, fixed_name):
    # A reset cut short made a password of the same name in the same second; Graph lists it after the
    # recorded one. Its secret was never printed: its hint differs.
    stale = {**LISTED[2], "keyId": "5a5a5a5a-0000-4000-8000-000000000004", "hint": "h4f"}
    fake.logged_in()
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(RESET, stdout=json.dumps(ROTATED))
    fake.on(CREDENTIALS, stdout=json.dumps([*LISTED, stale]))
    delete_stale = ["ad", "app", "credential", "delete", "--id", SP["appId"], "--key-id", stale["keyId"]]
    fake.on(delete_stale, stdout="")
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.on(DELETE_OLD, stdout="")
    result = cli("rotate", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    assert state(done)["resources"]["sp"]["identity"] == {"keyId": NEW_KEY}  # not the stale one
    assert delete_stale in fake.calls()
    assert ["ad", "app", "credential", "delete", "--id", SP["appId"], "--key-id", NEW_KEY] not in fake.calls()
    for secret in (ROTATED["password"], SECRET):
        assert secret[:3] not in result.output.replace(SP["appId"], "")  # neither a secret nor its hint


def test_when_the_hint_cannot_tell_no_key_is_recorded_and_nothing_of_the_name_is_deleted(done, fake, cli, fixed_name):
    twin = {**LISTED[2], "keyId": "5a5a5a5a-0000-4000-8000-000000000004"}  # the same hint: cannot tell
    fake.logged_in()
    fake.on(DATASTORE_SHOW, stdout=json.dumps(DATASTORE))
    fake.on(RESET, stdout=json.dumps(ROTATED))
    fake.on(CREDENTIALS, stdout=json.dumps([*LISTED, twin]))
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps([*LISTED, twin]))
    fake.on(DELETE_OLD, stdout="")
    assert cli("rotate", "--account", ACCOUNT).exit_code == 0
    assert "identity" not in state(done)["resources"]["sp"]  # the next rotation deletes none rather than a wrong one
    assert not any(call[:4] == DELETE_OLD[:4] and call[-1] in (NEW_KEY, twin["keyId"]) for call in fake.calls())


def _session(state: dict, outputs: dict):
    return SimpleNamespace(state=state, outputs=outputs, save=lambda: None)


def test_capturing_a_new_principal_drops_a_rotation_of_another_app():
    rotation = {"stage": "datastore", "appId": SP["appId"], "name": NAME, "old_key": KEY_ID}
    for outputs in ({"sp": dict(SP)}, {}):  # the replaced principal recorded, or none (a destroy forgot it)
        session = _session({"rotation": dict(rotation)}, dict(outputs))
        record.capture(session, "sp", "sp", dict(NEW), "az ad sp create-for-rbac")
        assert "rotation" not in session.state and session.outputs["sp"]["appId"] == NEW["appId"]


def test_a_rotation_without_its_app_recorded_is_moot_for_a_new_principal():
    session = _session({"rotation": {"stage": "datastore", "name": NAME, "old_key": KEY_ID}}, {})  # an older state
    record.capture(session, "sp", "sp", dict(NEW), "az ad sp create-for-rbac")
    assert "rotation" not in session.state


def test_capturing_other_values_keeps_the_rotation():
    rotation = {"stage": "datastore", "appId": SP["appId"], "name": NAME, "old_key": KEY_ID}
    session = _session({"rotation": dict(rotation)}, {"sp": dict(SP)})
    record.capture(session, "storage", "acc", {"id": "/subscriptions/x/acc"}, "az storage account show")
    assert session.state["rotation"] == rotation


def test_all_drops_a_rotation_of_another_app_instead_of_rotating_the_recorded_one():
    from azwrap.core.rotate import finish_rotation

    def no_az(*args, **kwargs):
        raise AssertionError("no az call: the rotation is moot")

    runner = SimpleNamespace(run=no_az, echo=no_az)
    for outputs in ({"sp": dict(NEW)}, {}):
        session = SimpleNamespace(state={"rotation": {"stage": "datastore", "appId": SP["appId"], "name": NAME}},
                                  outputs=dict(outputs), runner=runner, save=lambda: None)  # fmt: skip
        finish_rotation(session)
        assert "rotation" not in session.state


def test_the_help_says_which_calls_name_the_subscription(cli):
    text = " ".join(cli("rotate", "--help").output.split())
    assert "Every call names the setup's subscription" not in text
    assert "the `az ad` calls (Microsoft Graph) cannot take --subscription" in text


def test_graph_calls_carry_no_subscription_and_the_datastore_calls_do(done, fake, cli, fixed_name):
    _interrupted_at_the_datastore(fake, cli)
    fake.logged_in()
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, stdout=json.dumps(LISTED))
    fake.on(DELETE_OLD, stdout="")
    assert cli("rotate", "--account", ACCOUNT).exit_code == 0
    calls = fake.calls(pinned=True)[1:]
    assert all(("--subscription" in call) == (call[0] != "ad") for call in calls), calls


def test_graph_not_finding_the_app_after_a_tenant_switch_is_refused_and_the_rotation_kept(done, fake, cli, fixed_name):
    from .conftest import ACCOUNT_SHOW

    _interrupted_at_the_datastore(fake, cli)
    fake.logged_in()
    fake.on(DATASTORE_SHOW, **NOT_FOUND)
    fake.on([*BOOK[12][1], *PINNED])
    fake.on(CREDENTIALS, returncode=1, stdout="", stderr=(
        f"ERROR: Resource '{SP['appId']}' does not exist or one of its queried reference-property objects are not present.\n"))
    fake.on(["account", "show"], stdout=json.dumps({**ACCOUNT_SHOW, "tenantId": "another-tenant"}))  # another az login
    result = cli("rotate", "--account", ACCOUNT)
    assert result.exit_code == 2, result.output
    assert "az is signed in to tenant another-tenant" in result.stderr and "no longer exists" not in result.stderr
    assert state(done)["rotation"]["stage"] == "retire"  # not forgotten: the next rotate finishes it
