"""The scripts' commands: plan, completion (they print, and run nothing)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import click
from click.core import ParameterSource

from ..az import launch
from ..book import scripts
from ..core import destroy as teardown
from ..core.teardown import with_subscription as pin
from ..store import state as state_file
from ..book.settings import ACCOUNT_PLACEHOLDER, NAMES
from ..book.commands import Invocation, with_subscription
from ..book.ml import V1_RETIRED
from ..book.steps import plan
from .options import EXIT_USAGE, Failure, help_text, output_option, option_name, resolve_settings, setting_option, shell_option, state_option



def _plan(shell: str, output_format: str, state_path: Path, destroy: bool, **options) -> None:
    if output_format == "json" and click.get_current_context().get_parameter_source("shell") != ParameterSource.DEFAULT:
        raise click.UsageError("--shell applies to --output script only: the JSON plan is the same for every shell.")
    recorded = state_file.peek(state_path)  # plan changes nothing, not even the state's modes
    settings, _ = resolve_settings(options, recorded.get("settings", {}))
    if settings.account is None:
        settings = replace(settings, account=ACCOUNT_PLACEHOLDER)
        click.echo(f"azwrap: no --account given; the plan uses the placeholder {ACCOUNT_PLACEHOLDER}", err=True)
    if shell == "powershell" and output_format == "script":
        for name, value in asdict(settings).items():
            if isinstance(value, str) and value != ACCOUNT_PLACEHOLDER:
                try:
                    launch.refuse_in_powershell_script(value, option_name(name))
                except launch.Unsafe as error:
                    raise Failure(str(error), EXIT_USAGE) from None
    if destroy:
        recorded_id = recorded.get("subscription", {}).get("id")
        deletions = teardown.plan(recorded, settings, recorded_id or "<subscription-id>")
        # As `azwrap destroy` runs them: pinned to the setup's subscription, so that a script pasted after an
        # `az account set` elsewhere cannot delete same-named groups there.
        deletions = (pin(deletions, recorded_id) if recorded_id else deletions).deletions
        invocations = [Invocation("destroy", deletion.args) for deletion in deletions]
    else:
        invocations = plan(settings)
    invocations = [replace(inv, args=with_subscription(inv.args, settings.subscription)) for inv in invocations]
    warnings = (V1_RETIRED,) if settings.ml_cli == "v1" and not destroy else ()
    if output_format == "json":
        for warning in warnings:
            click.echo(f"azwrap: WARNING: {warning}", err=True)  # JSON has no place for it
        click.echo(scripts.render_json(invocations))
    elif destroy:
        click.echo(scripts.render_teardown(shell, invocations, [deletion.label + (" (and everything in it)" if deletion.slow else "") for deletion in deletions]), nl=False)
    else:
        placeholder = ACCOUNT_PLACEHOLDER if settings.account == ACCOUNT_PLACEHOLDER else None
        click.echo(scripts.render(shell, invocations, placeholder, warnings), nl=False)


PLAN = click.Command(
    "plan",
    callback=_plan,
    params=[
        shell_option(),
        output_option(("script", "json"), help="A script to copy and paste, or the commands as JSON."),
        *(setting_option(name) for name in NAMES),
        state_option(),
        click.Option(["--destroy"], is_flag=True, help="The teardown of the recorded setup (what `azwrap destroy` runs)."),
    ],
    help=help_text(
        "Print the az commands as a script; run nothing.",
        "The book's sequence with your settings, without the book's line-continuation errata. "
        "Values that exist only at run time appear as $sp.appId, $sp.password, $sp.tenant, $acc.id and $aml.id.",
        "azwrap plan --account mydatalake > setup.ps1",
    ),
    short_help="Print the az commands as a PowerShell or bash script.",
)  # fmt: skip


def _completion(shell: str | None, shell_option: str | None) -> None:
    from ..ui import completion

    if shell and shell_option and shell != shell_option:
        raise click.UsageError(f"two shells named ({shell}, --shell {shell_option}): name one.")
    shell = shell or shell_option
    if shell is None:
        raise click.UsageError(f"name the shell: azwrap completion --shell SHELL ({', '.join(COMPLETION_SHELLS)}).")
    click.echo(completion.script(click.get_current_context().find_root().command, shell), nl=False)


COMPLETION_SHELLS = ("powershell", "bash", "zsh", "fish")

COMPLETION = click.Command(
    "completion",
    callback=_completion,
    params=[click.Option(["--shell", "shell_option"], type=click.Choice(COMPLETION_SHELLS), help="The shell to complete in."),
            click.Argument(["shell"], type=click.Choice(COMPLETION_SHELLS), required=False)],
    help=help_text(
        "Print the tab-completion script for your shell.",
        "Completes commands, options and their choices (--ml-cli, --force STEP, --shell) and file names for "
        "--source. Install it once: PowerShell: add `azwrap completion --shell powershell | Out-String | "
        "Invoke-Expression` to $PROFILE; bash (4.4+): add `eval \"$(azwrap completion --shell bash)\"` to "
        "~/.bashrc; zsh: add `eval \"$(azwrap completion --shell zsh)\"` to ~/.zshrc; fish: `azwrap completion "
        "--shell fish > ~/.config/fish/completions/azwrap.fish`. The shell may also be named without --shell.",
        "azwrap completion --shell powershell | Out-String | Invoke-Expression",
    ),
    short_help="Print the tab-completion script for PowerShell, bash, zsh or fish.",
)  # fmt: skip
