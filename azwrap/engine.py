"""Running steps: decide what to (re)run, fill in run-time values, call the runner, record results."""

from __future__ import annotations

import datetime
import hashlib
import time
from pathlib import Path

from . import commands as az
from . import lifecycle, secrets
from . import state as state_file
from .commands import CAPTURED_FIELDS, SECRET_REFS, Concat, FileArg, Invocation, Ref
from .errors import MissingInput, Refused
from .runner import AzFailed, Joined, PrivateFile, Runner, Secret
from .settings import DEFAULTS, Settings
from .steps import BY_NAME, PRODUCERS, STEPS, Step

# stderr of `az role assignment create` while a new principal is not yet visible everywhere
# (directory replication, REFERENCE.md section 4): worth retrying; anything else is not.
REPLICATION_ERRORS = ("Cannot find user or service principal in graph database", "does not exist in the directory",
                      "PrincipalNotFound")  # fmt: skip
FIRST_RETRY_DELAY, MAX_RETRY_DELAY = 2.0, 30.0


# Where an upload goes: another destination is a new upload, not an overwrite.
UPLOAD_DESTINATION = ("account", "filesystem", "upload_path")


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


class Setup:
    """One azwrap run: settings (the az ml dialect among them), the runner and the state file."""

    def __init__(self, settings: Settings, runner: Runner, state_path: Path, *,
                 force: frozenset[str] = frozenset(), retry_timeout: float = 300.0, keep_old_sp: bool = False,
                 secret_store: str = "file",
                 first_retry_delay: float = FIRST_RETRY_DELAY, sleep=time.sleep, clock=time.monotonic):  # fmt: skip
        self.settings, self.runner, self.state_path = settings, runner, state_path
        self.force, self.retry_timeout, self.first_retry_delay = force, retry_timeout, first_retry_delay
        self.sleep, self.clock = sleep, clock
        self.keep_old_sp = keep_old_sp  # --keep-old-sp: a principal --force sp replaces is not deleted
        self.secret_store = secret_store  # "file" or "keyring" (secrets.resolve)
        self._state: dict | None = None
        self.current_step: str | None = None
        self.account: dict | bool | None = None  # `az account show` JSON; False: not signed in
        self.signed_in_here = False  # this run ran `az login`

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

    # --- what to run ------------------------------------------------------------------------

    def run_all(self) -> None:
        """The whole book in order; `az login` only when `az account show` says we are not signed in."""
        for step in STEPS:
            if step.name == "login":
                self.sign_in()
                continue
            self.run_step(step)
        lifecycle.finish(self)  # what an interrupted run left: a replaced principal, a rotation

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
        """Before any az call: raise Refused if a step would refuse later; say which done steps rerun."""
        rerun = []
        for step in steps:
            reason = self.decide(step)
            if step.name != "login" and step.name in self.state["steps"] and reason is not None:
                rerun.append(f"{step.name} ({reason})")
        if rerun:
            self.runner.echo("azwrap: steps done earlier that will run again: " + "; ".join(rerun))

    def decide(self, step: Step) -> str | None:
        """Why step must run (None: done earlier with the same settings and inputs, skip it)."""
        if step.name == "login":
            return "sign in"  # never recorded: whether az is signed in changes outside azwrap
        if step.name in self.force:
            return "forced with --force"
        record = self.state["steps"].get(step.name)
        if record is None:
            return "not done yet"
        # A setting a record lacks was added to azwrap later: the step ran with its default.
        ran_with = {name: record.get("settings", {}).get(name, getattr(DEFAULTS, name)) for name in step.uses}
        changed = {name: old for name, old in ran_with.items() if getattr(self.settings, name) != old}
        if "source" in step.uses and not set(changed) & set(UPLOAD_DESTINATION):
            return self._decide_reupload(step, record)
        if changed:
            return "settings changed since it ran: " + ", ".join(
                f"{name} {old!r} -> {getattr(self.settings, name)!r}" for name, old in changed.items())
        inputs = self._inputs(step)
        if any(inputs.get(name) != value for name, value in record.get("inputs", {}).items()):
            return "the service principal it used has changed"
        return None

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
        if any(ran_with.get(name, getattr(DEFAULTS, name)) != getattr(self.settings, name) for name in UPLOAD_DESTINATION):
            return False  # another destination: a new upload
        return record.get("sha256") not in (None, sha256_of(self.settings.source))

    def signed_in(self) -> bool:
        """Whether az is signed in (`az account show` succeeds); asked once per run."""
        if self.account is None:
            try:
                self.account = self.runner.run("login", list(az.account_show()), capture=True, shape=dict)
            except AzFailed as error:
                if error.reason:  # it answered, but not as az does
                    raise
                self.account = False
        return self.account is not False and self._in_tenant()

    # --- running a step ---------------------------------------------------------------------

    def run_step(self, step: Step) -> None:
        reason = self.decide(step)
        if reason is None:
            self.runner.echo(f"{step.name}: done earlier, skipped")
            if step.name == "sp":
                lifecycle.delete_retired(self)  # left by a run that failed to delete it
            return
        if reason not in ("not done yet", "sign in"):
            self.runner.echo(f"{step.name}: running again: {reason}")
        forced = step.name in self.force
        invocations = step.invocations(self.settings, forced)
        self._check_inputs(step, invocations)
        self.current_step = step.name
        for invocation in invocations:
            if invocation.capture == "sp" and "sp" in self.outputs and not forced:
                self._reuse_principal(step)
                continue
            # Probes run even under --force: a forced step re-runs, it does not create twice.
            if invocation.guard and self._already_there(step, invocation):
                continue
            self._run(step, invocation)
        if step.name != "login":
            self._record_done(step)
        if step.name == "sp":
            lifecycle.delete_retired(self)  # the principal --force sp replaced, now that the new one works
        self.current_step = None

    def _reuse_principal(self, step: Step) -> None:
        # create-for-rbac makes a new principal and secret on every call (REFERENCE.md section 4):
        # reuse the recorded one, after checking that it still exists.
        app_id = self.outputs["sp"]["appId"]
        if self.runner.run(step.name, list(az.ad_sp_show(app_id)), capture=True, not_found_ok=True, shape=dict) is None:
            raise Refused(f"the service principal {app_id} recorded in {self.state_path} no longer exists "
                          f"(az ad sp show exit 3); to create a new one, {force_hint('sp')}")  # fmt: skip
        self.runner.echo(f"{step.name}: reusing the service principal {app_id} recorded in {self.state_path}")

    def _already_there(self, step: Step, invocation: Invocation) -> bool:
        guard = invocation.guard
        found = self.runner.run(step.name, list(guard.probe), capture=True, not_found_ok=True, shape=guard.shape)
        verdict = guard.exists(found, self.state) if guard.with_state else guard.exists(found)
        if isinstance(verdict, tuple):  # the argv that makes room first (v1: detach the datastore azwrap made)
            self.runner.echo(f"{step.name}: {guard.what} was made by azwrap with an earlier principal; removing it first")
            self.runner.run(step.name, list(verdict))
            return False
        if verdict:
            self.runner.echo(f"{step.name}: {guard.what} exists already, not created again")
            return True
        return False

    def _run(self, step: Step, invocation: Invocation) -> None:
        args = [self._resolve(arg) for arg in invocation.args]
        capture = invocation.capture is not None
        started = self.clock()
        deadline = started + self.retry_timeout
        delay, tries = self.first_retry_delay, 0
        while True:
            tries += 1
            try:
                result = self.runner.run(step.name, args, capture=capture, shape=dict if capture else object)
                break
            except AzFailed as error:
                replication = any(text in line for line in error.stderr_tail for text in REPLICATION_ERRORS)
                if not (invocation.retry_replication and replication):
                    raise
                if self.clock() + delay > deadline:
                    error.reason = (f"exit {error.exit_code}; the principal was still not visible to role assignments "
                                    f"after {tries} {'try' if tries == 1 else 'tries'} over {self.clock() - started:.0f}s "
                                    f"(--retry-timeout {self.retry_timeout:g}); directory replication can take longer: "
                                    "run the same command again later")  # fmt: skip
                    raise
                self.runner.echo(f"{step.name}: the principal is not visible to role assignments yet "
                                 f"(directory replication); retrying in {delay:g}s")  # fmt: skip
                self.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
        if capture:
            self._record_capture(step.name, invocation, result)

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

    def _record_done(self, step: Step) -> None:
        record = {"done_at": _now(), "settings": self.settings.subset(step.uses), "inputs": self._inputs(step)}
        if "source" in step.uses:
            record["sha256"] = sha256_of(self.settings.source)
        self.state["steps"][step.name] = record
        self._save()

    def _save(self) -> None:
        state_file.save(self.state_path, secrets.for_disk(self.state, self.secret_store))


def status_report(state: dict, state_path: Path) -> dict:
    """Each step done or pending, when, and the recorded non-secret outputs."""
    steps = []
    for step in STEPS:
        record = state["steps"].get(step.name)
        if step.name == "login":
            continue
        steps.append({"step": step.name, "status": "done" if record else "pending",
                      "done_at": record.get("done_at") if record else None})  # fmt: skip
    secret = {(ref.var, ref.field) for ref in SECRET_REFS}
    outputs = {str(Ref(var, field)): value for var, fields in state["outputs"].items()
               for field, value in fields.items() if (var, field) not in secret}  # fmt: skip
    upload = state["steps"].get("upload")
    if upload and upload.get("sha256"):
        outputs["upload.sha256"] = upload["sha256"]
    return {"state_file": str(state_path), "steps": steps, "outputs": outputs}
