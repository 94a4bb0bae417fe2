"""Apply: carry out a plan's actions through the scheduler and the runner, retry where az's answer says
to, and record each result the moment it is known. It never decides why an action runs."""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid

from ..az.runner import NOT_FOUND, AzFailed, Interrupted, Joined, PrivateFile, Secret
from ..book import commands as az
from ..book import resources
from ..book.commands import Concat, FileArg, NewId, Ref
from ..book.steps import BY_NAME
from ..errors import Refused
from ..store import secrets
from ..ui.events import DONE, FAILED, RUNNING, SKIPPED, STOPPED
from . import lifecycle, planning, record, scheduler
from .plan import Action, Plan, StepPlan, needs_of
from .session import Session

# stderr of `az role assignment create` while a new principal is not yet visible everywhere
# (directory replication): worth retrying; anything else is not.
REPLICATION_ERRORS = ("Cannot find user or service principal in graph database", "does not exist in the directory",
                      "PrincipalNotFound")  # fmt: skip
FIRST_RETRY_DELAY, MAX_RETRY_DELAY = 2.0, 30.0
# What `ml workspace create` says while a soft-deleted workspace holds the name (also for a while
# after a purge was answered).
SOFT_DELETED = "Soft-deleted workspace exists"
# az's words for a target that is not there. Outside exit 3 (az's not-found) they count only on a line that
# names the target: "not found" also answers for a subscription, a parent, a sign-in (Graph's not-found is exit 1,
# "Resource '<id>' does not exist ...").
GONE = ("could not be found", "was not found", "does not exist", "not found", "NotFound", "Unable to find")
# The storage service's codes for the very filesystem or path the command addressed (its text names neither).
ADDRESSED_GONE = ("ErrorCode:FilesystemNotFound", "ErrorCode:PathNotFound")
# Never "gone": the subscription is not seen (another tenant's sign-in, a typo), the target may well exist.
NOT_SEEN = re.compile(r"SubscriptionNotFound|subscription\b[^\n]*\b(could not be found|not found|was not found)", re.I)
# The flags whose values name a command's target or what holds it (for a `gone` without a target given): the
# target is gone too when what holds it is.
TARGET_FLAGS = ("--name", "-n", "--id", "--ids", "--workspace-name", "--account-name", "--resource-group", "--path",
                "--key-id", "--url")  # fmt: skip
# `extension` runs alone, before the others: a half-installed extension can break az processes starting beside it.
ALONE_FIRST = ("extension",)


def gone(error: AzFailed, target: str | None = None) -> bool:
    """Whether a failed call's target is not there: exit 3, or a not-found answer naming the target (by
    default what the command's --name, --id, --ids... name). Never when the subscription is not seen."""
    said = error.stderr_tail
    if error.reason or any(NOT_SEEN.search(line) for line in said):
        return False
    if error.exit_code == NOT_FOUND or any(code in line for line in said for code in ADDRESSED_GONE):
        return True
    names = [target] if target else targets(error.command)
    patterns = [re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", re.I) for name in names if name]
    return any(any(word in line for word in GONE) and any(p.search(line) for p in patterns) for line in said)


def targets(command: str) -> list[str]:
    """What a displayed az command names with its TARGET_FLAGS (an id or URL also by its last segment)."""
    words = [word.strip("'\"") for word in command.split()]
    out: list[str] = []
    for index, word in enumerate(words):
        if word not in TARGET_FLAGS:
            continue
        for value in words[index + 1:]:
            if value.startswith("-"):
                break
            out.append(value)
            last = value.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            if last and last != value:
                out.append(last)
            if word != "--ids":
                break
    return out


class Apply:
    """Runs one plan; steps run at once as far as the plan's graph allows, taking turns in this code."""

    def __init__(self, session: Session, plan: Plan, *, retry_timeout: float = 300.0,
                 first_retry_delay: float = FIRST_RETRY_DELAY, sleep=None, clock=time.monotonic):  # fmt: skip
        self.session, self.plan = session, plan
        self.retry_timeout, self.first_retry_delay = retry_timeout, first_retry_delay
        # runner.pause: a wait before a retry ends at once when the run is stopped (Ctrl-C, SIGTERM)
        self.sleep, self.clock = sleep or session.runner.pause, clock
        self.timings: dict[str, dict] = {}  # this run's steps: status, seconds
        self.current = threading.local()  # the step each thread runs (for an interrupt's message)
        # Steps running at once take turns in this code: one holds the turn and lets go of it while it
        # waits for az or sleeps, so the state changes under one lock and each step reads as sequential.
        self._turn = threading.Lock()
        self.new_ids: dict[str, str] = {}  # NewId values made up in this run (a group's azwrap-id tag)

    @property
    def current_step(self) -> str | None:
        return getattr(self.current, "step", None)

    def run(self, jobs: int = 1) -> None:
        """`extension` alone first, then the others, at most `jobs` at a time, each when the steps it
        needs are done. Raises scheduler.JobsFailed / JobsInterrupted for the fan-out."""
        for key, _ in self.plan.disown:
            record.disown(self.session, key)
        for step in self.plan.steps:
            if step.reason is None:
                self._skipped(step)
        first = [s for s in self.plan.running if s.step in ALONE_FIRST]
        for step in first:
            self.run_step(step)
        rest = [s for s in self.plan.running if s.step not in ALONE_FIRST]
        graph = needs_of(self.plan)
        jobs_ = [scheduler.Job(s.step, tuple(n for n in graph[s.step] if n not in ALONE_FIRST),
                               lambda s=s: self._take_turn(s)) for s in rest]  # fmt: skip
        runner = self.session.runner
        runner.around_call, sleep = self._let_others_run, self.sleep
        self.sleep = lambda seconds: self._let_others_run_while(sleep, seconds)
        try:
            scheduler.run(jobs_, jobs, stop=runner.stop_all)
        finally:
            runner.around_call, self.sleep = contextlib.nullcontext, sleep

    def _skipped(self, step: StepPlan) -> None:
        self.session.echo(f"{step.step}: done earlier, skipped")
        self.timings[step.step] = {"status": SKIPPED, "seconds": 0.0}
        self.session.step_changed(step.step, SKIPPED, 0.0)

    def _take_turn(self, step: StepPlan) -> None:
        with self._turn:
            self.run_step(step)

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

    def run_step(self, step: StepPlan) -> None:
        """One step's actions, timed and reported: running, then done, failed or stopped."""
        started_at, started = time.time(), time.monotonic()
        self.current.step = step.step
        self.session.step_changed(step.step, RUNNING)
        try:
            self._apply(step, started_at, started)
        except BaseException as error:
            status = STOPPED if isinstance(error, (Interrupted, KeyboardInterrupt)) else FAILED
            self.timings[step.step] = {"status": status, "seconds": time.monotonic() - started}
            self.session.step_changed(step.step, status, time.monotonic() - started)
            raise
        seconds = time.monotonic() - started
        self.timings[step.step] = {"status": DONE, "seconds": seconds}
        self.session.step_changed(step.step, DONE, seconds)
        self.current.step = None

    def _apply(self, step: StepPlan, started_at: float, started: float) -> None:
        session = self.session
        if step.reason not in (planning.NOT_DONE,) and step.step in session.state["steps"]:
            session.echo(f"{step.step}: running again: {step.reason}")
        session.record_setup()
        if step.forget_sp:
            session.echo(f"{step.step}: the service principal {session.outputs['sp']['appId']} recorded in "
                         f"{session.state_path} no longer exists: creating a new one")  # fmt: skip
            record.forget_principal(session)
        elif step.step == "sp" and "sp" in session.outputs and not _creates_principal(step):
            session.echo(f"sp: reusing the service principal {session.outputs['sp']['appId']} recorded in {session.state_path}")
        for _, what in step.found:
            session.echo(f"{step.step}: {what} exists already, not created again")
        for action in step.actions:
            self._act(step, action)
        reclaim = dict(step.reclaim)
        for key, what in step.found:
            if key in reclaim:
                how = ("under these names before" if reclaim[key].get("generation") is not None
                       else "in an earlier run whose answer was lost")  # fmt: skip
                session.echo(f"{step.step}: {what} is the one azwrap made {how}: recorded as azwrap's")
            if key:
                record.resource(session, key, created=False, reclaim=reclaim.get(key))
        definition = BY_NAME[step.step]
        record.step_done(session, definition, record.inputs_of(session, definition), started_at,
                         time.monotonic() - started)  # fmt: skip

    def _act(self, step: StepPlan, action: Action) -> None:
        session, invocation = self.session, action.invocation
        if invocation.before:
            session.echo(f"{step.step}: {invocation.guard.what} was made by azwrap for an earlier principal "
                         "or dialect; removing it first")  # fmt: skip
        retired = _retiring(step, action)
        warnings: list[str] = []
        if invocation.makes and not invocation.before:
            record.pending(session, invocation.makes)  # its answer may be lost: the next run can tell
        try:
            result = self.call(action, warnings)
        except AzFailed as error:
            if not (action.gone_ok and gone(error)):
                raise
            if invocation.args[:1] == ("ad",):  # Graph's "does not exist" means gone only in the setup's tenant
                lifecycle.check_tenant(session.runner, step.step, lifecycle.recorded_tenant(session.state),
                                       retired["appId"] if retired else str(invocation.args[-1]))  # fmt: skip
            result = None
        if invocation.capture == "sp":
            _refuse_patched_app(warnings, result)
        if invocation.capture:
            record.capture(session, step.step, invocation.capture, result, session.runner.display(invocation.template()))
            if invocation.capture == "sp":
                for entry in step.retire:  # deleted at the end of this step, or by the next run
                    if entry.get("assignments") or not entry.get("gone"):  # else nothing is left to delete
                        lifecycle.retire(session.state, entry)
                session.save()
        if invocation.makes:
            assignment = result.get("id") if invocation.makes in resources.ROLE_KEYS and result else None
            record.resource(session, invocation.makes, created=True, assignment_id=assignment)
            if invocation.makes == "datastore":  # it is ours while it authenticates as the principal it was made with
                record.identity(session, "datastore", {"clientId": session.outputs["sp"]["appId"]})
        if invocation.identifies:
            key = invocation.identifies
            record.identity(session, key, resources.identity_of(key, result, self.new_ids.get(key)))
            if key == "workspace":  # what it made with it: deleted with it by `azwrap destroy`
                record.dependents(session, resources.dependents_of(result))
        if retired and invocation.args[:3] == ("ad", "app", "delete"):
            lifecycle.retired_deleted(session.state, retired["appId"])
            session.save()
            session.echo(f"sp: deleted the replaced service principal {retired['appId']} (az ad app delete)")
        elif retired and retired.get("gone"):  # a principal deleted behind azwrap's back: only its roles were left
            lifecycle.retired_deleted(session.state, retired["appId"])
            session.save()

    def call(self, action: Action, warnings: list | None = None):
        """Run one action's az call, retrying while az's answer says a wait will help; `warnings` receives
        what az said on stderr when it succeeded."""
        invocation = action.invocation
        args = [resolved(self.session, self.new_ids, arg) for arg in invocation.args]
        capture = invocation.capture is not None or invocation.makes in resources.ROLE_KEYS or bool(invocation.identifies)
        started = self.clock()
        delay, tries = self.first_retry_delay, 0
        while True:
            tries += 1
            try:
                shape = dict if capture and not invocation.own else object  # azwrap's own reads may print a list
                # (every ARM call names the subscription the run checked: core/flow.py, prepare)
                return self.session.runner.run(action.step, args, capture=capture, shape=shape,
                                               warnings=warnings if capture else None)  # fmt: skip
            except AzFailed as error:
                why = self._retryable(invocation, error)
                if why is None or self.clock() + delay > started + self.retry_timeout:
                    if why is None:  # (a purge azwrap waited for that takes longer: exit 1, run again later)
                        _refuse_soft_deleted(self.session, invocation, error)
                    else:
                        error.reason = _gave_up(invocation, error, tries, self.clock() - started, self.retry_timeout)
                    raise
                self.session.echo(f"{action.step}: {why}; retrying in {delay:g}s")
                self.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)

    def _retryable(self, invocation, error: AzFailed) -> str | None:
        stderr = "\n".join(error.stderr_tail)
        if invocation.retry_replication and any(text in stderr for text in REPLICATION_ERRORS):
            return "the principal is not visible to role assignments yet (directory replication)"
        if _new_app_not_replicated(self.session, invocation, stderr):
            return "the new app is not visible to Graph yet (directory replication)"
        if invocation.makes == "workspace" and SOFT_DELETED in stderr and self.session.state.get("purged", {}).get("workspace"):
            return "the purged workspace still holds its name"  # azwrap destroy purged it; Azure frees it later
        return None

def resolved(session: Session, new_ids: dict[str, str], arg):
    """An argument with its run-time values filled in; secrets become Secret (passed as @file); a NewId is made
    up once per run (into new_ids)."""
    if isinstance(arg, Ref):
        if arg.secret:
            return Secret(secrets.reveal(session.state))  # the state file or the OS credential store
        return session.outputs[arg.var][arg.field]
    if isinstance(arg, Concat):
        return Joined(tuple(resolved(session, new_ids, part) for part in arg.parts))
    if isinstance(arg, FileArg):
        return PrivateFile(arg.name, "".join(resolved(session, new_ids, part) for part in arg.content))
    if isinstance(arg, NewId):
        return new_ids.setdefault(arg.key, uuid.uuid4().hex)
    return arg


# What create-for-rbac says when an app of its (time-stamped) display name exists: it patches that app,
# removing its passwords (azure-cli's role module; older versions: 'of "<appId>". We will patch it').
PATCHED = "Found an existing application instance"


def _refuse_patched_app(warnings: list[str], result) -> None:
    """create-for-rbac patched someone else's app instead of making a new one: stop before recording it."""
    said = next((line for line in warnings if PATCHED in line), None)
    if said is None:
        return
    app = result.get("appId") if isinstance(result, dict) else None
    name = result.get("displayName") if isinstance(result, dict) else None
    raise Refused(f"az ad sp create-for-rbac did not make a new application: an app named {name!s} existed "
                  f"already (another run in the same second?), and az patched it, removing its passwords "
                  f"({said.strip()}). azwrap recorded nothing and will not use app {app}; tell its owner that its "
                  "secret was replaced, then run the same command again (the next second's name is free)")


# Graph's not-found (`az ad app ...`, exit 1), also right after create-for-rbac until the app replicates.
GRAPH_NOT_FOUND = "does not exist or one of its queried reference-property objects are not present"


def _new_app_not_replicated(session: Session, invocation, stderr: str) -> bool:
    """azwrap's own identity read of the principal just captured, answered with Graph's not-found for it."""
    app_id = session.outputs.get("sp", {}).get("appId")
    return bool(invocation.own and invocation.identifies == "sp" and app_id and GRAPH_NOT_FOUND in stderr
                and f"'{app_id}'" in stderr)  # fmt: skip


def _creates_principal(step: StepPlan) -> bool:
    return any(action.invocation.capture == "sp" for action in step.actions)


def _retiring(step: StepPlan, action: Action) -> dict | None:
    """The replaced principal an action deletes (its app, or its role assignments)."""
    args = action.invocation.args
    for entry in step.retire:
        if entry["appId"] in args or any(i in args for i in entry.get("assignments", ())):
            return entry
    return None


def _gave_up(invocation, error: AzFailed, tries: int, seconds: float, timeout: float) -> str:
    what, why = (("the principal was still not visible to role assignments", "directory replication")
                 if invocation.retry_replication else ("the purged workspace still held its name", "a purge"))
    if invocation.own and invocation.identifies == "sp":
        what = "the new app was still not visible to Graph"
    return (f"exit {error.exit_code}; {what} after {tries} {'try' if tries == 1 else 'tries'} over {seconds:.0f}s "
            f"(--retry-timeout {timeout:g}); {why} can take longer: run the same command again later")


def _refuse_soft_deleted(session: Session, invocation, error: AzFailed) -> None:
    """A workspace name a soft-deleted one holds: exit 2, with the way out (not an az failure to retry)."""
    if invocation.makes != "workspace" or not any(SOFT_DELETED in line for line in error.stderr_tail):
        return
    s = session.settings
    ours = session.state["resources"].get("workspace", {}).get("created")
    fix = ("`azwrap destroy` (it made this workspace) purges it" if ours
           else f"purge it (this deletes its data for good):\n  {az.line(az.workspace_purge(az.workspace_id(session.subscription_id, s)))}")
    raise Refused(f"workspace {s.workspace} in {s.aml_group} cannot be created: a soft-deleted workspace holds "
                  f"the name (deleted workspaces keep it for 14 days, also when their resource group was "
                  f"deleted). Choose another --workspace, or {fix}")  # fmt: skip
