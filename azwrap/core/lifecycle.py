"""The principal's lifecycle beyond the book, as the state records it: the replaced principals still
to delete, a rotation under way, and when the recorded secret expires."""

from __future__ import annotations

import datetime
import re

from ..az.runner import AzFailed
from ..book import commands as az
from ..book.settings import Settings
from ..errors import Refused

# state: replaced principals ({"appId", "assignments", "gone"}) still to delete; "kept": True for one kept by
# --keep-old-sp, which only `azwrap destroy` deletes
RETIRED = "retired_sp"
# state, while a rotation is unfinished: {"stage": "reset" | "key" | "datastore" | "retire", "appId" (of the
# principal rotated; older states lack it), "name" (of the new password), "old_key"}
ROTATION = "rotation"
EXPIRY_WARNING_DAYS = 30


def retired_entries(state: dict) -> list[dict]:
    """The replaced principals still to delete (older states recorded only their appIds)."""
    return [entry if isinstance(entry, dict) else {"appId": entry, "assignments": []} for entry in state.get(RETIRED, [])]


def retire(state: dict, entry: dict) -> None:
    """Note, in the state about to be saved with the new principal, that the old one is to be deleted."""
    if all(old["appId"] != entry["appId"] for old in retired_entries(state)):
        state[RETIRED] = [*retired_entries(state), dict(entry)]


def retired_deleted(state: dict, app_id: str) -> None:
    left = [entry for entry in retired_entries(state) if entry["appId"] != app_id]
    if left:
        state[RETIRED] = left
    else:
        state.pop(RETIRED, None)


def recorded_tenant(state: dict) -> str | None:
    """The tenant the setup's principals are in: the principal's, else the subscription's."""
    return state.get("outputs", {}).get("sp", {}).get("tenant") or (state.get("subscription") or {}).get("tenantId")


def check_tenant(runner, step: str, tenant: str | None, app_id: str, account: dict | None = None) -> None:
    """Before a Graph "does not exist" counts as gone: az ad commands take no --subscription, so after another
    terminal's `az login --tenant` Graph looks in another directory. Refused (exit 2) when az's tenant (from
    `account`, else a fresh `az account show`) is not the recorded one; nothing is forgotten then."""
    if not tenant:
        return
    if account is None:
        account = runner.run(step, list(az.account_show()), capture=True, shape=dict, probe=True)
    now = str(account.get("tenantId") or "")
    if now and now.lower() != tenant.lower():
        raise Refused(f"az is signed in to tenant {now}, but the service principal {app_id} is in tenant {tenant}: "
                      "az ad commands take no --subscription, so Microsoft Graph looked in the other directory and "
                      f"azwrap cannot tell whether {app_id} still exists. Nothing more was changed, and nothing is "
                      f"forgotten. Sign in to the setup's tenant:\n  {az.line(az.login(Settings(tenant=tenant)))}\nthen run the "
                      "same command again")  # fmt: skip


def lost_app_command(started: str) -> str:
    """Where to look for an app a create-for-rbac whose answer was lost may have made: az names it
    azure-cli-<UTC time of the call>, and `az ad app list --display-name` finds the names that start so
    (azure-cli's list_apps: startswith(displayName, ...))."""
    from ..book.resources import instant

    moment = instant(started)
    prefix = "azure-cli-" + (moment.strftime("%Y-%m-%d-%H") if moment else "")
    return az.line(("ad", "app", "list", "--display-name", prefix, "--query",
                    "[].{appId:appId, name:displayName, created:createdDateTime}"))


def expiry_note(setup, app_id: str, password: str | None, today: datetime.datetime | None = None):
    """(status, detail) about the recorded secret's expiry, from `az ad app credential list`; None if fine."""
    try:
        credentials = setup.runner.run("doctor", list(az.ad_app_credential_list(app_id)), capture=True, shape=list,
                                       not_found_ok=True)  # fmt: skip
    except AzFailed as error:
        # Graph's not-found is exit 1 outside `show` ("Resource '<id>' does not exist ..."): gone too.
        if error.reason or not any("does not exist" in line for line in error.stderr_tail):
            raise
        credentials = None
    if credentials is None:
        return "gone", f"the service principal {app_id} no longer exists (az ad app credential list)"
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
