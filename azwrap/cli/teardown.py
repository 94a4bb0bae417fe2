"""Teardown and the secret's lifecycle: destroy, rotate."""

from __future__ import annotations

import os
import sys

import click

from ..core import lifecycle, rotate
from ..core import destroy as teardown
from ..core import refresh
from ..core.teardown import with_subscription as pin
from .run import Context
from ..book.steps import BY_NAME
from ..ui import progress, question
from .options import EXIT_INTERRUPTED, EXIT_USAGE, Failure, echo_quoting, help_text, run_options, setting_option
from .status import env_hint
from .rows import VIEW
from . import whatif
from .run import run_az



ROTATE_USES = BY_NAME["datastore"]


def _rotate(context: Context) -> None:
    setup = context.session
    rotate.rotate(setup)
    # The old secret stopped working the moment az reset it: a copy in the user's shell is now stale.
    progress.say("The principal has a new secret; the old one no longer works. An SP_PASSWORD you set earlier "
                 f"is stale: set it again with {env_hint(echo_quoting(), setup.state_path)}")


ROTATE = click.Command(
    "rotate",
    callback=run_az([ROTATE_USES], _rotate),
    params=[setting_option(name) for name in ROTATE_USES.uses] + run_options([]),
    help=help_text(
        "Give the recorded service principal a new secret, and the datastore with it.",
        "Checks that the datastore is still the one azwrap attached, then adds a new password to the app "
        "(`az ad app credential reset --id APPID --append --display-name azwrap-...`), records it the moment az "
        "prints it, attaches the datastore again with it (v1: detach, then attach-adls-gen2; v2: az ml datastore "
        "create), and only then deletes azwrap's earlier secret by its key id (`az ad app credential delete`): "
        "the app's other passwords are untouched; an earlier secret already gone is not deleted again. The datastore "
        "calls name the setup's subscription; the `az ad` calls (Microsoft Graph) cannot take --subscription and "
        "act in the signed-in tenant. Interrupted or "
        "failed half way, the next `azwrap rotate` or `azwrap all` finishes it. An SP_PASSWORD set earlier is "
        "stale then: `azwrap env` prints the new secret.",
        "azwrap rotate --account mydatalake",
    ),
    short_help="Give the service principal a new secret and re-attach the datastore.",
)  # fmt: skip


def _destroy(context: Context, yes: bool, what_if: bool, with_data: bool = False) -> None:
    """Delete what azwrap made for this setup: list, confirm, then delete in reverse dependency order."""
    setup = context.session
    if what_if:
        whatif.refuse_unless_signed_in(setup)  # the same refusal as `all --what-if`'s
    setup.check_subscription()
    setup.doing = "destroy"
    plan_ = checked_teardown(setup)
    if not what_if and plan_.deletions and not yes:
        _pause_view()  # the list and the question stand on their own, not under a live view
    for line in teardown.describe(plan_):
        click.echo(line)  # the listing is the command's output: on stdout
    if what_if or not plan_.deletions:
        return
    principals = [d.app_id for d in plan_.deletions if d.app_id]
    if principals:  # Graph (az ad) takes no --subscription: it must look in the setup's tenant
        lifecycle.check_tenant(setup.runner, "destroy", lifecycle.recorded_tenant(setup.state), principals[0],
                               account=setup.account if isinstance(setup.account, dict) else None)  # fmt: skip
    if plan_.data and yes and not with_data:
        raise Failure("; ".join(plan_.data) + ". --yes alone does not delete data azwrap did not put there: run "
                      "`azwrap destroy` on a terminal and confirm, add --with-data, or move that data first. Nothing "
                      "was deleted.", EXIT_USAGE)  # fmt: skip
    if not yes:
        _confirm_destroy(setup.state, plan_.data)
    teardown.run(setup, plan_, heartbeat=_heartbeat())
    _say_how_it_ended(plan_)


def _say_how_it_ended(plan_: teardown.Teardown) -> None:
    if plan_.doubtful:
        doubted = [what for what, why in plan_.kept if "still recorded" in why]
        click.echo("Not everything azwrap recorded was deleted: kept, and still recorded (see above for why): "
                   + "; ".join(doubted) + ". Check them, then delete them yourself or run `azwrap destroy` again.",
                   err=True)  # fmt: skip
    if plan_.left:
        click.echo("Not everything azwrap made could be deleted; see above for each and the command that deletes "
                   "it. Its records are forgotten; the secret too.", err=True)  # fmt: skip
    if plan_.doubtful or plan_.left:
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


def confirmation_name(state: dict) -> tuple[str, str] | None:
    """What the user types to confirm: the recorded storage account's name, else the workspace's."""
    for key, what in (("account", "storage account"), ("workspace", "workspace")):
        name = state["resources"].get(key, {}).get("settings", {}).get(key)
        if isinstance(name, str) and name:
            return what, name
    return None


def _pause_view() -> None:
    view = click.get_current_context().meta.get(VIEW)
    if view is not None:
        view.close()


def _confirm_destroy(state: dict, data: list[str] | None = None) -> None:
    # The PowerShell way: the list first, then a question a reflex cannot answer.
    asked = confirmation_name(state)
    if asked is None:
        raise Failure("the state records no storage account or workspace name to confirm the deletion with: run "
                      "`azwrap destroy --yes` to delete the above, or look first with `azwrap destroy --what-if`. "
                      "Nothing was deleted.", EXIT_USAGE)  # fmt: skip
    if not sys.stdin.isatty():
        raise Failure("no terminal to confirm the deletion: run `azwrap destroy --yes`, or look first with "
                      "`azwrap destroy --what-if`. Nothing was deleted.", EXIT_USAGE)
    what, name = asked
    also = ", the data azwrap did not put there included (" + "; ".join(data) + ")" if data else ""
    try:
        typed = question.ask(f"Type the {what} name ({name}) to delete all of the above{also}: ")
    except KeyboardInterrupt:
        click.echo(err=True)  # the question's line ends
        raise Failure("Interrupted at the question: nothing was deleted.", EXIT_INTERRUPTED) from None
    except EOFError:
        click.echo(err=True)
        typed = ""  # end of input: no answer
    if typed.strip() != name:
        raise Failure(f"not confirmed ({'no answer' if not typed.strip() else 'another name'}): nothing was deleted.",
                      EXIT_USAGE)  # fmt: skip


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
        click.Option(["--yes", "-y"], is_flag=True, help="Do not ask for a name to confirm (needed without a terminal)."),
        click.Option(["--what-if"], is_flag=True, help="List what would be deleted and kept; delete nothing (never runs az login: signed out, exits 2)."),
        click.Option(["--with-data"], is_flag=True, help="With --yes: delete azwrap's storage account also when it "
                     "holds files or filesystems azwrap did not put there (listed first); without it, --yes refuses then."),
        *run_options([]),
    ],
    help=help_text(
        "Delete what azwrap created for this setup, and nothing else.",
        "Looks first, read-only, at what the state records (the groups and their contents, the workspace, "
        "compute, datastore and storage account) and deletes only what is still the thing azwrap made: each "
        "one's identity (a group's azwrap-id tag, a workspace's workspaceId, an account's creationTime...) must "
        "match what azwrap recorded; one made again under the same name by someone is kept, and so is a group "
        "that holds anything azwrap did not make (then azwrap's own resources in it are deleted one by one). "
        "A group whose tag is gone is azwrap's when what azwrap made in it still matches, else kept and still "
        "recorded. What the workspace links to that azwrap did not make (your registry, a shared log analytics "
        "workspace) is kept. "
        "Order: role assignments, the datastore and compute when the workspace stays, the workspace (purged: "
        "its name is free again; with what it made), the resource groups azwrap created (in a group of yours: "
        "the storage account, filesystem or file it created), the app registration with its secret; earlier "
        "generations too. Every ARM call names the setup's subscription (az ad calls cannot take one: they must find the setup's tenant signed in). It lists what it deletes and keeps (on "
        "stdout), with the files and filesystems in azwrap's storage account that azwrap did not put there, "
        "then asks you to type the recorded storage account's name (or the workspace's); --yes skips the "
        "question (and refuses when that account holds such data, unless --with-data), --what-if only lists. A run that fails or is interrupted is finished by running destroy "
        "again.",
        "azwrap destroy --what-if",
    ),
    short_help="Delete what azwrap created (asks first; --what-if lists only).",
)  # fmt: skip
