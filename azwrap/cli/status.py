"""The state's commands: status, log, env (they read what runs recorded)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..az import calllog
from ..ui import progress
from ..book import quoting, scripts
from ..store import secrets
from ..store import lock as state_lock
from ..store import state as state_file
from ..core import flow, refresh
from ..core.report import add_live, status_report
from ..core.session import Session
from ..book.steps import STEPS
from ..az.redact import Redactor
from ..az.runner import AzFailed, AzNotFound, Runner, find_az
from ..book.settings import NAMES, Settings
from ..store.state import StateError
from . import report as status_text
from .options import EXIT_USAGE, EXIT_AZ_FAILED, Failure, help_text, resolve_settings, setting_option, shell_option, state_option, output_option



def _env(shell: str, state_path: Path) -> None:
    try:
        password = secrets.reveal(state_file.load(state_path))  # the state file, or the OS credential store
    except StateError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    if password is None:
        raise Failure(f"no service principal is recorded in {state_path}: run `azwrap sp` first", EXIT_USAGE)
    click.echo(scripts.env_line(shell, password))


def env_hint(shell: str, state_path: Path) -> str:
    """The line that runs `azwrap env` in shell and sets SP_PASSWORD (with this state file)."""
    command = ["azwrap", "env"]
    if state_path != state_file.DEFAULT_PATH:
        command += ["--state-file", str(state_path)]
    if shell == "powershell":
        return f"Invoke-Expression ({quoting.command_line(shell, command)})"
    return f'eval "$({quoting.command_line(shell, command)})"'


ENV = click.Command(
    "env",
    callback=_env,
    params=[shell_option(scripts.ENV_SHELLS), state_option()],
    help=help_text(
        "Print the line that sets SP_PASSWORD in your shell.",
        "The book's `$env:SP_PASSWORD = $sp.password`, with the secret recorded by `azwrap sp`: for PowerShell "
        "`$env:SP_PASSWORD = '...'`, for bash and zsh `export SP_PASSWORD='...'`, for fish `set -gx SP_PASSWORD "
        "'...'`. This is the only azwrap command that prints the secret, on stdout, for your shell to run.",
        "eval \"$(azwrap env)\"    # PowerShell: Invoke-Expression (azwrap env); fish: azwrap env --shell fish | source",
    ),
    short_help="Print the line that sets SP_PASSWORD (the only output with the secret).",
)  # fmt: skip


def _status(output_format: str, state_path: Path, refresh: bool, az_path: str | None, **options) -> None:
    try:
        recorded = state_file.load(state_path)
    except StateError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    settings, sources = resolve_settings(options, recorded.get("settings", {}))
    report = status_report(recorded, state_path, settings, sources)
    if refresh:
        _status_live(report, settings, recorded, state_path, az_path)
    report["running"] = state_lock.current(state_path)  # another azwrap at work on this state
    if output_format == "json":
        click.echo(json.dumps(report, indent=2))
        return
    for line in status_text.lines(report, state_path, report["running"], refresh):
        click.echo(line)


def _status_live(report: dict, settings: Settings, recorded: dict, state_path: Path, az_path: str | None) -> None:
    """Each recorded resource probed, read-only, next to what the state says."""
    redact = Redactor()
    try:
        # az's messages (warnings) go to stderr, prefixed and once each; the report alone to stdout.
        runner = Runner(find_az(az_path), redact, quiet=True, subscription=settings.subscription,
                        events=progress.Plain(sys.stderr, quiet=True))
        session = Session(settings, runner, state_path)
        session.state = recorded
        if not session.signed_in():
            raise Failure("not signed in to Azure (az account show failed): run `azwrap login` first", EXIT_USAGE)
        inputs = flow.inputs(session, tuple(step.name for step in STEPS), flow.Options())
        add_live(report, inputs, refresh.snapshot(runner, inputs, token=False, wanted=False))
    except AzNotFound as error:
        raise Failure(str(error), EXIT_USAGE) from None
    except AzFailed as error:
        raise Failure(redact(error.message()), EXIT_AZ_FAILED) from None


STATUS = click.Command(
    "status",
    callback=_status,
    params=[
        output_option(),
        state_option(),
        click.Option(["--refresh"], is_flag=True,
                     help="Also look, read-only, whether each recorded resource is still there (runs az)."),
        click.Option(["--az", "az_path"], envvar="AZWRAP_AZ", show_envvar=True, metavar="PATH",
                     help="The az executable, with --refresh. [default: az found on PATH]"),
        *(setting_option(name) for name in NAMES),
    ],
    help=help_text(
        "Show which steps are done, when, what they recorded, and the setup's settings.",
        "Reads the state file only and never shows the client secret; each setting is shown with where its "
        "value comes from (option, environment, state, default). While another azwrap runs on the same state, "
        "it shows that run first (its pid and the steps running). With --refresh it also probes Azure, "
        "read-only, and shows recorded and live side by side.",
        "azwrap status --output json",
    ),
    short_help="Show which steps are done and what they recorded (never the secret).",
)  # fmt: skip


def _log(output_format: str, state_path: Path, listing: bool, wanted: str | None) -> None:
    path = calllog.log_path(state_path)
    all_runs = calllog.runs(path)
    if listing:
        default = calllog.pick(all_runs, None)
        if output_format == "json":
            click.echo(json.dumps([{"run": number, "id": run.id, "command": run.command, "start": run.start,
                                    "calls": len(run.records), "changes": run.changes}
                                   for number, run in enumerate(all_runs, 1)], indent=2))  # fmt: skip
        elif not all_runs:
            click.echo(f"No az call is recorded in {path} yet.")
        else:
            for line in status_text.runs_lines(all_runs, default):
                click.echo(line)
        return
    run = calllog.pick(all_runs, wanted)
    if wanted is not None and run is None:
        raise click.BadParameter(f"no run {wanted} in {path}; `azwrap log --list` lists them", param_hint="'--run'")
    if output_format == "json":
        click.echo(json.dumps(run.records if run else [], indent=2))
    elif run is None:
        click.echo(f"No run that changes anything is recorded in {path} yet"
                   + ("; `azwrap log --list` lists the others." if all_runs else "."))  # fmt: skip
    else:
        for line in status_text.run_lines(run, all_runs.index(run) + 1, len(all_runs)):
            click.echo(line)


LOG = click.Command(
    "log",
    callback=_log,
    params=[
        click.Option(["--list", "listing"], is_flag=True, help="List the recent runs, numbered, oldest first."),
        click.Option(["--run", "wanted"], metavar="N", help="Show run N of --list (or a run id)."),
        output_option(),
        state_option(),
    ],
    help=help_text(
        "Show the az calls of the last run: when, how long, exit code, probe or book, and the command.",
        "By default the last `azwrap all`, step command, `destroy` or `rotate` (what-ifs change nothing and "
        "are passed over); --list lists the recent runs, --run N shows another. Reads log.jsonl beside the "
        "state file (0600), where every run records each az call it made, with the secret masked. Runs no az "
        "command.",
        "azwrap log --list",
    ),
    short_help="Show the az calls of the last run (the secret masked).",
)  # fmt: skip
