"""The setup's commands: all, one command per step, doctor, demo."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import click

from ..core import doctor
from ..book import scripts
from ..store import secrets
from ..store import state as state_file
from ..core.session import Session
from ..az.redact import Redactor
from ..az.runner import Runner
from ..book.settings import NAMES
from ..book.steps import STEPS
from .options import EXIT_USAGE, EXAMPLE, EXIT_AZ_FAILED, Failure, echo_quoting, help_text, resolve_settings, run_options, setting_option, output_option
from . import verify
from .run import DEFAULT_JOBS, run_az, run_steps



def _lines(invocations) -> str:
    return "\n".join(f"  {scripts.powershell_line(inv)}" for inv in invocations)


def step_command(step) -> click.Command:
    # azwrap's own calls after a creation (a group's tag, an identity's read) are not the book's either.
    book_invocations = [inv for inv in step.invocations(EXAMPLE) if not inv.own]
    current_invocations = [inv for inv in step.invocations(replace(EXAMPLE, ml_cli="v2")) if not inv.own]
    # Invocations that only make way for the next (a datastore attached for an earlier principal) are
    # azwrap's, not the book's.
    book = [inv for inv in book_invocations if not inv.before]
    own = [inv for inv in book_invocations if inv.before]
    current = [inv for inv in current_invocations if not inv.before]
    body = "Runs, as in the book:\n\n\b\n" + _lines(book)
    if own:
        body += ("\n\nNot in the book: when the datastore azwrap attached earlier used an older principal, azwrap "
                 "first removes it (v1 cannot attach over it):\n\n\b\n" + _lines(own))
    if list(map(scripts.powershell_line, current)) != list(map(scripts.powershell_line, book)):
        body += "\n\nWith --ml-cli v2 (the current ml extension):\n\n\b\n" + _lines(current)
    params = [setting_option(name) for name in step.uses] + run_options([step])
    if step.name == "login":
        # az login records nothing: where the state and the secret live does not concern it (they still
        # work, for the lock and the call log, but --help does not offer them).
        for param in params:
            if param.name in ("state_path", "secret_store"):
                param.hidden = True
    return click.Command(
        step.name,
        callback=run_az([step], run_steps),
        params=params,
        help=help_text(step.summary, body, step.example),
        short_help=step.summary,
    )


# The options people set, first in `azwrap all --help`; the rest follow in the book's order.
FIRST = ("account", "source", "ml_cli", "location", "subscription")


ALL = click.Command(
    "all",
    callback=run_az(STEPS, run_steps, after=verify.after_all),
    params=[setting_option(name) for name in FIRST if name != "subscription"]
    + [option for option in run_options(STEPS) if option.name == "subscription"]
    + [setting_option(name) for name in NAMES if name not in FIRST]
    + [option for option in run_options(STEPS) if option.name != "subscription"] + [
        click.Option(["--skip-doctor"], is_flag=True, help="Do not run `azwrap doctor`'s checks first."),
        click.Option(["--jobs", "-j"], type=click.IntRange(min=1), default=DEFAULT_JOBS, show_default=True,
                     envvar="AZWRAP_JOBS", show_envvar=True, metavar="N",
                     help="Run at most N steps, so at most N az calls, at a time. 1: the book's order."),
        click.Option(["--what-if", "dry_run"], is_flag=True,
                     help="Sign-in check and the refresh probes, then print the plan: the az calls that would run "
                          "and why, and what is skipped and why; make no change (not even to the state). It never "
                          "runs az login: signed out, it exits 2."),
        click.Option(["--output", "-o", "--format", "output_format"], type=click.Choice(["text", "json"]),
                     default="text", show_default=True,
                     help="With --what-if: the plan as text, or as JSON (step, argv, changes, reason)."),
        click.Option(["--verify"], is_flag=True, help="At the end, run `azwrap verify`: the setup, checked as its principal."),
        verify.timeout_option(["--verify-timeout"], "With --verify: how long to wait for the new roles to apply."),
    ],
    help=help_text(
        "Run every step: sign-in, a look at what is there, the plan, then the steps, at once as far as they can.",
        "Skips `az login` when `az account show` succeeds. Then it looks, read-only, at what the state records "
        "and what the steps would make (refresh), decides every az call and why (the plan: --what-if prints it, "
        "-o json for scripts), runs doctor's checks of what the plan creates, and applies it: `extension` alone, "
        "then every other step as soon as the steps it needs are done (workspace before compute; storage before "
        "upload and sp; workspace and sp before datastore and grant), at most --jobs at a time; within a step "
        "the book's order holds. A done step whose resources are there is skipped; a recorded principal is "
        "reused. After a failure no new step starts; the running ones finish. The client secret is never "
        "printed: run `azwrap env` afterwards. At the end it writes .azureml/config.json (`azwrap sdk-config`) "
        "when there is none; --verify then checks the setup as its principal.",
        "azwrap all --account mydatalake --source input.csv --jobs 4",
    ),
    short_help="Run every step, in parallel where the steps allow.",
)  # fmt: skip


STEP_COMMANDS = [step_command(step) for step in STEPS]


def _doctor(output_format: str, az_path: str | None, quiet: bool, state_path: Path, secret_store: str, **options) -> None:
    settings, _ = resolve_settings(options, state_file.peek(state_path).get("settings", {}))
    az_check = doctor.az_program(az_path)
    redact = Redactor()
    runner = Runner(az_check.detail, redact, quiet=quiet or output_format == "json", shell=echo_quoting(),
                    subscription=settings.subscription)
    session = Session(settings, runner, state_path, secret_store=secrets.resolve(secret_store))
    checks = doctor.run(session, az_check)
    if output_format == "json":
        click.echo(json.dumps(doctor.as_dicts(checks), indent=2))
    else:
        for line in doctor.lines(checks):
            click.echo(redact(line))
    if doctor.failed(checks):
        sys.exit(EXIT_AZ_FAILED)




DOCTOR_SETTINGS = ("ml_cli", "location", "account", "aml_group", "adls_group", "filesystem", "upload_path", "source")


DOCTOR = click.Command(
    "doctor",
    callback=_doctor,
    params=[
        output_option(),
        *(setting_option(name) for name in DOCTOR_SETTINGS),
        *run_options([]),
    ],
    help=help_text(
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
)  # fmt: skip


def _demo(directory: Path | None) -> None:
    from . import demo

    try:
        code = demo.run(directory)
    except demo.DemoError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    if code:
        sys.exit(code)


DEMO = click.Command(
    "demo",
    callback=_demo,
    params=[click.Option(["--dir", "directory"], type=click.Path(file_okay=False, path_type=Path),
                         help="Where to run it and keep its files. [default: a temporary directory, removed after]")],
    help=help_text(
        "Watch the whole setup, then its teardown, offline.",
        "Runs `azwrap all` and then `azwrap destroy --yes` against the az simulator that ships with azwrap "
        "(azwrap-sim), in a fresh directory, showing what the simulated Azure holds after each. Nothing reaches "
        "Azure, and your own AZWRAP_* settings are not used.",
        "azwrap demo",
    ),
    short_help="Watch the setup and its teardown run offline, against a simulator.",
)  # fmt: skip
