"""`azwrap rotate`: a new secret for the recorded principal, recorded the moment az prints it, then the
datastore attached again with it. Each stage is recorded before and after it, so an interrupted rotation
is finished by the next `azwrap rotate` or `azwrap all`."""

from __future__ import annotations

import time

from ..az.runner import AzFailed
from ..book import commands as az
from ..book import ml, resources
from ..book.quoting import shown
from ..book.steps import BY_NAME
from ..errors import MissingInput
from ..store import state as state_file
from . import record
from .apply import Apply
from .lifecycle import ROTATION
from .plan import Action, Plan


def rotate(session) -> None:
    """A new secret for the recorded principal, recorded the moment az prints it, then the datastore re-attached."""
    sp = session.outputs.get("sp")
    if not sp:
        raise MissingInput(f"no service principal is recorded in {session.state_path}: run `azwrap sp` first")
    _check_datastore_settings(session)
    session.check_subscription()
    if session.state.get(ROTATION, {}).get("stage") != "datastore":
        _reset(session, sp)
    _reattach(session)
    session.state.pop(ROTATION, None)
    session.save()


def finish_rotation(session) -> None:
    """What an interrupted rotation left to do (`azwrap all` finishes it)."""
    if session.state.get(ROTATION):
        session.runner.echo("rotate: finishing the secret rotation an earlier run began")
        rotate(session)


def _check_datastore_settings(session) -> None:
    """Before the old secret is replaced: the datastore must be attached again where it was, in its dialect."""
    recorded = session.state["steps"].get("datastore", {}).get("settings", {})
    changed = [f"--{name.replace('_', '-')} {shown(old)} (not {shown(getattr(session.settings, name))})"
               for name, old in recorded.items() if getattr(session.settings, name, old) != old]  # fmt: skip
    if changed:
        raise MissingInput("the datastore was attached with " + ", ".join(changed) +
                           ": run `azwrap rotate` with the same settings, so that it is attached again with the new secret")


def _reset(session, sp: dict) -> None:
    # Marked first: `credential reset` removes the old passwords one by one before adding the new one,
    # so once it started, the recorded secret may be dead even if az never prints the new one.
    session.state[ROTATION] = {"stage": "reset"}
    session.save()
    command = az.ad_app_credential_reset(sp["appId"])
    result = session.runner.run("rotate", list(command), capture=True, shape=dict)
    if not all(isinstance(result.get(field), str) and result[field] for field in ("appId", "password")) or \
            result["appId"].lower() != sp["appId"].lower():  # fmt: skip
        raise AzFailed("rotate", session.runner.display(["az", *command]), 0, [],
                       reason="its JSON lacks the appId and password azwrap needs")  # fmt: skip
    sp["password"] = result["password"]
    session.state[ROTATION] = {"stage": "datastore"}
    try:
        session.save()  # at once: the old secret is gone in Azure
    except state_file.StateError as error:
        raise state_file.StateError(f"{error}. The new secret of {sp['appId']} could not be recorded; fix the state "
                                    "file and run `azwrap rotate` again (it makes another)") from None  # fmt: skip
    session.runner.echo(f"rotate: a new secret for {sp['appId']} is recorded in {session.state_path}")


def _reattach(session) -> None:
    """The datastore again, with the new secret (v1: detach, then attach; v2: create replaces it)."""
    datastore = BY_NAME["datastore"]
    if "datastore" not in session.state["steps"]:
        return  # no datastore yet: `azwrap datastore` attaches it with the new secret
    settings = session.settings
    if settings.ml_cli == "v1":
        # `az ml datastore list`: the v1 extension's `show` does not exit 3 for a missing datastore.
        found = session.runner.run("rotate", list(ml.datastore_list(settings)), capture=True, shape=list)
        if resources.datastore_entry(found, settings.datastore) is not None:
            session.runner.run("rotate", list(ml.v1_datastore_detach(settings)))
    attach = next(inv for inv in datastore.invocations(settings, known=session.known()) if not inv.before)
    started_at, started = time.time(), time.monotonic()
    Apply(session, Plan(())).call(Action("rotate", attach, "the new secret"))
    record.step_done(session, datastore, record.inputs_of(session, datastore), started_at, time.monotonic() - started)
    session.runner.echo(f"rotate: datastore {settings.datastore} attached again with the new secret")
