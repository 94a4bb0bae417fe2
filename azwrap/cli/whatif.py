"""A plan shown, not run (`--what-if`): each az call as it would be made, secrets masked, and why it runs.

A value known only once an earlier call of this run has printed it stands as the book writes it
($sp.appId); one the state already holds, and that this run does not make anew, is shown as it is.
"""

from __future__ import annotations

from ..book.commands import Concat, FileArg, NewId, Ref, with_subscription
from ..book.quoting import command_line
from ..core.plan import Plan
from ..errors import Refused

MASK = "***"
NOT_SIGNED_IN = "not signed in: run `azwrap login` (or az login) first"


def refuse_unless_signed_in(session) -> None:
    """A what-if never signs in (`az login` changes az's own state): signed out, or to another tenant than
    --tenant, it refuses (exit 2) where a real run would run `az login`."""
    if session.signed_in():
        return
    tenant = session.settings.tenant
    if session.account and tenant:
        raise Refused(f"signed in to tenant {session.account.get('tenantId')}, not {tenant}: run `azwrap login "
                      f"--tenant {tenant}` (or az login --tenant {tenant}) first; --what-if signs in to nothing")
    subscription = session.settings.subscription
    # `az account show --subscription S` fails alike when signed out and when S is not one az knows.
    unknown = f", or give a --subscription that az knows (`az account show --subscription {subscription}` failed)"
    raise Refused(f"{NOT_SIGNED_IN}{unknown if subscription else ''}; --what-if signs in to nothing")


def rows(the_plan: Plan, outputs: dict, subscription: str | None, shell: str) -> list[dict]:
    """The plan's actions as data: step, argv (starting with az), the command line, whether it changes
    Azure, why it runs, and what it makes. `subscription`: on every ARM call, as apply runs it (the one the
    run checked, core/flow.py)."""
    captured: set[str] = set()
    out = []
    for action in the_plan.actions:
        invocation = action.invocation
        args = with_subscription(tuple(invocation.args), subscription)
        argv = ["az", *(_shown(arg, outputs, captured) for arg in args)]
        out.append({"step": action.step, "argv": argv, "command": command_line(shell, argv),
                    "changes": action.changes, "reason": action.reason, "creates": invocation.makes})  # fmt: skip
        if invocation.capture:
            captured.add(invocation.capture)
    return out


def _shown(arg, outputs: dict, captured: set[str]) -> str:
    if isinstance(arg, Ref):
        if arg.secret:
            return MASK
        known = outputs.get(arg.var, {}).get(arg.field)
        return known if known and arg.var not in captured else str(arg)
    if isinstance(arg, Concat):
        return "".join(_shown(part, outputs, captured) for part in arg.parts)
    if isinstance(arg, FileArg):
        return arg.name
    if isinstance(arg, NewId):
        return str(arg)  # made up when the call runs
    return str(arg)


def lines(the_plan: Plan, shown: list[dict]) -> list[str]:
    out = ["what-if: nothing was changed." + (" These az commands would run, in this order:" if shown
                                              else " Nothing would run.")]  # fmt: skip
    out += [f"  [{row['step']}] {row['command']}" for row in shown]
    for step in the_plan.steps:
        for _, what in step.found:
            out.append(f"  found: {step.step}: {what} exists already (recorded, not created)")
        if step.reason is None:
            out.append(f"  skipped: {step.step} ({step.skipped_because})")
        elif step.reason:
            out.append(f"  runs: {step.step} ({step.reason})")
    return out
