"""The what-if's rows: each az call as apply will make it, the subscription it names included."""

from __future__ import annotations

from azwrap.book import commands as az
from azwrap.book.commands import Invocation, Ref
from azwrap.cli import whatif
from azwrap.core.plan import Action, Plan, StepPlan

SETUP_SUB = "00000000-0000-0000-0000-00000000c0de"
OLD_APP = "6f1c2a9e-0d3b-4e57-9a1c-2b3c4d5e6f70"
ROLE_ID = f"/subscriptions/{SETUP_SUB}/resourceGroups/adls-rg/providers/Microsoft.Authorization/roleAssignments/r1"


def a_plan() -> Plan:
    """--force sp on a completed setup, cut short: a new principal, its role, the old one's clean-up."""
    actions = (
        Action("sp", Invocation("sp", az.sp_create_for_rbac(), capture="sp"), "forced"),
        Action("sp", Invocation("sp", ("role", "assignment", "create", "--assignee", Ref("sp", "appId"))), "forced"),
        Action("sp", Invocation("sp", az.role_assignment_delete([ROLE_ID])), "replaced", gone_ok=True),
        Action("sp", Invocation("sp", az.ad_app_delete(OLD_APP)), "replaced", gone_ok=True),
    )
    return Plan((StepPlan("sp", "forced with --force", actions=actions),))


def argvs(subscription) -> list[list[str]]:
    return [row["argv"] for row in whatif.rows(a_plan(), {"sp": {"appId": OLD_APP}}, subscription, "bash")]


def test_every_arm_call_names_the_subscription_the_run_checked_and_graph_calls_none():
    shown = argvs(SETUP_SUB)
    assert shown[1][-2:] == shown[2][-2:] == ["--subscription", SETUP_SUB]
    assert shown[2] == ["az", "role", "assignment", "delete", "--ids", ROLE_ID, "--subscription", SETUP_SUB]
    assert shown[3] == ["az", "ad", "app", "delete", "--id", OLD_APP]  # Graph: no --subscription
    assert "--subscription" not in shown[0]  # create-for-rbac is Graph too
    assert shown[1][-3] == "$sp.appId"  # made anew by this run: not the recorded one
    assert whatif.rows(a_plan(), {}, SETUP_SUB, "bash")[2]["command"].endswith(f"--subscription {SETUP_SUB}")


def test_without_a_subscription_no_row_names_one():
    assert not any("--subscription" in argv for argv in argvs(None))
