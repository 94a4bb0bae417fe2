"""Refresh: read-only az calls that tell what is live, batched where az allows, into a Snapshot.

One `az group list` for both groups, one `az resource show --ids` for the workspace, compute,
datastore and storage account, one `az role assignment list --all` for both role assignments, one
`az ad sp show` for the principal, `az version` for the extensions, and the filesystem's and file's
existence. Calls that do not depend on each other run at once (under --jobs).
"""

from __future__ import annotations

from collections.abc import Callable

from ..az.runner import NOT_FOUND, AzFailed
from ..book import commands as az
from ..book import resources
from ..book.settings import Settings
from ..book.steps import BY_NAME, NEEDS, STEPS
from ..errors import Refused
from . import scheduler
from .facts import MISSING, Snapshot, Where, fact_key, live
from .ownership import generations
from .plan import state_reason
from .places import where_recorded, where_wanted

STEP = "refresh"  # what the call log and the progress view name these calls
# The resources a guard reads before a step creates them (the others are looked at only once recorded).
GUARDED = {inv.guard.key for step in STEPS for inv in step.invocations(Settings(account="x")) if inv.guard}


def looked_at(inputs, wanted: bool = True) -> list[Where]:
    """The resources a plan for inputs reads: those of the steps in scope (and of the steps they need,
    unless recorded done) as the state records them, and those a guard reads (unless not `wanted`)
    as today's settings name them."""
    steps = set(inputs.scope)
    for name in inputs.scope:
        steps.update(need for need in NEEDS[name] if need not in inputs.state["steps"])
    wheres = []
    for step in STEPS:
        if step.name not in steps:
            continue
        recorded = step.name in inputs.state["steps"]
        trusted = recorded and not inputs.refresh and state_reason(inputs, step) is None
        if trusted and step.name not in inputs.force:
            continue
        for resource in resources.of_step(step.name):
            if resource.key in inputs.state["resources"] or (resource.key == "sp" and "sp" in inputs.state["outputs"]):
                wheres.append(where_recorded(inputs, resource.key))
            if wanted and resource.key in GUARDED:
                wheres.append(where_wanted(inputs, resource.key))
    return wheres


def snapshot(runner, inputs, jobs: int = 1, *, token: bool = True, wanted: bool = True) -> Snapshot:
    """The live facts a plan for inputs needs; `token` first checks (and renews) the sign-in's token;
    without `wanted`, only what the state records (status --refresh)."""
    wheres = looked_at(inputs, wanted)
    if token:
        _check_token(runner)
    found: dict[str, dict] = {}
    probes = _probes(runner, wheres, found, _extensions_matter(inputs))
    scheduler.run([scheduler.Job(name, needs, body) for name, needs, body in probes], max(jobs, 1),
                  stop=runner.stop_all)  # fmt: skip
    return Snapshot(account=None, **found)


def _extensions_matter(inputs) -> bool:
    """Whether the plan reads the installed extensions: the extension step's own, or a prerequisite."""
    if "extension" in inputs.state["steps"]:
        return "extension" in inputs.scope and (inputs.refresh or state_reason(inputs, BY_NAME["extension"]) is not None)
    return any(name == "extension" or "extension" in NEEDS[name] for name in inputs.scope)


def _check_token(runner) -> None:
    # `az account show` reads a cache and succeeds on an expired sign-in; a token does not. Asked before
    # the calls that run at once, so that none of them has to renew (write) az's token cache.
    try:
        runner.run(STEP, list(az.access_token_expiry()), capture=True, probe=True)
    except AzFailed as error:
        said = next((line for line in error.stderr_tail if line.startswith("ERROR")), "") or error.reason
        raise Refused(f"the sign-in no longer works ({said or f'exit {error.exit_code}'}); nothing was changed. "
                      "Sign in again: run `azwrap login`") from None


def _probes(runner, wheres: list[Where], found: dict, extensions: bool) -> list[tuple[str, tuple, Callable]]:
    """(name, needs, body) of each batch of probes; each body adds its facts to `found`."""

    def keys(part: str) -> list:
        return list(dict.fromkeys(fact_key(w)[1] for w in wheres if fact_key(w)[0] == part and fact_key(w)[1]))

    def alive(where: Where) -> bool:
        return live(Snapshot(**found), where) is not MISSING

    probes = []
    if extensions:
        probes.append(("version", (), lambda: found.update(extensions=_extensions(runner))))
    if keys("groups"):
        probes.append(("groups", (), lambda: found.update(groups=_groups(runner, keys("groups")))))
    if keys("principals"):
        probes.append(("principals", (), lambda: found.update(principals=_principals(runner, keys("principals")))))
    arm = [w for w in wheres if fact_key(w)[0] == "arm"]
    if arm:
        probes.append(("arm", tuple(n for n in ("groups",) if keys("groups")),
                       lambda: found.update(arm=_arm(runner, [_arm_id(w) for w in arm if alive(w)]))))  # fmt: skip
    roles = [w for w in wheres if fact_key(w)[0] == "assignments" and w.app_id]
    if roles:
        probes.append(("assignments", tuple(n for n in ("principals",) if keys("principals")),
                       lambda: found.update(assignments=_assignments(runner, [w.app_id for w in roles if alive(w)]))))
    paths = [w for w in wheres if fact_key(w)[0] == "paths"]
    if paths:
        probes.append(("paths", tuple(n for n in ("groups", "arm") if any(p[0] == n for p in probes)),
                       lambda: found.update(paths=_paths(runner, [w for w in paths if alive(w)]))))  # fmt: skip
    return probes


def _extensions(runner) -> frozenset:
    versions = runner.run(STEP, list(az.version()), capture=True, shape=dict, probe=True)
    extensions = versions.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise AzFailed(STEP, az.line(az.version()), 0, [], reason="az printed JSON that is not as az version prints "
                       "it (its extensions are not an object)")  # fmt: skip
    return frozenset(extensions)


def _groups(runner, names: list[str]) -> dict:
    listed = runner.run(STEP, list(az.group_list()), capture=True, shape=list, probe=True)
    by_name = {str(group.get("name", "")).lower(): group for group in listed if isinstance(group, dict)}
    return {name: by_name.get(name) for name in names}


def _principals(runner, app_ids: list[str]) -> dict:
    return {app_id: runner.run(STEP, list(az.ad_sp_show(app_id)), capture=True, shape=dict, probe=True,
                               not_found_ok=True) for app_id in app_ids}  # fmt: skip


def _arm_id(where: Where) -> str:
    return resources.arm_id(where.key, where.settings, where.subscription_id)


def _arm(runner, ids: list[str]) -> dict:
    """Several ARM resources in one call; when one is missing az fails the whole call (exit 3, nothing
    printed), and then each is asked alone. Facts are kept by the lower-case id (ARM ids ignore case)."""
    return {resource_id.lower(): found for resource_id, found in _arm_show(runner, ids).items()}


def _arm_show(runner, ids: list[str]) -> dict:
    ids = list({i.lower(): i for i in ids}.values())
    if not ids:
        return {}
    try:
        answer = runner.run(STEP, list(az.resources_show(ids)), capture=True, probe=True)
    except AzFailed as error:
        if error.exit_code != NOT_FOUND or error.reason or len(ids) == 1:
            if error.exit_code == NOT_FOUND and not error.reason:
                return {ids[0]: MISSING}
            raise
        return {i: runner.run(STEP, list(az.resources_show([i])), capture=True, shape=dict, probe=True,
                              not_found_ok=True) for i in ids}  # fmt: skip
    items = answer if isinstance(answer, list) else [answer]  # one id: an object
    if len(items) != len(ids) or not all(isinstance(item, dict) for item in items):
        raise AzFailed(STEP, az.line(az.resources_show(ids)), 0, [], reason="az printed other JSON than one object per id")
    return dict(zip(ids, items, strict=True))


def _assignments(runner, app_ids: list[str]) -> dict:
    found = {}
    for app_id in dict.fromkeys(app_ids):
        listed = runner.run(STEP, list(az.role_assignment_list_for(app_id)), capture=True, shape=list, probe=True)
        found[app_id] = [item for item in listed if isinstance(item, dict)]
    return found


def _paths(runner, wheres: list[Where]) -> dict:
    """The uploaded file (which, when there, tells that its filesystem is there too), then the filesystem."""
    found: dict = {}
    for where in sorted(wheres, key=lambda w: w.key != "upload"):
        key = fact_key(where)[1]
        if key in found:
            continue
        s = where.settings
        args = az.storage_fs_file_exists(s) if where.key == "upload" else az.storage_fs_exists(s)
        answer = runner.run(STEP, list(args), capture=True, shape=dict, probe=True)
        found[key] = bool(answer.get("exists"))
        if where.key == "upload" and found[key]:
            found[("fs", s.account, s.filesystem)] = True
    return found


def for_teardown(runner, state: dict, settings, subscription_id: str) -> Snapshot:
    """What `azwrap destroy` checks before deleting: every generation's groups (their tags) and ARM
    resources (their identity), what the workspaces made with them or link to now, everything in each
    group, and what azwrap's storage accounts hold."""
    every = generations(state, settings)
    made = [item for item in every if item.record.get("created")]
    # Every group recorded, the user's too: what Azure added there for azwrap's workspace is azwrap's to delete.
    names = list(dict.fromkeys(getattr(i.settings, i.key).lower() for i in every if i.key in resources.GROUP_KEYS))
    groups = _groups(runner, names) if names else {}
    ids = [resources.arm_id(i.key, i.settings, subscription_id) for i in made if i.key in resources.ARM_KEYS]
    ids += [d for i in made if i.key == "workspace" for d in i.record.get("dependents", [])]
    snapshot = Snapshot(groups=groups)
    alive = [i for i in ids if live(snapshot, _where_of_id(i, made, subscription_id)) is not MISSING]
    arm = _arm(runner, alive)
    arm.update(_arm(runner, [i for i in _links(arm) if i.lower() not in arm]))
    contents = {name: runner.run(STEP, list(az.resource_list(groups[name]["name"])), capture=True, shape=list,
                                 probe=True, not_found_ok=True) for name in names if groups.get(name)}  # fmt: skip
    accounts = [i for i in made if i.key == "account"
                and isinstance(arm.get(resources.arm_id("account", i.settings, subscription_id).lower()), dict)]
    return Snapshot(groups=groups, arm=arm, contents={k: v for k, v in contents.items() if v is not None},
                    storage=_storage(runner, accounts, every))  # fmt: skip


def _links(arm: dict) -> list[str]:
    """What the live workspaces link to, and the log analytics behind insights (their creation times matter)."""
    out = []
    for found in arm.values():
        if not isinstance(found, dict):
            continue
        if str(found.get("type", "")).lower() == "microsoft.machinelearningservices/workspaces":
            out += resources.dependents_of(found)
        target = (found.get("properties") or {}).get("WorkspaceResourceId") if isinstance(found.get("properties"), dict) else None
        if isinstance(target, str) and target:
            out.append(target)
    return list(dict.fromkeys(out))


def _storage(runner, accounts: list, every: list) -> dict:
    """Each live account's filesystems, and the files of the filesystems azwrap made there."""
    found: dict = {}
    for account in accounts:
        name = account.settings.account
        if name.lower() in found:
            continue
        listed = runner.run(STEP, list(az.storage_fs_list(name)), capture=True, shape=list, probe=True)
        filesystems = [str(f.get("name")) for f in listed if isinstance(f, dict) and f.get("name")]
        ours = {i.settings.filesystem for i in every if i.key == "filesystem" and i.record.get("created")
                and i.settings.account == name and i.settings.filesystem in filesystems}  # fmt: skip
        files = {}
        for filesystem in sorted(ours):
            entries = runner.run(STEP, list(az.storage_fs_file_list(name, filesystem)), capture=True, shape=list, probe=True)
            files[filesystem] = [str(e.get("name")) for e in entries if isinstance(e, dict) and not e.get("isDirectory")]
        found[name.lower()] = {"filesystems": filesystems, "files": files}
    return found


def _where_of_id(resource_id: str, made: list, subscription_id: str) -> Where:
    """The record an ARM id belongs to (for its group's fact); a dependent counts as its workspace's."""
    for item in made:
        if item.key in resources.ARM_KEYS and resources.arm_id(item.key, item.settings, subscription_id) == resource_id:
            return Where(item.key, item.settings, subscription_id)
    workspace = next(i for i in made if i.key == "workspace" and resource_id in i.record.get("dependents", []))
    return Where("workspace", workspace.settings, subscription_id)
