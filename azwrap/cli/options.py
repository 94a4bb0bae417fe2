"""The options shared by azwrap's commands, how settings are resolved, and how failures are shown."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click
from click.core import ParameterSource

from ..store import secrets
from ..store import state as state_file
from ..core.apply import FIRST_RETRY_DELAY
from ..book import quoting
from ..book.quoting import echo_shell, shown
from ..book.settings import ACCOUNT_PLACEHOLDER, DEFAULTS, HELP, NAMES, Settings, check
from ..store.state import StateError



EXIT_AZ_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXAMPLE = Settings(account=ACCOUNT_PLACEHOLDER)  # for the az commands shown in --help


def option_name(setting: str) -> str:
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
            raise click.BadParameter(f"{shown(value)} is not valid: must be {broken}.")
    return value


def setting_option(setting: str) -> click.Option:
    # No click default: a value not given comes from the state, then from the book (resolve_settings).
    default = getattr(DEFAULTS, setting)
    if isinstance(default, bool):
        return SourcedOption([option_name(setting), setting], is_flag=True, envvar=f"AZWRAP_{setting.upper()}",
                            show_envvar=True, help=HELP[setting])  # fmt: skip
    return SourcedOption(
        [option_name(setting), setting],
        default=None,
        # --source is a local file: a Path, so that tab completion offers file names (no check here).
        type={"max_nodes": int, "ml_cli": click.Choice(["v1", "v2"]), "source": click.Path()}.get(setting, str),
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
                raise Failure(f"the state records {option_name(name)} {shown(recorded[name])}, which is not valid "
                              f"(must be {broken}); give {option_name(name)} to replace it", EXIT_USAGE)
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
                 "with its role assignments, once the new one is recorded and assigned); it stays recorded, and "
                 "`azwrap destroy` deletes it.",
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


# az's own name for it (--output/-o); --format, the name azwrap first used, still works.
OUTPUT_NAMES = ["--output", "-o", "--format"]


def output_option(choices=("text", "json"), help="Text for people, JSON for scripts.") -> click.Option:
    return click.Option([*OUTPUT_NAMES, "output_format"], type=click.Choice(choices), default=choices[0],
                        show_default=True, help=help)  # fmt: skip


def shell_option(shells=("powershell", "bash")) -> click.Option:
    # Looked up when the command runs (tests patch the platform).
    return click.Option(["--shell"], type=click.Choice(shells), default=lambda: quoting.platform_shell(),
                        show_default="powershell on Windows, bash elsewhere", help="Shell to write for.")  # fmt: skip


class Failure(click.ClickException):
    """An error printed as one `Error: ...` message with its own exit code, never a traceback."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def settings_for(options: dict, uses, state_path: Path) -> Settings:
    settings, _ = resolve_settings(options, _recorded_settings(state_path))
    if "account" in uses and settings.account is None:
        raise click.UsageError(
            "Missing option '--account' (or AZWRAP_ACCOUNT): the ADLS Gen2 storage account name. "
            "It is globally unique, so azwrap has no default for it."
        )
    return settings


def check_source(settings: Settings, uses) -> None:
    if "source" in uses:
        source = Path(settings.source)
        if not source.is_file() or not os.access(source, os.R_OK):
            what = "is a directory" if source.is_dir() else "is not readable" if source.exists() else "does not exist"
            raise click.BadParameter(f"{settings.source} {what}; the file to upload must exist before anything runs.",
                                     param_hint="'--source'")  # fmt: skip


def retry_delay() -> float:
    """The first delay between replication retries: AZWRAP_RETRY_DELAY seconds (tests make it short)."""
    value = os.environ.get("AZWRAP_RETRY_DELAY", str(FIRST_RETRY_DELAY))
    try:
        delay = float(value)
    except ValueError:
        delay = -1.0
    if not (delay > 0 and math.isfinite(delay)):
        raise click.UsageError(f"AZWRAP_RETRY_DELAY={shown(value)} is not a positive number of seconds.")
    return delay


def echo_quoting() -> str:
    """How echoed `$ az ...` lines are quoted (AZWRAP_ECHO_SHELL, else by platform)."""
    try:
        return echo_shell()
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def help_text(summary: str, body: str, example: str) -> str:
    return f"{summary}\n\n{body}\n\nExample:\n\n\b\n  {example}"
