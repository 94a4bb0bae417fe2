"""Running a command that calls az: settings, runner and Setup built, the action run, failures turned into messages."""

from __future__ import annotations

import contextlib
import threading
import time

import click

from ..az import calllog, launch
from ..core import doctor
from ..ui import progress
from ..ui.events import DONE, FAILED, RUNNING, SKIPPED, STOPPED, StepChanged
from ..store import secrets
from ..store import lock as state_lock
from ..store import state as state_file
from ..core.engine import Setup
from ..errors import MissingInput, Refused
from ..az.redact import Redactor
from ..az.handover import remove_stale_private_dirs
from ..az.runner import AzFailed, AzNotFound, Interrupted, Runner, WhatIf, find_az
from ..core.scheduler import JobsFailed, JobsInterrupted
from ..book.ml import V1_RETIRED
from ..book.settings import NAMES
from ..store.state import StateError
from ..book.steps import STEPS
from .status import env_hint
from .options import EXIT_INTERRUPTED, EXIT_USAGE, EXIT_AZ_FAILED, Failure, check_source, echo_quoting, option_name, retry_delay, settings_for





DEFAULT_JOBS = 4
VIEW = "azwrap.view"  # the run's view in click's context meta: a command that asks a question closes it first
USAGE_ERRORS = (StateError, MissingInput, Refused)
# After a failed az call: what ran is recorded, so the same command picks up where it stopped.
RESUME = "\nWhat is done stays done: fix the cause, then run the same command again to resume."


def _fan_out(*sinks):
    def send(event) -> None:
        for sink in sinks:
            sink(event)

    return send


def _view(steps, skip_doctor: bool, quiet: bool):
    """The run's view, with a row per step (and doctor's checks, before `all`'s steps)."""
    rows = [step.name for step in steps]
    if not skip_doctor and "login" in rows:
        rows.insert(rows.index("login") + 1, "doctor")
    view = progress.make(rows, quiet=quiet)
    click.get_current_context().meta[VIEW] = view
    return view


def _recorded(view, state_path, holder: state_lock.Holder, command_path: str, extra: dict):
    """Events to the view, the call log (which names the azwrap command) and the lock file."""
    label = command_path.partition(" ")[2] + (" --what-if" if extra.get("what_if") else "")
    return _fan_out(view, calllog.CallLog(calllog.log_path(state_path), calllog.new_run_id(), label),
                    _running_into(holder))  # fmt: skip


def _starting_all(setup: Setup, phase: list[str]) -> None:
    """The start of `azwrap all`: v1's warning first, then sign-in has a row."""
    if setup.settings.ml_cli == "v1":
        setup.runner.echo(f"WARNING: {V1_RETIRED}")  # the book's default: said once, first
    setup.runner.events(StepChanged("login", RUNNING))  # `az account show`, maybe `az login`
    phase.append("login")


def _running_into(holder: state_lock.Holder):
    """An event sink that keeps the steps running now in the lock file, for `azwrap status`."""
    running: list[str] = []
    guard = threading.Lock()

    def send(event) -> None:
        if not isinstance(event, StepChanged):
            return
        with guard:
            if event.status == RUNNING and event.step not in running:
                running.append(event.step)
            elif event.status != RUNNING and event.step in running:
                running.remove(event.step)
            else:
                return
            holder.running(running)

    return send


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


def run_az(steps, action):
    """Wrap a command body: build settings and a Setup, run action, turn failures into messages."""
    uses = sorted({name for step in steps for name in step.uses})

    def command(**options):
        state_path, quiet, az_given = options.pop("state_path"), options.pop("quiet"), options.pop("az_path")
        force = options.pop("force", ())
        force = frozenset(force if isinstance(force, tuple) else ([steps[0].name] if force else []))
        retry_timeout = options.pop("retry_timeout", 300)
        skip_doctor = options.pop("skip_doctor", True)
        keep_old_sp = options.pop("keep_old_sp", False)
        secret_store = secrets.resolve(options.pop("secret_store"))
        refresh = not options.pop("no_refresh", False)
        dry_run = options.pop("dry_run", False)
        extra = {name: options.pop(name) for name in list(options) if name not in NAMES}
        settings = settings_for(options, uses, state_path)
        check_source(settings, uses)
        shell = echo_quoting()
        redact = Redactor()
        setup = None
        view = _view(steps, skip_doctor, quiet)
        phase: list[str] = []  # sign-in or doctor, before the steps proper (what an interrupt names)
        try:
            # --what-if changes nothing, not even azwrap's directory: it takes no lock.
            command_path = click.get_current_context().command_path
            with contextlib.nullcontext() if dry_run else state_lock.hold(state_path, command_path) as holder:
                remove_stale_private_dirs()  # left by an azwrap killed mid-call (they may hold a secret)
                make_runner = WhatIf if dry_run else Runner
                events = _fan_out(view) if dry_run else _recorded(view, state_path, holder, command_path, extra)
                runner = make_runner(find_az(az_given), redact, quiet=quiet, shell=shell, subscription=settings.subscription,
                                     echo=view.message, events=events)  # fmt: skip
                for name in uses:
                    runner.launch.refuse_unsafe(str(getattr(settings, name)), option_name(name))
                setup = Setup(settings, runner, state_path, force=force, retry_timeout=retry_timeout,
                              first_retry_delay=retry_delay(), keep_old_sp=keep_old_sp, secret_store=secret_store,
                              refresh=refresh)
                # Refusals that need no az call come first, then doctor's read-only checks.
                setup.preflight(steps)
                if any(step.name != "login" for step in steps) and not dry_run:
                    # A principal created while the state cannot be saved would be lost with its secret.
                    state_file.check_writable(state_path, setup.state)
                    secrets.check_usable(secret_store)
                if len(steps) > 1:
                    _starting_all(setup, phase)
                if not skip_doctor:
                    _doctor_before_all(setup, runner.az, phase)
                started = time.monotonic()
                action(setup, **extra)
                if len(steps) > 1 and setup.timings and not setup.what_if:
                    view.summary(*summary_lines(setup.timings, time.monotonic() - started, extra.get("jobs", 1)))
                if len(steps) > 1:
                    _tell_what_if(setup) if setup.what_if else _tell_env(setup, shell)
        except (AzNotFound, launch.Unsafe) as error:
            raise Failure(redact(str(error)), EXIT_USAGE) from None
        except (StateError, MissingInput, Refused) as error:
            raise Failure(redact(str(error)), EXIT_USAGE) from None
        except AzFailed as error:
            raise _with_resume(Failure(redact(error.message()), EXIT_AZ_FAILED)) from None
        except state_lock.Locked as error:
            raise Failure(str(error), EXIT_USAGE) from None
        except JobsFailed as error:
            raise _with_resume(_failures(error.outcome.failed, redact)) from None
        except JobsInterrupted as error:
            where = ", ".join(error.running) or "start-up"
            raise Failure(f"Interrupted during step {where}; run the same command again to resume.",
                          EXIT_INTERRUPTED) from None
        except (Interrupted, KeyboardInterrupt):
            where = setup.current_step if setup and setup.current_step else (phase or ["start-up"])[-1]
            raise Failure(f"Interrupted during step {where}; run the same command again to resume.",
                          EXIT_INTERRUPTED) from None
        finally:
            view.close()

    return command


# Checks that read az's listings, which could misjudge an unusual setup: for these, and only these,
# running without doctor is worth naming.
SECOND_OPINION = ("location", "rights")


def _doctor_before_all(setup: Setup, az_path: str, phase: list[str]) -> None:
    # Signing in changes nothing in Azure, and the checks of the storage account need it.
    with _row(setup.runner.events, "login", phase) as outcome:
        setup.sign_in()
        outcome[0] = DONE if setup.signed_in_here else SKIPPED
    with _row(setup.runner.events, "doctor", phase) as outcome:
        blocking = _doctor_checks(setup, az_path)
        outcome[0] = FAILED if blocking else DONE
    phase.clear()
    if blocking:
        fixes = "; ".join(f"{check.check}: {check.fix}" if check.fix else check.check for check in blocking)
        second = any(check.check in SECOND_OPINION for check in blocking)
        raise Failure(f"doctor: {len(blocking)} check(s) failed ({fixes}); nothing was changed. Fix "
                      f"{'them' if len(blocking) > 1 else 'it'}, then run the same command again"
                      + (" (if a check is wrong about your setup, --skip-doctor runs without them)." if second
                         else "."), EXIT_USAGE)  # fmt: skip


@contextlib.contextmanager
def _row(events, name: str, phase: list[str]):
    """A row of the live view for what runs in the block (sign-in, doctor): running, then how it ended.
    Yields [status]: done unless the block says otherwise (login: skipped when already signed in)."""
    phase.append(name)
    started, outcome = time.monotonic(), [DONE]
    events(StepChanged(name, RUNNING))
    try:
        yield outcome
    except BaseException as error:
        stopped = isinstance(error, (Interrupted, KeyboardInterrupt))
        events(StepChanged(name, STOPPED if stopped else FAILED, time.monotonic() - started))
        raise
    events(StepChanged(name, outcome[0], time.monotonic() - started))


def _doctor_checks(setup: Setup, az_path: str) -> list:
    """doctor's checks, shown as they are; the ones that fail."""
    # Another subscription than the setup's is refused before its checks could mislead.
    if setup.state.get("subscription"):
        setup.check_subscription()
    setup.runner.echo("doctor: read-only checks before any change")
    # The secret's expiry is `azwrap doctor`'s note alone: `all` goes on with what it has either way.
    checks = doctor.run(setup, doctor.Check("az", doctor.OK, az_path), secret_expiry=False)
    for line in doctor.lines(checks):
        setup.runner.echo(setup.runner.redact(line))
    return doctor.failed(checks)


def _tell_what_if(setup: Setup) -> None:
    would_run = setup.runner.would_run
    click.echo("what-if: nothing was changed." + (" These az commands would run, in this order:" if would_run
                                                  else " Nothing would run."), err=True)  # fmt: skip
    for step, command in would_run:
        click.echo(f"  [{step}] {command}", err=True)
    for step, why in setup.skipped:
        click.echo(f"  skipped: {step} ({why})", err=True)


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


def _tell_env(setup: Setup, shell: str) -> None:
    where = secrets.where(setup.secret_store, setup.state_path, setup.outputs.get("sp", {}).get("appId"))
    progress.say(f"Done: every step of the book is done. The client secret is in {where}.")
    progress.say(f"To set SP_PASSWORD as the book does: {env_hint(shell, setup.state_path)}")
