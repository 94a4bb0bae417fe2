"""The principal's lifecycle beyond the book: retiring one that --force sp replaced, rotating its
secret (`azwrap rotate`), and telling when the secret expires. Each step is recorded in the state
before and after it, so an interrupted run is finished by the next `azwrap rotate` or `azwrap all`.
"""

from __future__ import annotations

import datetime
import re

from ..book import commands as az
from ..book import ml
from ..book.quoting import shown
from ..book import resources
from ..store import state as state_file
from ..errors import MissingInput
from ..az.runner import AzFailed
from ..book.steps import BY_NAME

RETIRED = "retired_sp"  # state: appIds of replaced principals still to delete
ROTATION = "rotation"  # state: {"stage": "reset" | "datastore"} while a rotation is unfinished
EXPIRY_WARNING_DAYS = 30
# `role assignment list --assignee` of a principal already deleted (REFERENCE.md section 4).
_GONE = ("Cannot find user or service principal", "does not exist")


def retire(setup, old_app_id: str) -> None:
    """Note, in the state about to be saved with the new principal, that the old one is to be deleted."""
    retired = setup.state.setdefault(RETIRED, [])
    if old_app_id not in retired:
        retired.append(old_app_id)


def delete_retired(setup) -> None:
    """Delete each replaced principal: its role assignments first (az ad app delete leaves them), then the app."""
    for app_id in list(setup.state.get(RETIRED, [])):
        setup.current_step = "sp"
        _delete_role_assignments(setup, app_id)
        setup.runner.run("sp", list(az.ad_app_delete(app_id)), not_found_ok=True)  # exit 3: gone already
        setup.state[RETIRED].remove(app_id)
        if not setup.state[RETIRED]:
            del setup.state[RETIRED]
        setup._save()
        setup.runner.echo(f"sp: deleted the replaced service principal {app_id} (az ad app delete)")


def _delete_role_assignments(setup, app_id: str) -> None:
    try:
        assignments = setup.runner.run("sp", list(az.role_assignment_list_for(app_id)), capture=True, shape=list)
    except AzFailed as error:
        if not error.reason and any(text in line for line in error.stderr_tail for text in _GONE):
            return  # the principal is gone, and with it what could be listed by it
        raise
    ids = [item["id"] for item in assignments if isinstance(item, dict) and isinstance(item.get("id"), str)]
    if ids:
        setup.runner.run("sp", list(az.role_assignment_delete(ids)))


def rotate(setup) -> None:
    """A new secret for the recorded principal, recorded the moment az prints it, then the datastore re-attached."""
    sp = setup.outputs.get("sp")
    if not sp:
        raise MissingInput(f"no service principal is recorded in {setup.state_path}: run `azwrap sp` first")
    _check_datastore_settings(setup)
    setup.check_subscription()
    setup.current_step = "rotate"
    if setup.state.get(ROTATION, {}).get("stage") != "datastore":
        _reset(setup, sp)
    _reattach(setup)
    setup.state.pop(ROTATION, None)
    setup._save()
    setup.current_step = None


def finish(setup) -> None:
    """What an interrupted run left to do: delete replaced principals, finish a rotation."""
    if setup.state.get(RETIRED):
        delete_retired(setup)
    if setup.state.get(ROTATION):
        setup.runner.echo("rotate: finishing the secret rotation an earlier run began")
        rotate(setup)


def _check_datastore_settings(setup) -> None:
    """Before the old secret is replaced: the datastore must be attached again where it was, in its dialect."""
    recorded = setup.state["steps"].get("datastore", {}).get("settings", {})
    changed = [f"--{name.replace('_', '-')} {shown(old)} (not {shown(getattr(setup.settings, name))})"
               for name, old in recorded.items() if getattr(setup.settings, name, old) != old]  # fmt: skip
    if changed:
        raise MissingInput("the datastore was attached with " + ", ".join(changed) +
                           ": run `azwrap rotate` with the same settings, so that it is attached again with the new secret")


def _reset(setup, sp: dict) -> None:
    # Marked first: `credential reset` removes the old passwords one by one before adding the new one,
    # so once it started, the recorded secret may be dead even if az never prints the new one.
    setup.state[ROTATION] = {"stage": "reset"}
    setup._save()
    command = az.ad_app_credential_reset(sp["appId"])
    result = setup.runner.run("rotate", list(command), capture=True, shape=dict)
    if not all(isinstance(result.get(field), str) and result[field] for field in ("appId", "password")) or \
            result["appId"].lower() != sp["appId"].lower():  # fmt: skip
        raise AzFailed("rotate", setup.runner.display(["az", *command]), 0, [],
                       reason="its JSON lacks the appId and password azwrap needs")  # fmt: skip
    sp["password"] = result["password"]
    setup.state[ROTATION] = {"stage": "datastore"}
    try:
        setup._save()  # at once: the old secret is gone in Azure
    except state_file.StateError as error:
        raise state_file.StateError(f"{error}. The new secret of {sp['appId']} could not be recorded; fix the state "
                                    "file and run `azwrap rotate` again (it makes another)") from None  # fmt: skip
    setup.runner.echo(f"rotate: a new secret for {sp['appId']} is recorded in {setup.state_path}")


def _reattach(setup) -> None:
    """The datastore again, with the new secret (v1: detach, then attach; v2: create replaces it)."""
    datastore = BY_NAME["datastore"]
    if "datastore" not in setup.state["steps"]:
        return  # no datastore yet: `azwrap datastore` attaches it with the new secret
    settings = setup.settings
    if settings.ml_cli == "v1":
        # `az ml datastore list`: the v1 extension's `show` does not exit 3 for a missing datastore.
        found = setup.runner.run("rotate", list(ml.datastore_list(settings)), capture=True, shape=list)
        if resources.datastore_entry(found, settings.datastore) is not None:
            setup.runner.run("rotate", list(ml.v1_datastore_detach(settings)))
    attach = next(inv for inv in datastore.invocations(settings, known=setup.known()) if not inv.before)
    setup._run(datastore, attach)
    setup._record_done(datastore)
    setup.runner.echo(f"rotate: datastore {settings.datastore} attached again with the new secret")


def expiry_note(setup, app_id: str, password: str | None, today: datetime.datetime | None = None):
    """(status, detail) about the recorded secret's expiry, from `az ad app credential list`; None if fine."""
    credentials = setup.runner.run("doctor", list(az.ad_app_credential_list(app_id)), capture=True, shape=list,
                                   not_found_ok=True)  # fmt: skip
    if credentials is None:
        return "gone", f"the service principal {app_id} no longer exists (az ad app credential list exit 3)"
    # Graph shows the first three characters of each password as its `hint`: that finds the recorded one.
    mine = [c for c in credentials if isinstance(c, dict) and password and c.get("hint") == password[:3]]
    if password and not mine:
        return "unknown", f"the recorded secret is not among {app_id}'s credentials any more"
    ends = sorted(str(c.get("endDateTime")) for c in (mine or credentials) if isinstance(c, dict) and c.get("endDateTime"))
    if not ends:
        return None
    end = _parse_time(ends[0])
    now = today or datetime.datetime.now(datetime.timezone.utc)
    if end is not None and end - now <= datetime.timedelta(days=EXPIRY_WARNING_DAYS):
        when = "expired" if end <= now else "expires"
        return "soon", f"the secret of {app_id} {when} on {end.date().isoformat()}"
    return None


def _parse_time(text: str):
    # Graph writes 2027-01-31T12:00:00.6350000Z: seven fraction digits, which fromisoformat refuses.
    text = re.sub(r"(\.\d{1,6})\d*", r"\1", text.replace("Z", "+00:00"))
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)
