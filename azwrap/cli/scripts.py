"""The scripts' commands: plan, completion (they print, and run nothing)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import click
from click.core import ParameterSource

from ..az import launch
from ..book import scripts
from ..core import destroy as teardown
from ..store import state as state_file
from ..book.settings import ACCOUNT_PLACEHOLDER, NAMES
from ..book.commands import Invocation, with_subscription
from ..book.steps import plan
from .options import EXIT_USAGE, Failure, help_text, option_name, resolve_settings, setting_option, shell_option, state_option



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
                    launch.refuse_in_powershell_script(value, option_name(name))
                except launch.Unsafe as error:
                    raise Failure(str(error), EXIT_USAGE) from None
    if destroy:
        subscription_id = recorded.get("subscription", {}).get("id", "<subscription-id>")
        deletions = teardown.plan(recorded, settings, subscription_id).deletions
        invocations = [Invocation("destroy", deletion.args) for deletion in deletions]
    else:
        invocations = plan(settings)
    invocations = [replace(inv, args=with_subscription(inv.args, settings.subscription)) for inv in invocations]
    if output_format == "json":
        click.echo(scripts.render_json(invocations))
    elif destroy:
        click.echo(scripts.render_teardown(shell, invocations, [deletion.label + (" (and everything in it)" if deletion.slow else "") for deletion in deletions]), nl=False)
    else:
        placeholder = ACCOUNT_PLACEHOLDER if settings.account == ACCOUNT_PLACEHOLDER else None
        click.echo(scripts.render(shell, invocations, placeholder), nl=False)


PLAN = click.Command(
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
    help=help_text(
        "Print the az commands as a script; run nothing.",
        "The book's sequence with your settings, without the book's line-continuation errata. "
        "Values that exist only at run time appear as $sp.appId, $sp.password, $sp.tenant, $acc.id and $aml.id.",
        "azwrap plan --account mydatalake > setup.ps1",
    ),
    short_help="Print the az commands as a PowerShell or bash script.",
)  # fmt: skip


def _completion(shell: str) -> None:
    from ..ui import completion

    click.echo(completion.script(click.get_current_context().find_root().command, shell), nl=False)


COMPLETION = click.Command(
    "completion",
    callback=_completion,
    params=[click.Argument(["shell"], type=click.Choice(["powershell", "bash", "zsh", "fish"]))],
    help=help_text(
        "Print the tab-completion script for your shell.",
        "Completes commands, options and their choices (--ml-cli, --force STEP, --shell). Install it once: "
        "PowerShell: add `azwrap completion powershell | Out-String | Invoke-Expression` to $PROFILE; bash "
        "(4.4+): add `eval \"$(azwrap completion bash)\"` to ~/.bashrc; zsh: add `eval \"$(azwrap completion "
        "zsh)\"` to ~/.zshrc; fish: `azwrap completion fish > ~/.config/fish/completions/azwrap.fish`.",
        "azwrap completion powershell | Out-String | Invoke-Expression",
    ),
    short_help="Print the tab-completion script for PowerShell, bash, zsh or fish.",
)  # fmt: skip
