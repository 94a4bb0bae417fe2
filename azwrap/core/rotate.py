"""`azwrap rotate`: a new secret for the recorded principal beside the old one, recorded the moment az
prints it; the datastore attached again with it; then azwrap's earlier secret deleted by its key id, and
no other password of the app. Each stage is recorded before and after it, so an interrupted rotation is
finished by the next `azwrap rotate` or `azwrap all`."""

from __future__ import annotations

import time
import uuid

from ..az.runner import AzFailed
from ..book import commands as az
from ..book import ml, resources
from ..book.quoting import shown
from ..book.steps import BY_NAME
from ..errors import MissingInput, Refused
from ..store import state as state_file
from . import lifecycle, record
from .apply import Apply, gone
from .lifecycle import ROTATION
from .plan import Action, Plan

NAME_PREFIX = "azwrap-"  # the display name of each secret rotate makes (create-for-rbac names its own "rbac")


def rotate(session) -> None:
    """A new secret, the datastore attached again with it, azwrap's earlier secret deleted."""
    sp = session.outputs.get("sp")
    if not sp:
        raise MissingInput(f"no service principal is recorded in {session.state_path}: run `azwrap sp` first")
    _check_datastore_settings(session)
    session.check_subscription()
    session.runner.subscription = session.subscription_id  # another terminal's `az account set` must not matter
    rotation = session.state.get(ROTATION) or {}
    if rotation.get("appId") not in (None, sp["appId"]):
        rotation = {}  # of a principal the state no longer records: moot
    if rotation.get("stage") in (None, "reset") and not rotation.get("name"):
        _check_datastore_is_azwraps(session)  # before the secret changes
        rotation = {"stage": "reset", "appId": sp["appId"], "name": NAME_PREFIX + uuid.uuid4().hex[:12],
                    "old_key": _current_key(session, sp)}  # fmt: skip
        _stage(session, rotation)
    stages = {"reset": _reset, "key": _new_key, "datastore": _reattach, "retire": _delete_old}
    for stage, then in zip(stages, [*list(stages)[1:], None], strict=True):
        rotation = session.state[ROTATION]
        if rotation.get("stage", "reset") != stage:
            continue  # done by an earlier run
        stages[stage](session, sp, rotation)
        if then:
            _stage(session, {**session.state[ROTATION], "stage": then})
    session.state.pop(ROTATION, None)
    session.save()


def finish_rotation(session) -> None:
    """What an interrupted rotation left to do (`azwrap all` finishes it)."""
    rotation, sp = session.state.get(ROTATION), session.outputs.get("sp")
    if rotation and (not sp or rotation.get("appId") not in (None, sp["appId"])):
        session.state.pop(ROTATION, None)  # of a principal the state no longer records: moot
        session.save()
    elif rotation:
        session.runner.echo("rotate: finishing the secret rotation an earlier run began")
        rotate(session)


def _stage(session, rotation: dict) -> None:
    session.state[ROTATION] = rotation
    session.save()


def _check_datastore_settings(session) -> None:
    """Before the old secret is replaced: the datastore must be attached again where it was, in its dialect."""
    recorded = session.state["steps"].get("datastore", {}).get("settings", {})
    changed = [f"--{name.replace('_', '-')} {shown(old)} (not {shown(getattr(session.settings, name))})"
               for name, old in recorded.items() if getattr(session.settings, name, old) != old]  # fmt: skip
    if changed:
        raise MissingInput("the datastore was attached with " + ", ".join(changed) +
                           ": run `azwrap rotate` with the same settings, so that it is attached again with the new secret")


def _datastore_arm_id(session) -> str:
    return resources.arm_id("datastore", session.settings, session.subscription_id)


def _check_datastore_is_azwraps(session) -> None:
    """The datastore rotate attaches again must be the one azwrap made (it is replaced, v1: detached)."""
    if "datastore" not in session.state["steps"]:
        return
    recorded = session.state["resources"].get("datastore", {})
    found = session.runner.run("rotate", list(az.resources_show([_datastore_arm_id(session)])), capture=True,
                               shape=dict, probe=True, not_found_ok=True)  # fmt: skip
    if found is not None and resources.same_identity("datastore", recorded.get("identity"), found) is False:
        raise Refused(f"datastore {session.settings.datastore} in workspace {session.settings.workspace} is not the one "
                      "azwrap attached (it authenticates as another principal): azwrap does not replace it. Nothing "
                      "was changed; remove it or choose another --datastore, then run `azwrap rotate` again")  # fmt: skip


def _app_gone(session, error: AzFailed) -> bool:
    """Graph's answer that the app is not there (exit 1 "does not exist" outside `show`). The one place
    rotate decides it: _credentials, _reset and so _delete_old (through _credentials) ask here.
    Graph's not-found after another terminal's `az login` to another tenant is not "gone": refused (exit 2)."""
    if not gone(error):
        return False
    sp = session.outputs.get("sp", {})
    lifecycle.check_tenant(session.runner, "rotate", lifecycle.recorded_tenant(session.state), sp.get("appId", ""))
    return True


def _credentials(session, app_id: str) -> list[dict]:
    try:
        listed = session.runner.run("rotate", list(az.ad_app_credential_list(app_id)), capture=True, shape=list)
    except AzFailed as error:
        if _app_gone(session, error):
            raise Refused(f"the service principal {app_id} no longer exists (az ad app credential list: "
                          f"{' '.join(error.stderr_tail[-1:])}): `azwrap all --force sp` makes a new one") from None
        raise
    return [c for c in listed if isinstance(c, dict) and c.get("keyId")]


def _current_key(session, sp: dict) -> str | None:
    """The key id of azwrap's secret: recorded when it was made; else the one password that is azwrap's by
    its name and its first three characters (Graph's hint). None: cannot tell (it is then left alone)."""
    recorded = session.state["resources"].get("sp", {}).get("identity", {}).get("keyId")
    if recorded:
        return recorded
    password = sp.get("password") or ""
    mine = [c for c in _credentials(session, sp["appId"]) if c.get("hint") == password[:3]
            and (c.get("displayName") == "rbac" or str(c.get("displayName", "")).startswith(NAME_PREFIX))]  # fmt: skip
    return mine[0]["keyId"] if len(mine) == 1 else None


def _reset(session, sp: dict, rotation: dict) -> None:
    command = az.ad_app_credential_reset(sp["appId"], rotation["name"])
    try:
        result = session.runner.run("rotate", list(command), capture=True, shape=dict)
    except AzFailed as error:
        if _app_gone(session, error):
            session.state.pop(ROTATION, None)
            session.save()
            raise Refused(f"the service principal {sp['appId']} no longer exists: `azwrap all --force sp` makes a "
                          "new one (nothing was changed)") from None
        raise
    if not all(isinstance(result.get(field), str) and result[field] for field in ("appId", "password")) or \
            result["appId"].lower() != sp["appId"].lower():  # fmt: skip
        raise AzFailed("rotate", session.runner.display(["az", *command]), 0, [],
                       reason="its JSON lacks the appId and password azwrap needs")  # fmt: skip
    sp["password"] = result["password"]
    try:
        session.save()  # at once: az printed the new secret only now
    except state_file.StateError as error:
        raise state_file.StateError(f"{error}. The new secret of {sp['appId']} could not be recorded; fix the state "
                                    "file and run `azwrap rotate` again (it makes another)") from None  # fmt: skip
    session.runner.echo(f"rotate: a new secret for {sp['appId']} is recorded in {session.state_path}; the earlier "
                        "one still works until the datastore uses the new one")  # fmt: skip


def _new_key(session, sp: dict, rotation: dict) -> None:
    """The new secret's key id: the password of the name rotate gave it whose first three characters
    (Graph's hint) are the recorded secret's. A reset an interrupt cut short may have made another of
    that name (azwrap's too, its secret never recorded): deleted. Start times can tie; hints tell."""
    hint = (sp.get("password") or "")[:3]
    named = [c for c in _credentials(session, sp["appId"]) if c.get("displayName") == rotation["name"]]
    mine = [c for c in named if c.get("hint") == hint]
    if len(mine) == 1:
        record.identity(session, "sp", {"keyId": mine[0]["keyId"]})
    else:  # cannot tell (no hint, or two alike): the next rotation deletes no password rather than a wrong one
        session.state["resources"].get("sp", {}).pop("identity", None)
        session.save()
    for stale in named:
        if isinstance(stale.get("hint"), str) and stale["hint"] and stale["hint"] != hint:
            session.runner.run("rotate", list(az.ad_app_credential_delete(sp["appId"], stale["keyId"])))


def _reattach(session, sp: dict | None = None, rotation: dict | None = None) -> None:
    """The datastore again, with the new secret (v1: detach, then attach; v2: create replaces it)."""
    datastore = BY_NAME["datastore"]
    if "datastore" not in session.state["steps"]:
        return  # no datastore yet: `azwrap datastore` attaches it with the new secret
    settings = session.settings
    if settings.ml_cli == "v1":  # by its id: the v1 extension's `show` does not exit 3 for a missing one
        found = session.runner.run("rotate", list(az.resources_show([_datastore_arm_id(session)])), capture=True,
                                   shape=dict, probe=True, not_found_ok=True)  # fmt: skip
        if found is not None:
            session.runner.run("rotate", list(ml.v1_datastore_detach(settings)))
    attach = next(inv for inv in datastore.invocations(settings, known=session.known()) if not inv.before)
    started_at, started = time.time(), time.monotonic()
    Apply(session, Plan(())).call(Action("rotate", attach, "the new secret"))
    record.identity(session, "datastore", {"clientId": session.outputs["sp"]["appId"]})
    record.step_done(session, datastore, record.inputs_of(session, datastore), started_at, time.monotonic() - started)
    session.runner.echo(f"rotate: datastore {settings.datastore} attached again with the new secret")


def _delete_old(session, sp: dict, rotation: dict) -> None:
    """azwrap's earlier secret, by its key id; the app's other passwords are someone else's: kept. One
    that is not among the app's passwords any more (deleted by hand, or by a run cut short) is done:
    Graph's answer to deleting an unknown key id is not documented (the simulator's: exit 1)."""
    old = rotation.get("old_key")
    if not old:
        session.runner.echo(f"rotate: azwrap cannot tell which of {sp['appId']}'s other passwords is its earlier "
                            "secret, so none is deleted: `az ad app credential list --id "
                            f"{sp['appId']}` lists them")  # fmt: skip
        return
    if not _has_key(session, sp["appId"], old):
        session.runner.echo(f"rotate: the earlier secret of {sp['appId']} (key id {old}) is no longer among its "
                            "passwords: nothing to delete")  # fmt: skip
        return
    try:
        session.runner.run("rotate", list(az.ad_app_credential_delete(sp["appId"], old)))
    except AzFailed:
        if _has_key(session, sp["appId"], old):  # else gone meanwhile: done all the same
            raise
    session.runner.echo(f"rotate: the earlier secret of {sp['appId']} is deleted (key id {old}); the app's other "
                        "passwords are untouched")  # fmt: skip


def _has_key(session, app_id: str, key_id: str) -> bool:
    return any(str(c["keyId"]).lower() == key_id.lower() for c in _credentials(session, app_id))
