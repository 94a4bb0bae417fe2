"""The azwrap command line: parse options, build settings, pick a runner, call the steps."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import click
from click.core import ParameterSource

from .. import __version__
from ..az import calllog, launch
from ..core import doctor, lifecycle
from ..ui import progress
from ..book import scripts
from ..store import secrets
from ..store import lock as state_lock
from ..core import destroy as teardown
from ..store import state as state_file
from ..core.engine import FIRST_RETRY_DELAY, Setup, status_report
from ..errors import MissingInput, Refused
from ..book.quoting import echo_shell
from ..az.redact import Redactor
from ..az.runner import AzFailed, AzNotFound, Interrupted, Runner, WhatIf, find_az, remove_stale_private_dirs
from ..core.scheduler import JobsFailed, JobsInterrupted
from ..book.settings import ACCOUNT_PLACEHOLDER, DEFAULTS, HELP, NAMES, Settings, check
from ..store.state import StateError
from ..book.commands import with_subscription
from ..book.steps import BY_NAME, STEPS, plan

EXIT_AZ_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXAMPLE = Settings(account=ACCOUNT_PLACEHOLDER)  # for the az commands shown in --help


def _option_name(setting: str) -> str:
    return "--" + setting.replace("_", "-")


class SourcedOption(click.Option):
    """An option whose errors name where the bad value came from: the option, or its environment variable."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        if ctx is not None and self.envvar and ctx.get_parameter_source(self.name) == ParameterSource.ENVIRONMENT:
            return f"environment variable {self.envvar} (for {self.opts[0]})"
        return " / ".join(f"'{name}'" for name in self.opts)


def _validate(ctx: click.Context, param: click.Parameter, value):
    if value is not None:
        broken = check(param.name, value)
        if broken:
            raise click.BadParameter(f"{value!r} is not valid: must be {broken}.")
    return value


def setting_option(setting: str) -> click.Option:
    # No click default: a value not given comes from the state, then from the book (resolve_settings).
    default = getattr(DEFAULTS, setting)
    if isinstance(default, bool):
        return SourcedOption([_option_name(setting), setting], is_flag=True, envvar=f"AZWRAP_{setting.upper()}",
                            show_envvar=True, help=HELP[setting])  # fmt: skip
    return SourcedOption(
        [_option_name(setting), setting],
        default=None,
        type={"max_nodes": int, "ml_cli": click.Choice(["v1", "v2"])}.get(setting, str),
        envvar=f"AZWRAP_{setting.upper()}",
        show_envvar=True,
        show_default=str(default) if default is not None else False,
        callback=_validate,
        help=HELP[setting] + " Remembered from the last run.",
    )


SOURCES = {ParameterSource.COMMANDLINE: "option", ParameterSource.ENVIRONMENT: "environment"}


def resolve_settings(options: dict, recorded: dict) -> tuple[Settings, dict]:
    """Each setting from its option, its AZWRAP_* variable, the value the state recorded, or the book's
    default, in that order; and where each came from (for status, and to tell a change)."""
    ctx = click.get_current_context()
    values, sources = {}, {}
    for name in NAMES:
        given = options.pop(name, None)
        source = ctx.get_parameter_source(name) if name in ctx.params else None
        if given is not None and source in SOURCES:
            values[name], sources[name] = given, SOURCES[source]
        elif recorded.get(name) is not None:
            broken = check(name, recorded[name])
            if broken:
                raise Failure(f"the state records {_option_name(name)} {recorded[name]!r}, which is not valid "
                              f"(must be {broken}); give {_option_name(name)} to replace it", EXIT_USAGE)
            values[name], sources[name] = recorded[name], "state"
        else:
            values[name], sources[name] = getattr(DEFAULTS, name), "default"
    return Settings(**values), sources


def _recorded_settings(state_path: Path) -> dict:
    try:
        return state_file.load(state_path).get("settings", {})
    except StateError as error:
        raise Failure(str(error), EXIT_USAGE) from None


def run_options(steps) -> list[click.Option]:
    """Options of every command that runs az; `steps` are the steps it may run (none: doctor)."""
    options = [
        SourcedOption(["--az", "az_path"], envvar="AZWRAP_AZ", show_envvar=True, metavar="PATH",
                     help="The az executable. [default: az found on PATH]"),
        state_option(),
        click.Option(["--quiet", "-q"], is_flag=True, help="Do not echo each az command before running it."),
        SourcedOption(["--secret-store"], type=click.Choice(secrets.STORES), default="auto", show_default=True,
                     envvar="AZWRAP_SECRET_STORE", show_envvar=True,
                     help="Where the client secret is kept: keyring = the OS credential store (Windows Credential "
                          "Manager, macOS Keychain), file = the 0600 state file; auto = keyring on Windows and macOS, "
                          "file elsewhere."),
        setting_option("subscription"),
    ]  # fmt: skip
    if not steps:
        return options
    if steps[0].name != "login" or len(steps) > 1:
        options.append(click.Option(
            ["--no-refresh"], is_flag=True,
            help="Trust the state: skip a step recorded done without checking that what it made is still there.",
        ))  # fmt: skip
    if len(steps) > 1:
        names = [step.name for step in steps if step.name != "login"]
        options.append(click.Option(
            ["--force"], multiple=True, type=click.Choice(names), metavar="STEP",
            help=f"Run STEP again even if it is recorded done (repeatable; one of {', '.join(names)}). "
                 "`--force sp` creates a new service principal; `--force upload` overwrites the uploaded file.",
        ))  # fmt: skip
    elif steps[0].name != "login":
        options.append(click.Option(["--force"], is_flag=True, help=FORCE_HELP.get(steps[0].name, FORCE_HELP[None])))
    if any(step.name == "sp" for step in steps):
        options.append(click.Option(
            ["--keep-old-sp"], is_flag=True,
            help="With --force: keep the service principal that the new one replaces (by default it is deleted, "
                 "with its role assignments, once the new one is recorded and assigned).",
        ))  # fmt: skip
    if any(inv.retry_replication for step in steps for inv in step.invocations(EXAMPLE)):
        options.append(SourcedOption(
            ["--retry-timeout"], type=click.FloatRange(min=0), default=300, show_default=True, metavar="SECONDS",
            callback=_finite,
            envvar="AZWRAP_RETRY_TIMEOUT", show_envvar=True,
            help="How long to retry a role assignment while a new principal replicates in the directory.",
        ))  # fmt: skip
    return options


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds.")
    return value


FORCE_HELP = {
    None: "Run the step even if it is recorded done with the same settings.",
    "sp": "Create a new service principal even if one is recorded (the recorded secret is replaced).",
    "upload": "Upload even if recorded done; replaces the remote file (--overwrite).",
}


def state_option() -> click.Option:
    return SourcedOption(
        ["--state-file", "state_path"], envvar="AZWRAP_STATE", show_envvar=True, type=click.Path(dir_okay=False, path_type=Path),
        default=state_file.DEFAULT_PATH, show_default=True, callback=_state_path,
        help="Where azwrap keeps what steps recorded (holds the client secret; kept 0600).",
    )  # fmt: skip


def _state_path(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if str(value) == ".":  # what Path("") becomes
        raise click.BadParameter("is empty (or '.'): name the state file, such as .azwrap/state.json.")
    return value


def text_or_json_option() -> click.Option:
    return click.Option(["--format", "output_format"], type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="Text for people, JSON for scripts.")  # fmt: skip


def shell_option() -> click.Option:
    return click.Option(["--shell"], type=click.Choice(["powershell", "bash"]), default="powershell", show_default=True,
                        help="Shell to write for.")  # fmt: skip


class Failure(click.ClickException):
    """An error printed as one `Error: ...` message with its own exit code, never a traceback."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _settings(options: dict, uses, state_path: Path) -> Settings:
    settings, _ = resolve_settings(options, _recorded_settings(state_path))
    if "account" in uses and settings.account is None:
        raise click.UsageError(
            "Missing option '--account' (or AZWRAP_ACCOUNT): the ADLS Gen2 storage account name. "
            "It is globally unique, so azwrap has no default for it."
        )
    return settings


def _check_source(settings: Settings, uses) -> None:
    if "source" in uses:
        source = Path(settings.source)
        if not source.is_file() or not os.access(source, os.R_OK):
            what = "is a directory" if source.is_dir() else "is not readable" if source.exists() else "does not exist"
            raise click.BadParameter(f"{settings.source} {what}; the file to upload must exist before anything runs.",
                                     param_hint="'--source'")  # fmt: skip


def _retry_delay() -> float:
    """The first delay between replication retries: AZWRAP_RETRY_DELAY seconds (tests make it short)."""
    value = os.environ.get("AZWRAP_RETRY_DELAY", str(FIRST_RETRY_DELAY))
    try:
        delay = float(value)
    except ValueError:
        delay = -1.0
    if not (delay > 0 and math.isfinite(delay)):
        raise click.UsageError(f"AZWRAP_RETRY_DELAY={value!r} is not a positive number of seconds.")
    return delay


def _echo_shell() -> str:
    """How echoed `$ az ...` lines are quoted (AZWRAP_ECHO_SHELL, else by platform)."""
    try:
        return echo_shell()
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM ends a run the way Ctrl-C does: child stopped, state kept


# A closed terminal (SIGHUP) and Ctrl-\ (SIGQUIT) end a run like SIGTERM: az stopped, nothing left behind.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


DEFAULT_JOBS = 4
USAGE_ERRORS = (StateError, MissingInput, Refused)


def _fan_out(*sinks):
    def send(event) -> None:
        for sink in sinks:
            sink(event)

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
        settings = _settings(options, uses, state_path)
        _check_source(settings, uses)
        shell = _echo_shell()
        redact = Redactor()
        setup = None
        view = progress.make([step.name for step in steps], quiet=quiet)
        try:
            # --what-if changes nothing, not even azwrap's directory: it takes no lock.
            with contextlib.nullcontext() if dry_run else state_lock.hold(state_path):
                remove_stale_private_dirs()  # left by an azwrap killed mid-call (they may hold a secret)
                make_runner = WhatIf if dry_run else Runner
                events = _fan_out(view) if dry_run else _fan_out(view, calllog.CallLog(calllog.log_path(state_path),
                                                                                       calllog.new_run_id()))
                runner = make_runner(find_az(az_given), redact, quiet=quiet, shell=shell, subscription=settings.subscription,
                                     echo=view.message, events=events)  # fmt: skip
                for name in uses:
                    runner.launch.refuse_unsafe(str(getattr(settings, name)), _option_name(name))
                setup = Setup(settings, runner, state_path, force=force, retry_timeout=retry_timeout,
                              first_retry_delay=_retry_delay(), keep_old_sp=keep_old_sp, secret_store=secret_store,
                              refresh=refresh)
                # Refusals that need no az call come first, then doctor's read-only checks.
                setup.preflight(steps)
                if any(step.name != "login" for step in steps) and not dry_run:
                    # A principal created while the state cannot be saved would be lost with its secret.
                    state_file.check_writable(state_path, setup.state)
                    secrets.check_usable(secret_store)
                if not skip_doctor:
                    _doctor_before_all(setup, runner.az)
                started = time.monotonic()
                action(setup, **extra)
                if len(steps) > 1 and setup.timings and not setup.what_if:
                    view.summary(summary_lines(setup.timings, time.monotonic() - started, extra.get("jobs", 1)))
                if len(steps) > 1:
                    _tell_what_if(setup) if setup.what_if else _tell_env(setup)
        except (AzNotFound, launch.Unsafe) as error:
            raise Failure(redact(str(error)), EXIT_USAGE) from None
        except (StateError, MissingInput, Refused) as error:
            raise Failure(redact(str(error)), EXIT_USAGE) from None
        except AzFailed as error:
            raise Failure(redact(error.message()), EXIT_AZ_FAILED) from None
        except state_lock.Locked as error:
            raise Failure(str(error), EXIT_USAGE) from None
        except JobsFailed as error:
            raise _failures(error.outcome.failed, redact) from None
        except JobsInterrupted as error:
            where = ", ".join(error.running) or "start-up"
            raise Failure(f"Interrupted during step {where}; run the same command again to resume.",
                          EXIT_INTERRUPTED) from None
        except (Interrupted, KeyboardInterrupt):
            where = setup.current_step if setup and setup.current_step else "start-up"
            raise Failure(f"Interrupted during step {where}; run the same command again to resume.",
                          EXIT_INTERRUPTED) from None
        finally:
            view.close()

    return command


def _help(summary: str, body: str, example: str) -> str:
    return f"{summary}\n\n{body}\n\nExample:\n\n\b\n  {example}"


def step_command(step) -> click.Command:
    book = [scripts.powershell_line(inv) for inv in step.invocations(EXAMPLE)]
    current = [scripts.powershell_line(inv) for inv in step.invocations(replace(EXAMPLE, ml_cli="v2"))]
    body = "Runs, as in the book:\n\n\b\n" + "\n".join(f"  {line}" for line in book)
    if current != book:
        body += "\n\nWith --ml-cli v2 (the current ml extension):\n\n\b\n" + "\n".join(f"  {line}" for line in current)
    return click.Command(
        step.name,
        callback=run_az([step], lambda setup: setup.run_job(step)),
        params=[setting_option(name) for name in step.uses] + run_options([step]),
        help=_help(step.summary, body, step.example),
        short_help=step.summary,
    )


class BookOrder(click.Group):
    """Lists commands in the book's order; makes SIGTERM and Ctrl-C end any command with exit 130."""

    def list_commands(self, ctx):
        return list(self.commands)

    def _main_shell_completion(self, ctx_args, prog_name, complete_var=None):
        if os.environ.get("_AZWRAP_COMPLETE"):
            from ..ui import completion  # noqa: F401  (registers PowerShell's completion; loaded only when asked)
        return super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def invoke(self, ctx):
        launch.disable_core_dumps()  # a core file would hold the secret
        previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, Interrupted):
            raise Failure("Interrupted.", EXIT_INTERRUPTED) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@click.group(cls=BookOrder, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="azwrap")
def main():
    """Set up Azure Machine Learning as chapter 7 of "Data Engineering on Azure" does, with the
    same az commands: safely, repeatably and in one go.

    Run `azwrap all --account NAME` for the whole setup, one step command at a time, or
    `azwrap plan` for the commands as a script to copy and paste.
    """


main.add_command(click.Command(
    "all",
    callback=run_az(STEPS, lambda setup, jobs: setup.run_all(jobs)),
    params=[setting_option(name) for name in NAMES if name != "subscription"] + run_options(STEPS) + [
        click.Option(["--skip-doctor"], is_flag=True, help="Do not run `azwrap doctor`'s checks first."),
        click.Option(["--jobs", "-j"], type=click.IntRange(min=1), default=DEFAULT_JOBS, show_default=True,
                     envvar="AZWRAP_JOBS", show_envvar=True, metavar="N",
                     help="Run at most N steps, so at most N az calls, at a time. 1: the book's order."),
        click.Option(["--what-if", "dry_run"], is_flag=True,
                     help="Sign-in check, doctor and the refresh probes, then list what would run and what is "
                          "skipped and why; make no change (not even to the state)."),
    ],
    help=_help(
        "Run every step: after sign-in, doctor's checks and the extension, the others at once as far as they can.",
        "Skips `az login` when `az account show` succeeds, and reuses a service principal already "
        "recorded in the state file. Then `extension` runs alone, and every other step starts as soon as the "
        "steps it needs are done (workspace before compute; storage before upload and sp; workspace and sp "
        "before datastore and grant), at most --jobs at a time; within a step the book's order holds. After a "
        "failure no new step starts; the running ones finish. The client secret is never printed: run "
        "`azwrap env` afterwards.",
        "azwrap all --account mydatalake --source input.csv --jobs 4",
    ),
    short_help="Run every step, in parallel where the steps allow.",
))  # fmt: skip
for _step in STEPS:
    main.add_command(step_command(_step))


ROTATE_USES = BY_NAME["datastore"]
main.add_command(click.Command(
    "rotate",
    callback=run_az([ROTATE_USES], lifecycle.rotate),
    params=[setting_option(name) for name in ROTATE_USES.uses] + run_options([]),
    help=_help(
        "Give the recorded service principal a new secret, and the datastore with it.",
        "Runs `az ad app credential reset --id APPID`, which replaces the principal's secret (the old one stops "
        "working), records the new one in the state the moment az prints it, then attaches the datastore again "
        "with it (v1: az ml datastore detach, then attach-adls-gen2; v2: az ml datastore create). Interrupted or "
        "failed half way, the next `azwrap rotate` or `azwrap all` finishes it. `azwrap env` prints the new secret.",
        "azwrap rotate --account mydatalake",
    ),
    short_help="Give the service principal a new secret and re-attach the datastore.",
))  # fmt: skip


def _doctor_before_all(setup: Setup, az_path: str) -> None:
    # Signing in changes nothing in Azure, and the checks of the storage account need it.
    setup.sign_in()
    # Another subscription than the setup's is refused before its checks could mislead.
    if setup.state.get("subscription"):
        setup.check_subscription()
    setup.runner.echo("doctor: read-only checks before any change")
    # The secret's expiry is `azwrap doctor`'s note alone: `all` goes on with what it has either way.
    checks = doctor.run(setup, doctor.Check("az", doctor.OK, az_path), secret_expiry=False)
    for line in doctor.lines(checks):
        setup.runner.echo(setup.runner.redact(line))
    blocking = doctor.failed(checks)
    if blocking:
        raise Failure(f"doctor: {len(blocking)} check(s) failed; nothing was changed. "
                      "Fix them, or run with --skip-doctor.", EXIT_USAGE)  # fmt: skip


def _doctor(output_format: str, az_path: str | None, quiet: bool, state_path: Path, secret_store: str, **options) -> None:
    settings, _ = resolve_settings(options, state_file.peek(state_path).get("settings", {}))
    az_check = doctor.az_program(az_path)
    redact = Redactor()
    runner = Runner(az_check.detail, redact, quiet=quiet or output_format == "json", shell=_echo_shell(),
                    subscription=settings.subscription)
    setup = Setup(settings, runner, state_path, secret_store=secrets.resolve(secret_store))
    checks = doctor.run(setup, az_check)
    if output_format == "json":
        click.echo(json.dumps(doctor.as_dicts(checks), indent=2))
    else:
        for line in doctor.lines(checks):
            click.echo(redact(line))
    if doctor.failed(checks):
        sys.exit(EXIT_AZ_FAILED)


DOCTOR_SETTINGS = ("ml_cli", "location", "account", "aml_group", "adls_group", "filesystem", "upload_path", "source")
main.add_command(click.Command(
    "doctor",
    callback=_doctor,
    params=[
        text_or_json_option(),
        *(setting_option(name) for name in DOCTOR_SETTINGS),
        *run_options([]),
    ],
    help=_help(
        "Check, read-only, what would make the setup fail.",
        "One line per check, with the fix for each failure: az found and its version (az version); signed in "
        "and to which subscription (az account show); the sign-in still works (az account get-access-token); the "
        "dialect's extension installed or installable and the other one absent (az extension list; for v1, az "
        "extension list-available); v1's retirement; the region exists (az account list-locations); the storage "
        "account name valid and available (az storage account check-name, and az storage account show in your "
        "ADLS group when it is taken); you may create role assignments (az role assignment list --assignee you); "
        "the source file readable and the same as the one uploaded; the state file readable and private. "
        "Exit 0 when all pass, 1 otherwise. `azwrap all` runs these checks first.",
        "azwrap doctor --ml-cli v2 --account mydatalake",
    ),
    short_help="Check, read-only, what would make the setup fail.",
))  # fmt: skip


def _tell_what_if(setup: Setup) -> None:
    would_run = setup.runner.would_run
    click.echo("what-if: nothing was changed." + (" These az commands would run, in this order:" if would_run
                                                  else " Nothing would run."), err=True)  # fmt: skip
    for step, command in would_run:
        click.echo(f"  [{step}] {command}", err=True)
    for step, why in setup.skipped:
        click.echo(f"  skipped: {step} ({why})", err=True)


def summary_lines(timings: dict, wall: float, jobs: int) -> list[str]:
    """Seconds per step, the wall time, the sum of the steps' times and what running in parallel saved."""
    timings = {step.name: timings[step.name] for step in STEPS if step.name in timings}  # the book's order
    ran = {step: timing for step, timing in timings.items() if timing["status"] != "skipped"}
    total = sum(timing["seconds"] for timing in timings.values())
    lines = ["Summary (seconds per step):"]
    lines += [f"  {step:<10} {timing['status']:<8} {timing['seconds']:7.1f}" for step, timing in timings.items()]
    lines.append(f"  wall time {wall:.1f}s for the steps (--jobs {jobs}); sum of the steps' times {total:.1f}s; "
                 f"saved by running in parallel {max(0.0, total - wall):.1f}s; {len(ran)} step(s) ran")  # fmt: skip
    return lines


def _tell_env(setup: Setup) -> None:
    where = secrets.where(setup.secret_store, setup.state_path, setup.outputs.get("sp", {}).get("appId"))
    click.echo(f"Done: every step of the book is done. The client secret is in {where}.", err=True)
    click.echo("To set SP_PASSWORD as the book does: Invoke-Expression (azwrap env)  |  eval \"$(azwrap env --shell bash)\"", err=True)


def _env(shell: str, state_path: Path) -> None:
    try:
        password = secrets.reveal(state_file.load(state_path))  # the state file, or the OS credential store
    except StateError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    if password is None:
        raise Failure(f"no service principal is recorded in {state_path}: run `azwrap sp` first", EXIT_USAGE)
    click.echo(scripts.env_line(shell, password))


main.add_command(click.Command(
    "env",
    callback=_env,
    params=[shell_option(), state_option()],
    help=_help(
        "Print the line that sets SP_PASSWORD in your shell.",
        "The book's `$env:SP_PASSWORD = $sp.password`, with the secret recorded by `azwrap sp`. "
        "This is the only azwrap command that prints the secret, on stdout, for your shell to run.",
        "Invoke-Expression (azwrap env)      # bash: eval \"$(azwrap env --shell bash)\"",
    ),
    short_help="Print the line that sets SP_PASSWORD (the only output with the secret).",
))  # fmt: skip


def _plan(shell: str, output_format: str, state_path: Path, destroy: bool, **options) -> None:
    if output_format == "json" and click.get_current_context().get_parameter_source("shell") != ParameterSource.DEFAULT:
        raise click.UsageError("--shell applies to --format script only: the JSON plan is the same for every shell.")
    recorded = state_file.peek(state_path)  # plan changes nothing, not even the state's modes
    settings, _ = resolve_settings(options, recorded.get("settings", {}))
    if settings.account is None:
        settings = replace(settings, account=ACCOUNT_PLACEHOLDER)
        click.echo(f"azwrap: no --account given; the plan uses the placeholder {ACCOUNT_PLACEHOLDER}", err=True)
    if shell == "powershell" and output_format == "script":
        for name, value in asdict(settings).items():
            if isinstance(value, str) and value != ACCOUNT_PLACEHOLDER:
                try:
                    launch.refuse_in_powershell_script(value, _option_name(name))
                except launch.Unsafe as error:
                    raise Failure(str(error), EXIT_USAGE) from None
    if destroy:
        subscription_id = recorded.get("subscription", {}).get("id", "<subscription-id>")
        invocations = teardown.plan(recorded, settings, subscription_id).invocations()
    else:
        invocations = plan(settings)
    invocations = [replace(inv, args=with_subscription(inv.args, settings.subscription)) for inv in invocations]
    if output_format == "json":
        click.echo(scripts.render_json(invocations))
    else:
        click.echo(scripts.render(shell, invocations), nl=False)


main.add_command(click.Command(
    "plan",
    callback=_plan,
    params=[
        shell_option(),
        click.Option(["--format", "output_format"], type=click.Choice(["script", "json"]), default="script",
                     show_default=True, help="A script to copy and paste, or the commands as JSON."),
        *(setting_option(name) for name in NAMES),
        state_option(),
        click.Option(["--destroy"], is_flag=True, help="The teardown of the recorded setup (what `azwrap destroy` runs)."),
    ],
    help=_help(
        "Print the az commands as a script; run nothing.",
        "The book's sequence with your settings, without the book's line-continuation errata. "
        "Values that exist only at run time appear as $sp.appId, $sp.password, $sp.tenant, $acc.id and $aml.id.",
        "azwrap plan --account mydatalake > setup.ps1",
    ),
    short_help="Print the az commands as a PowerShell or bash script.",
))  # fmt: skip


def _completion(shell: str) -> None:
    from ..ui import completion

    click.echo(completion.script(main, shell), nl=False)


main.add_command(click.Command(
    "completion",
    callback=_completion,
    params=[click.Argument(["shell"], type=click.Choice(["powershell", "bash", "zsh", "fish"]))],
    help=_help(
        "Print the tab-completion script for your shell.",
        "Completes commands, options and their choices (--ml-cli, --force STEP, --shell). Install it once: "
        "PowerShell: add `azwrap completion powershell | Out-String | Invoke-Expression` to $PROFILE; bash "
        "(4.4+): add `eval \"$(azwrap completion bash)\"` to ~/.bashrc; zsh: add `eval \"$(azwrap completion "
        "zsh)\"` to ~/.zshrc; fish: `azwrap completion fish > ~/.config/fish/completions/azwrap.fish`.",
        "azwrap completion powershell | Out-String | Invoke-Expression",
    ),
    short_help="Print the tab-completion script for PowerShell, bash, zsh or fish.",
))  # fmt: skip


def _status(output_format: str, state_path: Path, refresh: bool, az_path: str | None, **options) -> None:
    try:
        recorded = state_file.load(state_path)
    except StateError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    settings, sources = resolve_settings(options, recorded.get("settings", {}))
    report = status_report(recorded, state_path, settings, sources)
    if refresh:
        _status_live(report, settings, recorded, state_path, az_path)
    if output_format == "json":
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"state: {state_path}")
    if report["subscription"]:
        sub = report["subscription"]
        click.echo(f"subscription: {sub.get('name')} ({sub.get('id')}), tenant {sub.get('tenantId')}")
    for step in report["steps"]:
        when = f"  {step['done_at']}" if step["done_at"] else ""
        if step.get("seconds") is not None:
            when += f"  {step['seconds']:.1f}s ({step['started_at']} to {step['ended_at']})"
        click.echo(f"  {step['step']:<10} {step['status']:<8}{when}")
    click.echo("settings (value, where it comes from):")
    for name, entry in report["settings"].items():
        click.echo(f"  {_option_name(name):<15} {str(entry['value']):<32} {entry['source']}")
    if report["resources"]:
        click.echo("resources (recorded" + (", live" if refresh else "") + "):")
    for entry in report["resources"]:
        live = f"  {entry['live']}" if refresh else ""
        click.echo(f"  {entry['resource']:<50} {'made by azwrap' if entry['created'] else 'yours':<15}{live}")
    for name, value in report["outputs"].items():
        click.echo(f"  {name} = {value}")


def _status_live(report: dict, settings: Settings, recorded: dict, state_path: Path, az_path: str | None) -> None:
    """Each recorded resource probed, read-only, next to what the state says."""
    redact = Redactor()
    try:
        runner = Runner(find_az(az_path), redact, quiet=True, subscription=settings.subscription)
        setup = Setup(settings, runner, state_path)
        setup._state = recorded
        if not setup.signed_in():
            raise Failure("not signed in to Azure (az account show failed): run `azwrap login` first", EXIT_USAGE)
        for entry in report["resources"]:
            entry["live"] = "present" if setup.present(entry["key"]) else "MISSING"
    except AzNotFound as error:
        raise Failure(str(error), EXIT_USAGE) from None
    except AzFailed as error:
        raise Failure(redact(error.message()), EXIT_AZ_FAILED) from None


main.add_command(click.Command(
    "status",
    callback=_status,
    params=[
        text_or_json_option(),
        state_option(),
        click.Option(["--refresh"], is_flag=True,
                     help="Also look, read-only, whether each recorded resource is still there (runs az)."),
        click.Option(["--az", "az_path"], envvar="AZWRAP_AZ", show_envvar=True, metavar="PATH",
                     help="The az executable, with --refresh. [default: az found on PATH]"),
        *(setting_option(name) for name in NAMES),
    ],
    help=_help(
        "Show which steps are done, when, what they recorded, and the setup's settings.",
        "Reads the state file only and never shows the client secret; each setting is shown with where its "
        "value comes from (option, environment, state, default). With --refresh it also probes Azure, "
        "read-only, and shows recorded and live side by side.",
        "azwrap status --format json",
    ),
    short_help="Show which steps are done and what they recorded (never the secret).",
))  # fmt: skip


def _destroy(setup: Setup, yes: bool, what_if: bool) -> None:
    """Delete what azwrap made for this setup: list, confirm, then delete in reverse dependency order."""
    setup.check_subscription()
    plan_ = teardown.plan(setup.state, setup.settings, setup.known().subscription_id)
    for line in teardown.describe(plan_):
        click.echo(line, err=True)
    if what_if or not plan_.deletions:
        return
    if not yes:
        _confirm_destroy(setup.settings.account or "")
    teardown.run(setup, plan_, heartbeat=_heartbeat())
    click.echo("Destroyed: what azwrap made is deleted, and its secret forgotten. `azwrap all` builds the "
               "setup again with the same settings.", err=True)


def _confirm_destroy(account: str) -> None:
    # The PowerShell way: the list first, then a question a reflex cannot answer.
    if not sys.stdin.isatty():
        raise Failure("no terminal to confirm the deletion: run `azwrap destroy --yes`, or look first with "
                      "`azwrap destroy --what-if`. Nothing was deleted.", EXIT_USAGE)
    typed = click.prompt(f"Type the storage account name ({account}) to delete all of the above", default="",
                         show_default=False, err=True)
    if typed.strip() != account:
        raise Failure("not confirmed: nothing was deleted.", EXIT_USAGE)


def _heartbeat() -> float:
    """Seconds between "still deleting" lines: AZWRAP_HEARTBEAT (the tests make it short)."""
    try:
        return max(float(os.environ.get("AZWRAP_HEARTBEAT", teardown.HEARTBEAT_SECONDS)), 0.01)
    except ValueError:
        raise click.UsageError("AZWRAP_HEARTBEAT is not a number of seconds.") from None


main.add_command(click.Command(
    "destroy",
    callback=run_az([], _destroy),
    params=[
        click.Option(["--yes", "-y"], is_flag=True, help="Do not ask for the storage account name to confirm."),
        click.Option(["--what-if"], is_flag=True, help="List what would be deleted and kept; delete nothing."),
        *run_options([]),
    ],
    help=_help(
        "Delete what azwrap created for this setup, and nothing else.",
        "Reads the state: role assignments first, then the datastore and compute (when the workspace stays), the "
        "workspace (purged, so that its name is free again), the resource groups azwrap created (in a group of "
        "yours: the storage account, filesystem or file it created), and the app registration with its secret. "
        "What you made yourself is kept. It lists everything first and asks you to type the storage account "
        "name; --yes skips the question, --what-if only lists. A run that fails or is interrupted is finished "
        "by running destroy again.",
        "azwrap destroy --what-if",
    ),
    short_help="Delete what azwrap created (asks first; --what-if lists only).",
))  # fmt: skip


def _log(output_format: str, state_path: Path) -> None:
    records = calllog.last_run(calllog.log_path(state_path))
    if output_format == "json":
        click.echo(json.dumps(records, indent=2))
        return
    for line in calllog.table(records):
        click.echo(line)


main.add_command(click.Command(
    "log",
    callback=_log,
    params=[text_or_json_option(), state_option()],
    help=_help(
        "Show the az calls of the last run: when, how long, exit code, probe or book, and the command.",
        "Reads log.jsonl beside the state file (0600), where every run records each az call it made, "
        "with the secret masked. Runs no az command.",
        "azwrap log --format json",
    ),
    short_help="Show the az calls of the last run (the secret masked).",
))  # fmt: skip


def _demo(directory: Path | None) -> None:
    from . import demo

    try:
        code = demo.run(directory)
    except demo.DemoError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    if code:
        sys.exit(code)


main.add_command(click.Command(
    "demo",
    callback=_demo,
    params=[click.Option(["--dir", "directory"], type=click.Path(file_okay=False, path_type=Path),
                         help="Where to run it and keep its files. [default: a temporary directory, removed after]")],
    help=_help(
        "Watch the whole setup, then its teardown, offline.",
        "Runs `azwrap all` and then `azwrap destroy --yes` against the az simulator that ships with azwrap "
        "(azwrap-sim), in a fresh directory, showing what the simulated Azure holds after each. Nothing reaches "
        "Azure, and your own AZWRAP_* settings are not used.",
        "azwrap demo",
    ),
    short_help="Watch the setup and its teardown run offline, against a simulator.",
))  # fmt: skip
