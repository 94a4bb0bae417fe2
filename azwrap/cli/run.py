"""Running a command that calls az: settings, runner and session built, the action run, failures turned into messages."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass

import click

from ..az import launch
from ..az.handover import remove_stale_private_dirs
from ..az.redact import Redactor
from ..az.runner import AzFailed, AzNotFound, Interrupted, Runner, find_az
from ..book.ml import V1_RETIRED
from ..book.settings import NAMES
from ..book.steps import STEPS
from ..core import doctor, flow
from ..core.flow import Options
from ..core.scheduler import JobsFailed, JobsInterrupted
from ..core.session import Session
from ..errors import MissingInput, Refused
from ..store import lock as state_lock
from ..store import secrets
from ..store import state as state_file
from ..store.state import StateError
from ..ui import progress
from ..ui.events import DONE, FAILED, SKIPPED
from . import rows, whatif
from .options import (EXIT_AZ_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Failure, check_source, echo_quoting, option_name,
                      retry_delay, settings_for)  # fmt: skip
from .status import env_hint

DEFAULT_JOBS = 4
USAGE_ERRORS = (StateError, MissingInput, Refused)
# After a failed az call: what ran is recorded, so the same command picks up where it stopped.
RESUME = "\nWhat is done stays done: fix the cause, then run the same command again to resume."
# Checks that read az's listings, which could misjudge an unusual setup: for these, and only these,
# running without doctor is worth naming.
SECOND_OPINION = ("location", "rights")
# How apply waits (the tests give it a fake clock; None: the runner's pause, which a stop ends at once).
SLEEP, CLOCK = None, time.monotonic


def _failure(error: BaseException, redact: Redactor) -> Failure:
    """The message and exit code of one error of a step."""
    if isinstance(error, AzNotFound):
        return Failure(str(error), EXIT_USAGE)
    if isinstance(error, USAGE_ERRORS):
        return Failure(redact(str(error)), EXIT_USAGE)
    if isinstance(error, AzFailed):
        return Failure(redact(error.message()), EXIT_AZ_FAILED)
    raise error


def _failures(failed: dict, redact: Redactor) -> Failure:
    """Every failed step of a fan-out in one message: exit 1 if an az call failed, else 2."""
    failures = [_failure(error, redact) for error in failed.values()]
    if len(failures) == 1:
        return failures[0]
    code = EXIT_AZ_FAILED if any(f.exit_code == EXIT_AZ_FAILED for f in failures) else EXIT_USAGE
    message = f"{len(failures)} steps failed: {', '.join(failed)}\n" + "\n".join(f.message for f in failures)
    return Failure(message, code)


def _with_resume(failure: Failure) -> Failure:
    if failure.exit_code == EXIT_AZ_FAILED:
        failure.message += RESUME
    return failure


@dataclass
class Context:
    """What a command that runs az works with: the steps in scope, the session, the flow's options."""

    steps: list
    session: Session
    flow: Options
    what_if: bool = False
    output_format: str = "text"
    skip_doctor: bool = True
    retry_timeout: float = 300.0
    first_retry_delay: float = 2.0  # AZWRAP_RETRY_DELAY, read before any az call (bad input: exit 2 first)
    shell: str = "bash"  # how echoed lines are quoted, and the closing hint's shell
    view: object = None
    applying: object = None  # core.apply.Apply, once the plan runs

    @property
    def scope(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    def where(self) -> str:
        step = self.applying.current_step if self.applying is not None else None
        return step or (self.session.doing if self.session else None) or "start-up"


def _context(steps, options: dict) -> Context:
    force = options.pop("force", ())
    force = frozenset(force if isinstance(force, tuple) else ([steps[0].name] if force else []))
    flow_options = Options(force=force, refresh=not options.pop("no_refresh", False),
                           keep_old_sp=options.pop("keep_old_sp", False), jobs=options.get("jobs", 1) or 1)  # fmt: skip
    return Context(list(steps), None, flow_options, what_if=options.pop("dry_run", False),
                   output_format=options.pop("output_format", "text"), skip_doctor=options.pop("skip_doctor", True),
                   retry_timeout=options.pop("retry_timeout", 300), first_retry_delay=retry_delay(),
                   shell=echo_quoting())  # fmt: skip


def run_az(steps, action, after=None):
    """Wrap a command body: build settings, a runner and a session, run action(context, **extra), then
    after(session, **extra) (all's verify and hand-off), and turn failures into messages."""
    uses = sorted({name for step in steps for name in step.uses})

    def command(**options):
        state_path, quiet, az_given = options.pop("state_path"), options.pop("quiet"), options.pop("az_path")
        context = _context(steps, options)
        secret_store = secrets.resolve(options.pop("secret_store"))
        extra = {name: options.pop(name) for name in list(options) if name not in NAMES}
        settings = settings_for(options, uses, state_path)
        check_source(settings, uses)
        redact = Redactor()
        context.view = view = rows.view_for(steps, context.skip_doctor, quiet)
        try:
            # --what-if changes nothing, not even azwrap's directory: it takes no lock.
            command_path = click.get_current_context().command_path
            with contextlib.nullcontext() if context.what_if else state_lock.hold(state_path, command_path) as holder:
                remove_stale_private_dirs()  # left by an azwrap killed mid-call (they may hold a secret)
                events = rows.fan_out(view) if context.what_if else rows.recorded(
                    view, state_path, holder, command_path, bool(extra.get("what_if")))
                runner = Runner(find_az(az_given), redact, quiet=quiet, shell=context.shell,
                                subscription=settings.subscription, echo=view.message, events=events)  # fmt: skip
                for name in uses:
                    runner.launch.refuse_unsafe(str(getattr(settings, name)), option_name(name))
                context.session = Session(settings, runner, state_path, secret_store=secret_store,
                                          what_if=context.what_if)  # fmt: skip
                action(context, **extra)
                if after is not None:
                    after(context.session, **extra)
        except Exception as error:  # noqa: BLE001  (each kind becomes one message; anything else goes on up)
            raise _message(error, redact, context) from None
        except KeyboardInterrupt:
            raise _message(Interrupted(context.where()), redact, context) from None
        finally:
            view.close()

    return command


def _message(error: Exception, redact: Redactor, context: Context) -> BaseException:
    """The one message (and exit code) of an error that ends a command."""
    if isinstance(error, (AzNotFound, launch.Unsafe)) or isinstance(error, USAGE_ERRORS):
        return Failure(redact(str(error)), EXIT_USAGE)
    if isinstance(error, AzFailed):
        return _with_resume(Failure(redact(error.message()), EXIT_AZ_FAILED))
    if isinstance(error, state_lock.Locked):
        return Failure(str(error), EXIT_USAGE)
    if isinstance(error, JobsFailed):
        return _with_resume(_failures(error.outcome.failed, redact))
    if isinstance(error, (JobsInterrupted, Interrupted)):
        where = ", ".join(error.running) if isinstance(error, JobsInterrupted) and error.running else context.where()
        return Failure(f"Interrupted during step {where}; run the same command again to resume.", EXIT_INTERRUPTED)
    return error


def run_steps(context: Context, jobs: int = 1, **_) -> None:
    """A step command or `all`: sign-in, refresh, plan, then (unless --what-if) doctor's checks for what
    the plan does, and apply."""
    session, scope = context.session, context.scope
    if scope == ("login",):
        with rows.row(session, "login"):
            session.login()
        return
    flow.precheck(session, scope, context.flow)  # refusals that need no az call come first
    if not context.what_if:
        # A principal created while the state cannot be saved would be lost with its secret.
        state_file.check_writable(session.state_path, session.state)
        secrets.check_usable(session.secret_store)
    if "login" in scope:
        if session.settings.ml_cli == "v1":
            session.echo(f"WARNING: {V1_RETIRED}")  # the book's default: said once, first
        with rows.row(session, "login") as outcome:
            if context.what_if:
                whatif.refuse_unless_signed_in(session)  # it never runs `az login`
            else:
                session.sign_in()
            outcome[0] = DONE if session.signed_in_here else SKIPPED
    the_plan = flow.prepare(session, scope, context.flow)
    for note in the_plan.notes:
        session.echo(f"azwrap: {note}")
    if context.what_if:
        _tell_what_if(context, the_plan)
        return
    if not context.skip_doctor:
        _doctor_before_all(session, the_plan, context.flow.force)
    started = time.monotonic()
    context.applying = flow.applier(session, the_plan, retry_timeout=context.retry_timeout,
                                    first_retry_delay=context.first_retry_delay, sleep=SLEEP, clock=CLOCK)  # fmt: skip
    session.doing = None
    flow.apply(context.applying, context.flow)
    if len(scope) > 1:
        context.view.summary(*summary_lines(context.applying.timings, time.monotonic() - started, jobs))
        _tell_env(session, context.shell)


def _doctor_before_all(session: Session, the_plan, force: frozenset) -> None:
    """doctor's checks of what the plan will do (none of those that matter only before a creation, when
    it creates nothing)."""
    with rows.row(session, "doctor") as outcome:
        session.echo("doctor: read-only checks before any change")
        # The secret's expiry is `azwrap doctor`'s note alone: `all` goes on with what it has either way.
        checks = doctor.run(session, doctor.Check("az", doctor.OK, session.runner.az), secret_expiry=False,
                            plan=the_plan, force=force)  # fmt: skip
        for line in doctor.lines(checks):
            session.echo(session.runner.redact(line))
        blocking = doctor.failed(checks)
        outcome[0] = FAILED if blocking else DONE
    if blocking:
        fixes = "; ".join(f"{check.check}: {check.fix}" if check.fix else check.check for check in blocking)
        second = any(check.check in SECOND_OPINION for check in blocking)
        raise Failure(f"doctor: {len(blocking)} check(s) failed ({fixes}); nothing was changed. Fix "
                      f"{'them' if len(blocking) > 1 else 'it'}, then run the same command again"
                      + (" (if a check is wrong about your setup, --skip-doctor runs without them)." if second
                         else "."), EXIT_USAGE)  # fmt: skip


def _tell_what_if(context: Context, the_plan) -> None:
    """The plan, on stdout: the az calls that would run, in order, and why; what is skipped and why."""
    session = context.session
    # the subscription the refresh checked, which the run names on every ARM call (core/flow.py, prepare)
    subscription = session.runner.subscription or session.settings.subscription
    shown = whatif.rows(the_plan, session.outputs, subscription, session.runner.shell)
    if context.output_format == "json":
        click.echo(json.dumps(shown, indent=2))
        return
    for line in whatif.lines(the_plan, shown):
        click.echo(line)


def summary_lines(timings: dict, wall: float, jobs: int) -> tuple[list[str], str]:
    """Seconds per step; and the wall time, the sum of the steps' times and what running in parallel saved."""
    timings = {step.name: timings[step.name] for step in STEPS if step.name in timings}  # the book's order
    ran = {step: timing for step, timing in timings.items() if timing["status"] != "skipped"}
    total = sum(timing["seconds"] for timing in timings.values())
    table = ["Summary (seconds per step):"]
    table += [f"  {step:<10} {timing['status']:<8} {timing['seconds']:7.1f}" for step, timing in timings.items()]
    totals = (f"Wall time {wall:.1f}s for the steps (--jobs {jobs}); sum of the steps' times {total:.1f}s; "
              f"saved by running in parallel {max(0.0, total - wall):.1f}s; {len(ran)} step(s) ran.")  # fmt: skip
    return table, totals


def _tell_env(session: Session, shell: str) -> None:
    where = secrets.where(session.secret_store, session.state_path, session.outputs.get("sp", {}).get("appId"))
    progress.say(f"Done: every step of the book is done. The client secret is in {where}.")
    progress.say(f"To set SP_PASSWORD as the book does: {env_hint(shell, session.state_path)}")
