"""What `azwrap destroy` deletes, decided from the state and what refresh found: a pure function.

Only what azwrap made, and only while it is still that thing: each record's identity fact (a group's
azwrap-id tag, a workspace's workspaceId, an account's creationTime, a compute's createdOn, a datastore's
client id) is compared with what is live. A thing re-created under the same name is kept, and so is a
group holding anything azwrap did not make: then azwrap's own resources in it are deleted one by one.
Every generation azwrap made (a changed setting makes a resource anew; the earlier one stays recorded)
is torn down the same way. Only another azwrap-id proves a group made again: a group whose tag is gone
(tags are replaced by `az group create`, the portal, policies) is azwrap's when something azwrap made in it
still has its identity, else kept in doubt, and its record stays. What the live workspace links to that
azwrap did not make (a registry of the user's, a shared log analytics workspace) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..book import commands as az
from ..book import ml, resources
from ..book.commands import Args, Invocation
from ..book.settings import Settings
from . import lifecycle, planning
from .facts import Snapshot
from .ownership import DOUBT, Checked, Made, generations, id_of, kind

DEPENDENT = "dependent"  # a Deletion's key for what a workspace made with it (no record of its own)
RETIRED_ROLES, RETIRED_APP = "retired_roles", "retired_sp"  # a replaced principal's role assignments, its app


@dataclass(frozen=True)
class Deletion:
    key: str  # the resource it deletes
    label: str
    args: Args
    covers: tuple[tuple[str, int | None], ...] = ()  # (resource, generation) that go with it (a group's content)
    slow: bool = False  # a resource group: minutes
    fallback: Args | None = None  # run when args answers "not found" (an already soft-deleted workspace)
    generation: int | None = None  # None: the current record; else its index in state["earlier"]
    forget: bool = True  # False: its record stays until the group it is in goes (what it made is in the group)
    app_id: str | None = None  # a principal's (the current one, or a replaced one still to delete)


@dataclass(frozen=True)
class Teardown:
    deletions: list[Deletion]
    kept: list[tuple[str, str]]  # (what, why)
    left: list[tuple[str, str]] = field(default_factory=list)  # azwrap's, not deleted: (what, the command that would)
    doubtful: list[tuple[str, int | None]] = field(default_factory=list)  # kept in doubt: (key, generation), still recorded
    data: list[str] = field(default_factory=list)  # the user's data in azwrap's storage accounts, deleted with them

    def invocations(self) -> list[Invocation]:
        return [Invocation("destroy", deletion.args) for deletion in self.deletions]


def plan(state: dict, settings: Settings, subscription_id: str, snapshot: Snapshot | None = None) -> Teardown:
    """What destroy deletes, keeps and leaves. Without a snapshot (`azwrap plan --destroy`) nothing is
    checked: every record is taken as there and azwrap's."""
    checked = Checked(state, settings, subscription_id, snapshot)
    everything = generations(state, settings)
    kept = [(item.label, why) for item in everything if (why := checked.not_ours(item))]
    doubtful = [id_of(item) for item in everything if checked.verdict(item)[0] == DOUBT]
    mine = [item for item in everything if checked.ours(item)]
    gone_with: dict[tuple, str] = {}
    deletions = _roles(mine)
    whole = _whole_groups(checked, mine, everything, kept)
    for item in (i for i in mine if i.key == "workspace"):
        foreign = checked.links(item)[1]
        kept += [entry for entry in foreign if entry not in kept]
        if checked.group_of(item) in whole:  # purged first (a group's delete only soft-deletes it); the rest goes with the group
            deletions.append(replace(_workspace_deletion(item, subscription_id, not foreign), forget=False))
        else:
            deletions += _workspace_with_dependents(item, subscription_id, checked)
        gone_with.update({id_of(m): item.label for m in mine if m.key in ("compute", "datastore") and
                          checked.group_of(m) == checked.group_of(item) and m.settings.workspace == item.settings.workspace})
    for item in mine:
        if item.key in ("compute", "datastore") and id_of(item) not in gone_with and checked.group_of(item) not in whole:
            deletions.append(_inside_workspace(item))
    storage = [i for i in mine if i.key in ("account", "filesystem", "upload") and checked.group_of(i) not in whole]
    deletions += _storage(storage, gone_with)
    for name, group in whole.items():
        inside = [m for m in mine if m is not group and checked.group_of(m) == name and m.key not in resources.ROLE_KEYS]
        deletions.append(Deletion(group.key, group.label, az.group_delete(name), slow=True, generation=group.generation,
                                  covers=tuple(id_of(m) for m in inside)))
        gone_with.update({id_of(m): group.label for m in inside})
    deletions += _principal(state, mine) + _retired(state)
    deleted = {(d.key, d.generation) for d in deletions}
    for item in mine:
        if (item.key, item.generation) not in deleted and id_of(item) in gone_with:
            kept.append((item.label, f"deleted with {gone_with[id_of(item)]}"))
    kept += [(item.label, "yours: it existed before azwrap used it") for item in everything
             if not item.record.get("created") and item.key not in resources.ROLE_KEYS]
    return Teardown(deletions, kept, checked.left + _lost_answers(state, settings), doubtful, checked.data(mine))


def _lost_answers(state: dict, settings: Settings) -> list[tuple[str, str]]:
    """What a creating call whose answer was lost may have made (core/record.py, pending): not recorded, so not
    deleted; said, with where to look."""
    out = []
    for key, entry in (state.get("pending") or {}).items():
        if key == "sp" or key not in resources.BY_KEY:
            continue
        named = planning.recorded_settings(settings, entry)
        group = getattr(named, resources.container(key) or "", None)
        look = ("group", "show", "--name", group) if key in resources.GROUP_KEYS else \
            ("resource", "list", "--resource-group", str(group), "--output", "table")  # fmt: skip
        out.append((f"{resources.BY_KEY[key].label(named)}, if a run whose answer was lost (begun {entry.get('started')}) "
                    "made it", az.line(look)))  # fmt: skip
    sp = (state.get("pending") or {}).get("sp") or {}
    for started in [*state.get("lost_apps", []), *([sp["started"]] if sp.get("started") else [])]:
        out.append((f"an app az ad sp create-for-rbac may have made (begun {started}; its answer was lost), with a "
                    "secret azwrap never saw", lifecycle.lost_app_command(started)))  # fmt: skip
    return out


def _whole_groups(checked: Checked, mine: list[Made], everything: list[Made], kept: list) -> dict[str, Made]:
    """The groups azwrap made that hold nothing of anyone else's: deleted whole (the others are kept)."""
    whole = {}
    for group in (item for item in mine if item.key in resources.GROUP_KEYS):
        name = checked.name(group)
        foreign = [f"{i.label} (yours)" for i in everything if not i.record.get("created")
                   and i.key not in resources.ROLE_KEYS and checked.group_of(i) == name] + checked.foreign(group, mine)
        if foreign:
            kept.append((group.label, "azwrap made it, but it holds resources azwrap did not make: " + ", ".join(foreign)))
        else:
            whole[name] = group
    return whole


def _roles(mine: list[Made]) -> list[Deletion]:
    return [Deletion(item.key, item.label, az.role_assignment_delete([item.record["id"]]), generation=item.generation)
            for item in mine if item.key in resources.ROLE_KEYS and item.record.get("id")]  # fmt: skip


def _workspace_deletion(item: Made, subscription_id: str, all_resources: bool = True) -> Deletion:
    """Purged, so that its name can be used again at once (a plain delete keeps it for 14 days)."""
    s = item.settings
    purge = az.workspace_purge(az.workspace_id(subscription_id, s))
    if item.record.get("dialect") == "v2":
        # v2 purges, and with --all-resources deletes the storage, key vault, insights (and its log analytics) and
        # registry the workspace links to, whoever made them; it cannot find a workspace already soft-deleted
        # (exit 3): then the ARM purge does.
        return Deletion("workspace", item.label, ml.v2_workspace_delete(s, all_resources), fallback=purge,
                        generation=item.generation)  # fmt: skip
    return Deletion("workspace", item.label, purge, generation=item.generation)


def _workspace_with_dependents(item: Made, subscription_id: str, checked: Checked) -> list[Deletion]:
    """A workspace whose group stays: what it made with it deleted by id first (v2's --all-resources does it
    when the workspace links to nothing of anyone else's; v1 cannot), then the workspace purged, so that an
    interrupted teardown still knows them."""
    out = []
    dependents, foreign = checked.links(item)
    if not dependents and "dependents" not in item.record:
        group = item.settings.aml_group
        checked.left.append((f"what {item.label} made with it (storage account, key vault, application insights; "
                             "not recorded by an older azwrap)",
                             az.line(("resource", "list", "--resource-group", group, "--output", "table"))))  # fmt: skip
    all_resources = item.record.get("dialect") == "v2" and not foreign
    if not all_resources:
        for dependent in dependents:
            out.append(Deletion(DEPENDENT, f"{kind(dependent)} {dependent.rsplit('/', 1)[-1]} (made with {item.label})",
                                az.resource_delete([dependent])))  # fmt: skip
    for entry in checked.smart_detection(item, dependents):  # Azure made them for its insights; no --all-resources does
        out.append(Deletion(DEPENDENT, f"{entry['name']} (Azure made it for {item.label}'s application insights)",
                            az.resource_delete([entry["id"]])))  # fmt: skip
    return [*out, _workspace_deletion(item, subscription_id, all_resources)]


def _inside_workspace(item: Made) -> Deletion:
    dialect = ml.DIALECTS[item.settings.ml_cli]
    builder = dialect.datastore_delete if item.key == "datastore" else dialect.compute_delete
    return Deletion(item.key, item.label, builder(item.settings), generation=item.generation)


def _storage(items: list[Made], gone_with: dict) -> list[Deletion]:
    """In a group that stays: the outermost of account, filesystem, file that azwrap made takes the rest."""
    out = []
    builders = {"account": az.storage_account_delete, "filesystem": az.storage_fs_delete,
                "upload": az.storage_fs_file_delete}  # fmt: skip
    inner = {"account": ("filesystem", "upload"), "filesystem": ("upload",), "upload": ()}
    for item in sorted(items, key=lambda i: ("account", "filesystem", "upload").index(i.key)):
        if id_of(item) in gone_with:
            continue
        covered = [other for other in items if other.key in inner[item.key] and all(
            getattr(other.settings, n) == getattr(item.settings, n) for n in resources.BY_KEY[item.key].uses)]
        out.append(Deletion(item.key, item.label, builders[item.key](item.settings), covers=tuple(map(id_of, covered)),
                            generation=item.generation))  # fmt: skip
        gone_with.update({id_of(other): item.label for other in covered})
    return out


def _principal(state: dict, mine: list[Made]) -> list[Deletion]:
    app_id = state["outputs"].get("sp", {}).get("appId")
    records = state["resources"]
    if not app_id or not (records.get("sp", {}).get("created") or "sp" not in records):
        return []
    # Deleting the app registration deletes its principal and the secret (soft-deleted for 30 days).
    return [Deletion("sp", resources.BY_KEY["sp"].label(Settings()) + f" {app_id}", az.ad_app_delete(app_id), app_id=app_id)]


def _retired(state: dict) -> list[Deletion]:
    """The principals azwrap replaced but could not delete then: their role assignments, then their apps."""
    out = []
    for entry in lifecycle.retired_entries(state):
        app_id = entry["appId"]
        if entry.get("assignments"):
            out.append(Deletion(RETIRED_ROLES, f"the role assignments of the replaced service principal {app_id}",
                                az.role_assignment_delete(list(entry["assignments"])), app_id=app_id))  # fmt: skip
        if not entry.get("gone"):
            out.append(Deletion(RETIRED_APP, f"the replaced service principal {app_id} (app registration) and its secret",
                                az.ad_app_delete(app_id), app_id=app_id))  # fmt: skip
    return out


def with_subscription(teardown: Teardown, subscription_id: str) -> Teardown:
    """Every call pinned to the setup's subscription (where az accepts --subscription)."""
    pin = lambda args: az.with_subscription(args, subscription_id) if args else args  # noqa: E731
    return replace(teardown, deletions=[replace(d, args=pin(d.args), fallback=pin(d.fallback)) for d in teardown.deletions])
