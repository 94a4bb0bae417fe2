"""verify's checks as the service principal, signed in in its own az configuration directory: the upload
read back and its filesystem listed through the data plane (--auth-mode login), the workspace read.

A 403 right after the role assignments is expected for a while: a check that meets one waits, with backoff,
up to the timeout, and is tried again; one that cannot get better by waiting (found from the user's side by
a Diagnosis) fails at once.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..az.runner import NOT_FOUND, AzFailed, Joined, Runner, Secret
from ..book import commands as az
from ..book.commands import Concat, Ref
from ..book.ml import DIALECTS
from ..book.settings import Settings
from .checklist import FAIL, OK, SKIP, WAIT, Check, said
from ..book import verify as principal_calls

if TYPE_CHECKING:
    from .verify import Diagnosis

STEP = "verify"  # the step name in echoed lines and the call log
DEFAULT_TIMEOUT, FIRST_DELAY, MAX_DELAY = 600.0, 5.0, 60.0
# A 403 of the data plane: az 2.91's storage commands replace the service's text with the first
# (az-facts 10); the service's own words are the other two.
FORBIDDEN = ("You do not have the required permissions", "AuthorizationPermissionMismatch",
             "not authorized to perform this operation using this permission")  # fmt: skip
DATA_ROLES = ("Storage Blob Data Owner", "Storage Blob Data Contributor", "Storage Blob Data Reader")
# Roles that read a workspace (built-in roles holding */read or workspaces/read); Contributor is the book's.
WORKSPACE_ROLES = ("Owner", "Contributor", "Reader", "AzureML Data Scientist", "User Access Administrator",
                   "Role Based Access Control Administrator")
PROPAGATION = "role assignments take up to 10 minutes to apply (Azure RBAC documentation)"


@dataclass(frozen=True)
class Target:
    """The recorded setup that verify checks."""

    settings: Settings
    subscription_id: str
    app_id: str
    tenant: str
    secret: str = field(repr=False)
    sha256: str | None
    account_id: str
    workspace_id: str


@dataclass(frozen=True)
class Pace:
    """How long to wait for roles to apply, and the clock to do it with (tests give their own)."""

    timeout: float = DEFAULT_TIMEOUT
    first_delay: float = FIRST_DELAY
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def probe(runner: Runner, args, shape=dict, **options):
    return runner.run(STEP, list(args), capture=True, shape=shape, probe=True, **options)


class AsPrincipal:
    """The principal's checks, tried again with backoff while they wait for a role to apply."""

    NAMES = ("sign-in", "read", "list", "workspace")

    def __init__(self, t: Target, runner: Runner, config_dir: str, diagnosis: Diagnosis | None, pace: Pace):
        self.t, self.runner, self.diagnosis, self.pace = t, runner, diagnosis, pace
        self.download_dir = os.path.join(config_dir, "read-back")
        os.mkdir(self.download_dir, 0o700)
        self.outcomes: dict[str, Check] = {}
        self.sign_in_again = False
        self.started = pace.clock()

    def checks(self) -> list[Check]:
        pace, delay = self.pace, self.pace.first_delay
        deadline = self.started + pace.timeout
        while True:
            self._round()
            waiting = [check for check in self.outcomes.values() if check.status == WAIT]
            left = deadline - pace.clock()
            if not waiting or left <= 0:
                break
            pause = min(delay, left)
            for check in waiting:
                self.runner.echo(f"wait {check.check:<9} {check.detail}; waited {_seconds(pace.clock() - self.started)} "
                                 f"of {pace.timeout:g}s (--timeout), next try in {_seconds(pause)}")  # fmt: skip
            pace.sleep(pause)
            delay = min(delay * 2, MAX_DELAY)
        return [self._final(name) for name in self.NAMES]

    def _round(self) -> None:
        sign_in = self.outcomes.get("sign-in")
        if sign_in is None or sign_in.status != OK or self.sign_in_again:
            self.sign_in_again = False
            self._record(self._sign_in())
            if self.outcomes["sign-in"].status != OK:
                return
        for name, attempt in (("read", self._read), ("list", self._list), ("workspace", self._workspace)):
            if name not in self.outcomes or self.outcomes[name].status == WAIT:
                self._record(attempt())

    def _record(self, check: Check) -> None:
        earlier = self.outcomes.get(check.check)
        if earlier is not None and earlier.status == WAIT and check.status != WAIT:
            check.waited = self.pace.clock() - self.started
        self.outcomes[check.check] = check

    def _final(self, name: str) -> Check:
        check = self.outcomes.get(name)
        if check is None:
            return Check(name, SKIP, "not checked: the principal did not sign in")
        if check.status != WAIT:
            return check
        waited = self.pace.clock() - self.started
        return replace(check, status=FAIL, detail=f"{check.detail}, still after {_seconds(waited)} (--timeout {self.pace.timeout:g})",
                       fix="see the likely causes, most likely first", causes=self._causes(name), waited=waited)  # fmt: skip

    def _causes(self, name: str) -> tuple[tuple[str, str], ...]:
        t, s = self.t, self.t.settings
        roles = az.line(az.role_assignment_list_for(t.app_id))
        role = {"workspace": f"Contributor on workspace {s.workspace}", "sign-in": ""}.get(
            name, f"Storage Blob Data Contributor on storage account {s.account}")
        causes = [(f"still propagating: {'a new secret can take minutes to reach the directory' if not role else PROPAGATION}; "
                   "run `azwrap verify` again later", roles)]  # fmt: skip
        if role:
            causes.append((f"wrong scope: the principal lacks {role}, or has it on another scope", roles))
        causes += [("principal replaced: the recorded principal was deleted or replaced by another (look at the "
                    "datastore's client id too)", az.line(az.ad_sp_show(t.app_id))),
                   ("secret expired or replaced: the recorded secret is past its end date or was reset elsewhere",
                    az.line(az.ad_app_credential_list(t.app_id)))]  # fmt: skip
        return tuple(causes)

    def _sign_in(self) -> Check:
        t = self.t
        args = [_resolve(arg, t.secret) for arg in principal_calls.login_service_principal(t.app_id, t.tenant)]
        try:
            # Not a probe: a new sign-in changes what the next calls see (the runner must not answer from before).
            self.runner.run(STEP, args, capture=True, shape=list)
        except AzFailed as error:
            return self._sign_in_failed(error)
        return Check("sign-in", OK, f"{t.app_id} signs in with the recorded secret (az login --service-principal, in "
                                    "a private az configuration directory, removed afterwards)")  # fmt: skip

    def _sign_in_failed(self, error: AzFailed) -> Check:
        text = "\n".join(error.stderr_tail)
        if "AADSTS7000222" in text:  # expired: no use waiting
            return Check("sign-in", FAIL, f"the recorded secret of {self.t.app_id} has expired ({said(error)})",
                         "azwrap rotate (a new secret, attached to the datastore again)")  # fmt: skip
        if "AADSTS7000215" in text or "AADSTS700016" in text:
            problem = self.diagnosis.principal() if self.diagnosis else None
            if problem:
                return Check("sign-in", FAIL, problem[0], problem[1])
            code = "AADSTS7000215" if "AADSTS7000215" in text else "AADSTS700016"
            return Check("sign-in", WAIT, f"the directory does not accept the principal's secret yet ({code})")
        return Check("sign-in", FAIL, f"az login --service-principal failed ({said(error)})")

    def _read(self) -> Check:
        s = self.t.settings
        destination = os.path.join(self.download_dir, posixpath.basename(s.upload_path.rstrip("/")) or "file")
        try:
            self.runner.run(STEP, list(principal_calls.storage_fs_file_download(s, destination)), probe=True)
        except AzFailed as error:
            return self._data_failed("read", error)
        with open(destination, "rb") as handle:
            data = handle.read()
        if self.t.sha256 and hashlib.sha256(data).hexdigest() != self.t.sha256:
            return Check("read", FAIL, f"{s.upload_path} reads as the principal, but is not the file azwrap uploaded "
                                       "(another sha256)", "azwrap upload --force")  # fmt: skip
        same = ", the same as uploaded" if self.t.sha256 else ""
        return Check("read", OK, f"{s.upload_path} read back as the principal through the data plane "
                                 f"({len(data)} bytes{same})")  # fmt: skip

    def _list(self) -> Check:
        s = self.t.settings
        path = s.upload_path.strip("/")
        try:
            entries = probe(self.runner, principal_calls.storage_fs_file_list(s, posixpath.dirname(path)), list)
        except AzFailed as error:
            return self._data_failed("list", error)
        if path not in {entry.get("name") for entry in entries if isinstance(entry, dict)}:
            return Check("list", FAIL, f"{s.filesystem} lists as the principal, but without {s.upload_path}",
                         "azwrap upload --force")  # fmt: skip
        return Check("list", OK, f"filesystem {s.filesystem} lists as the principal, {s.upload_path} in it")

    def _data_failed(self, name: str, error: AzFailed) -> Check:
        s, text = self.t.settings, "\n".join(error.stderr_tail)
        if any(marker in text for marker in FORBIDDEN):
            wrong = self.diagnosis.scope(DATA_ROLES, self.t.account_id, f"storage account {s.account}") if self.diagnosis else None
            if wrong:
                return Check(name, FAIL, wrong[0], wrong[1])
            return Check(name, WAIT, f"403 as the principal: its Storage Blob Data Contributor role on {s.account} "
                                     "has not applied yet")  # fmt: skip
        if error.exit_code == NOT_FOUND or "NotFound" in text:
            return Check(name, FAIL, f"{s.upload_path} is not in filesystem {s.filesystem} ({said(error)})",
                         "azwrap upload --force")  # fmt: skip
        return Check(name, FAIL, f"as the principal: {said(error)}")

    def _workspace(self) -> Check:
        t, s = self.t, self.t.settings
        args = az.with_subscription(DIALECTS[s.ml_cli].workspace_show(s), t.subscription_id)
        try:
            probe(self.runner, args)
        except AzFailed as error:
            return self._workspace_failed(error)
        return Check("workspace", OK, f"workspace {s.workspace} readable as the principal (az ml workspace show)")

    def _workspace_failed(self, error: AzFailed) -> Check:
        t, s, text = self.t, self.t.settings, "\n".join(error.stderr_tail)
        no_subscription = "Subscription '" in text and "not found" in text
        if "AuthorizationFailed" in text or no_subscription:
            wrong = self.diagnosis.scope(WORKSPACE_ROLES, t.workspace_id, f"workspace {s.workspace}") if self.diagnosis else None
            if wrong:
                return Check("workspace", FAIL, wrong[0], wrong[1])
            if no_subscription:
                # az knows the subscriptions its sign-in saw: signing in again refreshes them.
                self.sign_in_again = True
                return Check("workspace", WAIT, f"the principal sees no subscription yet (no role of its has applied "
                                                f"in {t.subscription_id} when it signed in)")  # fmt: skip
            return Check("workspace", WAIT, f"AuthorizationFailed as the principal: its Contributor role on workspace "
                                            f"{s.workspace} has not applied yet")  # fmt: skip
        if "misspelled or not recognized" in text or "requires the extension" in text:
            extension = DIALECTS[s.ml_cli].extension
            return Check("workspace", FAIL, f"az found no {extension} extension for the principal's sign-in ({said(error)})",
                         "azwrap extension (verify uses the extension directory of your own az)")  # fmt: skip
        return Check("workspace", FAIL, f"as the principal: {said(error)}")


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.2g}s"


def _resolve(arg, secret: str):
    """A book argument for the runner: the secret's Ref becomes a Secret (passed as @file, never in argv)."""
    if isinstance(arg, Ref):
        return Secret(secret)
    if isinstance(arg, Concat):
        return Joined(tuple(_resolve(part, secret) for part in arg.parts))
    return arg


