"""`azwrap verify`: the setup checked as the identity that will use it, as the next chapter will use it.

As the service principal, in a private, temporary az configuration directory (az/configdir.py): the
checks of as_principal.py. As the user: signed in to the setup's subscription; the datastore names the
recorded account, filesystem and principal; the compute is there and has not failed. When a check as the
principal fails, a Diagnosis looks, as the user, for what waiting cannot fix.
"""

from __future__ import annotations

import os
import time

from ..az.configdir import private_config_dir
from ..az.runner import AzFailed, Runner
from ..book import commands as az
from ..book import resources
from ..book.ml import DIALECTS, datastore_list
from ..book.settings import Settings
from ..store import secrets
from ..ui.events import Line
from .as_principal import DATA_ROLES, WORKSPACE_ROLES, AsPrincipal, Pace, Target, probe
from .checklist import FAIL, OK, SKIP, Check, said
from ..book.quoting import shown

STEPS_NEEDED = ("workspace", "compute", "storage", "upload", "sp", "datastore", "grant")
# The built-in roles the Diagnosis knows: one of these that is not among the roles a check needs does not
# give what it needs. Any other role (a custom one) might: then the Diagnosis cannot tell.
KNOWN_ROLES = {*DATA_ROLES, *WORKSPACE_ROLES, "Storage Account Contributor"}
FAILED_STATES = ("failed", "canceled", "deleting")


class MissingSetup(Exception):
    """No complete setup is recorded: nothing to verify (exit 2)."""


def target(state: dict, settings: Settings, state_path) -> Target:
    """What the state records of a complete setup; MissingSetup when there is none."""
    missing = [step for step in STEPS_NEEDED if step not in state["steps"]]
    if missing:
        raise MissingSetup(f"no complete setup is recorded in {state_path} (not done: {', '.join(missing)}): "
                           "run `azwrap all` first")  # fmt: skip
    outputs, subscription = state["outputs"], state.get("subscription") or {}
    sp = outputs.get("sp") or {}
    secret = secrets.reveal(state)
    if not (secret and sp.get("appId") and subscription.get("id")):
        raise MissingSetup(f"{state_path} records no service principal with its secret: run `azwrap all` first")
    return Target(settings, subscription["id"], sp["appId"], sp["tenant"], secret, state["steps"]["upload"].get("sha256"),
                  outputs["acc"]["id"], outputs["aml"]["id"])  # fmt: skip


def run(t: Target, user: Runner, pace: Pace) -> list[Check]:
    """Every check, in order: as the user, then as the principal (in a private configuration directory)."""
    user.redact.add(t.secret)
    checks = _as_user(t, user)
    diagnosis = Diagnosis(user, t) if checks[0].status == OK else None
    extension_dir = _extension_dir(user, t.settings)
    with private_config_dir() as config_dir:
        user.echo(f"verify: as the service principal {t.app_id}, in a private az configuration directory "
                  "(your own sign-in is not touched)")  # fmt: skip
        principal = Runner(user.az, user.redact, quiet=user.quiet, echo=user.echo, shell=user.shell,
                           events=_without_az_lines(user.events), sleep=user.sleep)  # fmt: skip
        principal.with_environment({"AZURE_CONFIG_DIR": config_dir,
                                    **({"AZURE_EXTENSION_DIR": extension_dir} if extension_dir else {})})  # fmt: skip
        checks += AsPrincipal(t, principal, config_dir, diagnosis, pace).checks()
    return checks


def _without_az_lines(events):
    # az's messages of calls that may fail again and again (a 403 while a role applies) are not relayed:
    # verify says what each failure means instead.
    return lambda event: None if isinstance(event, Line) else events(event)


# --- as the user ------------------------------------------------------------------------------------


def _as_user(t: Target, user: Runner) -> list[Check]:
    try:
        account = probe(user, az.account_show_for(t.subscription_id))
    except AzFailed as error:
        skipped = "not checked: you are not signed in"
        return [Check("you", FAIL, f"not signed in to the setup's subscription {t.subscription_id} ({said(error)})",
                      "run `azwrap login`"),
                Check("datastore", SKIP, skipped), Check("compute", SKIP, skipped)]  # fmt: skip
    who = (account.get("user") or {}).get("name")
    return [Check("you", OK, f"signed in as {who} to {shown(account.get('name'))} ({t.subscription_id}), the setup's"),
            _datastore(t, user), _compute(t, user)]  # fmt: skip


def _datastore(t: Target, user: Runner) -> Check:
    s = t.settings
    try:
        entry = resources.datastore_entry(probe(user, datastore_list(s), list), s.datastore)
    except AzFailed as error:
        return Check("datastore", FAIL, f"az ml datastore list failed ({said(error)})")
    if entry is None:
        return Check("datastore", FAIL, f"no datastore {s.datastore} in workspace {s.workspace}",
                     "azwrap datastore --force (attaches it again)")  # fmt: skip
    named = {"account": entry.get("account_name") or entry.get("accountName"), "filesystem": entry.get("filesystem"),
             "client id": resources.datastore_client(entry)}  # fmt: skip
    wanted = {"account": s.account, "filesystem": s.filesystem, "client id": t.app_id}
    wrong = [f"{what} {shown(named[what])} (not {shown(value)})" for what, value in wanted.items()
             if str(named[what] or "").lower() != value.lower()]  # fmt: skip
    if wrong:
        return Check("datastore", FAIL, f"datastore {s.datastore} names {', '.join(wrong)}",
                     "azwrap datastore --force (attaches it again with the recorded account, filesystem and principal)")
    return Check("datastore", OK, f"{s.datastore} in workspace {s.workspace} names account {s.account}, filesystem "
                                  f"{s.filesystem} and the principal {t.app_id}")  # fmt: skip


def _compute(t: Target, user: Runner) -> Check:
    s = t.settings
    try:
        found = probe(user, az.resources_show([az.compute_id(t.subscription_id, s)]), not_found_ok=True)
    except AzFailed as error:
        return Check("compute", FAIL, f"az resource show failed ({said(error)})")
    if found is None:
        return Check("compute", FAIL, f"no compute {s.compute} in workspace {s.workspace}", "azwrap compute --force")
    state = str((found.get("properties") or {}).get("provisioningState") or "unknown")
    if state.lower() in FAILED_STATES:
        return Check("compute", FAIL, f"compute {s.compute} is {state}",
                     f"see why in the studio or with `{az.line(az.resources_show([found.get('id', '')]))}`; delete it and "
                     "run `azwrap compute --force`")  # fmt: skip
    return Check("compute", OK, f"{s.compute} in workspace {s.workspace}: {state}")


def _extension_dir(user: Runner, s: Settings) -> str | None:
    """Where the user's az finds the ml extension: a fresh configuration directory has none of its own
    (az looks in AZURE_EXTENSION_DIR, else <AZURE_CONFIG_DIR>/cliextensions)."""
    try:
        installed = probe(user, az.extension_list(), list)
    except AzFailed:
        return None
    path = next((e.get("path") for e in installed if isinstance(e, dict) and e.get("name") == DIALECTS[s.ml_cli].extension), None)
    return os.path.dirname(path) if isinstance(path, str) and path else None


class Diagnosis:
    """What the user can see of the principal, asked only when a check as the principal fails, once."""

    def __init__(self, user: Runner, t: Target):
        self.user, self.t = user, t
        self._assignments: list | None = None

    def principal(self) -> tuple[str, str] | None:
        """(what is wrong, fix) when the recorded principal or its secret is gone or expired."""
        app = self.t.app_id
        try:
            if probe(self.user, az.ad_sp_show(app), not_found_ok=True) is None:
                return (f"the service principal {app} recorded in the state no longer exists (deleted, or replaced "
                        "by another)", "azwrap all --force sp (a new principal, with its roles and the datastore)")
            credentials = probe(self.user, az.ad_app_credential_list(app), list)
        except AzFailed:
            return None
        # Graph shows the first three characters of each password as its `hint`.
        mine = [c for c in credentials if isinstance(c, dict) and c.get("hint") == self.t.secret[:3]]
        if not mine:
            return (f"the recorded secret is not among {app}'s credentials any more (reset or replaced elsewhere)",
                    "azwrap rotate (a new secret, attached to the datastore again)")
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        ends = sorted(str(c.get("endDateTime") or "9999")[:19] for c in mine)
        if ends[-1] <= now:
            return f"the recorded secret of {app} expired on {ends[-1][:10]}", "azwrap rotate (a new secret)"
        return None

    def scope(self, roles: tuple[str, ...], target_id: str, what: str) -> tuple[str, str] | None:
        """(what is wrong, fix) when no role of the principal's holds target_id (None: one does, or cannot tell)."""
        if self._assignments is None:
            try:
                self._assignments = [a for a in probe(self.user, az.role_assignment_list_for(self.t.app_id), list)
                                     if isinstance(a, dict)]  # fmt: skip
            except AzFailed:
                return None
        holding = [a for a in self._assignments if _covers(str(a.get("scope", "")), target_id)]
        if any(a.get("roleDefinitionName") in roles or a.get("roleDefinitionName") not in KNOWN_ROLES for a in holding):
            return None
        held = sorted(f"{a.get('roleDefinitionName')} on {a.get('scope')}" for a in self._assignments) or ["none"]
        return (f"no role of the principal's allows this on {what}: its roles are {'; '.join(held)}",
                f"give it {roles[1]} on {target_id} (`azwrap all --force sp` makes a new principal with both roles)")


def _covers(scope: str, target_id: str) -> bool:
    scope, target_id = scope.rstrip("/").lower(), target_id.rstrip("/").lower()
    return bool(scope) and (target_id == scope or target_id.startswith(scope + "/"))
