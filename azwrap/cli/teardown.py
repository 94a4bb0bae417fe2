"""Teardown and the secret's lifecycle: destroy, rotate."""

from __future__ import annotations

import os
import sys

import click

from ..core import rotate
from ..core import destroy as teardown
from ..core import refresh
from ..core.teardown import with_subscription as pin
from .run import Context
from ..book.steps import BY_NAME
from .options import EXIT_USAGE, Failure, help_text, run_options, setting_option
from .run import run_az



ROTATE_USES = BY_NAME["datastore"]


ROTATE = click.Command(
    "rotate",
    callback=run_az([ROTATE_USES], lambda context: rotate.rotate(context.session)),
    params=[setting_option(name) for name in ROTATE_USES.uses] + run_options([]),
    help=help_text(
        "Give the recorded service principal a new secret, and the datastore with it.",
        "Runs `az ad app credential reset --id APPID`, which replaces the principal's secret (the old one stops "
        "working), records the new one in the state the moment az prints it, then attaches the datastore again "
        "with it (v1: az ml datastore detach, then attach-adls-gen2; v2: az ml datastore create). Interrupted or "
        "failed half way, the next `azwrap rotate` or `azwrap all` finishes it. `azwrap env` prints the new secret.",
        "azwrap rotate --account mydatalake",
    ),
    short_help="Give the service principal a new secret and re-attach the datastore.",
)  # fmt: skip


def _destroy(context: Context, yes: bool, what_if: bool) -> None:
    """Delete what azwrap made for this setup: list, confirm, then delete in reverse dependency order."""
    setup = context.session
    setup.check_subscription()
    setup.doing = "destroy"
    plan_ = checked_teardown(setup)
    for line in teardown.describe(plan_):
        click.echo(line)  # the listing is the command's output: on stdout
    if what_if or not plan_.deletions:
        return
    if not yes:
        _confirm_destroy(setup.settings.account or "")
    teardown.run(setup, plan_, heartbeat=_heartbeat())
    if plan_.left:
        click.echo("Not everything azwrap made could be deleted; see above for each and the command that deletes "
                   "it. Its records are forgotten; the secret too.", err=True)  # fmt: skip
        return
    click.echo("Destroyed: what azwrap made is deleted, and its secret forgotten. `azwrap all` builds the "
               "setup again with the same settings.", err=True)


def checked_teardown(session) -> teardown.Teardown:
    """The teardown, each record held against what is live, every call pinned to the setup's subscription
    (another terminal's `az account set` must not move a delete elsewhere)."""
    subscription_id = session.subscription_id
    session.runner.subscription = subscription_id
    snapshot = refresh.for_teardown(session.runner, session.state, session.settings, subscription_id)
    return pin(teardown.plan(session.state, session.settings, subscription_id, snapshot), subscription_id)


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


DESTROY = click.Command(
    "destroy",
    callback=run_az([], _destroy),
    params=[
        click.Option(["--yes", "-y"], is_flag=True, help="Do not ask for the storage account name to confirm."),
        click.Option(["--what-if"], is_flag=True, help="List what would be deleted and kept; delete nothing."),
        *run_options([]),
    ],
    help=help_text(
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
)  # fmt: skip
