"""A run's three phases, as the commands use them: refresh (what is live), plan (what to do and why),
apply (do it and record it). `all`, each step command and their what-ifs are this one flow."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..book.steps import STEPS
from . import lifecycle, refresh
from .facts import Snapshot
from . import plan as planner
from .apply import FIRST_RETRY_DELAY, Apply
from .rotate import finish_rotation
from .session import Session, sha256_of

LOCAL_STEPS = ("login", "extension")  # az's own sign-in and extensions: no subscription to check


@dataclass(frozen=True)
class Options:
    force: frozenset = frozenset()
    refresh: bool = True
    keep_old_sp: bool = False
    jobs: int = 1


def inputs(session: Session, scope: tuple[str, ...], options: Options, snapshot=None) -> planner.Inputs:
    settings = session.settings
    source = settings.source if any("source" in step.uses for step in STEPS if step.name in scope) else None
    sha = sha256_of(source) if source and os.path.isfile(source) else None
    return planner.Inputs(settings, session.state, snapshot or Snapshot(), scope,
                          subscription_id=session.subscription_id, force=options.force, source_sha=sha,
                          refresh=options.refresh, keep_old_sp=options.keep_old_sp,
                          state_path=str(session.state_path))  # fmt: skip


def precheck(session: Session, scope: tuple[str, ...], options: Options) -> None:
    """Refusals that need no az call, before any (a value missing from the state, a changed upload)."""
    planner.precheck(inputs(session, scope, options))


def prepare(session: Session, scope: tuple[str, ...], options: Options) -> planner.Plan:
    """Signed in to the setup's subscription (the caller signs in first when `all` runs); then refresh
    and the plan."""
    session.doing = "login"
    if set(scope) - set(LOCAL_STEPS):
        session.check_subscription()
        # Every later call names the subscription checked here: another terminal's `az account set` during
        # the run must not move a create, a detach or a delete elsewhere.
        session.runner.subscription = session.runner.subscription or session.subscription_id
    session.doing = "refresh"
    token = bool(set(scope) - set(LOCAL_STEPS))
    snapshot = refresh.snapshot(session.runner, inputs(session, scope, options), options.jobs, token=token)
    return planner.make(inputs(session, scope, options, snapshot))


def applier(session: Session, the_plan: planner.Plan, **timing) -> Apply:
    return Apply(session, the_plan, first_retry_delay=timing.pop("first_retry_delay", FIRST_RETRY_DELAY), **timing)


def apply(applying: Apply, options: Options) -> None:
    """Carry out the plan; then finish what an interrupted rotation left (`all` only)."""
    applying.run(options.jobs)
    session = applying.session
    if len(applying.plan.steps) > 1 and session.state.get(lifecycle.ROTATION):
        session.doing = "rotate"
        finish_rotation(session)
