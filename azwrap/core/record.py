"""What apply writes into the state as each call succeeds: captured values, the resources azwrap made
or found, and the steps done. The state is saved at once after each, so that an interrupted run
loses nothing it did (above all a new principal's secret)."""

from __future__ import annotations

import datetime

from ..az.runner import AzFailed
from ..book import resources
from ..book.commands import CAPTURED_FIELDS
from ..book.steps import Step
from ..store import state as state_file
from . import lifecycle
from .session import Session, sha256_of

PENDING = "pending"  # state: {resource: {"settings", "started"}} while a creating call has no answer yet
LOST_APPS = "lost_apps"  # state: when each create-for-rbac whose answer was lost began (it may have made an app)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds")


def capture(session: Session, step: str, var: str, result, command: str) -> None:
    """Keep the fields of az's JSON that later calls use ($sp, $acc, $aml)."""
    fields = CAPTURED_FIELDS[var]
    if not isinstance(result, dict) or not all(isinstance(result.get(f), str) and result.get(f) for f in fields):
        raise AzFailed(step, command, 0, [], reason=f"its JSON lacks a field azwrap needs ({', '.join(fields)})")
    session.outputs[var] = {field: result[field] for field in fields}
    rotation = session.state.get(lifecycle.ROTATION)
    if var == "sp" and rotation and rotation.get("appId") != result["appId"]:
        # A rotation of another app (the replaced principal's, or one a destroy left) is moot: finishing it
        # would act on this new app with that app's key ids.
        session.state.pop(lifecycle.ROTATION, None)
    try:
        session.save()  # at once: a failure in the next call must not lose a new principal's secret
    except state_file.StateError as error:
        if var != "sp":
            raise
        # The principal exists in Azure now; its secret cannot be recovered, but it can be deleted.
        raise state_file.StateError(
            f"{error}. The service principal {result['appId']} was created but could not be recorded; "
            f"delete it (az ad app delete --id {result['appId']}), fix the state file, and run again"
        ) from None


def resource(session: Session, key: str, *, created: bool, assignment_id: str | None = None,
             reclaim: dict | None = None) -> None:
    """What the setup uses, and whether azwrap made it (only what it made is ever deleted). reclaim: the
    plan found the thing azwrap made under these names recorded elsewhere (an earlier generation, when a
    setting went back; a creation whose answer was lost): its record, restored."""
    named = session.settings.subset(resources.BY_KEY[key].uses)
    records = session.state["resources"]
    old = records.get(key, {})
    if old.get("created") and old.get("settings") != named:
        # What azwrap made under other names stays (and bills): recorded as an earlier generation, with its
        # identity, for `azwrap destroy`.
        session.state.setdefault("earlier", []).append({"key": key, "record": old})
    # Found existing, but recorded as made by azwrap earlier under the same names (a step resumed after
    # a failure); a thing found under other names is not azwrap's because an earlier one was.
    same = bool(old.get("created")) and old.get("settings") == named
    ours = created or same or reclaim is not None or _same_group_ours(session, key)
    if ours and key not in ("sp", *resources.ROLE_KEYS):
        _superseded(session, key, named)
    record = {"created": bool(ours), "settings": named}
    if key in ("workspace", "compute", "datastore"):
        record["dialect"] = session.settings.ml_cli  # how to delete it, and whether the other dialect made it
    if not created:  # the same thing as before: what tells it from a same-named one, and what it made, stay
        for kept in ("identity", "dependents", "dialect"):
            source = reclaim if reclaim is not None else (old if same else {})
            if kept in source:
                record[kept] = source[kept]
    if assignment_id or (old.get("id") and old.get("settings") == named):
        record["id"] = assignment_id or old.get("id")
    records[key] = record
    session.state.get("purged", {}).pop(key, None)
    session.state.get(PENDING, {}).pop(key, None)
    session.save()


def _superseded(session: Session, key: str, named: dict) -> None:
    """An earlier generation under the names of the current record is that record now (taken back when a
    setting went back), or was gone when this one was made (a guard found nothing there): not listed apart."""
    for entry in session.state.get("earlier", []):
        if entry.get("key") == key and entry.get("record", {}).get("settings") == named and not entry.get("deleted"):
            entry["deleted"] = True


def pending(session: Session, key: str) -> None:
    """Before a creating call: if its answer is lost (interrupted, garbled), the next run can tell that
    what it finds under these names was made by this call (its creation time is later than this)."""
    named = session.settings.subset(resources.BY_KEY[key].uses)
    earlier = session.state.setdefault(PENDING, {}).get(key)
    if key == "sp" and earlier:  # an app that call may have made is not found by name: `azwrap destroy` lists it
        session.state[LOST_APPS] = [*session.state.get(LOST_APPS, []), earlier["started"]]
    session.state[PENDING][key] = {"settings": named, "started": now()}
    session.save()


def disown(session: Session, key: str) -> None:
    """A thing recorded as made by azwrap that is not that thing any more (made again under the same name,
    by someone): it is the user's now, and what azwrap made is gone."""
    record = session.state["resources"].get(key)
    if record is not None:
        record.update(created=False)
        record.pop("identity", None)
        record.pop("dependents", None)
        session.save()


def identity(session: Session, key: str, fact: dict | None) -> None:
    """The fact that tells the resource azwrap made from a same-named one made later (resources.identity_of)."""
    record = session.state["resources"].get(key)
    if record is None or not fact:
        return
    record["identity"] = fact
    session.save()


def dependents(session: Session, ids: list[str]) -> None:
    record = session.state["resources"].get("workspace")
    if record is not None:
        record["dependents"] = ids
        session.save()


def _same_group_ours(session: Session, key: str) -> bool:
    """--aml-group and --adls-group may name one group: found by the second step, it is still azwrap's."""
    if key not in resources.GROUP_KEYS:
        return False
    other = resources.GROUP_KEYS[1 - resources.GROUP_KEYS.index(key)]
    record = session.state["resources"].get(other, {})
    return bool(record.get("created")) and record.get("settings", {}).get(other) == getattr(session.settings, key)


def forget_principal(session: Session) -> None:
    """The recorded principal is gone: it and its role assignments are no longer the setup's."""
    session.outputs.pop("sp", None)
    for key in ("sp", *resources.ROLE_KEYS):
        session.state["resources"].pop(key, None)


def step_done(session: Session, step: Step, inputs: dict, started_at: float, seconds: float) -> None:
    record = {"done_at": now(), "settings": session.settings.subset(step.uses), "inputs": inputs,
              "started_at": iso(started_at), "ended_at": iso(started_at + seconds), "seconds": round(seconds, 3)}  # fmt: skip
    if "source" in step.uses:
        record["sha256"] = sha256_of(session.settings.source)
    session.state["steps"][step.name] = record
    session.save()


def inputs_of(session: Session, step: Step) -> dict:
    """The non-secret run-time values a step took from earlier steps (to notice when they change)."""
    invocations = step.invocations(session.settings)
    produced_here = {inv.capture for inv in invocations}
    return {str(ref): session.outputs[ref.var].get(ref.field)
            for ref in (ref for inv in invocations for ref in inv.refs)
            if not ref.secret and ref.var in session.outputs and ref.var not in produced_here}  # fmt: skip
