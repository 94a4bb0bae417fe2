"""One azwrap command's world: the settings, the runner, the state file, and whom az is signed in as.

It holds no decision: refresh reads Azure through it, the plan decides, apply records through it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

from ..az.runner import AzFailed, Runner
from ..book import commands as az
from ..book.settings import Settings
from ..book.steps import BY_NAME, Known
from ..errors import Refused
from ..store import secrets
from ..store import state as state_file
from ..ui.events import StepChanged
from ..book.quoting import shown


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Session:
    """Settings, runner and state of one command; `az account show`, asked once."""

    def __init__(self, settings: Settings, runner: Runner, state_path: Path, *, secret_store: str = "file",
                 what_if: bool = False):  # fmt: skip
        self.settings, self.runner, self.state_path = settings, runner, state_path
        self.secret_store = secret_store  # "file" or "keyring" (secrets.resolve)
        self.what_if = what_if  # nothing is written, not even the state
        self._state: dict | None = None
        self.account: dict | bool | None = None  # `az account show` JSON; False: not signed in
        self.signed_in_here = False  # this command ran `az login`
        self._subscription_checked = False
        self.doing: str | None = None  # what runs now, outside a step (login, refresh, doctor): for an interrupt

    @property
    def state(self) -> dict:
        """The state file's content, loaded on first use (doctor never loads it)."""
        if self._state is None:
            self._state = state_file.load(self.state_path)
            self.runner.redact.add(self._state["outputs"].get("sp", {}).get("password"))
        return self._state

    @state.setter
    def state(self, value: dict) -> None:
        self._state = value
        self.runner.redact.add(value["outputs"].get("sp", {}).get("password"))

    @property
    def outputs(self) -> dict:
        return self.state["outputs"]

    @property
    def subscription_id(self) -> str:
        signed_in = self.account.get("id") if isinstance(self.account, dict) else None
        return signed_in or self.state.get("subscription", {}).get("id") or Known().subscription_id

    def known(self) -> Known:
        return Known(self.subscription_id, self.state["resources"], self.outputs)

    def echo(self, text: str) -> None:
        self.runner.echo(text)

    def step_changed(self, step: str, status: str, seconds: float | None = None) -> None:
        self.runner.events(StepChanged(step, status, seconds))

    def save(self) -> None:
        if self.what_if:
            return  # a what-if changes nothing, not even the state
        state_file.save(self.state_path, secrets.for_disk(self.state, self.secret_store))

    # --- the sign-in --------------------------------------------------------------------------

    def signed_in(self) -> bool:
        """Whether az is signed in (`az account show` succeeds), to --tenant if given; asked once."""
        if self.account is None:
            args = az.account_show_for(self.settings.subscription)
            try:
                self.account = self.runner.run("login", list(args), capture=True, shape=dict, probe=True)
            except AzFailed as error:
                if error.reason:  # it answered, but not as az does
                    raise
                self.account = False
        return self.account is not False and self._in_tenant()

    def _in_tenant(self) -> bool:
        tenant = (self.settings.tenant or "").lower()
        # Just signed in with `az login --tenant`: trust it (a custom domain is not in account show).
        return self.signed_in_here or not tenant or tenant in (
            str(self.account.get(key, "")).lower() for key in ("tenantId", "tenantDefaultDomain"))

    def sign_in(self) -> None:
        """Run `az login` unless signed in (to --tenant, when given); say which, once."""
        if self.signed_in():
            self.echo("login: already signed in (az account show), skipped")
            return
        if self.account and self.settings.tenant:
            self.echo(f"login: signed in to tenant {self.account.get('tenantId')}, not {self.settings.tenant}; signing in")
        else:
            self.echo("login: not signed in (az account show failed); signing in")
        self.login()

    def login(self) -> None:
        """The book's `az login` (the login step)."""
        self.runner.run("login", list(BY_NAME["login"].invocations(self.settings)[0].args))
        self.account, self.signed_in_here = None, True  # ask `az account show` again

    def check_subscription(self) -> None:
        """Before the first change: signed in, to the subscription the state belongs to (recorded with
        the first step that changes anything)."""
        if self._subscription_checked:
            return
        if not self.signed_in():
            raise Refused("not signed in to Azure (az account show failed): run `azwrap login` first")
        recorded = self.state.get("subscription")
        if recorded and recorded.get("id") != self.account.get("id"):
            raise Refused(
                f"the setup in {self.state_path} belongs to subscription {shown(recorded.get('name'))} ({recorded.get('id')}), "
                f"but az is signed in to {shown(self.account.get('name'))} ({self.account.get('id')}); nothing was changed. "
                f"Switch back with:\n  {az.line(az.account_set(recorded['id']))}\nor give --subscription {recorded['id']}"
            )
        self._subscription_checked = True

    def record_setup(self) -> None:
        """Remember the settings and the subscription: later commands need no options."""
        self.state["settings"] = asdict(self.settings)
        if "subscription" not in self.state and isinstance(self.account, dict):
            account = self.account
            self.state["subscription"] = {"id": account.get("id"), "name": account.get("name"),
                                          "tenantId": account.get("tenantId")}  # fmt: skip
        self.save()
