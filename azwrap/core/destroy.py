"""`azwrap destroy`: delete what azwrap created, and nothing else, in reverse dependency order.

The teardown is decided in core/teardown.py (pure: the records held against what refresh found); `run`
carries it out through the runner, recording each deletion as it succeeds, so that running destroy
again finishes an interrupted or failed teardown.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from ..az.runner import AzFailed
from ..book import resources
from . import lifecycle
from .apply import gone
from .teardown import RETIRED_APP, RETIRED_ROLES, Deletion, Teardown, plan  # noqa: F401  (plan: what the commands call)

HEARTBEAT_SECONDS = 15.0


def describe(teardown: Teardown) -> list[str]:
    lines = ["azwrap destroy deletes:" if teardown.deletions else "azwrap destroy has nothing to delete."]
    lines += [f"  - {d.label}" + (" (and everything in it)" if d.slow else "") for d in teardown.deletions]
    along = [(what, why) for what, why in teardown.kept if why.startswith("deleted with")]
    kept = [(what, why) for what, why in teardown.kept if not why.startswith("deleted with")]
    lines += [f"  - {what} ({why})" for what, why in along]
    if teardown.data:
        lines.append("with data azwrap did not put there:")
        lines += [f"  - {line}" for line in teardown.data]
    if kept:
        lines.append("and keeps:")
        lines += [f"  - {what}: {why}" for what, why in kept]
    if teardown.left:
        lines.append("and cannot delete (made by azwrap; delete it yourself):")
        lines += [f"  - {what}: {command}" for what, command in teardown.left]
    return lines


def run(session, teardown: Teardown, heartbeat: float = HEARTBEAT_SECONDS) -> None:
    """Delete each target once, recording each as it goes; a target already gone counts as deleted."""
    runner, state = session.runner, session.state
    for deletion in teardown.deletions:
        with _still_working(runner.echo, deletion, heartbeat):
            _delete(runner, deletion, lifecycle.recorded_tenant(state))
        if deletion.forget:
            _forget(state, deletion)
        if deletion.key == "workspace":
            state.setdefault("purged", {})["workspace"] = True  # its name may stay blocked a little longer
        session.save()
    # What azwrap made is gone, but for what it kept in doubt, which stays recorded: the steps are pending
    # again; settings and subscription stay.
    doubtful = set(teardown.doubtful)
    state["steps"], state["outputs"] = {}, {}
    state["resources"] = {key: record for key, record in state["resources"].items() if (key, None) in doubtful}
    earlier = [entry for index, entry in enumerate(state.get("earlier", [])) if (entry.get("key"), index) in doubtful]
    if earlier:
        state["earlier"] = earlier
    else:
        state.pop("earlier", None)
    state.pop(lifecycle.ROTATION, None)
    for told in ("pending", "lost_apps"):  # listed as left to check (teardown._lost_answers): said once
        state.pop(told, None)
    session.save()


def _delete(runner, deletion: Deletion, tenant: str | None) -> None:
    for args in (deletion.args, deletion.fallback):
        if args is None:
            return
        try:
            runner.run("destroy", list(args))
            return
        except AzFailed as error:
            if not gone(error):
                raise
            if args[:1] == ("ad",):  # Graph's "does not exist" means gone only in the setup's tenant
                lifecycle.check_tenant(runner, "destroy", tenant, deletion.app_id or "")
            if deletion.fallback is None or args is deletion.fallback:
                runner.echo(f"destroy: {deletion.label} was gone already")
                return


def _forget(state: dict, deletion: Deletion) -> None:
    if deletion.key == RETIRED_ROLES:  # kept on the entry until its app goes too
        for entry in state.get(lifecycle.RETIRED, []):
            if isinstance(entry, dict) and entry.get("appId") == deletion.app_id:
                entry["assignments"] = []
                if entry.get("gone"):
                    lifecycle.retired_deleted(state, deletion.app_id)
        return
    if deletion.key == RETIRED_APP:
        lifecycle.retired_deleted(state, deletion.app_id)
        return
    for key, generation in ((deletion.key, deletion.generation), *deletion.covers):
        if key not in resources.BY_KEY:
            continue  # what a workspace made with it: its record is the workspace's
        if generation is not None:  # an earlier generation's: marked, so that a resumed destroy skips it
            state["earlier"][generation]["deleted"] = True
            continue
        state["resources"].pop(key, None)
        state["steps"].pop(resources.BY_KEY[key].step, None)
    if deletion.key == "sp":
        state["outputs"].pop("sp", None)  # the secret is gone with the app
        state.pop(lifecycle.ROTATION, None)  # a rotation left unfinished has nothing left to finish


@contextmanager
def _still_working(echo, deletion: Deletion, every: float):
    """Deleting a resource group takes minutes: say so now and then, so the wait is not silent."""
    if not deletion.slow:
        yield
        return
    started, done = time.monotonic(), threading.Event()

    def beat():
        while not done.wait(every):
            echo(f"destroy: still deleting {deletion.label} ({time.monotonic() - started:.0f} s)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
