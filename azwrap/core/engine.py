"""Running steps: decide what to (re)run, fill in run-time values, call the runner, record results."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import threading
import time
from pathlib import Path

from dataclasses import asdict

from ..book import commands as az
from . import lifecycle, planning, scheduler
from ..book import resources
from ..store import secrets
from ..store import state as state_file
from ..book.ml import DIALECTS
from ..book.commands import CAPTURED_FIELDS, SECRET_REFS, Concat, FileArg, Invocation, Ref
from ..errors import MissingInput, Refused
from ..ui.events import DONE, FAILED, RUNNING, SKIPPED, STOPPED, StepChanged
from ..az.runner import AzFailed, Interrupted, Joined, PrivateFile, Runner, Secret, WhatIf
from ..book.settings import DEFAULTS, Settings
from ..book.steps import BY_NAME, NEEDS, PRODUCERS, STEPS, Known, Step

# stderr of `az role assignment create` while a new principal is not yet visible everywhere
# (directory replication, REFERENCE.md section 4): worth retrying; anything else is not.
REPLICATION_ERRORS = ("Cannot find user or service principal in graph database", "does not exist in the directory",
                      "PrincipalNotFound")  # fmt: skip
FIRST_RETRY_DELAY, MAX_RETRY_DELAY = 2.0, 30.0
# What `ml workspace create` says while a soft-deleted workspace holds the name (also for a while
# after a purge was answered: REFERENCE.md section 7).
SOFT_DELETED = "Soft-deleted workspace exists"
# Steps that change nothing in Azure (az's own sign-in and extensions): no subscription to check.
LOCAL_STEPS = ("login", "extension")


def force_hint(step: str) -> str:
    return f"run again with --force {step} (azwrap all) or --force (azwrap {step})"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="milliseconds")


# `extension` runs alone, before the fan-out: a half-installed extension can break az processes
# starting beside it. Sign-in (and doctor's checks) come before it.
ALONE_FIRST = ("login", "extension")


class Setup:
    """One azwrap run: settings (the az ml dialect among them), the runner and the state file."""

    def __init__(self, settings: Settings, runner: Runner, state_path: Path, *,
                 force: frozenset[str] = frozenset(), retry_timeout: float = 300.0, keep_old_sp: bool = False,
                 secret_store: str = "file",
                 first_retry_delay: float = FIRST_RETRY_DELAY, sleep=None, clock=time.monotonic,
                 refresh: bool = True):  # fmt: skip
        self.settings, self.runner, self.state_path = settings, runner, state_path
        self.force, self.retry_timeout, self.first_retry_delay = force, retry_timeout, first_retry_delay
        # runner.pause: a wait before a retry ends at once when the run is stopped (Ctrl-C, SIGTERM)
        self.sleep, self.clock, self.refresh = sleep or runner.pause, clock, refresh
        self.keep_old_sp = keep_old_sp  # --keep-old-sp: a principal --force sp replaces is not deleted
        self.secret_store = secret_store  # "file" or "keyring" (secrets.resolve)
        self._state: dict | None = None
        self._thread = threading.local()  # current_step, per step running concurrently
        # Steps running at once take turns in this code: one holds the turn, and lets go of it while
        # it waits for az or sleeps. So state, outputs and the redactor change under one lock,
        # and run_step() reads as if steps ran one after another.
        self._turn = threading.Lock()
        self.timings: dict[str, dict] = {}  # this run's steps: status, seconds
        self.account: dict | bool | None = None  # `az account show` JSON; False: not signed in
        self._present: dict[str, bool] = {}  # resource key -> found by its probe in this run
        self._subscription_checked = False
        self.signed_in_here = False  # this run ran `az login`
        self.what_if = isinstance(runner, WhatIf)  # nothing runs that would change anything
        self.skipped: list[tuple[str, str]] = []  # (step, why), for the what-if summary

    @property
    def current_step(self) -> str | None:
        return getattr(self._thread, "step", None)

    @current_step.setter
    def current_step(self, name: str | None) -> None:
        self._thread.step = name

    @property
    def state(self) -> dict:
        """The state file's content, loaded on first use (doctor never loads it)."""
        if self._state is None:
            self._state = state_file.load(self.state_path)
            self.runner.redact.add(self._state["outputs"].get("sp", {}).get("password"))
        return self._state

    @property
    def outputs(self) -> dict:
        return self.state["outputs"]

    @property
    def dialect(self):
        return DIALECTS[self.settings.ml_cli]

    def known(self) -> Known:
        subscription_id = self.account.get("id") if isinstance(self.account, dict) else None
        recorded = self.state.get("subscription", {}).get("id")
        return Known(subscription_id or recorded or Known().subscription_id, self.state["resources"], self.outputs)

    # --- what to run ------------------------------------------------------------------------

    def run_all(self, jobs: int = 1) -> None:
        """The whole book: `az login` only when `az account show` says we are not signed in, then
        `extension` alone, then the other steps, at most `jobs` at a time, each when the steps it
        needs are done (with jobs=1, in the book's order). Raises scheduler.JobsFailed or
        scheduler.JobsInterrupted (with Interrupted, AzFailed, ... inside) for the fan-out."""
        self.sign_in()
        self.step_changed("login", DONE if self.signed_in_here else SKIPPED)
        self.run_job(BY_NAME["extension"])
        if jobs > 1 and not self.what_if:
            # A fresh token now, so that no az call of the fan-out has to refresh (write) the token
            # cache while others use it (REFERENCE.md section 6). One at a time needs no such care.
            # (doctor asks the same: when nothing ran in between, the runner serves its answer)
            self.runner.run("login", list(az.access_token_expiry()), capture=True, probe=True)
        fan_out = [step for step in STEPS if step.name not in ALONE_FIRST]
        graph = [scheduler.Job(step.name, tuple(n for n in NEEDS[step.name] if n not in ALONE_FIRST),
                               lambda step=step: self._take_turn(step)) for step in fan_out]  # fmt: skip
        self.runner.around_call, sleep = self._let_others_run, self.sleep
        self.sleep = lambda seconds: self._let_others_run_while(sleep, seconds)
        try:
            scheduler.run(graph, jobs, stop=self.runner.stop_all)
        finally:
            self.runner.around_call, self.sleep = contextlib.nullcontext, sleep
        lifecycle.finish(self)  # what an interrupted run left: a replaced principal, a rotation
    def _take_turn(self, step: Step) -> None:
        with self._turn:
            self.run_job(step)

    @contextlib.contextmanager
    def _let_others_run(self):
        self._turn.release()
        try:
            yield
        finally:
            self._turn.acquire()

    def _let_others_run_while(self, sleep, seconds: float) -> None:
        with self._let_others_run():
            sleep(seconds)

    def step_changed(self, step: str, status: str, seconds: float | None = None) -> None:
        self.runner.events(StepChanged(step, status, seconds))

    def run_job(self, step: Step) -> None:
        """run_step, timed and reported: running, then done (its timing recorded), skipped, failed or stopped."""
        before = self.state["steps"].get(step.name)
        started_at, started = time.time(), time.monotonic()
        self.step_changed(step.name, RUNNING)
        try:
            self.run_step(step)
        except BaseException as error:
            status = STOPPED if isinstance(error, (Interrupted, KeyboardInterrupt)) else FAILED
            self.timings[step.name] = {"status": status, "seconds": time.monotonic() - started}
            self.step_changed(step.name, status, time.monotonic() - started)
            raise
        seconds = time.monotonic() - started
        record = self.state["steps"].get(step.name)
        if record is None or record is before:  # nothing new recorded: it was done earlier (or login)
            status = SKIPPED if step.name != "login" else DONE
        else:
            status = DONE
            record.update(started_at=_iso(started_at), ended_at=_iso(started_at + seconds), seconds=round(seconds, 3))
            self._save()
        self.timings[step.name] = {"status": status, "seconds": seconds}
        self.step_changed(step.name, status, seconds)

    def sign_in(self) -> None:
        """Run `az login` unless signed in (to --tenant, when given); say which, once per run."""
        if self.signed_in():
            if not self.signed_in_here:
                self.runner.echo("login: already signed in (az account show), skipped")
            return
        tenant = self.settings.tenant
        if self.account and tenant:
            self.runner.echo(f"login: signed in to tenant {self.account.get('tenantId')}, not {tenant}; signing in")
        else:
            self.runner.echo("login: not signed in (az account show failed); signing in")
        self.run_step(BY_NAME["login"])
        self.account, self.signed_in_here = None, True  # ask `az account show` again

    def _in_tenant(self) -> bool:
        """Signed in to --tenant (by id or default domain), or no tenant asked for."""
        tenant = (self.settings.tenant or "").lower()
        # Just signed in with `az login --tenant`: trust it (a custom domain is not in account show).
        return self.signed_in_here or not tenant or tenant in (str(self.account.get(key, "")).lower() for key in ("tenantId", "tenantDefaultDomain"))

    def preflight(self, steps) -> None:
        """Before any az call: raise Refused if a step would refuse later; say which done steps rerun,
        and what a changed setting makes azwrap create anew."""
        rerun = []
        for step in steps:
            if step.name == "login" or step.name not in self.state["steps"]:
                continue
            reason = self._recorded_reason(step)
            if reason is None:
                continue
            changes = planning.changed_settings(step, self.settings, self.state["steps"][step.name])
            anew = planning.made_anew(step, self.settings, changes) if reason.startswith("settings") else []
            rerun.append(f"{step.name} ({reason}" + (f"; creates {', '.join(anew)} anew" if anew else "") + ")")
        if rerun:
            self.runner.echo("azwrap: steps done earlier that will run again: " + "; ".join(rerun))

    def _recorded_reason(self, step: Step) -> str | None:
        reason = planning.recorded_reason(step, self.settings, self.state, self.force, self._inputs(step))
        if reason is None and "source" in step.uses:
            return self._decide_reupload(step, self.state["steps"][step.name])
        return reason

    def decide(self, step: Step) -> str | None:
        """Why step must run (None: done earlier with the same settings and inputs, and still there)."""
        reason = self._recorded_reason(step)
        if reason is not None or not self.refresh:
            return reason
        return planning.refresh_reason(self.missing(step))

    def missing(self, step: Step) -> list[str]:
        """What a step recorded done made that its probes no longer find (read-only calls)."""
        labels = []
        for resource in resources.of_step(step.name):
            if not self.present(resource.key):
                record = self.state["resources"].get(resource.key)
                labels.append(resource.label(planning.recorded_settings(self.settings, record)))
        if step.name == "extension" and not self._extension_installed():
            labels.append(f"the {self.dialect.extension} extension")
        return labels

    def present(self, key: str) -> bool:
        """Whether resource key is there: its container first, then its own probe; asked once per run."""
        if key not in self._present:
            parent = resources.BY_KEY[key].inside
            # A role assignment goes with its principal (and az cannot list those of a deleted one).
            principal = key not in resources.ROLE_KEYS or self.present("sp")
            self._present[key] = principal and (parent is None or self.present(parent)) and self._probe(key)
        return self._present[key]

    def _probe(self, key: str) -> bool:
        record = self.state["resources"].get(key)
        settings = planning.recorded_settings(self.settings, record)
        probe = resources.probe(key, settings, self.known().subscription_id, self.outputs, record)
        if probe is None:
            return True  # nothing recorded to look for (a state from before azwrap recorded it)
        answer = self.runner.run(self.current_step or "refresh", list(probe.args), capture=True, probe=True,
                                 not_found_ok=True, shape=probe.shape)  # fmt: skip
        return probe.present(answer)

    def _extension_installed(self) -> bool:
        guard = BY_NAME["extension"].invocations(self.settings)[0].guard
        return guard.exists(self.runner.run("extension", list(guard.probe), capture=True, shape=list, probe=True))

    def _decide_reupload(self, step: Step, record: dict) -> None:
        """An upload to where one was done: nothing to do for the same content, refused for another
        (az would fail: it does not overwrite without --overwrite)."""
        if record.get("sha256") in (None, sha256_of(self.settings.source)):
            return None
        raise Refused(f"step '{step.name}': {self.settings.source} differs from the file uploaded to "
                      f"{self.settings.upload_path}; to overwrite it, {force_hint(step.name)}")  # fmt: skip

    def upload_differs(self, state: dict) -> bool:
        """Whether the source differs from the file `state` records as uploaded to the same place."""
        record = state["steps"].get("upload")
        if record is None:
            return False
        ran_with = record.get("settings", {})
        if any(ran_with.get(name, getattr(DEFAULTS, name)) != getattr(self.settings, name) for name in planning.UPLOAD_DESTINATION):
            return False  # another destination: a new upload
        return record.get("sha256") not in (None, sha256_of(self.settings.source))

    def signed_in(self) -> bool:
        """Whether az is signed in (`az account show` succeeds); asked once per run."""
        if self.account is None:
            args = az.account_show_for(self.settings.subscription)
            try:
                self.account = self.runner.run("login", list(args), capture=True, shape=dict, probe=True)
            except AzFailed as error:
                if error.reason:  # it answered, but not as az does
                    raise
                self.account = False
        return self.account is not False and self._in_tenant()

    def check_subscription(self) -> None:
        """Before the first change: signed in, to the subscription the state belongs to (recorded
        with the first step that changes anything)."""
        if self._subscription_checked:
            return
        if not self.signed_in():
            raise Refused("not signed in to Azure (az account show failed): run `azwrap login` first")
        recorded = self.state.get("subscription")
        if recorded and recorded.get("id") != self.account.get("id"):
            raise Refused(
                f"the setup in {self.state_path} belongs to subscription {recorded.get('name')!r} ({recorded.get('id')}), "
                f"but az is signed in to {self.account.get('name')!r} ({self.account.get('id')}); nothing was changed. "
                f"Switch back with:\n  {az.line(az.account_set(recorded['id']))}\nor give --subscription {recorded['id']}"
            )
        self._subscription_checked = True

    def _record_setup(self) -> None:
        """Remember the settings and the subscription: later commands need no options."""
        self.state["settings"] = {name: value for name, value in asdict(self.settings).items()}
        if "subscription" not in self.state and isinstance(self.account, dict):
            account = self.account
            self.state["subscription"] = {"id": account.get("id"), "name": account.get("name"),
                                          "tenantId": account.get("tenantId")}  # fmt: skip
        self._save()

    # --- running a step ---------------------------------------------------------------------

    def run_step(self, step: Step) -> None:
        if step.name != "login":
            self._check_inputs(step, step.invocations(self.settings))  # needs no az call: first
        if step.name not in LOCAL_STEPS:
            self.check_subscription()
        reason = self.decide(step)
        if reason is None:
            self.skipped.append((step.name, "done earlier" + ("" if not self.refresh else ", and still there")))
            self.runner.echo(f"{step.name}: done earlier, skipped")
            if step.name == "sp":
                lifecycle.delete_retired(self)  # left by a run that failed to delete it
            return
        if reason not in (planning.NOT_DONE, planning.SIGN_IN):
            self.runner.echo(f"{step.name}: running again: {reason}")
        self._check_prerequisites(step)
        forced = step.name in self.force
        invocations = step.invocations(self.settings, forced, self.known())
        self._check_inputs(step, invocations)
        self.current_step = step.name
        if step.name != "login":
            self._record_setup()
        made_way = False  # the previous call removed what was in the way: nothing to probe for
        for invocation in invocations:
            if invocation.capture == "sp" and "sp" in self.outputs and not forced and self._principal_exists(step):
                continue
            # Probes run even under --force: a forced step re-runs, it does not create twice.
            if invocation.guard and not made_way and self._already_there(step, invocation):
                continue
            made_way = invocation.before
            if invocation.before:
                self.runner.echo(f"{step.name}: {invocation.guard.what} was made by azwrap for an earlier principal "
                                 "or dialect; removing it first")  # fmt: skip
            self._run(step, invocation)
        for resource in resources.of_step(step.name):
            self._present[resource.key] = True  # just made, or found by its guard
        if step.name != "login":
            self._record_done(step)
        if step.name == "sp":
            lifecycle.delete_retired(self)  # the principal --force sp replaced, now that the new one works
        self.current_step = None

    def _check_prerequisites(self, step: Step) -> None:
        """A step run before the steps it builds on fails late in az: say which to run first instead."""
        for need in step.needs:
            if need in self.state["steps"]:
                continue
            there = self._extension_installed() if need == "extension" else all(
                self.present(resource.key) for resource in resources.of_step(need) if resource.key != "sp")
            if not there:
                raise Refused(f"step '{step.name}' needs what step '{need}' makes, which is neither recorded in "
                              f"{self.state_path} nor found in Azure: run `azwrap {need}` first")  # fmt: skip

    def _principal_exists(self, step: Step) -> bool:
        """create-for-rbac makes a new principal and secret on every call (REFERENCE.md section 4): reuse
        the recorded one while it exists; one deleted behind azwrap's back is replaced."""
        app_id = self.outputs["sp"]["appId"]
        if self.present("sp"):
            self.runner.echo(f"{step.name}: reusing the service principal {app_id} recorded in {self.state_path}")
            return True
        self.runner.echo(f"{step.name}: the service principal {app_id} recorded in {self.state_path} no longer "
                         "exists: creating a new one")  # fmt: skip
        del self.outputs["sp"]
        for key in ("sp", *resources.ROLE_KEYS):
            self.state["resources"].pop(key, None)
        return False

    def _already_there(self, step: Step, invocation: Invocation) -> bool:
        guard = invocation.guard
        # (The runner answers a probe asked again, the v1 datastore's two guards, from its first call.)
        try:
            found = self.runner.run(step.name, list(guard.probe), capture=True, probe=True, not_found_ok=True,
                                    shape=guard.shape)  # fmt: skip
        except AzFailed:
            if not self.what_if:
                raise
            found = None  # what it looks for lives in something this what-if only listed (an account not made)
        if guard.exists(found):
            if not invocation.before:
                self.runner.echo(f"{step.name}: {guard.what} exists already, not created again")
            if invocation.makes:
                self._record_resource(invocation.makes, created=False)
            return True
        return False

    def _run(self, step: Step, invocation: Invocation) -> None:
        args = [self._resolve(arg) for arg in invocation.args]
        capture = invocation.capture is not None or invocation.makes in resources.ROLE_KEYS
        started = self.clock()
        deadline = started + self.retry_timeout
        delay, tries = self.first_retry_delay, 0
        while True:
            tries += 1
            try:
                result = self.runner.run(step.name, args, capture=capture, shape=dict if capture else object)
                break
            except AzFailed as error:
                why = self._retryable(invocation, error)
                if why is None:
                    self._refuse_soft_deleted(invocation, error)
                    raise
                if self.clock() + delay > deadline:
                    self._refuse_soft_deleted(invocation, error)
                    what = ("the principal was still not visible to role assignments" if invocation.retry_replication
                            else "the purged workspace still held its name")
                    error.reason = (f"exit {error.exit_code}; {what} after {tries} {'try' if tries == 1 else 'tries'} "
                                    f"over {self.clock() - started:.0f}s (--retry-timeout {self.retry_timeout:g}); "
                                    f"{'directory replication' if invocation.retry_replication else 'a purge'} can take "
                                    "longer: run the same command again later")  # fmt: skip
                    raise
                self.runner.echo(f"{step.name}: {why}; retrying in {delay:g}s")
                self.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
        if invocation.capture:
            self._record_capture(step.name, invocation, result)
        if invocation.makes:
            self._record_resource(invocation.makes, created=True,
                                  assignment_id=result.get("id") if invocation.makes in resources.ROLE_KEYS else None)

    def _retryable(self, invocation: Invocation, error: AzFailed) -> str | None:
        stderr = "\n".join(error.stderr_tail)
        if invocation.retry_replication and any(text in stderr for text in REPLICATION_ERRORS):
            return "the principal is not visible to role assignments yet (directory replication)"
        if invocation.makes == "workspace" and SOFT_DELETED in stderr and self.state.get("purged", {}).get("workspace"):
            # azwrap destroy purged it: Azure may answer the purge before the name is free.
            return "the purged workspace still holds its name"
        return None

    def _refuse_soft_deleted(self, invocation: Invocation, error: AzFailed) -> None:
        if invocation.makes != "workspace" or not any(SOFT_DELETED in line for line in error.stderr_tail):
            return
        s = self.settings
        record = self.state["resources"].get("workspace", {})
        fix = ("`azwrap destroy` (it made this workspace) purges it" if record.get("created")
               else f"purge it (this deletes its data for good):\n  {az.line(az.workspace_purge(az.workspace_id(self.known().subscription_id, s)))}")
        raise Refused(f"workspace {s.workspace} in {s.aml_group} cannot be created: a soft-deleted workspace holds "
                      f"the name (deleted workspaces keep it for 14 days, also when their resource group was "
                      f"deleted). Choose another --workspace, or {fix}")  # fmt: skip

    def _check_inputs(self, step: Step, invocations: list[Invocation]) -> None:
        """Fail before any az call when a value another step records is missing or was made for other settings."""
        produced_here = {inv.capture for inv in invocations if inv.capture}
        for ref in (ref for inv in invocations for ref in inv.refs):
            if ref.var in produced_here:
                continue
            producer = PRODUCERS[ref.var]
            if ref.var not in self.outputs:
                raise MissingInput(f"step '{step.name}' needs {ref} from step '{producer}', which is not recorded "
                                   f"in {self.state_path}: run `azwrap {producer}` first (with the same --state-file)")
            recorded = self.state["steps"].get(producer, {}).get("settings", {})
            for name, old in recorded.items():
                if name in step.uses and getattr(self.settings, name) != old:
                    raise MissingInput(
                        f"step '{step.name}' needs {ref} from step '{producer}', which ran with {name} {old!r}, "
                        f"not {getattr(self.settings, name)!r}: run `azwrap {producer}` with the same settings first"
                    )

    def _inputs(self, step: Step) -> dict:
        """The non-secret run-time values a step takes from earlier steps (to notice when they change)."""
        invocations = step.invocations(self.settings)
        produced_here = {inv.capture for inv in invocations}
        return {str(ref): self.outputs[ref.var].get(ref.field)
                for ref in (ref for inv in invocations for ref in inv.refs)
                if not ref.secret and ref.var in self.outputs and ref.var not in produced_here}  # fmt: skip

    def _resolve(self, arg):
        """An argument with its run-time values filled in; secrets become Secret (passed as @file)."""
        if isinstance(arg, Ref):
            if arg.secret:
                return Secret(secrets.reveal(self.state))  # from the state file or the OS credential store
            return self.outputs[arg.var][arg.field]
        if isinstance(arg, Concat):
            return Joined(tuple(self._resolve(part) for part in arg.parts))
        if isinstance(arg, FileArg):
            return PrivateFile(arg.name, "".join(self._resolve(part) for part in arg.content))
        return arg

    def _record_capture(self, step: str, invocation: Invocation, result) -> None:
        fields = CAPTURED_FIELDS[invocation.capture]
        if not isinstance(result, dict) or not all(isinstance(result.get(f), str) and result.get(f) for f in fields):
            raise AzFailed(
                step, self.runner.display(invocation.template()), 0, [],
                reason=f"its JSON lacks a field azwrap needs ({', '.join(fields)})",
            )  # fmt: skip
        replaced = self.outputs.get("sp", {}).get("appId") if invocation.capture == "sp" else None
        self.outputs[invocation.capture] = {field: result[field] for field in fields}
        if replaced and replaced != result["appId"]:
            self.state.pop(lifecycle.ROTATION, None)  # a rotation of the replaced principal is moot
            if not self.keep_old_sp:
                lifecycle.retire(self, replaced)  # saved with the new principal, deleted once the step is done
        # Save at once: a failure in the next call must not lose a new principal's secret.
        try:
            self._save()
        except state_file.StateError as error:
            if invocation.capture != "sp":
                raise
            # The principal exists in Azure now; its secret cannot be recovered, but it can be deleted.
            raise state_file.StateError(
                f"{error}. The service principal {result['appId']} was created but could not be recorded; "
                f"delete it (az ad app delete --id {result['appId']}), fix the state file, and run again"
            ) from None

    def _record_resource(self, key: str, *, created: bool, assignment_id: str | None = None) -> None:
        """What the setup uses, and whether azwrap made it (only what it made is ever deleted)."""
        resource = resources.BY_KEY[key]
        named = self.settings.subset(resource.uses)
        old = self.state["resources"].get(key, {})
        # Found existing, but recorded as made by azwrap earlier (a step resumed after a failure).
        ours = created or (old.get("created") and old.get("settings") == named) or self._same_group_ours(key)
        record = {"created": bool(ours), "settings": named}
        if key in ("workspace", "compute", "datastore"):
            record["dialect"] = self.settings.ml_cli  # how to delete it, and whether the other dialect made it
        if assignment_id or old.get("id"):
            record["id"] = assignment_id or old.get("id")
        self.state["resources"][key] = record
        self.state.get("purged", {}).pop(key, None)
        self._save()

    def _same_group_ours(self, key: str) -> bool:
        """--aml-group and --adls-group may name one group: found by the second step, it is still azwrap's."""
        if key not in resources.GROUP_KEYS:
            return False
        other = resources.GROUP_KEYS[1 - resources.GROUP_KEYS.index(key)]
        record = self.state["resources"].get(other, {})
        return bool(record.get("created")) and record.get("settings", {}).get(other) == getattr(self.settings, key)

    def _record_done(self, step: Step) -> None:
        record = {"done_at": _now(), "settings": self.settings.subset(step.uses), "inputs": self._inputs(step)}
        if "source" in step.uses:
            record["sha256"] = sha256_of(self.settings.source)
        self.state["steps"][step.name] = record
        self._save()

    def _save(self) -> None:
        if self.what_if:
            return  # `all --what-if` changes nothing, not even the state
        state_file.save(self.state_path, secrets.for_disk(self.state, self.secret_store))


_ORDER = {resource.key: n for n, resource in enumerate(resources.RESOURCES)}


def status_report(state: dict, state_path: Path, settings: Settings, sources: dict) -> dict:
    """Each step done or pending, when; the settings and where each comes from; the recorded resources
    and non-secret outputs."""
    steps = []
    for step in STEPS:
        record = state["steps"].get(step.name)
        if step.name == "login":
            continue
        steps.append({"step": step.name, "status": "done" if record else "pending",
                      "done_at": record.get("done_at") if record else None,
                      **{key: record.get(key) if record else None for key in ("started_at", "ended_at", "seconds")}})  # fmt: skip
    secret = {(ref.var, ref.field) for ref in SECRET_REFS}
    outputs = {str(Ref(var, field)): value for var, fields in state["outputs"].items()
               for field, value in fields.items() if (var, field) not in secret}  # fmt: skip
    upload = state["steps"].get("upload")
    if upload and upload.get("sha256"):
        outputs["upload.sha256"] = upload["sha256"]
    recorded = state.get("settings", {})
    return {
        "state_file": str(state_path),
        "subscription": state.get("subscription"),
        "steps": steps,
        "settings": {name: {"value": value, "source": sources[name], "recorded": recorded.get(name)}
                     for name, value in asdict(settings).items()},
        "resources": [{"key": key, "resource": resources.BY_KEY[key].label(planning.recorded_settings(settings, record)),
                       "created": bool(record.get("created")), **({"id": record["id"]} if record.get("id") else {})}
                      for key, record in sorted(state["resources"].items(), key=lambda item: _ORDER.get(item[0], 99))
                      if key in resources.BY_KEY],
        "outputs": outputs,
    }  # fmt: skip
