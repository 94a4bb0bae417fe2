"""`azwrap verify` (the setup checked as its principal) and `azwrap sdk-config` (the SDK's workspace file);
`azwrap all --verify` and the file's writing at the end of `all` come through after_all()."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from ..az import calllog, launch
from ..az.handover import remove_stale_private_dirs
from ..az.redact import Redactor
from ..az.runner import AzNotFound, Interrupted, Runner, find_az
from ..core import checklist, handoff, verify
from ..core.as_principal import DEFAULT_TIMEOUT, FIRST_DELAY, STEP, Pace
from ..errors import MissingInput, Refused
from ..store import state as state_file
from ..store.state import StateError
from ..ui import progress
from ..ui.events import DONE, FAILED, RUNNING, StepChanged
from .options import (EXIT_AZ_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Failure, echo_quoting, help_text, resolve_settings,
                      retry_delay, state_option)  # fmt: skip

TIMEOUT_ENV = "AZWRAP_VERIFY_TIMEOUT"


def output_option() -> click.Option:
    # --format is the older spelling, kept as an alias.
    return click.Option(["--output", "-o", "--format", "output_format"], type=click.Choice(["text", "json"]),
                        default="text", show_default=True, help="Text for people, JSON for scripts.")  # fmt: skip


def _positive_seconds(ctx, param, value: float) -> float:
    if not (value >= 0 and value != float("inf")):
        raise click.BadParameter(f"{value} is not a number of seconds.")
    return value


def timeout_option(names: list[str], help: str) -> click.Option:
    return click.Option(names, type=float, default=DEFAULT_TIMEOUT, show_default=True, metavar="SECONDS",
                        envvar=TIMEOUT_ENV, show_envvar=True, callback=_positive_seconds, help=help)  # fmt: skip


def first_delay() -> float:
    """The first pause between tries: AZWRAP_RETRY_DELAY when set (tests make it short), else FIRST_DELAY."""
    return retry_delay() if os.environ.get("AZWRAP_RETRY_DELAY") else FIRST_DELAY


def verify_and_report(state: dict, state_path: Path, user: Runner, *, timeout: float, output_format: str = "text",
                      say=click.echo) -> bool:  # fmt: skip
    """Run verify's checks with the user's runner; print them; whether all hold. Failure (exit 2) when there
    is no complete setup to verify, (exit 130) when interrupted."""
    settings, _ = resolve_settings({}, state.get("settings", {}))
    try:
        target = verify.target(state, settings, state_path)
    except (verify.MissingSetup, StateError) as error:
        raise Failure(str(error), EXIT_USAGE) from None
    user.events(StepChanged(STEP, RUNNING))
    started = time.monotonic()
    try:
        checks = verify.run(target, user, Pace(timeout=timeout, first_delay=first_delay()))
    except (Interrupted, KeyboardInterrupt):
        raise Failure("Interrupted during verify; nothing was changed (its private az configuration directory is "
                      "removed).", EXIT_INTERRUPTED) from None  # fmt: skip
    except (AzNotFound, launch.Unsafe) as error:
        raise Failure(user.redact(str(error)), EXIT_USAGE) from None
    except OSError as error:  # the private directory could not be made or removed
        raise Failure(user.redact(f"verify: {error.strerror or error}"), EXIT_AZ_FAILED) from None
    held = not checklist.failed(checks)
    user.events(StepChanged(STEP, DONE if held else FAILED, time.monotonic() - started))
    if output_format == "json":
        say(user.redact(json.dumps(checklist.as_dicts(checks), indent=2)))
    else:
        for line in checklist.lines(checks):
            say(user.redact(line))
    return held


def _verify(output_format: str, timeout: float, az_path: str | None, quiet: bool, state_path: Path) -> None:
    try:
        state = state_file.load(state_path)
    except StateError as error:
        raise Failure(str(error), EXIT_USAGE) from None
    remove_stale_private_dirs()  # left by an azwrap killed mid-call (they may hold a secret)
    view = progress.Plain(sys.stderr, quiet=quiet)
    log = calllog.CallLog(calllog.log_path(state_path), calllog.new_run_id())
    try:
        user = Runner(find_az(az_path), Redactor(), quiet=quiet, shell=echo_quoting(), echo=view.message,
                      subscription=(state.get("subscription") or {}).get("id"),
                      events=lambda event: (view(event), log(event)))  # fmt: skip
    except AzNotFound as error:
        raise Failure(str(error), EXIT_USAGE) from None
    if not verify_and_report(state, state_path, user, timeout=timeout, output_format=output_format):
        sys.exit(EXIT_AZ_FAILED)


VERIFY = click.Command(
    "verify",
    callback=_verify,
    params=[
        output_option(),
        timeout_option(["--timeout"], "How long to wait for new role assignments to apply (Azure: up to 10 minutes)."),
        click.Option(["--az", "az_path"], envvar="AZWRAP_AZ", show_envvar=True, metavar="PATH",
                     help="The az executable. [default: az found on PATH]"),
        click.Option(["--quiet", "-q"], is_flag=True, help="Do not echo each az command before running it."),
        state_option(),
    ],
    help=help_text(
        "Prove the setup works for the identity that will use it.",
        "Signs in as the service principal the setup made, in a private, temporary az configuration directory "
        "(removed afterwards; your own sign-in is untouched; the secret goes to az through a pipe, never its "
        "command line), and, as it: reads the uploaded file back through the storage data plane (--auth-mode "
        "login: its Storage Blob Data Contributor role works), lists the filesystem, reads the workspace (its "
        "Contributor role works). As you: the datastore names the recorded account, filesystem and principal; "
        "the compute exists and has not failed. New role assignments take minutes to apply: a 403 is waited out "
        "with backoff up to --timeout, saying what it waits for; past it, the likely causes, most likely first, "
        "with the command that shows each. Exit 0 when every check holds, 1 when one failed, 2 when no complete "
        "setup is recorded.",
        "azwrap verify --timeout 900",
    ),
    short_help="Prove the setup works, signed in as its service principal.",
)  # fmt: skip


def _sdk_config(force: bool, state_path: Path) -> None:
    try:
        wanted = handoff.workspace_config(state_file.load(state_path), state_path)
        result = handoff.write(handoff.CONFIG_PATH, wanted, force=force)
    except (StateError, MissingInput, Refused) as error:
        raise Failure(str(error), EXIT_USAGE) from None
    except OSError as error:
        raise Failure(f"cannot write {handoff.CONFIG_PATH}: {error.strerror}", EXIT_USAGE) from None
    click.echo(_handoff_message(result, wanted), err=True)


def _handoff_message(result: str, wanted: dict) -> str:
    what = f"workspace {wanted['workspace_name']} in {wanted['resource_group']}"
    if result == handoff.SAME:
        return f"{handoff.CONFIG_PATH} names {what} already."
    verb = "Wrote" if result == handoff.WRITTEN else "Replaced"
    return (f"{verb} {handoff.CONFIG_PATH} ({what}) for the Azure ML SDK: MLClient.from_config(credential) "
            "(azure-ai-ml) or Workspace.from_config() (azureml-core) finds it from this directory down.")


SDK_CONFIG = click.Command(
    "sdk-config",
    callback=_sdk_config,
    params=[
        click.Option(["--force"], is_flag=True, help="Replace a config.json that names another workspace."),
        state_option(),
    ],
    help=help_text(
        "Write .azureml/config.json, which the Azure ML SDKs load the workspace from.",
        "The file names the recorded workspace (subscription_id, resource_group, workspace_name; no secret), as "
        "v1's `az ml folder attach` wrote it. In Python, from this directory or one below it: "
        "`MLClient.from_config(DefaultAzureCredential())` (azure-ai-ml) or `Workspace.from_config()` "
        "(azureml-core). A file naming another workspace is left as it is unless --force. `azwrap all` writes it "
        "when there is none.",
        "azwrap sdk-config",
    ),
    short_help="Write .azureml/config.json for MLClient.from_config() / Workspace.from_config().",
)  # fmt: skip


def after_all(setup, **options) -> None:
    """At the end of `azwrap all`: the SDK's workspace file when there is none, then verify if asked."""
    if setup.what_if:
        return
    try:
        wanted = handoff.workspace_config(setup.state, setup.state_path)
        result = handoff.write(handoff.CONFIG_PATH, wanted)
        if result != handoff.SAME:
            setup.runner.echo(_handoff_message(result, wanted))
    except (MissingInput, Refused) as error:
        setup.runner.echo(f"note: {error}")
    except OSError as error:
        setup.runner.echo(f"note: cannot write {handoff.CONFIG_PATH}: {error.strerror}")
    if options.get("verify") and not verify_and_report(setup.state, setup.state_path, setup.runner,
                                                       timeout=options["verify_timeout"], say=setup.runner.echo):
        raise Failure("verify: the setup does not work as its principal yet (see the checks above)", EXIT_AZ_FAILED)
