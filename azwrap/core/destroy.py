"""`azwrap destroy`: delete what azwrap created, and nothing else, in reverse dependency order.

`plan` is pure (from the state's records); `run` executes it through the runner, recording each
deletion as it succeeds, so that running destroy again finishes an interrupted or failed teardown.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from ..book import commands as az
from ..book import ml
from . import planning
from ..book import resources
from ..book.commands import Args, Invocation
from ..az.runner import AzFailed
from .apply import gone
from ..book.settings import Settings

HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True)
class Deletion:
    key: str  # the resource it deletes
    label: str
    args: Args
    covers: tuple[str, ...] = ()  # resources that go with it (a group's content)
    slow: bool = False  # a resource group: minutes
    fallback: Args | None = None  # run when args answers "not found" (an already soft-deleted workspace)


@dataclass(frozen=True)
class Teardown:
    deletions: list[Deletion]
    kept: list[tuple[str, str]]  # (what, why)

    def invocations(self) -> list[Invocation]:
        return [Invocation("destroy", deletion.args) for deletion in self.deletions]


def _settings_of(settings: Settings, record: dict | None) -> Settings:
    return planning.recorded_settings(settings, record)


def plan(state: dict, settings: Settings, subscription_id: str) -> Teardown:
    """What destroy deletes (only what the state records as made by azwrap), and what it keeps and why."""
    records = state["resources"]

    def ours(key: str) -> bool:
        return bool(records.get(key, {}).get("created"))

    def label(key: str) -> str:
        return resources.BY_KEY[key].label(_settings_of(settings, records.get(key)))

    def inside(group: str) -> list[str]:
        return [key for key in records if key != group and resources.container(key) == group]

    def group_goes(group: str) -> bool:
        # A group azwrap made is deleted only while everything recorded in it is azwrap's too.
        return ours(group) and all(ours(key) for key in inside(group))

    deletions, kept, gone_with = [], [], {}
    for key in resources.ROLE_KEYS:
        if key in records and records[key].get("id"):
            deletions.append(Deletion(key, label(key), az.role_assignment_delete([records[key]["id"]])))
    workspace_goes = ours("workspace") or group_goes("aml_group")
    for key in ("datastore", "compute"):
        if ours(key) and not workspace_goes:
            s = _settings_of(settings, records[key])
            dialect = ml.DIALECTS[s.ml_cli]
            builder = dialect.datastore_delete if key == "datastore" else dialect.compute_delete
            deletions.append(Deletion(key, label(key), builder(s)))
        elif ours(key):
            gone_with[key] = label("workspace")
    if ours("workspace"):
        deletions.append(_workspace_deletion(settings, records["workspace"], subscription_id, label("workspace")))
    seen_groups = set()
    for group in resources.GROUP_KEYS:
        name = getattr(_settings_of(settings, records.get(group)), group)
        if group in records and group_goes(group) and name not in seen_groups:
            seen_groups.add(name)
            covers = tuple(key for key in inside(group) if not any(d.key == key for d in deletions))
            deletions.append(Deletion(group, label(group), az.group_delete(name), covers=covers, slow=True))
            gone_with.update({key: label(group) for key in covers})
        elif group in records and name in seen_groups:
            gone_with.update({key: label(group) for key in (group, *inside(group))})
    if not group_goes("adls_group") or "adls_group" not in records:
        for key in ("account", "filesystem", "upload"):  # the outermost one azwrap made takes the rest with it
            if ours(key) and key not in gone_with:
                s = _settings_of(settings, records[key])
                builder = {"account": az.storage_account_delete, "filesystem": az.storage_fs_delete,
                           "upload": az.storage_fs_file_delete}[key]  # fmt: skip
                covers = {"account": ("filesystem", "upload"), "filesystem": ("upload",), "upload": ()}[key]
                deletions.append(Deletion(key, label(key), builder(s), covers=covers))
                gone_with.update({k: label(key) for k in covers if k in records})
                break
    app_id = state["outputs"].get("sp", {}).get("appId")
    if app_id and (ours("sp") or "sp" not in records):
        # Deleting the app registration deletes its principal and the secret (soft-deleted for 30 days).
        deletions.append(Deletion("sp", label("sp") + f" {app_id}", az.ad_app_delete(app_id)))
    deleted = {d.key for d in deletions}
    for key, record in records.items():
        if key in deleted:
            continue
        if key in gone_with:
            kept.append((label(key), f"deleted with {gone_with[key]}"))
        elif not record.get("created"):
            kept.append((label(key), "yours: it existed before azwrap used it"))
        elif key in resources.GROUP_KEYS:
            kept.append((label(key), "azwrap made it, but it holds resources azwrap did not make"))
        elif key in resources.ROLE_KEYS:
            kept.append((label(key), "no id recorded; it goes when the principal is deleted"))
    return Teardown(deletions, kept)


def _workspace_deletion(settings: Settings, record: dict, subscription_id: str, label: str) -> Deletion:
    """Purged, so that its name can be used again at once (a plain delete keeps it for 14 days)."""
    s = _settings_of(settings, record)
    purge = az.workspace_purge(az.workspace_id(subscription_id, s))
    if record.get("dialect") == "v2":
        # v2 purges, and deletes the storage, key vault and insights the workspace made; it cannot
        # find a workspace that is already soft-deleted (exit 3): then the ARM purge does it.
        return Deletion("workspace", label, ml.v2_workspace_delete(s), fallback=purge)
    return Deletion("workspace", label, purge)  # the v1 CLI cannot purge


def describe(teardown: Teardown) -> list[str]:
    lines = ["azwrap destroy deletes:" if teardown.deletions else "azwrap destroy has nothing to delete."]
    lines += [f"  - {d.label}" + (" (and everything in it)" if d.slow else "") for d in teardown.deletions]
    along = [(what, why) for what, why in teardown.kept if why.startswith("deleted with")]
    kept = [(what, why) for what, why in teardown.kept if not why.startswith("deleted with")]
    lines += [f"  - {what} ({why})" for what, why in along]
    if kept:
        lines.append("and keeps:")
        lines += [f"  - {what}: {why}" for what, why in kept]
    return lines


def run(session, teardown: Teardown, heartbeat: float = HEARTBEAT_SECONDS) -> None:
    """Delete each target once, recording each as it goes; a target already gone counts as deleted."""
    runner, state = session.runner, session.state
    for deletion in teardown.deletions:
        with _still_working(runner.echo, deletion, heartbeat):
            _delete(runner, deletion)
        _forget(state, deletion)
        session.save()
    # Everything azwrap made is gone: the steps are pending again; settings and subscription stay.
    state["steps"], state["outputs"], state["resources"] = {}, {}, {}
    session.save()


def _delete(runner, deletion: Deletion) -> None:
    for args in (deletion.args, deletion.fallback):
        if args is None:
            return
        try:
            runner.run("destroy", list(args))
            return
        except AzFailed as error:
            if not gone(error):
                raise
            if deletion.fallback is None or args is deletion.fallback:
                runner.echo(f"destroy: {deletion.label} was gone already")
                return


def _forget(state: dict, deletion: Deletion) -> None:
    for key in (deletion.key, *deletion.covers):
        state["resources"].pop(key, None)
        state["steps"].pop(resources.BY_KEY[key].step, None)
    if deletion.key == "workspace":
        state.setdefault("purged", {})["workspace"] = True  # its name may stay blocked a little longer
    if deletion.key == "sp":
        state["outputs"].pop("sp", None)  # the secret is gone with the app


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
